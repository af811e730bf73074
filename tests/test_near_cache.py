"""The near cache of RedisStore (drf_toctou/stores/near_cache.py), on a
redis-server of its own: what it serves, what it never serves, and each way
its tracking connection can fail — the cache is emptied and checks are strict
until a new connection is subscribed, never a wrong "not revoked". The
proofs across processes (propagation, the checker under load, their negative
controls) are in tests/reliability/test_near_cache.py."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured

from drf_toctou.exceptions import StoreError
from drf_toctou.state import PendingCheck
from drf_toctou.stores.base import AUTHENTICATION, READ, WRITE, TokenState
from drf_toctou.stores.near_cache import NearCache
from drf_toctou.stores.near_pinger import Pinger
from drf_toctou.stores.near_tracking import NAME
from drf_toctou.stores.redis import RedisStore
from tests.servers import RedisServer

JTI = "0123456789abcdef0123456789abcdef"
GOOD = TokenState(revoked=False, version=0)


@pytest.fixture(scope="module")
def server():
    started = RedisServer().start()
    yield started
    started.stop()


@pytest.fixture
def stores(server, settings):
    settings.DRF_TOCTOU = {"STORE_TIMEOUT": 0.25}
    server.client().flushall()
    built: list[RedisStore] = []

    def make(**near) -> RedisStore:
        store = RedisStore({"url": server.url, "near_cache": near})
        built.append(store)
        wait_until(lambda: store.check("warm", JTI) and store._near.stats()["fresh"], "tracking subscribed")
        return store

    yield make
    for store in built:
        store.close()


def wait_until(predicate, what: str, timeout: float = 5.0) -> float:
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.0005)
    return time.monotonic() - began


def warm(store: RedisStore, user: str = "u1", jti: str = JTI, session: str | None = None) -> TokenState:
    """Until the answer is served from the cache (the first strict check
    populates it once the tracking connection is subscribed)."""
    wait_until(lambda: store.check(user, jti, session) and store.cached_check(user, jti, session, AUTHENTICATION),
               "answer cached")
    return store.cached_check(user, jti, session, AUTHENTICATION)


def mgets(server) -> int:
    stats = server.client().info("commandstats").get("cmdstat_mget", {})
    return int(stats.get("calls", 0))


def tracking_client_id(server) -> int:
    return next(c["id"] for c in server.client().client_list() if c["name"] == NAME)


# --- options --------------------------------------------------------------------


@pytest.mark.parametrize("near", [
    {"max_entry": 10}, {"max_entries": 0}, {"max_entries": "10"}, {"max_staleness": 0},
    {"max_staleness": 5}, {"max_staleness": 1e-9}, {"purposes": ["write"]}, {"purposes": "authentication"},
    {"purposes": []}, "yes",
])
def test_bad_options_are_refused(near, server):
    with pytest.raises(ImproperlyConfigured):
        RedisStore({"url": server.url, "near_cache": near})


def test_cluster_refuses_the_near_cache():
    with pytest.raises(ImproperlyConfigured, match="not with 'cluster'"):
        RedisStore({"url": ["redis://127.0.0.1:7000/0"], "cluster": True, "near_cache": {}})


def test_a_connection_that_fails_after_its_handshake_is_retried_at_a_pace_and_warned_of_once(
        server, settings, caplog):
    """A Redis user allowed to subscribe but not to PING (or any failure right
    after the handshake): the connection is reopened every RECONNECT_EVERY,
    not in a loop, and the operator is told once, not at every attempt."""
    settings.DRF_TOCTOU = {"STORE_TIMEOUT": 0.25}
    admin = server.client()
    admin.execute_command("ACL", "SETUSER", "noping", "on", ">pw", "~*", "&*", "+@all", "-ping")
    store = RedisStore({"url": f"redis://noping:pw@127.0.0.1:{server.port}/0", "near_cache": {}})
    try:
        with caplog.at_level("WARNING", logger="drf_toctou"):
            store.check("u1", JTI)
            before = int(admin.info("stats")["total_connections_received"])
            time.sleep(1.0)
            opened = int(admin.info("stats")["total_connections_received"]) - before
        assert opened <= 15, opened  # about one per RECONNECT_EVERY (0.1 s), never a storm
        warnings = [r for r in caplog.records if "near cache" in r.getMessage()]
        assert 1 <= len(warnings) <= 2, [r.getMessage() for r in warnings]
        assert store.cached_check("u1", JTI, None, AUTHENTICATION) is None  # never fresh: strict
    finally:
        store.close()
        admin.execute_command("ACL", "DELUSER", "noping")


def test_a_store_replaced_by_a_settings_change_closes_its_tracking_connection(server, settings):
    from drf_toctou.stores import get_store

    def tracking_connections() -> int:
        return sum(1 for c in server.client().client_list() if c["name"] == NAME)

    for n in range(5):
        settings.DRF_TOCTOU = {"STORE": "drf_toctou.stores.redis.RedisStore", "STORE_TIMEOUT": 0.25,
                               "STORE_OPTIONS": {"url": server.url, "near_cache": {}, "prefix": f"p{n}"}}
        store = get_store()
        wait_until(lambda: store.check("u1", JTI) and store._near.stats()["fresh"], "tracking subscribed")
        assert tracking_connections() == 1  # the previous store's went with it
    settings.DRF_TOCTOU = {}
    get_store()
    wait_until(lambda: tracking_connections() == 0, "the last one closed")


def test_off_by_default(server):
    store = RedisStore({"url": server.url})
    store.check("u1", JTI)
    assert store._near is None and store.cached_check("u1", JTI, None, AUTHENTICATION) is None
    store.close()


# --- what it serves ---------------------------------------------------------------------


def test_served_from_the_cache_without_a_round_trip(stores, server):
    store = stores()
    assert warm(store) == GOOD
    before, answers, deadline = mgets(server), [], time.monotonic() + 5
    while answers.count(GOOD) < 200 and time.monotonic() < deadline:
        answers.append(store.cached_check("u1", JTI, None, (AUTHENTICATION, READ)[len(answers) % 2]))
    assert mgets(server) == before
    # None: the tracking connection was not proven fresh at that instant (on a loaded machine, a check
    # descheduled past max_staleness; the thread it wakes proves it fresh again). Never a round trip.
    assert set(answers) <= {GOOD, None} and answers.count(GOOD) == 200, answers.count(None)


# --- who keeps it fresh ---------------------------------------------------------------------


def checks_for(store: RedisStore, seconds: float, gap: float, rested: list[bool] | None = None,
               ) -> list[TokenState | None]:
    """Cached checks every ``gap`` seconds (sleeping in between) for ``seconds``;
    ``rested`` gets, for each check, whether the thread was resting then."""
    answers, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        answers.append(store.cached_check("u1", JTI, None, AUTHENTICATION))
        if rested is not None:
            rested.append(store._near.pinger.resting)
        time.sleep(gap)
    return answers


def test_an_idle_process_is_kept_fresh_by_the_thread(stores):
    store = stores(max_staleness=0.005)
    warm(store)
    before = store._near.stats()["pings"]
    time.sleep(0.1)  # no check at all
    after = store._near.stats()["pings"]
    assert store.cached_check("u1", JTI, None, AUTHENTICATION) == GOOD  # the first check after the pause
    # Every idle_interval (3 ms): about 33 in 0.1 s, fewer when the machine is slow to wake the thread.
    assert after["thread"] - before["thread"] >= 10 and after["checks"] == before["checks"]
    answers = checks_for(store, 0.3, 0.008)  # sparser than max_staleness: still from the cache
    # Most of them (all, on an idle machine); with no thread PINGing, none would be (the negative control
    # below). With CPU hogs on both cores the thread's turns come late and some checks are strict.
    assert answers.count(GOOD) >= 0.5 * len(answers), answers.count(None)


def test_a_busy_process_pings_from_its_checks_and_the_thread_rests(stores):
    """Checks every ~50 µs: they send the PINGs themselves (one a check that
    finds the last one max_staleness / 2 old) and the thread sleeps, so it
    never takes the GIL from the requests. The check that next finds the cache
    not proven fresh wakes it.

    The thread's state at one instant is not asserted: on a loaded machine a
    check descheduled for max_staleness finds the cache not proven fresh and
    rightly wakes the thread for a turn (the CI run that asserted "resting" at
    the end failed that way). What is asserted is the share: the thread rested
    through most checks and sent a small fraction of an idle thread's PINGs."""
    store = stores(max_staleness=0.005)
    warm(store)
    checks_for(store, 0.1, 0.00005)  # long enough for the thread to see the pace
    before, rested = store._near.stats(), []
    answers = checks_for(store, 0.5, 0.00005, rested)
    after = store._near.stats()
    idle_pings = 0.5 / (0.6 * 0.005)  # what the thread would send in 0.5 s if it kept an idle process fresh
    thread_pings = after["pings"]["thread"] - before["pings"]["thread"]
    # Never resting (the thread PINGing as for an idle process) would be 0 and about idle_pings.
    assert rested.count(True) >= 0.5 * len(rested) and thread_pings <= 0.25 * idle_pings, \
        f"rested through {rested.count(True)} of {len(rested)} checks, {thread_pings} PINGs from the thread"
    assert 0.5 / 0.0025 * 0.25 <= after["pings"]["checks"] - before["pings"]["checks"] <= 0.5 / 0.0025 + 5
    assert answers.count(GOOD) >= 0.95 * len(answers), answers.count(None)
    # The traffic stops, then comes back sparse: the first check finds the cache not proven fresh and
    # wakes the thread; from then on the thread keeps the cache fresh between checks.
    time.sleep(0.02)
    sparse = checks_for(store, 0.2, 0.008)
    assert store._near.stats()["thread"] == "pinging"
    assert sparse[3:].count(GOOD) >= 0.5 * len(sparse[3:]), sparse  # as for an idle process, above


