"""How the current ``RedisStore`` behaves on a real Redis Cluster and Sentinel.

Starts the topologies of ``tests/topology.py`` on loopback, builds the store
exactly as ``get_store()`` would (``RedisStore(STORE_OPTIONS)``, Django
settings from ``tests.settings``, so ``STORE_TIMEOUT`` is 0.25 s) and prints
what every operation does: results, exceptions (a ``StoreError`` and its
cause, or ``!Type`` for anything that is NOT a StoreError), durations, and the
commands written on the wire.

    .venv/bin/python scripts/topology_store_probe.py [cluster] [nocluster] [sentinel]

It changes nothing in drf_toctou/. Runs in ~40 s (both topologies).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402

from drf_toctou.exceptions import StoreError  # noqa: E402
from drf_toctou.stores.redis import RedisStore  # noqa: E402
from tests.servers import RedisServer  # noqa: E402
from tests.topology import GUARD, RedisCluster, RedisSentinelSetup, WireCommands  # noqa: E402

JTI = "0123456789abcdef0123456789abcdef"
OTHER_JTI = "fedcba9876543210fedcba9876543210"
NEW_JTI = "00112233445566778899aabbccddeeff"


def later(seconds: int) -> int:
    return int(time.time()) + seconds


def say(*parts: Any) -> None:
    print(*parts, flush=True)


def describe(error: BaseException) -> str:
    """``StoreError(<cause type>)`` or ``!<type>`` when it is not a StoreError."""
    if isinstance(error, StoreError):
        cause = error.__cause__
        return f"StoreError({type(cause).__name__})" if cause is not None else "StoreError"
    return f"!{type(error).__name__}"


def attempt(fn: Callable[[], Any]) -> tuple[str, float, Any, str]:
    """(outcome, seconds, result, message): outcome is "ok" or describe(error)."""
    began = time.monotonic()
    try:
        result = fn()
        return "ok", time.monotonic() - began, result, ""
    except Exception as e:  # noqa: BLE001 - the point is to see what escapes
        return describe(e), time.monotonic() - began, None, str(e)[:160]


def guarded() -> str:
    """Attempts to reach the machine's own Redis (6379) since the last call."""
    attempts, GUARD.attempts[:] = list(GUARD.attempts), []
    if not attempts:
        return ""
    return f"  !! {len(attempts)} connection(s) to {sorted(set(attempts))} " + (
        f"sent to the decoy on {GUARD.redirect}" if GUARD.redirect else "refused by the guard")


def show(label: str, fn: Callable[[], Any], wire: bool = False) -> tuple[str, Any]:
    GUARD.attempts.clear()
    if wire:
        with WireCommands() as w:
            outcome, seconds, result, message = attempt(fn)
        sent = f"  wire={w.sent} socket writes={len(w.writes)}"
    else:
        outcome, seconds, result, message = attempt(fn)
        sent = ""
    say(f"  {label}: {outcome} in {seconds * 1000:.1f} ms -> {result!r}{sent}" + (f"  [{message}]" if message else "")
        + guarded())
    return outcome, result


def timeline(fn: Callable[[], Any], done: Callable[[list], bool], max_seconds: float, interval: float = 0.02) -> list:
    """Call ``fn`` every ``interval`` until ``done(runs)``; consecutive equal
    outcomes are merged: [outcome, count, first t, last t, max duration, a message]."""
    runs: list[list] = []
    began = time.monotonic()
    while time.monotonic() - began < max_seconds:
        t = time.monotonic() - began
        outcome, seconds, _, message = attempt(fn)
        if runs and runs[-1][0] == outcome:
            run = runs[-1]
            run[1] += 1
            run[3] = t
            run[4] = max(run[4], seconds)
        else:
            runs.append([outcome, 1, t, t, seconds, message])
        if done(runs):
            break
        time.sleep(interval)
    return runs


def show_timeline(label: str, runs: list) -> None:
    say(f"  {label}:{guarded()}")
    for outcome, count, first, last, longest, message in runs:
        say(f"    t={first:6.2f}..{last:6.2f}s  {count:4d} x {outcome:32s} slowest {longest * 1000:7.1f} ms"
            + (f"  [{message}]" if message and outcome != "ok" else ""))


