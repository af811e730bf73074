"""The near cache with Sentinel (tests/topology.py: 1 master, 1 replica, 3
Sentinels): answers served from the master the Sentinels name, and a planned
failover (``SENTINEL FAILOVER``: the old master stays up, and answers as a
master for seconds) followed by the tracking connection, never a revocation
written on the new master served as "good" once it moved."""

from __future__ import annotations

import time

import pytest
import redis

from drf_toctou.stores.base import AUTHENTICATION, TokenState
from drf_toctou.stores.near_pinger import MASTER_POLL
from drf_toctou.stores.near_tracking import NAME
from drf_toctou.stores.redis import RedisStore
from tests import topology

JTI = "0123456789abcdef0123456789abcdef"
GOOD = TokenState(revoked=False, version=0)


@pytest.fixture
def stores(redis_sentinel, settings):
    settings.DRF_TOCTOU = {"STORE_TIMEOUT": 0.25}
    redis_sentinel.flush()
    options = {"sentinels": redis_sentinel.sentinel_addresses, "service_name": redis_sentinel.service_name}
    near = RedisStore({**options, "near_cache": {"max_staleness": 0.005}})
    other = RedisStore(options)  # another process's store: writes on whatever master the Sentinels name
    yield near, other
    near.close()
    other.close()


def cached(store: RedisStore, jti: str = JTI) -> TokenState | None:
    return store.cached_check("u1", jti, None, AUTHENTICATION)


def warm(store: RedisStore, jti: str = JTI) -> TokenState:
    def served() -> TokenState | None:
        try:
            store.check("u1", jti)
        except Exception:  # noqa: BLE001  (a failover in progress: a 503, try again)
            return None
        return cached(store, jti)

    return topology.wait_until(served, 15, "an answer served from the near cache", 0.002)


def tracking_port(redis_sentinel) -> int | None:
    """The data node the tracking connection is on (CLIENT LIST by name)."""
    for port in redis_sentinel.data_ports:
        with redis_sentinel.processes[port].client(socket_timeout=1) as client:
            if any(c.get("name") == NAME for c in client.client_list()):
                return port
    return None


def test_served_from_the_master_and_dropped_when_revoked(stores, redis_sentinel):
    near, other = stores
    assert warm(near) == GOOD
    assert tracking_port(redis_sentinel) == redis_sentinel.master_port
    assert near._near.tracking.probe.command.endswith(b"ROLE\r\n")  # type: ignore[union-attr]
    other.revoke("u1", JTI, int(time.time()) + 60)
    acknowledged = time.monotonic()
    topology.wait_until(lambda: cached(near) != GOOD, 1, "the revocation pushed")
    assert time.monotonic() - acknowledged < 0.005 * 20  # pushed, not waited for (a loaded machine: slack)
    assert near.check("u1", JTI).revoked


def test_an_answer_from_another_server_is_not_kept(stores):
    near, _ = stores
    warm(near)
    cache = near._near
    keys = near._check_keys("u1", "f" * 32, None)
    cache.remember(keys, [None, None], cache.token(), answered_by=("127.0.0.1", 1))
    assert cached(near, "f" * 32) is None  # an old master's answer: never cached
    cache.remember(keys, [None, None], cache.token(), answered_by=cache.tracking.address)  # type: ignore[union-attr]
    assert cached(near, "f" * 32) == GOOD


def test_a_planned_failover_moves_the_tracking_connection(stores, redis_sentinel):
    """SENTINEL FAILOVER promotes the replica while the old master keeps
    running (and answering as a master until Sentinel demotes it, seconds
    later). The tracking connection moves to the new master within
    MASTER_POLL of the Sentinels naming it; from then on a revocation written
    there (by a store that connects afresh) is refused from the cache."""
    near, other = stores
    warm(near)
    old = redis_sentinel.master_port

    def failover_started() -> bool:
        """SENTINEL FAILOVER, once the Sentinels are done with an earlier one
        (a test before may have made one: INPROG until it ends)."""
        with redis_sentinel.processes[redis_sentinel.sentinel_ports[0]].client(socket_timeout=1) as sentinel:
            try:
                sentinel.execute_command("SENTINEL", "FAILOVER", redis_sentinel.service_name)
            except redis.ResponseError as e:
                if "INPROG" not in str(e):
                    raise
                return False
        return True

    topology.wait_until(failover_started, 60, "Sentinel to accept a failover", 0.2)
    try:
        new, _ = redis_sentinel.wait_failover(old)
        named = time.monotonic()
        moved = topology.wait_until(lambda: tracking_port(redis_sentinel) == new, 10, "tracking on the new master")
        moved_after = time.monotonic() - named
        assert moved and moved_after < MASTER_POLL + 2  # a poll, a reconnection, and this loaded machine's slack
        assert warm(near) == GOOD
        fresh = RedisStore({"sentinels": redis_sentinel.sentinel_addresses,
                            "service_name": redis_sentinel.service_name})
        fresh.revoke("u1", JTI, int(time.time()) + 60)  # on the new master
        topology.wait_until(lambda: cached(near) != GOOD, 1, "the revocation on the new master pushed")
        fresh.close()
        print(f"planned failover: tracking connection on the new master {moved_after * 1000:.0f} ms after "
              f"the Sentinels named it")
    finally:
        # Leave the session's topology as the next tests expect it: the old master a replica of the new
        # one, in sync. Sentinel reconfigures it on its own, but seconds later; an operator says it at once.
        redis_sentinel.follow()
        if redis_sentinel.master_port != old:
            with redis_sentinel.processes[old].client(socket_timeout=1) as demoted:
                demoted.execute_command("REPLICAOF", "127.0.0.1", str(redis_sentinel.master_port))
        redis_sentinel.wait_replicas(redis_sentinel.master_port, timeout=30)