def test_negative_control_a_resting_thread_nobody_wakes_leaves_sparse_checks_strict(stores, monkeypatch):
    """The same, with the wake-up (``Pinger.nudge``) switched off: sparse checks
    after a busy spell are strict until the thread's rest ends on its own."""
    store = stores(max_staleness=0.005)
    warm(store)
    monkeypatch.setattr(Pinger, "nudge", lambda self: None)
    end = time.monotonic() + 2
    while not store._near.pinger.resting and time.monotonic() < end:  # busy until the thread rests
        checks_for(store, 0.01, 0.00005)
    assert store._near.stats()["thread"] == "resting"
    time.sleep(0.02)
    sparse = checks_for(store, 0.1, 0.008)
    assert sparse.count(None) >= 0.8 * len(sparse), sparse


def test_a_write_never_reads_the_cache(stores, server):
    store = stores()
    warm(store)
    assert store.cached_check("u1", JTI, None, WRITE) is None
    token = SimpleNamespace(payload={"user_id": "u1", "jti": JTI, "ver": 0})
    with mock.patch("drf_toctou.state.get_store", return_value=store):
        with mock.patch.object(store, "cached_check", wraps=store.cached_check) as consulted:
            before = mgets(server)
            PendingCheck(token, WRITE).result()
            assert mgets(server) == before + 1 and not consulted.called  # the write's recheck: one round trip

        def authenticated_from_the_cache() -> bool:
            before = mgets(server)
            PendingCheck(token, AUTHENTICATION).result()
            return mgets(server) == before

        wait_until(authenticated_from_the_cache, "authentication answered by the cache")


