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


def test_toctou_setup_is_idempotent(store):
    for _ in range(2):
        out = StringIO()
        call_command("toctou_setup", stdout=out)
        assert out.getvalue().strip()


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


def test_toctou_purge_refuses_other_stores(store, store_kind):
    if store_kind == "database":
        pytest.skip("the database store is the one that purges")
    with pytest.raises(CommandError):
        call_command("toctou_purge", stdout=StringIO())
