"""Password change and deactivation bump the version automatically."""

from __future__ import annotations

from tests.helpers import access_for, assert_refusal, bearer


def test_password_change_kills_old_tokens(store, users):
    alice, bob = users
    token, bobs = access_for(alice), access_for(bob)
    alice.set_password("a-new-password")
    alice.save()
    assert_refusal(bearer(token).get("/me/"), 401, "token_version_stale")
    assert bearer(bobs).get("/me/").status_code == 200
    assert bearer(access_for(alice)).get("/me/").status_code == 200


def test_deactivation_kills_old_tokens(store, users):
    alice, _ = users
    token = access_for(alice)
    alice.is_active = False
    alice.save()
    assert store.current_version(str(alice.pk)) == 1
    assert bearer(token).get("/me/").status_code == 401


def test_plain_saves_do_not_bump(store, users):
    alice, _ = users
    alice.first_name = "Alice"
    alice.save()
    alice.save(update_fields=["first_name"])
    assert store.current_version(str(alice.pk)) == 0


def test_settings_switch_the_signals_off(store, users, settings):
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "REVOKE_ON_PASSWORD_CHANGE": False, "REVOKE_ON_DEACTIVATE": False}
    alice, _ = users
    alice.set_password("another")
    alice.is_active = False
    alice.save()
    assert store.current_version(str(alice.pk)) == 0


def test_queryset_update_bypasses_signals_as_documented(store, users):
    alice, _ = users
    type(alice).objects.filter(pk=alice.pk).update(password="x")
    assert store.current_version(str(alice.pk)) == 0