def ok_streak(n: int) -> Callable[[list], bool]:
    return lambda runs: bool(runs) and runs[-1][0] == "ok" and runs[-1][1] >= n and len(runs) > 1


# --- Redis Cluster -----------------------------------------------------------


def user_on(cluster: RedisCluster, port: int, store: RedisStore, avoid: int | None = None) -> str:
    owners = cluster.slot_owners()
    for n in range(10_000):
        user = f"u{n}"
        if owners[cluster.slot_of(store.version_key(user))] == port and user != avoid:
            return user
    raise RuntimeError("no user found")


def probe_cluster(replicas: int) -> None:
    say(f"\n=== Redis Cluster: 3 masters, {replicas} replica(s) each, node timeout 1000 ms ===")
    cluster = RedisCluster(masters=3, replicas=replicas).start()
    try:
        say(f"startup: {cluster.startup_seconds:.2f} s; masters {cluster.masters()}")
        options = {"url": cluster.url, "cluster": True}
        outcome, store = show("RedisStore(url, cluster=True)", lambda: RedisStore(options))
        say(f"  client={type(store.client).__name__}, check path={'own connections' if store._pool else 'client.mget'}")
        say(f"  redis-py {redis.__version__}: cluster-level retry = "
            + (f"retry.get_retries()={store.client.retry.get_retries()}" if hasattr(store.client.retry, "get_retries")
               and not hasattr(store.client, "cluster_error_retry_attempts")
               else f"cluster_error_retry_attempts={getattr(store.client, 'cluster_error_retry_attempts', '?')}"))
        show("setup()", store.setup, wire=True)
        if replicas:
            contract(store)
            commands_per_check(cluster, options)
            migration(cluster, store)
            kill_master_with_replicas(cluster, options)
            unreachable_startup_node(cluster, options)
            frozen_master(cluster, options)
        else:
            kill_master_without_replicas(cluster, options)
    finally:
        cluster.stop()


def contract(store: RedisStore) -> None:
    say("- contract operations")
    show("revoke(a, JTI)", lambda: store.revoke("a", JTI, later(600)), wire=True)
    show("check(a, JTI)", lambda: store.check("a", JTI), wire=True)
    show("check(a, OTHER)", lambda: store.check("a", OTHER_JTI))
    show("bump_version(a)", lambda: store.bump_version("a"), wire=True)
    show("current_version(a)", lambda: store.current_version("a"), wire=True)
    show("check(a, OTHER) after bump", lambda: store.check("a", OTHER_JTI))
    show("start_check(a, JTI)()", lambda: store.start_check("a", JTI)())


def commands_per_check(cluster: RedisCluster, options: dict) -> None:
    say("- commands per check")
    fresh = RedisStore(options)
    show("first check of a new store", lambda: fresh.check("b", JTI), wire=True)
    show("second check", lambda: fresh.check("b", JTI), wire=True)
    show("check of another user", lambda: fresh.check("c", JTI), wire=True)
    masters = cluster.masters()
    for port in masters:
        cluster.node_client(port).config_resetstat()
    for _ in range(100):
        fresh.check("b", JTI)
    calls = {}
    for port in masters:
        stats = cluster.node_client(port).info("commandstats")
        bookkeeping = ("cmdstat_info", "cmdstat_config|resetstat", "cmdstat_hello", "cmdstat_client|setinfo")
        calls[port] = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items() if k not in bookkeeping}
    say(f"  100 checks, server-side INFO commandstats per master: {calls}")


