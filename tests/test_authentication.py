"""L1: BearerRevalidatingAuthentication through APIClient, for every store."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from drf_toctou.authentication import BearerRevalidatingAuthentication
from drf_toctou.permissions import TokenOwnershipPermission
from drf_toctou.revocation import revoke_token, revoke_user_tokens
from tests.helpers import (
    access_for,
    after_object_check,
    assert_refusal,
    bearer,
    pair_for,
    recording_sends,
    store_down,
    store_round_trips,
)


def test_valid_token_authenticates(store, users):
    alice, _ = users
    response = bearer(access_for(alice)).get("/me/")
    assert response.status_code == 200
    assert response.json() == {"id": alice.pk, "username": "alice"}


def test_simplejwts_steps_and_ours_are_hooks_a_subclass_overrides(store, users):
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    calls: list[str] = []

    def step(name):
        def hook(self, *args, **kwargs):
            calls.append(name)
            return getattr(super(Custom, self), name)(*args, **kwargs)
        return hook

    steps = ("get_header", "get_raw_token", "get_validated_token", "check_token_state", "get_user")
    Custom = type("Custom", (BearerRevalidatingAuthentication,), {name: step(name) for name in steps})
    token = access_for(users[0])
    request = Request(APIRequestFactory().get("/me/", HTTP_AUTHORIZATION=f"Bearer {token}"))
    user, validated = Custom().authenticate(request)
    assert (user, validated["jti"]) == (users[0], token["jti"])
    assert calls == ["get_header", "get_raw_token", "get_validated_token", "check_token_state", "get_user"]


def test_revoked_token_refused_on_the_very_next_request(store, users):
    alice, _ = users
    token = access_for(alice)
    client = bearer(token)
    assert client.get("/me/").status_code == 200
    revoke_token(token)
    assert_refusal(client.get("/me/"), 401, "token_revoked")


def test_revoke_token_accepts_an_encoded_string(store, users):
    alice, _ = users
    token = access_for(alice)
    revoke_token(str(token))
    assert_refusal(bearer(token).get("/me/"), 401, "token_revoked")


def test_version_bump_kills_every_older_token_of_that_user_only(store, users):
    alice, bob = users
    old_a, old_b = access_for(alice), access_for(alice)
    bobs = access_for(bob)
    assert revoke_user_tokens(alice) == 1
    assert_refusal(bearer(old_a).get("/me/"), 401, "token_version_stale")
    assert_refusal(bearer(old_b).get("/me/"), 401, "token_version_stale")
    assert bearer(bobs).get("/me/").status_code == 200
    assert bearer(access_for(alice)).get("/me/").status_code == 200  # new tokens carry ver=1


def test_token_without_ver_claim_counts_as_version_zero(store, users):
    alice, _ = users
    token = access_for(alice)
    del token["ver"]
    assert bearer(token).get("/me/").status_code == 200
    revoke_user_tokens(alice)
    assert_refusal(bearer(token).get("/me/"), 401, "token_version_stale")


def test_refresh_token_carries_ver_to_its_access_tokens(store, users):
    alice, _ = users
    access, refresh = pair_for(alice)
    revoke_user_tokens(alice)
    assert_refusal(bearer(refresh.access_token).get("/me/"), 401, "token_version_stale")


def test_missing_and_inactive_users(store, users, settings):
    alice, bob = users
    token = access_for(bob)
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "REVOKE_ON_DELETE": False}
    bob.delete()
    assert_refusal(bearer(token).get("/me/"), 401, "user_not_found")
    alice_token = access_for(alice)
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)  # bypasses signals
    assert_refusal(bearer(alice_token).get("/me/"), 401, "user_inactive")


def test_one_store_round_trip_per_authentication(store, users):
    alice, _ = users
    token = access_for(alice)
    backend = BearerRevalidatingAuthentication()
    validated = backend.get_validated_token(str(token).encode())
    assert store_round_trips(store, lambda: backend.check_token_state(validated))[0] == 1


def test_the_user_is_read_while_the_store_answers(redis_server, settings, users, monkeypatch):
    """With a store that sends ahead (Redis), the MGET is on the wire while the
    user's query runs: sent, user read, answer read."""
    from drf_toctou.stores import get_store
    from tests.conftest import use_store

    use_store(settings, "redis", url=redis_server.url)
    store = get_store()
    alice, _ = users
    events: list[str] = []
    get_user = BearerRevalidatingAuthentication.get_user

    def reading_user(self, validated_token):
        events.append("user read")
        return get_user(self, validated_token)

    monkeypatch.setattr(BearerRevalidatingAuthentication, "get_user", reading_user)
    with recording_sends(store, events):
        assert bearer(access_for(alice)).get("/me/").status_code == 200
    assert events == ["check sent", "user read", "answer read"]


def test_a_refusal_of_the_token_wins_over_the_users_own_refusal(store, users):
    _, bob = users
    token = access_for(bob)
    revoke_token(token)
    bob.delete()  # get_user would say user_not_found; the token is what is dead
    assert_refusal(bearer(token).get("/me/"), 401, "token_revoked")


def test_a_store_fault_wins_over_the_users_own_refusal(store, users, settings):
    _, bob = users
    token = access_for(bob)
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "REVOKE_ON_DELETE": False}
    bob.delete()
    with store_down(store):
        assert_refusal(bearer(token).get("/me/"), 503, "token_state_unavailable")


# --- every 401 carries its challenge (RFC 6750 §3) ------------------------------


@pytest.mark.parametrize("case", ["revoked", "stale", "invalid", "malformed header", "none"])
def test_every_401_carries_www_authenticate(case, store, users):
    token = access_for(users[0])
    if case == "revoked":
        revoke_token(token)
    if case == "stale":
        revoke_user_tokens(users[0])
    headers = {"revoked": f"Bearer {token}", "stale": f"Bearer {token}", "invalid": "Bearer not-a-token",
               "malformed header": "Bearer a b", "none": None}[case]
    client = APIClient()
    if headers:
        client.credentials(HTTP_AUTHORIZATION=headers)
    response = client.get("/me/")
    assert response.status_code == 401
    expected = {"malformed header": 'Bearer realm="api", error="invalid_request"',
                "none": 'Bearer realm="api"'}.get(case, 'Bearer realm="api", error="invalid_token"')
    assert response["WWW-Authenticate"] == expected


def test_a_refusal_at_the_point_of_use_carries_the_challenge_too(store, users):
    from tests.testapp.models import Note

    note = Note.objects.create(owner=users[0], title="x")
    with after_object_check(TokenOwnershipPermission, lambda request, obj: revoke_token(request.auth)):
        response = bearer(access_for(users[0])).patch(f"/v/notes/{note.pk}/", {"title": "y"}, format="json")
    assert_refusal(response, 401, "token_revoked")
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
