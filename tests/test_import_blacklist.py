"""``manage.py toctou_import_blacklist``: simplejwt's blacklist moved into every
store — nothing lost, nothing expired imported, idempotent, a dry run, and a
clear error without the blacklist app."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from drf_toctou.revocation import keep_until


def run(*args: str) -> str:
    out = StringIO()
    call_command("toctou_import_blacklist", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def blacklist(users):
    """Four blacklisted tokens — alice's, bob's, an expired one, one of a
    deleted user — and one outstanding token that is not blacklisted."""
    alice, bob = users
    tokens = {name: RefreshToken.for_user(user) for name, user in
              (("alice", alice), ("bob", bob), ("expired", alice), ("orphan", bob), ("live", alice))}
    for name in ("alice", "bob", "expired", "orphan"):
        tokens[name].blacklist()
    past = datetime.now(tz=timezone.utc) - timedelta(days=2)
    OutstandingToken.objects.filter(jti=tokens["expired"]["jti"]).update(expires_at=past)
    OutstandingToken.objects.filter(jti=tokens["orphan"]["jti"]).update(user=None)  # the user was deleted
    return tokens


def test_imports_every_blacklisted_token_still_acceptable(store, users, blacklist):
    out = run()
    assert "Imported 3 blacklisted token(s)" in out
    assert "0 already revoked" in out and "1 already expired" in out and "0 skipped" in out
    alice, bob = (str(u.pk) for u in users)
    for name, user_id in (("alice", alice), ("bob", bob), ("orphan", bob)):  # the orphan: by its own claim
        assert store.check(user_id, blacklist[name]["jti"]).revoked, name
    assert not store.check(alice, blacklist["live"]["jti"]).revoked
    assert not store.check(alice, blacklist["expired"]["jti"]).revoked


def test_keeps_each_revocation_until_exp_plus_leeway_and_grace(store, store_kind, users, blacklist, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "LEEWAY": 30}
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "REVOCATION_GRACE": 90}
    run()
    exp = blacklist["alice"]["exp"]
    assert keep_until(exp) == exp + 30 + 90
    if store_kind == "database":
        from drf_toctou.models import RevokedToken

        assert RevokedToken.objects.get(jti=blacklist["alice"]["jti"]).expires_at == exp + 120
    elif store_kind.startswith("redis"):
        key = store.jti_key(str(users[0].pk), blacklist["alice"]["jti"])
        assert store.client.expiretime(key) == exp + 120
    else:
        item = store.client.get_item(TableName=store.table_name, Key={"pk": {"S": f"j#{blacklist['alice']['jti']}"}})
        assert int(item["Item"]["expires_at"]["N"]) == exp + 120


def test_a_token_expired_but_within_leeway_is_still_imported(store, users, blacklist, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "LEEWAY": 3 * 86400}  # a validator still accepts the expired one
    assert "Imported 4" in run()


def test_is_idempotent(store, users, blacklist):
    run()
    again = run()
    assert "Imported 0 blacklisted token(s)" in again and "3 already revoked" in again


def test_dry_run_writes_nothing(store, users, blacklist):
    assert "Dry run: would import 3 blacklisted token(s)" in run("--dry-run")
    assert not store.check(str(users[0].pk), blacklist["alice"]["jti"]).revoked
    assert "Imported 3" in run()


def test_a_row_without_any_user_id_is_skipped(store, users, blacklist):
    OutstandingToken.objects.filter(jti=blacklist["orphan"]["jti"]).update(token="")
    assert "Imported 2" in run() and "1 skipped" in run()


def test_a_store_fault_is_a_command_error_saying_to_run_again(store, users, blacklist):
    from tests.helpers import store_down

    with store_down(store), pytest.raises(CommandError, match="idempotent"):
        run()


def test_an_empty_blacklist_imports_nothing(store):
    assert "Imported 0" in run()
    assert BlacklistedToken.objects.count() == 0


def test_without_the_blacklist_app_it_says_so(db):
    from django.conf import settings

    apps = [app for app in settings.INSTALLED_APPS if app != "rest_framework_simplejwt.token_blacklist"]
    with override_settings(INSTALLED_APPS=apps), pytest.raises(CommandError, match="not in INSTALLED_APPS"):
        run()
