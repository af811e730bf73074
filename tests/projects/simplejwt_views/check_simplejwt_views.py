"""simplejwt's own views, with drf-toctou's serializers set in SIMPLE_JWT:
versioned tokens with a session, no lock-out after a version bump, verify and
blacklist against the token-state store, one winner per rotation."""

from __future__ import annotations

import jwt
from django.conf import settings
from django.core.checks import run_checks

from tests.helpers import assert_refusal, bearer


def login(api, name="alice"):
    response = api.post("/token/", {"username": name, "password": f"{name}-password"}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def claims(token):
    return jwt.decode(token, settings.SIMPLE_JWT["SIGNING_KEY"], algorithms=["HS256"])


def test_simplejwts_login_issues_versioned_tokens_with_a_session(store, users, api):
    pair = login(api)
    assert claims(pair["access"])["ver"] == 0 and claims(pair["access"])["sid"] == claims(pair["refresh"])["sid"]
    assert bearer(pair["access"]).get("/me/").status_code == 200


def test_no_lock_out_after_a_version_bump(store, users, api):
    pair = login(api)
    assert bearer(pair["access"]).post("/logout-all/").status_code == 204
    assert_refusal(bearer(pair["access"]).get("/me/"), 401, "token_version_stale")
    again = login(api)
    assert claims(again["access"])["ver"] == 1
    assert bearer(again["access"]).get("/me/").status_code == 200


def test_verify_answers_invalid_for_a_revoked_token(store, users, api):
    pair = login(api)
    assert api.post("/token/verify/", {"token": pair["access"]}, format="json").status_code == 200
    bearer(pair["access"]).post("/logout-all/")
    assert_refusal(api.post("/token/verify/", {"token": pair["access"]}, format="json"), 401,
                   "token_version_stale")


def test_blacklist_ends_the_session_in_the_store(store, users, api):
    pair = login(api)
    assert api.post("/token/blacklist/", {"refresh": pair["refresh"]}, format="json").status_code == 200
    assert_refusal(bearer(pair["access"]).get("/me/"), 401, "session_revoked")
    assert_refusal(api.post("/token/refresh/", {"refresh": pair["refresh"]}, format="json"), 401, "token_revoked")


def test_refresh_rotates_once_and_detects_reuse(store, users, api):
    pair = login(api)
    first = api.post("/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert first.status_code == 200
    assert_refusal(api.post("/token/refresh/", {"refresh": pair["refresh"]}, format="json"), 401, "token_reused")
    assert_refusal(bearer(first.json()["access"]).get("/me/"), 401, "session_revoked")


def test_field_errors_follow_the_error_contract(store, api):
    body = api.post("/token/refresh/", {}, format="json").json()
    assert body["code"] == "invalid" and "refresh" in body["errors"] and body["detail"]


def test_these_views_pass_the_start_up_checks(db):
    assert not [m for m in run_checks() if m.id == "drf_toctou.E006"]
