"""The ORM fence on PostgreSQL: a revocation started while a fenced write holds
its transaction completes only after that write; every write that commits
after the revocation returned is refused. The naive twin shows the invariant
broken under the same interleaving."""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from django.db import connection, connections, transaction

from drf_toctou.mixins.model import ConditionalModelMixin
from drf_toctou.revocation import revoke_token, revoke_user_tokens
from tests.helpers import access_for, assert_refusal, bearer
from tests.testapp.models import Note
from tests.testapp.views import NaiveOwnerPermission

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HOLD = 0.5


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL pointing at PostgreSQL")


def start_revoker(revoke, events):
    def run():
        try:
            events["revoke_started"] = time.monotonic()
            revoke()
            events["revoke_returned"] = time.monotonic()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


KINDS = {
    "jti": lambda token: (lambda: revoke_token(token), "token_revoked"),
    "version": lambda token: (lambda: revoke_user_tokens(token["user_id"]), "token_version_stale"),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_revocation_waits_for_the_fenced_write_in_flight(kind, users):
    note = Note.objects.create(owner=users[0], title="before")
    token = access_for(users[0])
    revoke, code = KINDS[kind](token)
    events: dict[str, float] = {}
    original = ConditionalModelMixin._update_row
    threads = []

    def holding(self, *args, **kwargs):
        threads.append(start_revoker(revoke, events))
        time.sleep(HOLD)  # the revoker is blocked on the user's token-state row now
        original(self, *args, **kwargs)
        transaction.on_commit(lambda: events.setdefault("write_committed", time.monotonic()))

    with mock.patch.object(ConditionalModelMixin, "_update_row", holding):
        response = bearer(token).patch(f"/v/notes/{note.pk}/", {"title": "during"}, format="json")
    threads[0].join(10)
    assert response.status_code == 200
    assert events["write_committed"] <= events["revoke_returned"]
    assert events["revoke_returned"] - events["revoke_started"] >= HOLD * 0.8  # it waited
    after = bearer(token).patch(f"/v/notes/{note.pk}/", {"title": "after"}, format="json")
    assert_refusal(after, 401, code)
    note.refresh_from_db()
    assert note.title == "during"


def test_negative_control_naive_write_commits_after_the_revocation_returned(users):
    note = Note.objects.create(owner=users[0], title="before")
    token = access_for(users[0])
    events: dict[str, float] = {}
    original = NaiveOwnerPermission.has_object_permission

    def checked(self, request, view, obj):
        allowed = original(self, request, view, obj)
        start_revoker(lambda: revoke_token(token), events).join(10)
        return allowed

    with mock.patch.object(NaiveOwnerPermission, "has_object_permission", checked):
        response = bearer(token).patch(f"/naive/notes/{note.pk}/", {"title": "late"}, format="json")
    events["write_committed"] = time.monotonic()
    assert response.status_code == 200
    assert events["write_committed"] > events["revoke_returned"]  # the invariant broken
    note.refresh_from_db()
    assert note.title == "late"


def test_negative_control_fence_switched_off_lets_the_write_commit_after_revocation(users):
    """The same interleaving as above with the row lock disabled: the
    revocation returns while the write is still open, and the write commits."""
    from drf_toctou.stores.database import DatabaseStore

    note = Note.objects.create(owner=users[0], title="before")
    token = access_for(users[0])
    events: dict[str, float] = {}
    original = ConditionalModelMixin._update_row
    threads = []

    def holding(self, *args, **kwargs):
        threads.append(start_revoker(lambda: revoke_token(token), events))
        time.sleep(HOLD)
        original(self, *args, **kwargs)
        transaction.on_commit(lambda: events.setdefault("write_committed", time.monotonic()))

    with mock.patch.object(DatabaseStore, "write_fence", lambda self, alias: None), \
            mock.patch.object(ConditionalModelMixin, "_update_row", holding):
        response = bearer(token).patch(f"/v/notes/{note.pk}/", {"title": "during"}, format="json")
    threads[0].join(10)
    assert response.status_code == 200
    assert events["write_committed"] > events["revoke_returned"]  # the invariant broken