def migration(cluster: RedisCluster, store: RedisStore) -> None:
    say("- a check while the user's slot migrates (batch of 1 key; checks run between batches)")
    user = "m1"
    store.bump_version(user)
    store.revoke(user, JTI, later(600))
    slot = cluster.slot_of(store.version_key(user))
    source = cluster.node_of_slot(slot)
    target = next(p for p in cluster.masters() if p != source)

    def two_gets(jti: str) -> Any:
        """The alternative: two single-key GETs in one round trip (a cluster
        pipeline groups them per node; each follows its own ASK)."""
        pipe = store.client.pipeline(transaction=False)
        pipe.get(store.version_key(user))
        pipe.get(store.jti_key(user, jti))
        return pipe.execute()

    def during(migrated: list[bytes]) -> None:
        say(f"  [{len(migrated)} of 2 keys moved]")
        show("check (revoked jti: both keys exist)", lambda: store.check(user, JTI), wire=True)
        show("check (good jti: its key exists nowhere)", lambda: store.check(user, OTHER_JTI), wire=True)
        show("alternative: pipeline GET v, GET j (good jti)", lambda: two_gets(OTHER_JTI), wire=True)
        if len(migrated) == 1:
            show("revoke(new jti)", lambda: store.revoke(user, NEW_JTI, later(600)), wire=True)
            show("bump_version", lambda: store.bump_version(user), wire=True)
            show("current_version", lambda: store.current_version(user), wire=True)

    try:
        cluster.migrate_slot(slot, source, target, batch=1, during=during)
        say("  [SETSLOT NODE done: the slot belongs to the target]")
        show("first check after", lambda: store.check(user, JTI), wire=True)
        show("second check after", lambda: store.check(user, JTI), wire=True)
        show("check(new jti): revoked during the move", lambda: store.check(user, NEW_JTI))
        show("alternative: pipeline GET v, GET j, no migration", lambda: two_gets(JTI), wire=True)
        owner = cluster.node_of_slot(slot)
        cluster.node_client(owner).config_resetstat()
        for _ in range(100):
            two_gets(JTI)
        stats = cluster.node_client(owner).info("commandstats")
        say(f"  100 pipelined checks: server counted get={stats['cmdstat_get']['calls']}")
    finally:
        cluster.settle_slot(slot, source)


def kill_master_with_replicas(cluster: RedisCluster, options: dict) -> None:
    say("- SIGKILL the master of user A (its replica takes over); same store object throughout")
    store = RedisStore(options)
    a = user_on(cluster, cluster.masters()[0], store)
    b = user_on(cluster, cluster.masters()[1], store)
    store.revoke(a, JTI, later(600))
    store.check(a, JTI), store.check(b, JTI)
    killed = cluster.kill_master_of(store.version_key(a))
    began = time.monotonic()
    runs_a = timeline(lambda: store.check(a, JTI), ok_streak(5), 20)
    new_master, _ = cluster.wait_failover(killed)
    say(f"  failover: replica {new_master} serves A's slots {time.monotonic() - began:.2f} s after the kill "
        f"(as observed after A's checks recovered)")
    show_timeline("checks of user A (slot on the killed master)", runs_a)
    show("check(A) now: still revoked after failover?", lambda: store.check(a, JTI))
    say("  (B checked in a second pass: kill B's master now)")
    store_b = RedisStore(options)
    store_b.check(b, JTI)
    killed_b = cluster.kill_master_of(store_b.version_key(b))
    other = user_on(cluster, next(p for p in cluster.masters() if p != killed_b), store_b)
    runs_other = timeline(lambda: store_b.check(other, JTI), lambda r: False, 4.0)
    show_timeline(f"checks of user {other} on a healthy master while {killed_b} dies and fails over", runs_other)
    cluster.wait_failover(killed_b)
    cluster.restart(killed)
    cluster.restart(killed_b)
    cluster.wait_ok(timeout=30)
    say(f"  restarted {killed} and {killed_b}: back as replicas; cluster ok")


def unreachable_startup_node(cluster: RedisCluster, options: dict) -> None:
    say("- building the store when the node of its url is down (a replica, the cluster itself is healthy)")
    replica = next(p for p in cluster.ports if p not in cluster.masters())
    cluster.kill(replica)
    try:
        show(f"RedisStore(url=redis://127.0.0.1:{replica}/0, cluster=True)",
             lambda: RedisStore({**options, "url": f"redis://127.0.0.1:{replica}/0"}))
    finally:
        cluster.restart(replica)
        cluster.wait_ok(timeout=30)


