"""The ORM fence (DatabaseStore + ConditionalModelMixin): a revocation started
while a fenced write holds its transaction completes only after that write,
and every write that commits after the revocation returned is refused.

Proven on SQLite files on every machine (the fence is SQLite's write lock) and
on PostgreSQL when DATABASE_URL points at one (a shared row lock), each with a
primary/replica router: the lock is taken on the database the write goes to,
never on the replica reads come from. The negative controls: the naive view,
and the same view with exactly one mechanism off — the lock, or the lock taken
on the read database as a router-unaware fence would.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.db import connection, connections, transaction

from drf_toctou.mixins import model as model_mixin
from drf_toctou.mixins.model import ConditionalModelMixin
from drf_toctou.revocation import revoke_token, revoke_user_tokens
from drf_toctou.stores import get_store
from drf_toctou.stores.database import DatabaseStore
from tests.conftest import use_store
from tests.helpers import access_for, assert_refusal, bearer
from tests.testapp.models import Note
from tests.testapp.views import NaiveOwnerPermission

HOLD = 0.5
BACKENDS = {
    # backend: (write database, router for reads and writes there, primary/replica router)
    "sqlite": ("filedb", "tests.routers.FileDbRouter", "tests.routers.PrimaryReplicaRouter"),
    "postgres": ("default", None, "tests.routers.PostgresPrimaryReplicaRouter"),
}
DATABASES = ["default", "filedb", "filedb_replica"] + (["pg_replica"] if "pg_replica" in __import__("django.conf").conf.settings.DATABASES else [])
pytestmark = pytest.mark.django_db(transaction=True, databases=DATABASES)


@pytest.fixture(params=list(BACKENDS), ids=list(BACKENDS))
def backend(request, settings, users):
    name = request.param
    if name == "postgres":
        request.applymarker(pytest.mark.postgres)
        if connection.vendor != "postgresql":
            pytest.skip("needs DATABASE_URL pointing at PostgreSQL")
    alias, router, _ = BACKENDS[name]
    settings.DATABASE_ROUTERS = [router] if router else []
    use_store(settings, "database", using=alias)
    for user in users:  # the notes' foreign keys need their owners in the write database
        get_user_model().objects.using(alias).get_or_create(pk=user.pk, defaults={"username": user.username})
    yield name
    connections.close_all()


def write_database(backend):
    return BACKENDS[backend][0]


def start_revoker(revoke, events):
    def run():
        try:
            events["revoke_started"] = time.monotonic()
            revoke()
            events["revoke_returned"] = time.monotonic()
        except Exception as e:  # reported by the test
            events["revoke_error"] = e
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@contextmanager
def revocation_during_the_write(revoke, events):
    """Start ``revoke`` in another thread once the write's transaction is open
    and fenced, and hold the write for HOLD seconds before it is sent."""
    original = ConditionalModelMixin._update_row
    threads = []

    def holding(self, *args, **kwargs):
        threads.append(start_revoker(revoke, events))
        time.sleep(HOLD)  # with the fence, the revoker is blocked on the user's token state now
        original(self, *args, **kwargs)
        transaction.on_commit(lambda: events.setdefault("write_committed", time.monotonic()),
                              using=kwargs.get("alias") or args[3])

    with mock.patch.object(ConditionalModelMixin, "_update_row", holding):
        yield
    for thread in threads:
        thread.join(20)


KINDS = {
    "jti": lambda token: (lambda: revoke_token(token), "token_revoked"),
    "version": lambda token: (lambda: revoke_user_tokens(token["user_id"]), "token_version_stale"),
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("routed", [False, True], ids=["one database", "primary/replica router"])
def test_revocation_waits_for_the_fenced_write_in_flight(kind, routed, backend, users, settings):
    if routed:
        settings.DATABASE_ROUTERS = [BACKENDS[backend][2]]
    alias = write_database(backend)
    note = Note.objects.using(alias).create(owner_id=users[0].pk, title="before")
    token = access_for(users[0])
    revoke, code = KINDS[kind](token)
    events: dict = {}
    with revocation_during_the_write(revoke, events):
        response = bearer(token).patch(f"/v/notes/{note.pk}/", {"title": "during"}, format="json")
    assert "revoke_error" not in events, events
    assert response.status_code == 200, response.content
    assert events["write_committed"] <= events["revoke_returned"]
    assert events["revoke_returned"] - events["revoke_started"] >= HOLD * 0.8  # it waited for the write
    after = bearer(token).patch(f"/v/notes/{note.pk}/", {"title": "after"}, format="json")
    assert_refusal(after, 401, code)
    assert Note.objects.using(alias).get(pk=note.pk).title == "during"


def test_negative_control_naive_write_commits_after_the_revocation_returned(backend, users):
    alias = write_database(backend)
    note = Note.objects.using(alias).create(owner_id=users[0].pk, title="before")
    token = access_for(users[0])
    events: dict = {}
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
    assert Note.objects.using(alias).get(pk=note.pk).title == "late"


ABLATIONS = {
    # exactly one mechanism off: no lock at all, or the lock on the read database
    "no lock": lambda alias: mock.patch.object(DatabaseStore, "write_fence", lambda self, db: None),
    "lock on the read database": lambda alias: mock.patch.object(
        model_mixin, "write_alias", lambda queryset: "filedb_replica" if alias == "filedb" else "pg_replica"),
}


@pytest.mark.parametrize("ablation", list(ABLATIONS))
def test_ablation_without_the_fence_the_race_is_lost(ablation, backend, users, settings):
    """The same view and interleaving with one mechanism switched off: the
    revocation no longer waits for the write in flight, and the write commits
    after the revocation returned — on SQLite without any lock, the two
    transactions instead deadlock on the database lock and the write dies
    with a 500. Either way, what gave the clean answer above is the fence."""
    settings.DATABASE_ROUTERS = [BACKENDS[backend][2]]
    alias = write_database(backend)
    note = Note.objects.using(alias).create(owner_id=users[0].pk, title="before")
    token = access_for(users[0])
    events: dict = {}
    with ABLATIONS[ablation](alias), revocation_during_the_write(lambda: revoke_token(token), events):
        try:
            response = bearer(token).patch(f"/v/notes/{note.pk}/", {"title": "during"}, format="json")
        except Exception as e:  # the database's lock error, raised through the test client
            response, events["write_error"] = None, e
    assert "revoke_returned" in events, events
    if backend == "sqlite" and ablation == "no lock":
        assert response is None and "locked" in str(events["write_error"]), events
        return
    assert response is not None and response.status_code == 200
    assert events["write_committed"] > events["revoke_returned"], events  # the race lost
    assert Note.objects.using(alias).get(pk=note.pk).title == "during"


def test_a_store_on_another_database_is_rechecked_not_fenced_and_says_so(users, settings):
    """DatabaseStore on "default", the writes routed to "filedb": no lock on a
    database the write does not use; the write is rechecked, and W012 says so."""
    settings.DATABASE_ROUTERS = ["tests.routers.FileDbRouter"]
    use_store(settings, "database", using="default")
    for user in users:
        get_user_model().objects.using("filedb").get_or_create(pk=user.pk, defaults={"username": user.username})
    assert get_store().write_fence("filedb") is None
    assert "drf_toctou.W012" in {m.id for m in run_checks()}
    note = Note.objects.using("filedb").create(owner_id=users[0].pk, title="before")
    token = access_for(users[0])
    assert bearer(token).patch(f"/v/notes/{note.pk}/", {"title": "x"}, format="json").status_code == 200
    revoke_token(token)
    assert_refusal(bearer(token).patch(f"/v/notes/{note.pk}/", {"title": "y"}, format="json"), 401, "token_revoked")