def test_purposes_setting(stores):
    store = stores(purposes=[AUTHENTICATION])
    warm(store)
    assert all(store.cached_check("u1", JTI, None, READ) is None for _ in range(100))
    wait_until(lambda: store.cached_check("u1", JTI, None, AUTHENTICATION) == GOOD, "authentication cached")


@pytest.mark.parametrize("end", ["revoke", "bump", "session"])
def test_a_change_drops_the_answer(stores, server, end):
    store, other = stores(), RedisStore({"url": server.url})
    warm(store, session="s1")
    if end == "revoke":
        other.revoke("u1", JTI, int(time.time()) + 60)
    elif end == "bump":
        other.bump_version("u1")
    else:
        other.revoke_session("u1", "s1", int(time.time()) + 60)
    # From the acknowledgement on, never "good" from the cache once max_staleness has passed.
    acknowledged = time.monotonic()
    while time.monotonic() - acknowledged < 0.02:
        served = store.cached_check("u1", JTI, "s1", AUTHENTICATION)
        if time.monotonic() - acknowledged > store._near.max_staleness:
            assert served != GOOD
    assert store.check("u1", JTI, "s1") != GOOD
    assert warm(store, session="s1") != GOOD  # the new answer is cached in turn
    other.close()


@pytest.mark.parametrize("forgets", [True, False], ids=["forgets", "negative_control_without_forget"])
def test_the_writing_process_refuses_from_the_acknowledgement_on(stores, forgets, monkeypatch):
    """A logout followed at once by a request served by the same process: its
    own write drops the answer before Redis's push of it can arrive (here the
    push is held back and the connection kept proven fresh, as within the
    microseconds after an acknowledgement). Without the local forget, the
    revoked token is answered "good" from the cache."""
    store = stores()
    near = store._near
    warm(store, session="s1")
    tracking = near.tracking
    monkeypatch.setattr(tracking, "drain", lambda on_invalidate, budget=0: True)  # the push not there yet
    monkeypatch.setattr(tracking, "fresh", lambda now: True)
    if not forgets:
        monkeypatch.setattr(near, "forget", lambda keys: None)
    for end in (lambda: store.revoke("u1", JTI, int(time.time()) + 60), lambda: store.bump_version("u1"),
                lambda: store.revoke_session("u1", "s1", int(time.time()) + 60)):
        end()
        served = store.cached_check("u1", JTI, "s1", AUTHENTICATION)
        if forgets:
            assert served is None  # asked of Redis: refused
        else:
            assert served == GOOD  # wrong: the revocation was acknowledged to this very process
        store._near._entries.clear()
        warm_state = store.check("u1", JTI, "s1")
        assert warm_state != GOOD
        store.client.flushall()
        near._entries.clear()
        wait_until(lambda: store.check("u1", JTI, "s1") == GOOD and bool(
            store.cached_check("u1", JTI, "s1", AUTHENTICATION)), "answer cached again")


