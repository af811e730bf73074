"""Token endpoints: obtain, refresh, logout, logout-all."""

from __future__ import annotations

import jwt
import pytest
from django.conf import settings as django_settings

from tests.helpers import assert_refusal, bearer, pair_for, store_down


@pytest.fixture
def tokens(store, users, api):
    response = api.post("/auth/token/", {"username": "alice", "password": "alice-password"}, format="json")
    assert response.status_code == 200
    return response.json()


def decode(token):
    return jwt.decode(token, django_settings.SIMPLE_JWT["SIGNING_KEY"], algorithms=["HS256"])


def test_obtain_pair_is_versioned(tokens):
    assert decode(tokens["access"])["ver"] == 0
    assert decode(tokens["refresh"])["ver"] == 0
    assert bearer(tokens["access"]).get("/me/").status_code == 200


def test_obtain_stamps_the_current_version(store, users, api):
    bearer(pair_for(users[0])[0]).post("/auth/logout-all/")
    response = api.post("/auth/token/", {"username": "alice", "password": "alice-password"}, format="json")
    assert decode(response.json()["access"])["ver"] == 1


def test_refresh_gives_a_working_access_token(tokens, api):
    response = api.post("/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 200
    assert bearer(response.json()["access"]).get("/me/").status_code == 200


def test_logout_revokes_access_and_refresh(tokens, api):
    client = bearer(tokens["access"])
    assert client.post("/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code == 204
    assert_refusal(client.get("/me/"), 401, "token_revoked")
    refused = api.post("/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert_refusal(refused, 401, "token_revoked")


def test_logout_of_a_token_from_before_sessions_revokes_it_alone(store, users, api):
    legacy = pair_for(users[0])[0]
    del legacy["sid"]
    other_access, other_refresh = pair_for(users[0])
    assert bearer(legacy).post("/auth/logout/").status_code == 204
    assert_refusal(bearer(legacy).get("/me/"), 401, "token_revoked")
    assert bearer(other_access).get("/me/").status_code == 200


def test_logout_refuses_another_users_refresh_token_but_still_logs_out(tokens, users, api):
    _, bobs_refresh = pair_for(users[1])
    client = bearer(tokens["access"])
    response = client.post("/auth/logout/", {"refresh": str(bobs_refresh)}, format="json")
    assert_refusal(response, 403, "not_owner")
    assert api.post("/auth/token/refresh/", {"refresh": str(bobs_refresh)}, format="json").status_code == 200
    assert_refusal(client.get("/me/"), 401, "token_revoked")  # the caller's own access token went first


@pytest.mark.parametrize("refresh", ["garbage", "expired"])
def test_logout_with_an_invalid_refresh_token_still_revokes_the_access_token(tokens, users, refresh, settings):
    if refresh == "expired":
        token = pair_for(users[0])[1]
        token.set_exp(lifetime=-__import__("datetime").timedelta(hours=1))
        refresh = str(token)
    client = bearer(tokens["access"])
    assert_refusal(client.post("/auth/logout/", {"refresh": refresh}, format="json"), 401, "token_not_valid")
    assert_refusal(client.get("/me/"), 401, "token_revoked")


@pytest.mark.parametrize("body", [{"refresh": 5}, {"refresh": ["x"]}, {"refresh": "garbage"}, ["not", "a", "dict"]])
def test_logout_with_malformed_refresh_is_a_json_refusal(tokens, body):
    response = bearer(tokens["access"]).post("/auth/logout/", body, format="json")
    assert response.status_code in (400, 401)
    assert response.json()["code"] in ("invalid_body", "token_not_valid")


def test_a_body_that_is_not_json_is_parse_error_and_logout_still_revokes(tokens, api):
    """README's error table: not JSON → 400 ``parse_error``, with its code even
    under DRF's default EXCEPTION_HANDLER (these settings'); logout has revoked
    the request's own access token first, whatever the body."""
    not_json = {"data": b"{not json", "content_type": "application/json"}
    assert_refusal(bearer(tokens["access"]).post("/auth/logout/", **not_json), 400, "parse_error")
    assert_refusal(bearer(tokens["access"]).get("/me/"), 401, "token_revoked")
    for path in ("/auth/token/revoke/", "/auth/token/", "/auth/token/refresh/", "/auth/token/verify/"):
        assert_refusal(api.post(path, **not_json), 400, "parse_error")


def test_logout_all_kills_every_token_of_the_user(tokens, users, api):
    other_access, other_refresh = pair_for(users[0])
    bobs_access, _ = pair_for(users[1])
    assert bearer(tokens["access"]).post("/auth/logout-all/").status_code == 204
    assert_refusal(bearer(other_access).get("/me/"), 401, "token_version_stale")
    assert_refusal(api.post("/auth/token/refresh/", {"refresh": str(other_refresh)}, format="json"),
                   401, "token_version_stale")
    assert bearer(bobs_access).get("/me/").status_code == 200


def test_rotation_consumes_the_refresh_token_and_a_replay_ends_the_session(tokens, api, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ROTATE_REFRESH_TOKENS": True}
    first = api.post("/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert first.status_code == 200 and "refresh" in first.json()
    assert decode(first.json()["refresh"])["sid"] == decode(tokens["refresh"])["sid"]
    second = api.post("/auth/token/refresh/", {"refresh": first.json()["refresh"]}, format="json")
    assert second.status_code == 200
    assert_refusal(api.post("/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"),
                   401, "token_reused")
    # the replay ended the whole session: its newest refresh token and its access tokens
    assert_refusal(api.post("/auth/token/refresh/", {"refresh": second.json()["refresh"]}, format="json"),
                   401, "session_revoked")
    assert_refusal(bearer(second.json()["access"]).get("/me/"), 401, "session_revoked")
    assert_refusal(bearer(tokens["access"]).get("/me/"), 401, "session_revoked")


def test_refresh_of_deleted_user_is_401_not_500(tokens, users, api):
    users[0].delete()
    response = api.post("/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert_refusal(response, 401, "user_not_found")


def test_access_token_is_not_a_refresh_token(tokens, api):
    response = api.post("/auth/token/refresh/", {"refresh": tokens["access"]}, format="json")
    assert_refusal(response, 401, "token_not_valid")


# --- token/revoke/ (RFC 7009) and token/verify/ --------------------------------


def test_revoke_needs_no_access_token_and_ends_the_refresh_tokens_session(tokens, api):
    assert api.post("/auth/token/revoke/", {"token": tokens["refresh"]}, format="json").status_code == 200
    assert_refusal(api.post("/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"),
                   401, "token_revoked")
    assert_refusal(bearer(tokens["access"]).get("/me/"), 401, "session_revoked")  # the same grant
    again = api.post("/auth/token/revoke/", {"token": tokens["refresh"]}, format="json")
    assert again.status_code == 200  # already revoked: still 200


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 5000])
def test_revoke_answers_200_for_an_unknown_or_invalid_token(token, store, api):
    assert api.post("/auth/token/revoke/", {"token": token}, format="json").status_code == 200


def test_revoke_an_access_token_revokes_only_it(tokens, api):
    assert api.post("/auth/token/revoke/", {"token": tokens["access"]}, format="json").status_code == 200
    assert_refusal(bearer(tokens["access"]).get("/me/"), 401, "token_revoked")
    assert api.post("/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json").status_code == 200


def test_revoke_refuses_another_users_token_where_it_can_tell(tokens, users, api):
    _, bobs_refresh = pair_for(users[1])
    response = bearer(tokens["access"]).post("/auth/token/revoke/", {"token": str(bobs_refresh)}, format="json")
    assert_refusal(response, 403, "not_owner")
    assert api.post("/auth/token/refresh/", {"refresh": str(bobs_refresh)}, format="json").status_code == 200


@pytest.mark.parametrize("body", [{}, {"token": 5}, ["token"]])
def test_revoke_with_a_malformed_body_is_400(body, store, api):
    assert_refusal(api.post("/auth/token/revoke/", body, format="json"), 400, "invalid_body")


def test_verify_answers_invalid_for_a_revoked_or_stale_token(tokens, users, api):
    assert api.post("/auth/token/verify/", {"token": tokens["access"]}, format="json").status_code == 200
    other, _ = pair_for(users[0])
    bearer(tokens["access"]).post("/auth/logout/")
    assert_refusal(api.post("/auth/token/verify/", {"token": tokens["access"]}, format="json"), 401, "token_revoked")
    bearer(other).post("/auth/logout-all/")
    assert_refusal(api.post("/auth/token/verify/", {"token": str(other)}, format="json"), 401, "token_version_stale")


@pytest.mark.parametrize("path, body", [("/auth/token/refresh/", {}), ("/auth/token/refresh/", {"refresh": ""}),
                                        ("/auth/token/", {"username": "alice"}), ("/auth/token/verify/", {})])
def test_field_errors_of_the_token_views_follow_the_error_contract(path, body, store, users, api):
    response = api.post(path, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and response.json()["detail"] and response.json()["errors"]


@pytest.mark.parametrize("header", ["expired", "revoked", "garbage"])
def test_revoke_is_not_stopped_by_a_bad_access_token_the_client_attached(header, tokens, users, api):
    from datetime import timedelta

    from drf_toctou.revocation import revoke_token

    access, _ = pair_for(users[0])
    if header == "expired":
        access.set_exp(lifetime=-timedelta(hours=1))
    if header == "revoked":
        revoke_token(access)
    client = bearer("not-a-token" if header == "garbage" else access)
    assert client.post("/auth/token/revoke/", {"token": tokens["refresh"]}, format="json").status_code == 200
    assert_refusal(api.post("/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"),
                   401, "token_revoked")


def test_logout_without_a_body_ends_the_session_of_its_access_token(tokens, api):
    assert bearer(tokens["access"]).post("/auth/logout/").status_code == 204
    assert_refusal(bearer(tokens["access"]).get("/me/"), 401, "token_revoked")
    assert_refusal(api.post("/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"),
                   401, "session_revoked")


def test_a_refused_refresh_carries_the_invalid_token_challenge(tokens, api):
    response = api.post("/auth/token/refresh/", {"refresh": "garbage"}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'


def test_a_store_outage_says_when_to_retry(tokens, store):
    with store_down(store):
        response = bearer(tokens["access"]).get("/me/")
    assert_refusal(response, 503, "token_state_unavailable")
    assert response["Retry-After"] == "1"