def frozen_master(cluster: RedisCluster, options: dict) -> None:
    say("- SIGSTOP the master of user A for 0.8 s (< node timeout): how long does a check take?")
    store = RedisStore(options)
    master = cluster.masters()[2]
    a = user_on(cluster, master, store)
    store.check(a, JTI)
    cluster.freeze(master)
    try:
        show("check(A) #1 on the frozen master", lambda: store.check(a, JTI), wire=True)
        show("check(A) #2", lambda: store.check(a, JTI), wire=True)
    finally:
        cluster.thaw(master)
    time.sleep(0.2)
    show("check(A) after SIGCONT", lambda: store.check(a, JTI), wire=True)
    cluster.wait_ok(timeout=30)


def kill_master_without_replicas(cluster: RedisCluster, options: dict) -> None:
    say("- SIGKILL one master (no replica: its slots are lost until it restarts); same store object")
    store = RedisStore(options)
    masters = cluster.masters()
    a = user_on(cluster, masters[0], store)
    b = user_on(cluster, masters[1], store)
    store.check(a, JTI), store.check(b, JTI)
    cluster.kill(masters[0])
    runs_b = timeline(lambda: store.check(b, JTI), lambda r: False, 3.0)
    show_timeline(f"checks of user B on the healthy master {masters[1]}", runs_b)
    runs_a = timeline(lambda: store.check(a, JTI), lambda r: False, 1.0)
    show_timeline("checks of user A on the dead master", runs_a)
    show("RedisStore(...) built now (url = a live master)",
         lambda: RedisStore({**options, "url": f"redis://127.0.0.1:{masters[1]}/0"}))
    restarted = time.monotonic()
    cluster.restart(masters[0])
    runs = timeline(lambda: store.check(b, JTI), ok_streak(5), 15)
    show_timeline(f"checks of B after restarting {masters[0]} (t=0: restart)", runs)
    cluster.wait_ok(timeout=30)
    say(f"  cluster ok again {time.monotonic() - restarted:.2f} s after the restart")
    show("check(A) after the restart (its data is gone: --save '')", lambda: store.check(a, JTI))


# --- Sentinel ----------------------------------------------------------------


def probe_sentinel() -> None:
    say("\n=== Sentinel: 1 master, 1 replica, 3 Sentinels (quorum 2, down-after 1000 ms, failover-timeout 3000 ms) ===")
    setup = RedisSentinelSetup().start()
    try:
        say(f"startup: {setup.startup_seconds:.2f} s; master {setup.master_port}, replica {setup.replica_ports}, "
            f"sentinels {setup.sentinel_ports}")
        options = {"sentinels": setup.sentinel_addresses, "service_name": setup.service_name}
        outcome, store = show("RedisStore(sentinels, service_name)", lambda: RedisStore(options))
        pool = store._pool
        probe = pool.connection_class(**pool.connection_kwargs)
        say(f"  client={type(store.client).__name__}, pool={type(pool).__name__}, check connections are "
            f"{type(probe).__name__}(host={probe.host!r}, port={probe.port!r}) until connected")
        show("setup()", store.setup, wire=True)
        contract(store)
        say("- commands per check")
        fresh = RedisStore(options)
        show("first check of a new store", lambda: fresh.check("b", JTI), wire=True)
        show("second check", lambda: fresh.check("b", JTI), wire=True)
        decoy_on_default_port(options)
        sentinel_kill_master(setup, options)
        sentinel_graceful_failover(setup, options)
        sentinel_frozen(setup, options)
    finally:
        setup.stop()


def decoy_on_default_port(options: dict) -> None:
    say("- with a Redis on localhost:6379 (a decoy standing in for it): where do checks read?")
    decoy = RedisServer().start()
    GUARD.redirect = decoy.port
    try:
        store = RedisStore(options)
        show("revoke(d, JTI)", lambda: store.revoke("d", JTI, later(600)))
        show("bump_version(d)", lambda: store.bump_version("d"))
        show("check(d, JTI): revoked, version 1 expected", lambda: store.check("d", JTI), wire=True)
        with decoy.client() as client:
            stats = client.info("commandstats")
        say(f"  decoy server's commandstats: mget={stats.get('cmdstat_mget', {}).get('calls', 0)}")
    finally:
        GUARD.redirect = None
        decoy.stop()