def test_lru_is_bounded(stores):
    store = stores(max_entries=5)
    for n in range(10):
        warm(store, user=f"u{n}")
    assert store._near.stats()["entries"] <= 5
    wait_until(lambda: store.cached_check("u9", JTI, None, AUTHENTICATION) == GOOD, "the newest answer kept")
    assert store.cached_check("u0", JTI, None, AUTHENTICATION) is None  # the oldest evicted


# --- populating: the race between the MGET and the insert --------------------------------


def revoke_between_the_read_and_the_insert(store, server) -> None:
    """The MGET reads "not revoked"; before its answer is inserted, the jti is
    revoked and the invalidation applied."""
    warm(store, user="warm2")
    read = store.send_check("u1", JTI)
    time.sleep(0.01)  # Redis has answered the MGET: "absent"
    seen = store._near.invalidations
    RedisStore({"url": server.url}).revoke("u1", JTI, int(time.time()) + 60)
    wait_until(lambda: store.cached_check("warm2", JTI, None, AUTHENTICATION) and store._near.invalidations > seen,
               "invalidation applied")
    assert read() == GOOD  # the answer as Redis gave it, before the revocation


def test_an_invalidation_during_a_strict_check_is_not_lost(stores, server):
    store = stores()
    revoke_between_the_read_and_the_insert(store, server)
    assert store.jti_key("u1", JTI) not in store._near._entries  # not inserted
    assert store.cached_check("u1", JTI, None, AUTHENTICATION) is None
    assert store.check("u1", JTI).revoked


