"""RedisStore on a real Redis Cluster and Sentinel (tests/topology.py).

Each test pins a behaviour that once was wrong (scripts/topology_store_probe.py
shows how it was found): a check during a slot migration, a store built while
its URL's node is down, a Sentinel master found by the check connections, and
failovers followed without rebuilding the store.
"""

from __future__ import annotations

import time

import pytest
import redis

from drf_toctou.exceptions import StoreError
from drf_toctou.stores.base import TokenState
from drf_toctou.stores.redis import RedisStore
from tests import topology
from tests.topology import WireCommands

JTI = "0123456789abcdef0123456789abcdef"
GOOD_JTI = "fedcba9876543210fedcba9876543210"
REDIS_PY_6 = int(redis.__version__.split(".")[0]) >= 6


def later(seconds: int) -> int:
    return int(time.time()) + seconds


def wait_replicated(replica: redis.Redis, key: bytes, cluster: bool) -> None:
    """Until ``key`` is on ``replica`` (read there directly: a WAIT sent on
    another connection than the write's proves nothing)."""
    if cluster:
        replica.execute_command("READONLY")
    topology.wait_until(lambda: replica.exists(key), 5, f"{key!r} on the replica")
    replica.close()


@pytest.fixture
def timeouts(settings):
    settings.DRF_TOCTOU = {"STORE_TIMEOUT": 0.25}


@pytest.fixture
def cluster_store(redis_cluster, timeouts):
    store = RedisStore({"url": redis_cluster.url, "cluster": True})
    yield store
    store.client.close()


@pytest.fixture
def sentinel_store(redis_sentinel, timeouts):
    store = RedisStore({"sentinels": redis_sentinel.sentinel_addresses, "service_name": redis_sentinel.service_name})
    yield store
    store.client.close()


# --- Redis Cluster -----------------------------------------------------------


def test_cluster_contract_and_one_mget_per_check(cluster_store, redis_cluster):
    store = cluster_store
    store.revoke("c1", JTI, later(600))
    assert store.bump_version("c1") == 1
    assert store.current_version("c1") == 1
    assert store.check("c1", JTI) == TokenState(revoked=True, version=1)
    assert store.send_check("c1", GOOD_JTI)() == TokenState(revoked=False, version=1)
    with WireCommands() as wire:
        store.check("c1", GOOD_JTI)
    node = redis_cluster.node_of_key(store.version_key("c1"))
    assert wire.writes == [node]  # one pipeline of GETs: one socket write, one round trip to the user's node


def test_cluster_check_of_a_good_token_while_its_slot_migrates(cluster_store, redis_cluster):
    store = cluster_store
    store.bump_version("c2")  # the user has a version key: it stays on the source until migrated
    slot = redis_cluster.slot_of(store.version_key("c2"))
    source = redis_cluster.node_of_slot(slot)
    target = next(p for p in redis_cluster.masters() if p != source)
    answers: list = []

    def during(migrated):
        try:
            answers.append(store.check("c2", GOOD_JTI))
        except StoreError as e:
            answers.append(e)

    try:
        redis_cluster.migrate_slot(slot, source, target, during=during)
    finally:
        redis_cluster.settle_slot(slot, source)
    for answer in answers:
        if isinstance(answer, StoreError):
            raise answer
    assert answers and all(a == TokenState(revoked=False, version=1) for a in answers)


def test_cluster_store_is_built_while_a_node_is_down_and_fails_closed(redis_cluster, timeouts):
    """Building the store contacts nothing; a check whose only startup node is
    down is a StoreError (a 503), never a 500; with several startup nodes the
    store works although one of them is down."""
    replica = next(p for p in redis_cluster.ports if p not in redis_cluster.masters())
    redis_cluster.kill(replica)
    try:
        alone = RedisStore({"url": f"redis://127.0.0.1:{replica}/0", "cluster": True})
        with pytest.raises(StoreError):
            alone.check("c4", JTI)
        several = RedisStore({"url": [f"redis://127.0.0.1:{replica}/0", redis_cluster.url], "cluster": True})
        assert several.check("c4", JTI) == TokenState(revoked=False, version=0)
    finally:
        redis_cluster.restart(replica)
        redis_cluster.wait_ok(timeout=30)


def test_cluster_store_follows_a_failover_without_being_rebuilt(cluster_store, redis_cluster):
    store = cluster_store
    store.revoke("c3", JTI, later(600))
    master = redis_cluster.node_of_key(store.version_key("c3"))
    replica = redis_cluster.replicas_of(master)[0]  # the revocation is on it before the master dies
    wait_replicated(redis_cluster.node_client(replica), store.jti_key("c3", JTI), cluster=True)
    redis_cluster.kill(master)
    try:
        redis_cluster.wait_failover(master)
        answers = []
        for _ in range(3):  # the first check after the failover may still meet the dead node
            try:
                answers.append(store.check("c3", JTI))
                break
            except StoreError as e:
                answers.append(e)
        assert answers[-1] == TokenState(revoked=True, version=0), answers
    finally:
        redis_cluster.restart(master)
        redis_cluster.wait_ok(timeout=30)


# --- Sentinel ----------------------------------------------------------------


def test_sentinel_check_reads_the_master(sentinel_store):
    store = sentinel_store
    store.revoke("s1", JTI, later(600))
    assert store.bump_version("s1") == 1
    assert store.check("s1", JTI) == TokenState(revoked=True, version=1)
    assert store.send_check("s1", GOOD_JTI)() == TokenState(revoked=False, version=1)


def test_sentinel_store_follows_a_failover_without_being_rebuilt(sentinel_store, redis_sentinel):
    store = sentinel_store
    store.revoke("s2", JTI, later(600))
    replica = redis_sentinel.processes[redis_sentinel.replica_ports[0]].client()
    wait_replicated(replica, store.jti_key("s2", JTI), cluster=False)  # the revocation is on the replica
    killed = redis_sentinel.kill_master()
    try:
        redis_sentinel.wait_failover(killed)
        answers = []
        for _ in range(3):
            try:
                answers.append(store.check("s2", JTI))
                break
            except StoreError as e:
                answers.append(e)
        if isinstance(answers[-1], StoreError):
            raise answers[-1]
        assert answers[-1] == TokenState(revoked=True, version=0)
    finally:
        redis_sentinel.revive(killed)
