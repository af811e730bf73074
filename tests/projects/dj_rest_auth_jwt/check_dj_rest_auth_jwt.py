"""dj-rest-auth's LoginView, PasswordChangeView and token views with
drf-toctou: versioned tokens with a session, refresh through drf-toctou,
password changes that revoke (or fail with nothing saved)."""

from __future__ import annotations

import jwt
from django.conf import settings
from django.core.checks import run_checks

from tests.helpers import assert_refusal, bearer, store_down


def login(api, name="alice"):
    response = api.post("/auth/login/", {"username": name, "password": f"{name}-password"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    return body["access"], body["refresh"]


def test_login_issues_versioned_tokens_that_open_a_session(store, users, api):
    access, refresh = login(api)
    claims = jwt.decode(access, settings.SIMPLE_JWT["SIGNING_KEY"], algorithms=["HS256"])
    assert claims["ver"] == 0 and claims["sid"]
    sessions = bearer(access).get("/toctou/sessions/").json()
    assert [s["id"] for s in sessions] == [claims["sid"]] and sessions[0]["current"]


def test_refresh_rotates_once_and_detects_reuse(store, users, api):
    access, refresh = login(api)
    first = api.post("/auth/token/refresh/", {"refresh": refresh}, format="json")
    assert first.status_code == 200 and "refresh" in first.json()
    assert_refusal(api.post("/auth/token/refresh/", {"refresh": refresh}, format="json"), 401, "token_reused")


def test_password_change_revokes_or_fails_cleanly(store, users, api):
    access, _ = login(api)
    body = {"new_password1": "Another-pass-123", "new_password2": "Another-pass-123"}
    with store_down(store):
        assert_refusal(bearer(access).post("/auth/password/change/", body, format="json"), 503,
                       "token_state_unavailable")
    assert api.post("/auth/login/", {"username": "alice", "password": "alice-password"},
                    format="json").status_code == 200  # nothing was saved
    assert bearer(access).post("/auth/password/change/", body, format="json").status_code == 200
    assert_refusal(bearer(access).get("/me/"), 401, "token_version_stale")


def test_verify_and_logout(store, users, api):
    access, refresh = login(api)
    assert api.post("/auth/token/verify/", {"token": access}, format="json").status_code == 200
    assert bearer(access).post("/toctou/logout/", {"refresh": refresh}, format="json").status_code == 204
    assert_refusal(api.post("/auth/token/verify/", {"token": access}, format="json"), 401, "token_revoked")


def test_the_shadowed_dj_rest_auth_refresh_view_is_not_reported(db):
    assert not [m for m in run_checks() if m.id == "drf_toctou.E006"]
