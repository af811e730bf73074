"""A deterministic "lost acknowledged write" on Redis Sentinel (and Cluster),
and what ``WAIT`` tells the writer.

    .venv/bin/python scripts/lost_acknowledged_write.py [sentinel] [cluster]

Sentinel (1 master, 1 replica, 3 Sentinels, quorum 2, down-after 1000 ms):

1. SIGSTOP the replica; write a filler of ``FILLER_MB`` then ``MARKERS`` keys to
   the master: every write is acknowledged (OK).
2. SIGKILL the master, SIGCONT the replica, let Sentinel promote it.
3. The markers are gone from the new master.

Why the filler: on loopback the master's replication stream lands in the
frozen replica's kernel receive buffer (and the master's send buffer), ~3 MB
here; a resumed replica reads it before noticing the master died, so without
a filler nothing is lost (the script shows that too). Past those buffers, the
stream waits in the master's own memory and dies with it.

Then the same with ``WAIT 1 <ms>`` after each marker, on the writing
connection: WAIT answers 0 while the replica is frozen, so a writer that
requires 1 knows the write is not durable. WAIT is documented per connection
(it covers the writes sent before it on the same connection), so the write and
its WAIT go in one pipeline: one connection whatever the pool does, one round
trip. Other connections are no substitute: here (7.0.15, redis-py 8.1) WAIT on
one idle since before the writes, or on a brand-new one, answered 0 too, but a
new connection whose only command is WAIT (raw socket below) answers 1 at once
while the replica has none of the writes: its WAIT offset is 0 — a false
"durable". (redis-py 5.0 against 7.0 behaves like that raw socket: its
CLIENT SETINFO fails, so no command ran before WAIT.)
"""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis  # noqa: E402
from redis.backoff import NoBackoff  # noqa: E402
from redis.retry import Retry  # noqa: E402

from tests.topology import RedisCluster, RedisSentinelSetup  # noqa: E402

FILLER_MB = 8
MARKERS = 100
WAITED_MARKERS = 5  # with WAIT 1 100 each: 0.5 s frozen, well under down-after (1 s)
WAIT_MS = 100
NO_RETRY = {"socket_timeout": 2, "socket_connect_timeout": 1, "retry": Retry(NoBackoff(), 0)}


def say(*parts: Any) -> None:
    print(*parts, flush=True)


def fill(client: Any, tag: str, megabytes: int) -> None:
    chunk = b"x" * (1 << 20)
    pipe = client.pipeline(transaction=False)
    for i in range(megabytes):
        pipe.set(f"filler:{{{tag}}}{i}", chunk)
    pipe.execute()


