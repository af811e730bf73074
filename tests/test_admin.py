"""Admin for the DatabaseStore tables and the user-admin revoke action."""

from __future__ import annotations

import django
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory

from drf_toctou.admin import ExpiryFilter, RevokedTokenAdmin, revoke_all_tokens
from drf_toctou.models import RevokedToken, TokenVersion
from tests.helpers import access_for, assert_refusal, bearer, later


def admin_request():
    request = RequestFactory().post("/admin/")
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def test_user_admin_offers_revoke_all_tokens(users):
    user_admin = admin.site._registry[get_user_model()]
    assert revoke_all_tokens in user_admin.actions
    token = access_for(users[0])
    revoke_all_tokens(user_admin, admin_request(), get_user_model().objects.filter(pk=users[0].pk))
    assert_refusal(bearer(token).get("/me/"), 401, "token_version_stale")
    assert bearer(access_for(users[1])).get("/me/").status_code == 200


def test_store_tables_are_registered_with_search_and_expiry_filter(db):
    assert isinstance(admin.site._registry[RevokedToken], RevokedTokenAdmin)
    assert TokenVersion in admin.site._registry
    RevokedToken.objects.create(jti="old", user_id="1", expires_at=later(-10))
    RevokedToken.objects.create(jti="live", user_id="1", expires_at=later(600))
    model_admin = admin.site._registry[RevokedToken]
    value = ["yes"] if django.VERSION >= (5, 0) else "yes"  # Django 5 passes lists
    expired = ExpiryFilter(None, {"expired": value}, RevokedToken, model_admin)
    assert [r.jti for r in expired.queryset(None, RevokedToken.objects.all())] == ["old"]
    assert model_admin.kept_until(RevokedToken.objects.get(jti="live")).year >= 2026
