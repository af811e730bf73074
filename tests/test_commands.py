"""Management commands: toctou_setup, toctou_revoke, toctou_purge."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from drf_toctou.models import RevokedToken
from drf_toctou.stores.database import DatabaseStore
from tests.helpers import access_for, assert_refusal, bearer, later


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


def revoke(*args):
    out = StringIO()
    call_command("toctou_revoke", *args, stdout=out)
    return out.getvalue()


def test_revoke_user_is_unambiguous(store, users):
    alice, _ = users
    numbered = get_user_model().objects.create_user(str(alice.pk), password="x")  # named like alice's id
    tokens = access_for(alice), access_for(numbered)
    with pytest.raises(CommandError, match="ambiguous"):
        revoke("--user", str(alice.pk))
    assert bearer(tokens[0]).get("/me/").status_code == 200 and bearer(tokens[1]).get("/me/").status_code == 200
    assert f"id in tokens: {alice.pk}" in revoke("--user-id", str(alice.pk))
    assert_refusal(bearer(tokens[0]).get("/me/"), 401, "token_version_stale")
    assert bearer(tokens[1]).get("/me/").status_code == 200
    assert f"id in tokens: {numbered.pk}" in revoke("--username", str(alice.pk))
    assert_refusal(bearer(tokens[1]).get("/me/"), 401, "token_version_stale")


def test_revoke_jti_refuses_an_unknown_user(store, users):
    token = access_for(users[0])
    with pytest.raises(CommandError, match="No user with id"):
        revoke("--jti", token["jti"], "--user-id", "424242", "--expires-at", str(token["exp"]))
    with pytest.raises(CommandError, match="needs --user-id"):
        revoke("--jti", token["jti"])


def test_revoke_an_expired_token_is_nothing_to_do(store, users):
    token = access_for(users[0])
    token.set_exp(lifetime=-timedelta(hours=1))
    assert "nothing to revoke" in revoke("--token", str(token))


def test_revoke_needs_exactly_one_target(store, users):
    with pytest.raises(CommandError, match="exactly one"):
        revoke("--user-id", "1", "--username", "alice")
