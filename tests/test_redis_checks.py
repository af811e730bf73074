"""RedisStore's split round trip (``send_check``, ``drf_toctou.stores.redis_checks``): the MGET is written at once
and its reply read later, on a check connection the check owns until then.
These tests prove that no answer is ever given to the wrong check — after an
unread reply, a nested check, a stall, a restart, a fork or under many threads
— that connections are reused rather than opened per check, and that a fault
is still a ``StoreError`` within ``STORE_TIMEOUT``."""

from __future__ import annotations

import os
import threading
import time

import pytest
import redis

from drf_toctou.exceptions import StoreError
from drf_toctou.stores.base import TokenState
from drf_toctou.stores.redis import RedisStore
from drf_toctou.stores.redis_checks import CheckConnections
from tests.servers import RedisServer

GOOD, REVOKED = TokenState(revoked=False, version=0), TokenState(revoked=True, version=0)
JTI = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def server():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def store(server, settings):
    settings.DRF_TOCTOU = {"STORE_TIMEOUT": 0.25}
    store = RedisStore({"url": server.url})
    store.revoke("bad", JTI, int(time.time()) + 600)
    return store


def test_the_reply_is_read_when_asked_for(store):
    good, bad = store.send_check("good", JTI), store.send_check("bad", JTI)  # the second one nests
    assert bad() == REVOKED
    assert good() == GOOD


def test_negative_control_a_connection_shared_before_its_reply_is_read_swaps_answers(store, monkeypatch):
    """The race the ownership rule closes: give the connection back as soon as
    the MGET is written (as a pool would on a plain command) and the nested
    check writes on it too — the first reply read answers the wrong check."""
    take = CheckConnections._take

    def shared_at_once(self):
        connection, reused = take(self)
        self._idle.append(connection)
        return connection, reused

    monkeypatch.setattr(CheckConnections, "_take", shared_at_once)
    good, bad = store.send_check("good", JTI), store.send_check("bad", JTI)
    assert bad() == GOOD  # "good"'s reply, read by the check of "bad": a revoked token would pass
    assert good() == REVOKED


def test_an_unread_reply_is_never_given_to_the_next_check(store):
    store.send_check("bad", JTI)  # sent, never read: its connection stays out of use
    for _ in range(3):
        assert store.check("good", JTI) == GOOD
        assert store.check("bad", JTI) == REVOKED


def test_a_stalled_reply_is_a_store_error_and_never_read_later(store, server):
    assert store.check("good", JTI) == GOOD  # connected: the MGET itself goes out
    staller = threading.Thread(target=lambda: server.client().execute_command("DEBUG", "SLEEP", "0.6"))
    staller.start()
    time.sleep(0.1)
    started = time.monotonic()
    pending = store.send_check("bad", JTI)
    with pytest.raises(StoreError):
        pending()
    assert time.monotonic() - started < 0.25 + 0.1
    staller.join()
    # The late reply ("revoked") must not answer the next check of another token.
    assert store.check("good", JTI) == GOOD
    assert store.check("bad", JTI) == REVOKED


def test_an_idle_connection_closed_by_a_restart_is_replaced_not_a_503(store, server):
    assert store.check("good", JTI) == GOOD
    server.kill()
    server.start()  # same port, empty: the revocation of "bad" is gone with it
    assert store.check("good", JTI) == GOOD
    assert store.check("bad", JTI) == GOOD


def test_a_dead_server_is_a_store_error_every_time(store, server):
    assert store.check("good", JTI) == GOOD
    server.kill()
    for _ in range(3):
        with pytest.raises(StoreError):
            store.check("good", JTI)


def test_threads_never_see_each_others_answers(store):
    errors: list[str] = []

    def worker(user: str, expected: TokenState) -> None:
        for _ in range(200):
            pending = store.send_check(user, JTI)
            time.sleep(0)  # let the other threads write theirs meanwhile
            if pending() != expected:
                errors.append(user)

    threads = [threading.Thread(target=worker, args=(user, REVOKED if user == "bad" else GOOD))
               for user in ("bad", "good", "bad", "good")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_uses_a_connection_of_its_own(store):
    assert store.check("bad", JTI) == REVOKED  # the parent's connection exists now
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            answers = [store.check("good", JTI), store.check("bad", JTI)] * 20
            os.write(writer, b"ok" if answers == [GOOD, REVOKED] * 20 else b"wrong")
        finally:
            os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    assert os.read(reader, 10) == b"ok"
    os.close(reader)
    assert store.check("good", JTI) == GOOD  # the parent's connection is intact
    assert store.check("bad", JTI) == REVOKED


def test_connections_are_reused_across_checks_and_threads(store, server):
    """A thread per request (Django's runserver) must not mean a connection
    per request: idle check connections are shared by every thread."""
    def one_request() -> None:
        assert store.check("good", JTI) == GOOD

    observer = server.client()
    before = observer.info("stats")["total_connections_received"]
    for _ in range(50):
        thread = threading.Thread(target=one_request)
        thread.start()
        thread.join()
    opened = observer.info("stats")["total_connections_received"] - before
    assert opened == 1, opened  # one check connection, reused by all 50 threads


def test_cluster_or_single_connection_clients_use_redis_py_as_is(server, settings):
    client = redis.Redis.from_url(server.url, single_connection_client=True)
    store = RedisStore({"client": client})
    store.revoke("bad", JTI, int(time.time()) + 600)
    assert store.check("bad", JTI) == REVOKED
    assert store.send_check("good", JTI)() == GOOD


def test_a_version_that_is_not_an_integer_is_a_store_error(store, server):
    server.client().set(store.version_key("good"), b"garbage")
    with pytest.raises(StoreError):
        store.check("good", JTI)
