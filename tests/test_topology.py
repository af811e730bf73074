"""Smoke tests of the Redis Cluster and Sentinel launchers (tests/topology.py):
each topology comes up, the hash-tagged keys of a user stay together and spread
over the masters, one user's MGET is one command on the cluster, a slot can be
migrated while MOVED/ASK are observed, and a killed master is failed over.
The topologies are started once per session and left healthy by every test."""

from __future__ import annotations

import collections
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.topology import WireCommands, wait_until

JTI = "0123456789abcdef0123456789abcdef"


def user_keys(user_id: int) -> tuple[bytes, bytes]:
    """RedisStore's two keys of one user: ``t:{<id>}v`` and ``t:{<id>}j<jti>``."""
    return f"t:{{{user_id}}}v".encode(), f"t:{{{user_id}}}j".encode() + bytes.fromhex(JTI)


def commandstats(cluster, ports) -> collections.Counter:
    """Calls per command counted by the servers themselves (INFO commandstats),
    minus this bookkeeping's own INFO, connection setup (HELLO, CLIENT SETINFO)
    and the replicas' acknowledgements (REPLCONF ACK, once a second)."""
    counts: collections.Counter = collections.Counter()
    for port in ports:
        with cluster.node_client(port) as client:
            for name, stats in client.info("commandstats").items():
                command = name.removeprefix("cmdstat_")
                if command not in ("info", "config|resetstat", "hello", "client|setinfo", "replconf"):
                    counts[(port, command)] += int(stats["calls"])
    return counts


def reset_commandstats(cluster, ports) -> None:
    for port in ports:
        with cluster.node_client(port) as client:
            client.config_resetstat()


def redirection(error: redis.exceptions.ResponseError) -> str:
    """MOVED, ASK or TRYAGAIN: redis-py 8 parses them into MovedError, AskError
    (MovedError's base) and TryAgainError on any client; 5.0 only on cluster
    clients (a plain client raises ResponseError("ASK 1716 127.0.0.1:...")."""
    for kind, cls in (("MOVED", redis.exceptions.MovedError), ("ASK", redis.exceptions.AskError),
                      ("TRYAGAIN", redis.exceptions.TryAgainError)):
        if isinstance(error, cls) or str(error).startswith(kind):
            return kind
    raise error


# --- Redis Cluster -----------------------------------------------------------


def test_cluster_reaches_ok_with_three_masters_and_their_replicas(redis_cluster):
    print(f"\ncluster startup: {redis_cluster.startup_seconds:.2f} s")
    assert len(redis_cluster.masters()) == 3
    for port in redis_cluster.ports:
        assert redis_cluster.cluster_info(port)["cluster_state"] == "ok"
    for master in redis_cluster.masters():
        assert len(redis_cluster.replicas_of(master)) == 1
    client = redis_cluster.client()
    try:
        assert client.ping(target_nodes=redis.RedisCluster.ALL_NODES)
    finally:
        client.close()


def test_keys_of_1000_users_spread_over_all_three_masters(redis_cluster):
    client = redis_cluster.client()
    try:
        client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
        expected: collections.Counter = collections.Counter()
        owners = redis_cluster.slot_owners()
        pipe = client.pipeline(transaction=False)
        for user_id in range(1000):
            version, jti = user_keys(user_id)
            assert redis_cluster.slot_of(version) == redis_cluster.slot_of(jti)  # one hash tag, one slot
            expected[owners[redis_cluster.slot_of(version)]] += 1
            pipe.set(version, 1)
            pipe.set(jti, 1)
        pipe.execute()
        stored = {port: redis_cluster.node_client(port).dbsize() for port in redis_cluster.masters()}
        print(f"\nusers per master: {dict(expected)}")
        assert {port: 2 * n for port, n in expected.items()} == stored
        assert len(expected) == 3 and min(expected.values()) > 250  # ~333 each
    finally:
        client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
        client.close()


def test_one_users_mget_is_one_command_on_the_wire(redis_cluster):
    client = redis_cluster.client()
    try:
        version, jti = user_keys(42)
        client.set(version, 3)
        client.mget(version, jti)  # connections opened and topology known: not counted below
        masters, owner = redis_cluster.masters(), redis_cluster.node_of_key(version)
        reset_commandstats(redis_cluster, masters)
        with WireCommands() as wire:
            assert client.mget(version, jti) == [b"3", None]
        assert wire.sent == [(owner, "MGET")]
        assert commandstats(redis_cluster, masters) == {(owner, "mget"): 1}
    finally:
        client.delete(user_keys(42)[0])
        client.close()


