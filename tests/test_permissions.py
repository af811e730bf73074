"""L2: TokenOwnershipPermission rechecks the token at the point of use."""

from __future__ import annotations

import pytest
from rest_framework_simplejwt.authentication import JWTAuthentication

from drf_toctou.ownership import is_owner
from drf_toctou.revocation import revoke_token, revoke_user_tokens
from tests.helpers import access_for, after_authentication, assert_refusal, bearer, spying_checks
from tests.testapp.models import Note
from tests.topology import wait_until


@pytest.fixture
def note(users):
    return Note.objects.create(owner=users[0], title="alice's")


def test_owner_reads_and_writes(store, users, note):
    client = bearer(access_for(users[0]))
    assert client.get(f"/notes/{note.pk}/").status_code == 200
    assert client.patch(f"/notes/{note.pk}/", {"title": "new"}, format="json").status_code == 200
    note.refresh_from_db()
    assert note.title == "new"


def test_foreign_object_answers_404_like_a_missing_one(store, users, note):
    client = bearer(access_for(users[1]))
    assert_refusal(client.get(f"/notes/{note.pk}/"), 404, "not_found")
    assert_refusal(client.patch(f"/notes/{note.pk}/", {"title": "x"}, format="json"), 404, "not_found")
    note.refresh_from_db()
    assert note.title == "alice's"


def test_foreign_object_answers_403_not_owner_when_hiding_is_off(store, users, note, settings):
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "HIDE_FORBIDDEN_AS_NOT_FOUND": False}
    assert_refusal(bearer(access_for(users[1])).get(f"/notes/{note.pk}/"), 403, "not_owner")


def test_requires_a_token_checked_by_the_plugin(store, users, note, api):
    assert api.get(f"/notes/{note.pk}/").status_code == 401
    api.force_authenticate(users[0])
    assert_refusal(api.get(f"/notes/{note.pk}/"), 403, "token_auth_required")


def test_composes_with_drf_operators(store, users, note):
    alice, bob = users
    bob.is_staff = True
    bob.save()
    assert bearer(access_for(bob)).get(f"/admin-or-owner/notes/{note.pk}/").status_code == 200
    assert bearer(access_for(alice)).get(f"/admin-or-owner/notes/{note.pk}/").status_code == 200
    carol = type(alice).objects.create_user("carol", password="x")
    assert bearer(access_for(carol)).get(f"/admin-or-owner/notes/{note.pk}/").status_code == 404


def test_owner_compared_as_strings_for_dicts_and_models(users, note):
    assert is_owner({"owner_id": "1"}, "owner_id", "1")
    assert is_owner({"owner_id": 1}, "owner_id", "1")
    assert not is_owner({}, "owner_id", "1")
    assert is_owner(note, "owner_id", str(users[0].pk))


def test_recheck_is_a_second_round_trip_never_a_cached_value(store, store_kind, users, note):
    """One round trip for authentication, one for the recheck: no caching —
    unless the near cache is on (opt-in), whose answer to authentication's
    strict check (the token's first) then answers the read's recheck."""
    def round_trips_of_a_detail_get() -> int:
        with spying_checks(store) as calls:  # a new token: authentication's check is never cached
            assert bearer(access_for(users[0])).get(f"/notes/{note.pk}/").status_code == 200
        return len(calls)

    if store_kind == "redis_near":
        store.client  # noqa: B018  (builds the near cache; its thread subscribes)
        wait_until(lambda: store._near.stats()["fresh"], 5, "near cache subscribed")
        # The recheck is answered by the cache when it is proven fresh at that instant; a loaded machine
        # may deschedule the request past max_staleness in between, and then the recheck is strict.
        assert any(round_trips_of_a_detail_get() == 1 for _ in range(20))
    else:
        assert round_trips_of_a_detail_get() == 2


# --- S1/S2, deterministic: the token dies right after authentication ------


KILLERS = {
    "S1_jti_revoked": (lambda user, token: revoke_token(token), "token_revoked"),
    "S2_version_bumped": (lambda user, token: revoke_user_tokens(user), "token_version_stale"),
}


@pytest.mark.parametrize("scenario", list(KILLERS))
def test_token_killed_after_authentication_is_refused_at_use(scenario, store, users, note):
    kill, code = KILLERS[scenario]
    with after_authentication(kill):
        response = bearer(access_for(users[0])).patch(f"/notes/{note.pk}/", {"title": "late"}, format="json")
    assert_refusal(response, 401, code)
    note.refresh_from_db()
    assert note.title == "alice's"


@pytest.mark.parametrize("scenario", list(KILLERS))
def test_negative_control_naive_view_lets_the_dead_token_write(scenario, store, users, note):
    kill, _ = KILLERS[scenario]
    with after_authentication(kill, JWTAuthentication):
        response = bearer(access_for(users[0])).patch(f"/naive/notes/{note.pk}/", {"title": "late"}, format="json")
    assert response.status_code == 200  # the race is lost without the plugin
    note.refresh_from_db()
    assert note.title == "late"

