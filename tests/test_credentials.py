"""A credential change — password, deactivation, deletion — revokes the
user's tokens, and never commits without that revocation."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from drf_toctou.exceptions import TokenStateUnavailable
from tests.helpers import access_for, assert_refusal, bearer, store_down


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


# --- a credential change never commits without its revocation ---------------


def stored_password(user) -> str:
    return type(user).objects.values_list("password", flat=True).get(pk=user.pk)


def test_password_change_with_the_store_down_saves_nothing(store, users):
    alice, _ = users
    token, before = access_for(alice), stored_password(alice)
    alice.set_password("a-new-password")
    with store_down(store), pytest.raises(TokenStateUnavailable):
        alice.save()
    assert stored_password(alice) == before  # the new password was not written
    alice.save()  # the store is back: the change goes through, with its revocation
    assert stored_password(alice) != before
    assert_refusal(bearer(token).get("/me/"), 401, "token_version_stale")


def test_password_change_over_http_with_the_store_down_is_a_503(store, users):
    alice, _ = users
    token, before = access_for(alice), stored_password(alice)
    with store_down(store):
        response = bearer(token).post("/change-password/", {"password": "a-new-password"}, format="json")
    assert_refusal(response, 503, "token_state_unavailable")
    assert stored_password(alice) == before
    assert bearer(token).post("/change-password/", {"password": "a-new-password"}, format="json").status_code == 204
    assert_refusal(bearer(token).get("/me/"), 401, "token_version_stale")


def test_a_killed_redis_blocks_the_password_change(redis_server, settings, users, db):
    """The same with a real Redis killed (and started again, empty)."""
    from drf_toctou.stores import reset_store
    from tests.conftest import use_store

    redis_server.client().flushall()
    use_store(settings, "redis", url=redis_server.url)
    alice, _ = users
    token, before = access_for(alice), stored_password(alice)
    redis_server.kill()
    try:
        alice.set_password("a-new-password")
        with pytest.raises(TokenStateUnavailable):
            alice.save()
        assert stored_password(alice) == before
    finally:
        redis_server.start()
        reset_store()
    alice.save()
    assert_refusal(bearer(token).get("/me/"), 401, "token_version_stale")


def test_deactivation_with_the_store_down_saves_nothing(store, users):
    alice, _ = users
    alice.is_active = False
    with store_down(store), pytest.raises(TokenStateUnavailable):
        alice.save()
    assert type(alice).objects.get(pk=alice.pk).is_active is True


def test_set_unusable_password_revokes(store, users):
    alice, _ = users
    token = access_for(alice)
    alice.set_unusable_password()
    alice.save()
    assert_refusal(bearer(token).get("/me/"), 401, "token_version_stale")


def test_a_hash_upgrade_at_login_is_not_a_password_change(store, users, settings):
    """Django re-hashes a password at login when the hasher's parameters
    changed (every Django upgrade): the secret is the same, the other devices
    stay logged in."""
    alice, _ = users
    token = access_for(alice)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher",
                                 "django.contrib.auth.hashers.MD5PasswordHasher"]
    before = stored_password(alice)
    assert get_user_model().objects.get(pk=alice.pk).check_password("alice-password")  # upgrades the hash
    assert stored_password(alice) != before and stored_password(alice).startswith("pbkdf2")
    assert bearer(token).get("/me/").status_code == 200


# Changing the id tokens carry (USER_ID_FIELD = "username", renamed) is proven in tests/projects/username_ids.


def test_deleting_a_user_revokes_and_fails_closed(store, users):
    alice, bob = users
    with store_down(store), pytest.raises(TokenStateUnavailable), transaction.atomic():
        bob.delete()
    assert type(bob).objects.filter(pk=bob.pk).exists()
    version = store.current_version(str(bob.pk))
    type(bob).objects.filter(pk=bob.pk).delete()  # QuerySet.delete sends pre_delete too
    assert store.current_version(str(bob.pk)) == version + 1


def test_a_reused_primary_key_never_inherits_the_deleted_users_tokens(store, users):
    alice, _ = users
    old_token, pk = access_for(alice), alice.pk
    alice.delete()
    newcomer = get_user_model().objects.create_user("mallory", password="x", pk=pk)
    assert_refusal(bearer(old_token).get("/me/"), 401, "token_version_stale")
    assert bearer(access_for(newcomer)).get("/me/").json()["username"] == "mallory"


# A re-registered USER_ID_FIELD = "username" is proven in tests/projects/username_ids (simplejwt binds
# USER_ID_FIELD at import: it can't be switched inside this process).


def test_the_admin_password_form_answers_cleanly_with_the_store_down(store, users, client):
    alice, bob = users
    admin = get_user_model().objects.create_superuser("root", password="root-password")
    client.force_login(admin)
    before = stored_password(bob)
    url = f"/admin/auth/user/{bob.pk}/password/"
    with store_down(store):
        response = client.post(url, {"password1": "Another-pass-123", "password2": "Another-pass-123",
                                     "usable_password": "true"}, follow=True)
    assert response.status_code == 200
    assert "Nothing was changed" in response.content.decode()
    assert stored_password(bob) == before


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_the_new_password_is_never_written_without_its_bump(users):
    """Outside any transaction (a plain view without ATOMIC_REQUESTS): the
    save was committed before a post-save bump could fail; now the bump comes
    first and a failed one leaves the old password in place."""
    from drf_toctou.stores.database import DatabaseStore

    alice, _ = users
    before = stored_password(alice)
    alice.set_password("a-new-password")
    with store_down(DatabaseStore({})), pytest.raises(TokenStateUnavailable):
        alice.save()
    assert stored_password(alice) == before