def raw_wait(port: int, timeout_ms: int) -> bytes:
    """``WAIT 1 <timeout_ms>`` as the only command of a new connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        ms = str(timeout_ms).encode()
        sock.sendall(b"*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$%d\r\n%s\r\n" % (len(ms), ms))
        return sock.recv(64).strip()


def replication_gap(node: redis.Redis) -> str:
    info = node.info("replication")
    replica = info.get("slave0") or {}
    return f"master offset {info['master_repl_offset']}, replica acknowledged {replica.get('offset')}"


# --- Sentinel ----------------------------------------------------------------


def sentinel_run(filler_mb: int, with_wait: bool) -> dict:
    setup = RedisSentinelSetup().start()
    try:
        master = setup.master_client(**NO_RETRY)
        master.set("before", 1)
        assert master.wait(1, 2000) == 1
        idle = setup.processes[setup.master_port].client()
        idle.ping()  # its last command: before the writes below
        replica = setup.replica_ports[0]
        setup.freeze(replica)
        frozen_at = time.monotonic()
        fill(master, "s", filler_mb)
        acked, waits, other_connection = 0, [], None
        count = WAITED_MARKERS if with_wait else MARKERS
        for i in range(count):
            if with_wait:
                pipe = master.pipeline(transaction=False)  # SET and WAIT on one connection
                pipe.set(f"marker:{i}", i)
                pipe.wait(1, WAIT_MS)
                ok, replicas = pipe.execute()
                waits.append(replicas)
            else:
                ok = master.set(f"marker:{i}", i)
            acked += bool(ok)
        raw = None
        if with_wait:
            other_connection = idle.wait(1, WAIT_MS)
            raw = raw_wait(setup.master_port, WAIT_MS)
        idle.close()
        with setup.processes[setup.master_port].client() as node:
            gap = replication_gap(node)
        killed_at = time.monotonic()
        killed = setup.kill_master()
        setup.thaw(replica)
        frozen = time.monotonic() - frozen_at
        new_master, _ = setup.wait_failover(killed, timeout=30)
        failover = time.monotonic() - killed_at
        present = sum(master.exists(f"marker:{i}") for i in range(count))
        filler = sum(master.exists(f"filler:{{s}}{i}") for i in range(filler_mb))
        return {"acked": acked, "count": count, "present": present, "filler": f"{filler}/{filler_mb}",
                "waits": waits, "other_connection": other_connection, "raw": raw, "gap": gap,
                "failover": failover, "frozen": frozen, "new_master": new_master, "before": master.get("before")}
    finally:
        setup.stop()


def sentinel() -> None:
    say("=== Sentinel: 1 master, 1 replica, 3 Sentinels (quorum 2, down-after 1000 ms) ===")
    for filler_mb, with_wait in ((0, False), (FILLER_MB, False), (FILLER_MB, True)):
        r = sentinel_run(filler_mb, with_wait)
        writes = f"SET + WAIT 1 {WAIT_MS} (pipelined)" if with_wait else "SET only"
        label = f"filler {filler_mb} MB, {writes}"
        say(f"- {label}: {r['acked']}/{r['count']} markers acknowledged; after failover "
            f"{r['present']}/{r['count']} present (filler {r['filler']}; key written before the freeze: "
            f"{r['before']!r})")
        say(f"    at the kill: {r['gap']}; replica frozen {r['frozen']:.2f} s; "
            f"failover (SIGKILL -> all 3 Sentinels name {r['new_master']}, role:master) {r['failover']:.2f} s")
        if with_wait:
            say(f"    WAIT answers on the writing connection: {r['waits']}; "
                f"WAIT 1 {WAIT_MS} on another connection, idle since before the writes: {r['other_connection']}; "
                f"on a new connection whose only command is WAIT: {r['raw']!r}")


# --- Cluster -----------------------------------------------------------------


def cluster() -> None:
    say("=== Cluster: 3 masters, 1 replica each (node timeout 1000 ms) ===")
    topology = RedisCluster(masters=3, replicas=1).start()
    try:
        rc = redis.RedisCluster(startup_nodes=topology.startup_nodes, **NO_RETRY)
        key = "t:{42}v"
        node = rc.get_node_from_key(key)  # the master serving the key's slot (a ClusterNode)
        replica = topology.replicas_of(node.port)[0]
        rc.set(key, 1)
        say(f"key {key!r}: slot {rc.keyslot(key)}, master {node.name}, replica 127.0.0.1:{replica}")
        say(f"  replica in sync: rc.wait(1, 2000, target_nodes=node) -> {rc.wait(1, 2000, target_nodes=node)}")
        idle = topology.node_client(node.port)
        idle.ping()
        topology.freeze(replica)
        frozen_at = time.monotonic()
        rc.set(key, 2)
        say(f"  replica frozen, after rc.set: rc.wait(1, {WAIT_MS}, target_nodes=node) -> "
            f"{rc.wait(1, WAIT_MS, target_nodes=node)}")
        say(f"  rc.wait(1, {WAIT_MS}) with no target: sent to ALL primaries, answers summed -> "
            f"{rc.wait(1, WAIT_MS)}")
        pipe = rc.get_redis_connection(node).pipeline(transaction=False)  # one connection to that master
        pipe.set(key, 3)
        pipe.wait(1, WAIT_MS)
        say(f"  rc.get_redis_connection(node).pipeline(): [SET, WAIT 1 {WAIT_MS}] -> {pipe.execute()}")
        say(f"  WAIT 1 {WAIT_MS} on another connection to that master, idle since before the writes -> "
            f"{idle.wait(1, WAIT_MS)}")
        idle.close()
        with topology.node_client(node.port) as fresh:
            say(f"  WAIT 1 {WAIT_MS} on a brand-new connection to that master -> {fresh.wait(1, WAIT_MS)}")
        fill(rc, "42", FILLER_MB)  # same hash tag: same master
        for i in range(MARKERS):
            rc.set(f"marker:{{42}}{i}", i)
        with topology.node_client(node.port) as master:
            gap = replication_gap(master)
        killed_at = time.monotonic()
        topology.kill(node.port)
        topology.thaw(replica)
        frozen = time.monotonic() - frozen_at
        new_master, _ = topology.wait_failover(node.port)
        failover = time.monotonic() - killed_at
        present = sum(_retrying(lambda i=i: rc.exists(f"marker:{{42}}{i}")) for i in range(MARKERS))
        value = _retrying(lambda: rc.get(key))
        say(f"- filler {FILLER_MB} MB + {MARKERS} markers acknowledged, then master killed: at the kill {gap}; "
            f"replica frozen {frozen:.2f} s")
        say(f"  failover (SIGKILL -> 127.0.0.1:{new_master} serves the slot, cluster ok) {failover:.2f} s; "
            f"markers present after: {present}/{MARKERS}; {key} = {value!r} (acknowledged: b'3')")
        rc.close()
    finally:
        topology.stop()


def _retrying(fn: Any, attempts: int = 5) -> Any:
    """The first command after a failover may meet the dead node once
    (redis-py then reloads the slots)."""
    for i in range(attempts):
        try:
            return fn()
        except (redis.ConnectionError, redis.TimeoutError):
            if i == attempts - 1:
                raise
    return None


if __name__ == "__main__":
    which = sys.argv[1:] or ["sentinel", "cluster"]
    say(f"redis-py {redis.__version__}")
    if "sentinel" in which:
        sentinel()
    if "cluster" in which:
        cluster()