def test_negative_control_insert_without_the_epoch_check_serves_a_stale_answer(stores, server):
    store = stores()
    near = store._near
    with mock.patch.object(NearCache, "token", lambda self: (near.epoch, 10**9)):  # the check switched off
        revoke_between_the_read_and_the_insert(store, server)
    wait_until(lambda: store.cached_check("u1", JTI, None, AUTHENTICATION) == GOOD, "served")  # wrong: revoked


# --- failures of the tracking connection -------------------------------------------------------


def test_flushall_empties_the_cache(stores, server):
    store = stores()
    server.client().set(store.version_key("u1"), 3)
    assert warm(store).version == 3
    epoch = store._near.epoch
    server.client().flushall()
    wait_until(lambda: store.cached_check("u1", JTI, None, AUTHENTICATION) != TokenState(False, 3), "flush seen")
    assert store._near.epoch > epoch
    assert warm(store).version == 0


def test_a_killed_connection_is_strict_until_resubscribed(stores, server):
    store = stores()
    warm(store)
    epoch = store._near.epoch
    server.client().client_kill_filter(_id=tracking_client_id(server))
    killed = time.monotonic()
    wait_until(lambda: store.cached_check("u1", JTI, None, AUTHENTICATION) is None, "strict")
    strict_after = time.monotonic() - killed
    assert store._near.epoch > epoch and store._near.stats()["entries"] == 0
    back_after = wait_until(lambda: warm(store) == GOOD, "served again")
    print(f"killed tracking connection: strict after {strict_after * 1e6:.0f} µs, cached again after "
          f"{back_after * 1e3:.1f} ms")
    assert strict_after < 0.05


def test_a_paused_redis_goes_strict_within_max_staleness(stores, server):
    """A silent cut (no FIN: Redis stops answering): no PONG, so no cache."""
    store = stores(max_staleness=0.005)
    warm(store)
    server.client().execute_command("CLIENT", "PAUSE", "300", "ALL")
    paused = time.monotonic()
    served_until = paused
    while time.monotonic() - paused < 0.1:
        began = time.monotonic()
        if store.cached_check("u1", JTI, None, AUTHENTICATION) is not None:
            served_until = began
    print(f"paused Redis: last cached answer begun {(served_until - paused) * 1e3:.2f} ms after the pause")
    # Every PING answered was sent before the pause: nothing served from paused + max_staleness on.
    assert served_until - paused <= 0.005
    time.sleep(0.3 - (time.monotonic() - paused))  # a strict check now would time out: Redis is paused
    wait_until(lambda: warm(store) == GOOD, "served again after the pause")


@pytest.mark.parametrize("probe", ["role", "ping"], ids=["role", "negative_control_ping"])
def test_a_demoted_master_is_no_proof_with_the_role_probe(server, probe):
    """Sentinel's probe is ROLE: a server turned into a replica (here of a
    master that does not exist: it will never see another write) stops
    proving the cache fresh at its next answer. The control, PING, goes on
    proving it fresh: a demoted master still answers PING."""
    import redis

    from tests.topology import free_ports

    address = ("127.0.0.1", server.port)
    cache = NearCache(lambda: redis.Connection(host="127.0.0.1", port=server.port), "t",
                      {"max_entries": 10, "max_staleness": 0.005, "purposes": {AUTHENTICATION}}, 0.25,
                      master=(lambda: address) if probe == "role" else None)
    admin = server.client()
    try:
        wait_until(lambda: cache.stats()["fresh"], "fresh")
        admin.execute_command("REPLICAOF", "127.0.0.1", str(free_ports(1)[0]))
        demoted = time.monotonic()
        fresh_until = demoted
        while time.monotonic() - demoted < 0.2:
            began = time.monotonic()
            if cache.lookup([]) is not None:
                fresh_until = began
            time.sleep(0.0002)
        if probe == "role":
            assert fresh_until - demoted <= 0.005
        else:
            assert fresh_until - demoted > 0.15  # proven "fresh" by a replica that sees no write
    finally:
        admin.execute_command("REPLICAOF", "NO", "ONE")
        cache.close()