def sentinel_kill_master(setup: RedisSentinelSetup, options: dict) -> None:
    say("- SIGKILL the master; same store object throughout (its idle check connection points at the dead master)")
    store = RedisStore(options)
    store.revoke("s1", JTI, later(600))
    setup.master_client().wait(1, 1000)  # the revocation is on the replica
    attempt(lambda: store.check("s1", JTI))  # warm: an idle check connection
    killed = setup.kill_master()
    runs = timeline(lambda: store.check("s1", JTI), ok_streak(5), 8)
    show_timeline("checks after the kill", runs)
    new, _ = setup.wait_failover(killed, timeout=5)
    say(f"  new master {new}")
    show("check now (the revocation survived: it had reached the replica)", lambda: store.check("s1", JTI))
    show("revoke now", lambda: store.revoke("s1", OTHER_JTI, later(600)))
    setup.revive(killed)
    say(f"  {killed} revived as a replica")
    say("- redis-py's own master client, DEFAULT retry (3, backoff), while the master is dead")
    client = setup.master_client(socket_timeout=0.25, socket_connect_timeout=0.25)
    client.set("s1", 1)
    killed = setup.kill_master()
    show("client.set during the outage", lambda: client.set("s1", 2))
    setup.wait_failover(killed, timeout=20)
    show("client.set after failover", lambda: client.set("s1", 3))
    client.close()
    setup.revive(killed)


def sentinel_graceful_failover(setup: RedisSentinelSetup, options: dict) -> None:
    say("- SENTINEL FAILOVER (graceful: the old master is demoted, Sentinel kills its clients)")
    store = RedisStore(options)
    attempt(lambda: store.check("s2", JTI))  # warm: an idle check connection on the current master
    old = setup.master_port
    with setup.processes[setup.sentinel_ports[0]].client() as sentinel:
        sentinel.execute_command("SENTINEL", "FAILOVER", setup.service_name)
    runs = timeline(lambda: store.check("s2", JTI), ok_streak(5), 8)
    show_timeline("checks after SENTINEL FAILOVER", runs)
    new, seconds = setup.wait_failover(old, timeout=20)
    say(f"  new master {new} ({seconds:.2f} s more to agree)")
    setup.wait_replicas(new, timeout=30)
    setup.wait_sentinels(timeout=30)


def sentinel_frozen(setup: RedisSentinelSetup, options: dict) -> None:
    say("- SIGSTOP the master for 0.7 s (< down-after): check durations")
    store = RedisStore(options)
    attempt(lambda: store.check("s3", JTI))  # warm: an idle check connection
    setup.freeze(setup.master_port)
    try:
        show("check on the frozen master", lambda: store.check("s3", JTI), wire=True)
    finally:
        setup.thaw(setup.master_port)
    show("check after SIGCONT", lambda: store.check("s3", JTI), wire=True)
    say("- SIGSTOP the first Sentinel of the list; a new store's first check (connects: asks Sentinels)")
    first = setup.sentinel_ports[0]
    setup.freeze(first)
    try:
        fresh = RedisStore(options)
        show("first check", lambda: fresh.check("s3", JTI), wire=True)
        show("second check (connection kept)", lambda: fresh.check("s3", JTI))
        fresh2 = RedisStore(options)
        show("setup() of a new store (client.ping via the pool)", fresh2.setup)
    finally:
        setup.thaw(first)
    say("- kill the first Sentinel; a new store's first check")
    setup.kill(first)
    fresh = RedisStore(options)
    show("first check", lambda: fresh.check("s3", JTI), wire=True)
    setup.restart(first)


if __name__ == "__main__":
    which = sys.argv[1:] or ["cluster", "nocluster", "sentinel"]
    say(f"redis-py {redis.__version__}, STORE_TIMEOUT 0.25 s")
    if "cluster" in which:
        probe_cluster(replicas=1)
    if "nocluster" in which:
        probe_cluster(replicas=0)
    if "sentinel" in which:
        probe_sentinel()
