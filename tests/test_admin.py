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


def test_token_state_can_be_seen_never_edited_or_deleted(users, client):
    from drf_toctou.models import Session

    admin_user = get_user_model().objects.create_superuser("root", password="root-password")
    client.force_login(admin_user)
    for model in (TokenVersion, RevokedToken, Session):
        model_admin = admin.site._registry[model]
        request = RequestFactory().get("/admin/")
        request.user = admin_user
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_delete_permission(request)
        assert not model_admin.has_change_permission(request)
        assert model_admin.has_view_permission(request)
        assert "delete_selected" not in model_admin.get_actions(request)
    assert client.get("/admin/drf_toctou/revokedtoken/add/").status_code == 403


def test_a_lost_version_row_never_hands_a_version_out_twice(users):
    """A version row deleted behind the store's back (a restore, a manual
    delete): the next bump still goes past every version reached."""
    from drf_toctou.stores.database import DatabaseStore

    store = DatabaseStore({})
    assert [store.bump_version("7") for _ in range(3)] == [1, 2, 3]
    TokenVersion.objects.filter(pk="7").delete()
    assert store.bump_version("7") == 4