def test_a_restarted_redis_is_strict_until_resubscribed(stores, server):
    store = stores()
    server.client().set(store.version_key("u1"), 7)
    assert warm(store).version == 7
    server.kill()
    wait_until(lambda: store.cached_check("u1", JTI, None, AUTHENTICATION) is None, "strict while down")
    with pytest.raises(StoreError):
        store.check("u1", JTI)
    server.start()  # the same port, no data: the version is 0 now
    wait_until(lambda: store._near.stats()["fresh"], "resubscribed", timeout=10)
    assert store.cached_check("u1", JTI, None, AUTHENTICATION) is None
    assert warm(store).version == 0


def test_a_forked_child_never_uses_the_parents_cache(stores, server):
    store = stores()
    warm(store)
    epoch = store._near.epoch
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's exit handlers
        try:
            first = store.cached_check("u1", JTI, None, AUTHENTICATION)
            served = warm(store)
            RedisStore({"url": server.url}).revoke("u1", JTI, int(time.time()) + 60)
            wait_until(lambda: store.cached_check("u1", JTI, None, AUTHENTICATION) != GOOD, "child sees it")
            os.write(writer, f"{first is None} {served == GOOD} {store.check('u1', JTI).revoked}".encode())
        finally:
            os._exit(0)
    os.close(writer)
    answer = os.read(reader, 100).decode()
    os.waitpid(pid, 0)
    assert answer == "True True True"
    wait_until(lambda: store._near.stats()["fresh"], "parent fresh")
    assert store._near.epoch == epoch  # the parent's connection survived the child: never reopened
    wait_until(lambda: store.cached_check("u1", JTI, None, AUTHENTICATION) != GOOD, "parent sees it")


def test_a_backlog_is_strict_until_read(stores, server):
    store = stores()
    near = store._near
    for n in range(50):
        warm(store, jti=f"{n:032x}")
    with near._lock:  # the process is busy: nothing reads the tracking socket
        pipe = server.client().pipeline(transaction=False)
        for n in range(20_000):
            pipe.set(store.jti_key("u1", f"{n:032x}"), b"r1", ex=60)
        pipe.execute()
        time.sleep(0.05)
        assert near.tracking.drain(near._invalidated) is False  # more than the request path reads at once
    served = [store.cached_check("u1", f"{n:032x}", None, AUTHENTICATION) for n in range(50)]
    assert GOOD not in served
    wait_until(lambda: near.stats()["fresh"], "backlog read")
    assert all(store.check("u1", f"{n:032x}").revoked for n in range(50))


# --- the PING schedule and the reads, on a socket pair standing in for Redis -----------


class CountingSocket:
    """A socket that counts its recv calls."""

    def __init__(self, sock) -> None:
        self.sock, self.recvs = sock, 0

    def recv(self, size: int) -> bytes:
        self.recvs += 1
        return self.sock.recv(size)

    def __getattr__(self, name: str):
        return getattr(self.sock, name)


