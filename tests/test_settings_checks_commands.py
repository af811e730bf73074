"""Settings reload, system checks, management commands."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.test import override_settings

from drf_toctou.models import RevokedToken
from drf_toctou.settings import toctou_settings
from drf_toctou.stores import get_store
from drf_toctou.stores.database import DatabaseStore
from tests.helpers import access_for, assert_refusal, bearer, later


def ids(messages):
    return {m.id for m in messages}


def test_settings_are_read_lazily_and_reloaded(settings):
    assert toctou_settings.STORE_TIMEOUT == 0.25
    settings.DRF_TOCTOU = {"STORE_TIMEOUT": 1.5}
    assert toctou_settings.STORE_TIMEOUT == 1.5
    assert toctou_settings.OWNER_FIELD == "owner_id"


def test_unknown_setting_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        toctou_settings.NOPE


def test_store_is_memoised_and_rebuilt_on_setting_change(settings):
    first = get_store()
    assert get_store() is first
    settings.DRF_TOCTOU = {"STORE": "drf_toctou.stores.database.DatabaseStore", "STORE_OPTIONS": {"using": "default"}}
    assert get_store() is not first


def test_clean_configuration_passes_checks(db):
    assert not ids(run_checks()) & {"drf_toctou.E001", "drf_toctou.E002", "drf_toctou.E003", "drf_toctou.W001"}


@override_settings(DRF_TOCTOU={"STORE": "no.such.Store"})
def test_unimportable_store_is_E001():
    assert "drf_toctou.E001" in ids(run_checks())


@override_settings(DRF_TOCTOU={"ON_STORE_ERROR": "allow"})
def test_fail_open_is_W001():
    assert "drf_toctou.W001" in ids(run_checks())


@override_settings(DRF_TOCTOU={"ON_STORE_ERROR": "maybe"})
def test_unknown_on_store_error_is_E003():
    assert "drf_toctou.E003" in ids(run_checks())


def test_disabled_jti_claim_is_E002(settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "JTI_CLAIM": None}
    assert "drf_toctou.E002" in ids(run_checks())


def test_toctou_setup_is_idempotent(store, store_kind):
    args = [] if store_kind == "dynamodb" else ["--no-data-tables"]  # moto: the data tables too
    reports = []
    for _ in range(2):
        out = StringIO()
        call_command("toctou_setup", *args, stdout=out)
        reports.append(out.getvalue())
    assert reports[0].strip()
    if store_kind == "dynamodb":
        assert "'documents' (DocumentViewSet): created" in reports[0]
        assert "'documents' (DocumentViewSet): already set up" in reports[1]


def test_toctou_revoke_user_by_username(store, users):
    token = access_for(users[0])
    out = StringIO()
    call_command("toctou_revoke", "--user", "alice", stdout=out)
    assert "version 1" in out.getvalue()
    assert_refusal(bearer(token).get("/me/"), 401, "token_version_stale")


def test_toctou_revoke_token_and_jti(store, users):
    first, second = access_for(users[0]), access_for(users[0])
    call_command("toctou_revoke", "--token", str(first), stdout=StringIO())
    call_command("toctou_revoke", "--jti", second["jti"], "--user-id", str(users[0].pk),
                 "--expires-at", str(second["exp"]), stdout=StringIO())
    assert_refusal(bearer(first).get("/me/"), 401, "token_revoked")
    assert_refusal(bearer(second).get("/me/"), 401, "token_revoked")


def test_toctou_revoke_refuses_bad_input(store, users):
    with pytest.raises(CommandError):
        call_command("toctou_revoke", "--user", "nobody", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("toctou_revoke", "--token", "garbage", stdout=StringIO())


def test_toctou_purge_deletes_expired_rows_in_batches(db, settings):
    store = DatabaseStore({})
    for i in range(7):
        store.revoke("1", f"old-{i}", later(-10))
    store.revoke("1", "live", later(600))
    out = StringIO()
    call_command("toctou_purge", "--batch-size", "3", stdout=out)
    assert "Deleted 7" in out.getvalue()
    assert list(RevokedToken.objects.values_list("jti", flat=True)) == ["live"]


def test_toctou_purge_on_a_store_that_expires_by_itself_exits_0(store, store_kind):
    out = StringIO()
    call_command("toctou_purge", stdout=out)  # cron must not alert
    expected = "Deleted 0" if store_kind == "database" else "expires revocations by itself"
    assert expected in out.getvalue()


def test_unversioned_token_classes_are_W002(settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "AUTH_TOKEN_CLASSES": ("rest_framework_simplejwt.tokens.AccessToken",)}
    assert "drf_toctou.W002" in ids(run_checks())


def test_long_access_tokens_are_W003(settings):
    from datetime import timedelta

    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(hours=1)}
    assert "drf_toctou.W003" in ids(run_checks())


def test_token_permission_without_revalidating_authentication_is_W004(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication"]}
    assert "drf_toctou.W004" in ids(run_checks())


def test_deploy_check_redis_that_can_evict_revocations_is_W005(settings, db):
    from tests.conftest import use_store
    from tests.servers import RedisServer

    server = RedisServer(None, "--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru").start()
    try:
        use_store(settings, "redis", url=server.url)
        assert "drf_toctou.W005" in ids(run_checks(include_deployment_checks=True))
        server.client().config_set("maxmemory-policy", "noeviction")
        assert "drf_toctou.W005" not in ids(run_checks(include_deployment_checks=True))
    finally:
        server.stop()


def test_deploy_check_dynamodb_table_without_ttl_is_W006(store_kind, settings):
    if store_kind != "dynamodb":
        pytest.skip("DynamoDB only")
    store = get_store()
    assert "drf_toctou.W006" not in ids(run_checks(include_deployment_checks=True))
    store.client.update_time_to_live(TableName=store.table_name,
                                     TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"})
    assert "drf_toctou.W006" in ids(run_checks(include_deployment_checks=True))


def test_toctou_audit_flags_naive_views_and_passes_protected_ones(db):
    import json

    out = StringIO()
    call_command("toctou_audit", "--format", "json", stdout=out)
    endpoints = {(e["path"], e["method"]): e for e in json.loads(out.getvalue())}
    assert endpoints[("naive/notes/<int:pk>/", "PATCH")]["verdict"] == "TOCTOU-prone"
    assert endpoints[("naive/notes/<int:pk>/", "PATCH")]["severity"] == "error"
    assert endpoints[("notes/<int:pk>/", "PATCH")]["reasons"] == [
        "object writes are check-then-write, not conditional (S3-S6)"]
    assert endpoints[("v/notes/(?P<pk>[^/.]+)/", "PATCH")]["verdict"] == "protected"
    # A conditional mixin rechecks with every object read, even without TokenOwnershipPermission.
    assert endpoints[("a/notes/(?P<pk>[^/.]+)/", "GET")]["verdict"] == "protected"
    assert endpoints[("auth/token/", "POST")]["verdict"] == "not applicable"


def test_toctou_audit_table_and_fail_on(db):
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("toctou_audit", "--fail-on", "error", stdout=out)
    assert "TOCTOU-prone" in out.getvalue() and "naive/notes" in out.getvalue()
