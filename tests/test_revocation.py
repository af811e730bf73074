"""Revocations outlive every way a token can still be accepted: simplejwt
accepts a token until exp + LEEWAY, so every store keeps a revocation until
exp + LEEWAY + REVOCATION_GRACE (clock skew between validators and store)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from drf_toctou.revocation import keep_until, revoke_token, revoke_user_tokens
from drf_toctou.tokens import VersionedRefreshToken
from tests.helpers import access_for, assert_refusal, bearer, pair_for

LEEWAY = 30


@pytest.fixture
def leeway(settings, monkeypatch):
    from rest_framework_simplejwt.state import token_backend

    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "LEEWAY": LEEWAY}
    monkeypatch.setattr(token_backend, "leeway", LEEWAY)  # simplejwt builds its backend once, at first use


def expired_seconds_ago(token, seconds: int):
    token.set_exp(lifetime=timedelta(seconds=-seconds))
    return token


def test_keep_until_adds_leeway_and_grace(settings, leeway):
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "REVOCATION_GRACE": 60}
    assert keep_until(1_000) == 1_000 + LEEWAY + 60
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "LEEWAY": timedelta(seconds=12.5)}
    assert keep_until(1_000) == 1_013 + 60


def test_a_revoked_access_token_stays_refused_inside_the_leeway(store, users, leeway):
    token = expired_seconds_ago(access_for(users[0]), 5)  # past exp, still accepted under LEEWAY
    assert bearer(token).get("/me/").status_code == 200
    revoke_token(token)
    assert_refusal(bearer(token).get("/me/"), 401, "token_revoked")


def test_a_revoked_refresh_token_is_not_refreshed_inside_the_leeway(store, users, api, leeway):
    refresh = expired_seconds_ago(pair_for(users[0])[1], 5)
    revoke_token(refresh)
    response = api.post("/auth/token/refresh/", {"refresh": str(refresh)}, format="json")
    assert_refusal(response, 401, "token_revoked")


def test_a_rotated_out_refresh_token_stays_used_inside_the_leeway(store, users, api, leeway, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ROTATE_REFRESH_TOKENS": True}
    refresh = VersionedRefreshToken.for_user(users[0])
    refresh.set_exp(lifetime=timedelta(seconds=2))
    assert api.post("/auth/token/refresh/", {"refresh": str(refresh)}, format="json").status_code == 200
    expired_seconds_ago(refresh, 5)  # the same jti, now in its leeway
    assert_refusal(api.post("/auth/token/refresh/", {"refresh": str(refresh)}, format="json"), 401, "token_reused")


def test_without_grace_the_store_would_forget_it_negative_control(store, users, leeway, monkeypatch):
    """The mechanism switched off (revocations kept only until exp, as before):
    the revoked token answers 200 again inside the leeway."""
    from drf_toctou import revocation

    monkeypatch.setattr(revocation, "keep_until", lambda expires_at: int(expires_at))
    token = expired_seconds_ago(access_for(users[0]), 5)
    revoke_token(token)
    assert bearer(token).get("/me/").status_code == 200


def test_revoke_user_tokens_accepts_a_user_or_an_id(store, users):
    assert revoke_user_tokens(users[0]) == 1
    assert revoke_user_tokens(users[0].pk) == 2
    assert revoke_user_tokens(str(users[0].pk)) == 3