def test_a_slot_migrates_with_ask_then_moved_observable(redis_cluster):
    client = redis_cluster.client()
    version, jti = user_keys(7)
    slot = redis_cluster.slot_of(version)
    source = redis_cluster.node_of_slot(slot)
    target = next(p for p in redis_cluster.masters() if p != source)
    filler = [f"t:{{7}}f{i}".encode() for i in range(5)]
    seen: list[str] = []

    def during(migrated):
        on_source = redis_cluster.node_client(source)
        try:
            on_source.get(version)  # the slot is still served by the source...
            seen.append("source")
        except redis.exceptions.ResponseError as e:  # ...which asks the target (ASK) once the key moved
            seen.append(redirection(e))
        finally:
            on_source.close()
        assert client.get(version) == b"5"  # redis-py follows ASK
        if (version in migrated) != (jti in migrated):  # one user's keys split by the move
            on_source = redis_cluster.node_client(source)
            try:
                with pytest.raises(redis.exceptions.ResponseError) as error:
                    on_source.mget(version, jti)
                seen.append(redirection(error.value))
            finally:
                on_source.close()

    try:
        client.set(version, 5)
        client.set(jti, 1)
        for key in filler:
            client.set(key, 1)
        moved = redis_cluster.migrate_slot(slot, source, target, batch=1, during=during)
        assert moved == 7
        assert seen[0] == "source" and "ASK" in seen and "TRYAGAIN" in seen and "MOVED" not in seen, seen
        with pytest.raises(redis.exceptions.ResponseError) as error:
            redis_cluster.node_client(source).get(version)
        assert redirection(error.value) == "MOVED"
        assert redis_cluster.node_of_slot(slot) == target
        assert client.mget(version, jti) == [b"5", b"1"]
    finally:
        redis_cluster.settle_slot(slot, source)
        client.delete(version, jti, *filler)
        client.close()


def test_a_killed_master_is_replaced_by_its_replica_and_rejoins_as_replica(redis_cluster):
    client = redis_cluster.client(socket_timeout=0.25, socket_connect_timeout=0.25, retry=Retry(NoBackoff(), 0))
    version, _ = user_keys(99)
    try:
        client.set(version, 1)
        killed = redis_cluster.kill_master_of(version)
        new_master, seconds = redis_cluster.wait_failover(killed)
        print(f"\ncluster failover: {seconds:.2f} s after SIGKILL")
        assert new_master != killed
        answered = None
        for _ in range(3):  # the first command may fail on the dead node; redis-py then reloads the slots
            try:
                answered = client.get(version)
                break
            except (redis.ConnectionError, redis.TimeoutError):
                continue
        assert answered == b"1"
    finally:
        redis_cluster.restart(killed)
        redis_cluster.wait_ok(timeout=30)
        client.close()
    assert killed in redis_cluster.replicas_of(new_master)


# --- Sentinel ----------------------------------------------------------------


def test_sentinel_master_client_works(redis_sentinel):
    print(f"\nsentinel startup: {redis_sentinel.startup_seconds:.2f} s")
    master = redis_sentinel.master_client()
    try:
        pipe = master.pipeline(transaction=False)  # WAIT on the writing connection
        pipe.set("t:{1}v", 1)
        pipe.wait(1, 1000)
        assert pipe.execute() == [True, 1]  # the replica acknowledges
        assert master.get("t:{1}v") == b"1"
        # Sentinel's answer now: on a loaded machine it may have failed over on its own since start-up
        address = redis_sentinel.master_address()
        assert master.connection_pool.get_master_address() == address
        assert address[1] in redis_sentinel.data_ports
    finally:
        master.close()


def test_sentinel_fails_over_a_killed_master_and_the_client_follows(redis_sentinel):
    master = redis_sentinel.master_client(socket_timeout=0.25, socket_connect_timeout=0.25,
                                          retry=Retry(NoBackoff(), 0))
    try:
        pipe = master.pipeline(transaction=False)
        pipe.set("t:{2}v", 1)
        pipe.wait(1, 1000)
        assert pipe.execute() == [True, 1]
        killed_at = time.monotonic()
        killed = redis_sentinel.kill_master()
        errors: collections.Counter = collections.Counter()
        while time.monotonic() - killed_at < 30:
            try:
                master.set("t:{2}v", 2)
                break
            except redis.RedisError as e:
                errors[type(e).__name__] += 1
                time.sleep(0.02)
        window = time.monotonic() - killed_at
        new_master, _ = redis_sentinel.wait_failover(killed, timeout=5)
        print(f"\nsentinel unavailability window: {window:.2f} s ({dict(errors)})")
        assert new_master != killed
        assert master.connection_pool.get_master_address() == ("127.0.0.1", new_master)
        assert master.get("t:{2}v") == b"2"
    finally:
        master.close()
        redis_sentinel.revive(killed)  # back as a replica of the new master


def test_the_launcher_follows_a_failover_sentinel_made_on_its_own(redis_sentinel):
    """On a loaded machine Sentinel may fail over without any test asking
    (a master silent for down-after-milliseconds): the next test's flush must
    go to the new master, not fail on the demoted one."""
    old = redis_sentinel.master_port
    with redis_sentinel.processes[redis_sentinel.sentinel_ports[0]].client(socket_timeout=5) as sentinel:
        sentinel.execute_command("SENTINEL", "FAILOVER", redis_sentinel.service_name)
    wait_until(lambda: redis_sentinel.master_address()[1] != old and
               redis_sentinel.replication(redis_sentinel.master_address()[1]).get("role") == "master",
               30, "Sentinel's own failover")
    assert redis_sentinel.master_port == old  # the launcher has not looked yet
    redis_sentinel.flush()
    assert redis_sentinel.master_port == redis_sentinel.master_address()[1] != old
    redis_sentinel.wait_replicas(redis_sentinel.master_port, 30)
    redis_sentinel.wait_sentinels(30)