@pytest.fixture
def paired():
    """A Tracking on one end of a socket pair; the test plays Redis on the other."""
    import socket

    from drf_toctou.stores.near_tracking import Reader, Tracking

    ours, theirs = socket.socketpair()
    counting = CountingSocket(ours)
    tracking = Tracking(SimpleNamespace(_sock=counting, path="pair", disconnect=ours.close), Reader(), 0.005)
    yield tracking, counting, theirs
    ours.close()
    theirs.close()


def pong_after(tracking, theirs, delay: float) -> None:
    """PING now, answered and read ``delay`` later."""
    assert tracking.keep_fresh(time.monotonic(), interval=0)
    theirs.sendall(b"+PONG\r\n")
    time.sleep(0.001)  # arrived
    tracking.pings[-1] = time.monotonic() - delay  # as if sent ``delay`` before this read
    assert tracking.drain(lambda keys: None)


def test_a_pong_is_read_with_one_recv_not_two(paired):
    """A short read means the kernel had nothing more: no second recv just
    to be told EAGAIN (one system call and one exception less per PONG)."""
    tracking, counting, theirs = paired
    pong_after(tracking, theirs, 0)
    assert counting.recvs == 1
    theirs.sendall(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nt:a\r\n")
    time.sleep(0.001)
    keys = []
    assert tracking.drain(keys.append) and keys == [[b"t:a"]] and counting.recvs == 2
    tracking.tls = True  # the control: a TLS socket reads on until EAGAIN (records may wait in the kernel)
    pong_after(tracking, theirs, 0)
    assert counting.recvs == 4


def test_a_push_cut_in_two_is_applied_when_its_rest_arrives(paired):
    """A short read may end in the middle of a push: the part read waits in
    the reader, the rest is found by the next poll, and the invalidation is
    applied then, before the PONG behind it proves anything."""
    tracking, counting, theirs = paired
    push = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nt:b\r\n"
    keys = []
    assert tracking.keep_fresh(time.monotonic(), interval=0)
    theirs.sendall(push[:9])
    time.sleep(0.001)
    assert tracking.drain(keys.append) and keys == [] and tracking.answered < 0
    theirs.sendall(push[9:] + b"+PONG\r\n")
    time.sleep(0.001)
    assert tracking.drain(keys.append) and keys == [[b"t:b"]] and tracking.answered > 0


def test_the_pings_go_out_later_when_pongs_come_back_fast(paired):
    """A PING goes out max_staleness less a lead before the last proof
    expires: 2 observed PONG delays, within 0.1–0.5 × max_staleness. Fast
    PONGs (a busy process) → one per 0.9 × max_staleness; slow or sparse
    ones → one per 0.5 × (the start); a slow one raises the lead at once.
    The delays are given (``_adapt``), not timed: the arithmetic must not
    depend on how fast the machine runs the test; a real PONG feeds it."""
    tracking, _, theirs = paired
    assert tracking.interval == pytest.approx(0.0025)  # before any PONG: as often as the checks PINGed before
    pong_after(tracking, theirs, 0.0001)
    assert tracking.delay >= 0.0001  # a PONG read is a delay observed
    for _ in range(20):
        tracking._adapt(0.0001)
    assert tracking.interval == pytest.approx(0.0045)  # the lead at its floor, 0.1 × 5 ms
    tracking._adapt(0.0008)  # one slower PONG: the lead is 2 × 0.8 ms at once
    assert tracking.interval == pytest.approx(0.005 - 0.0016)
    tracking._adapt(0.003)
    assert tracking.interval == pytest.approx(0.0025)  # the lead at its ceiling, 0.5 × 5 ms
    for count in range(1, 31):
        tracking._adapt(0.0001)
        if tracking.interval == pytest.approx(0.0045):
            break
    assert 5 <= count <= 20  # and back, slowly (a quarter of the way per PONG)
    # The schedule decides how often a check finds the cache fresh, never how fresh "fresh" is.
    answered = tracking.answered
    assert tracking.fresh(answered + 0.00499) and not tracking.fresh(answered + 0.00501)


def test_the_thread_pings_on_its_own_schedule_whatever_the_checks_do(paired):
    """An idle process: the thread's PING goes out idle_interval (0.6 ×
    max_staleness) after the last, even when the checks' interval is longer."""
    tracking, _, theirs = paired
    for _ in range(20):
        pong_after(tracking, theirs, 0.0001)
    now = tracking.last_sent + 0.6 * 0.005 + 1e-6
    assert not tracking.keep_fresh(now) and tracking.keep_fresh(now, tracking.idle_interval)


def thread_put_to_sleep(near, monkeypatch) -> None:
    """The test plays the thread's turns: the real one sleeps from now on."""
    import threading

    asleep = threading.Event()

    def turn(self, cache):
        asleep.set()
        return 10.0

    monkeypatch.setattr(Pinger, "turn", turn)
    near.pinger.resting = False
    near.pinger.wake.set()
    assert asleep.wait(5)
    time.sleep(0.01)  # past its own read, if a turn was under way


class Clock:
    """``time.monotonic`` of the near cache's module, set by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def thread_turns(stores, monkeypatch):
    """A near cache (max_staleness 5 ms) whose thread sleeps while the test
    plays its turns on a set clock: (near cache, tracking, clock)."""
    from drf_toctou.stores import near_cache

    near = stores(max_staleness=0.005)._near
    thread_put_to_sleep(near, monkeypatch)
    clock = Clock(time.monotonic())
    monkeypatch.setattr(near_cache, "time", clock)
    return near, near.tracking, clock


def test_the_thread_never_pings_ahead_of_checks_that_read_the_socket(thread_turns):
    """While checks read the tracking socket, a PING is theirs to send (on
    their own, later schedule): the thread sends one only when theirs is
    overdue. Sending first at 0.6 × max_staleness, it would take the GIL from
    the request threads for every PING (the first design's cost). A quiet
    process (no check read the socket lately) gets the thread's PING."""
    near, tracking, clock = thread_turns
    tracking.interval = 0.0045  # the checks' schedule, the lead at its floor
    sent = near.pings["thread"]
    tracking.last_sent = clock.now - 0.0035  # past the thread's 0.6 × 5 ms, before the checks' 4.5 ms
    near.drained_at = clock.now  # a check just read the socket
    assert near.read(tracking) == pytest.approx(0.0045 + 0.00025 - 0.0035)  # asleep until theirs is late
    assert near.pings["thread"] == sent
    clock.now += 0.0013  # the checks' PING is overdue: the thread covers
    near.drained_at = clock.now
    near.read(tracking)
    assert near.pings["thread"] == sent + 1
    tracking.last_sent = clock.now - 0.0031  # a quiet process: idle_interval is the thread's schedule
    near.drained_at = -1e18
    near.read(tracking)
    assert near.pings["thread"] == sent + 2


def test_checks_that_stop_after_a_fast_spell_never_outlast_the_proof(thread_turns):
    """The checks PING every 0.9 × max_staleness, then stop. The thread's
    turns (played on a set clock) must get a PING out before the last proof
    expires — not wait for a check that never comes, nor sleep a whole
    idle_interval past the checks' due time (proof lapsed at 1.0 ×, the
    next PING at 1.2 ×: the review's finding)."""
    near, tracking, clock = thread_turns
    tracking.interval = 0.0045
    last = tracking.last_sent = clock.now  # the checks' last PING ...
    near.drained_at = last + 0.001  # ... and their last read, a millisecond later; then nothing
    sent = near.pings["thread"]
    clock.now += 0.003  # the thread's first turn: its quiet time is over
    for _ in range(10):
        sleep = near.read(tracking)
        if near.pings["thread"] > sent:
            break
        clock.now += sleep
    assert near.pings["thread"] == sent + 1
    assert tracking.last_sent - last <= 0.95 * 0.005 + 1e-9  # sent with the proof still good for 0.05 × max_staleness


