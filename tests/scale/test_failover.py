"""The failover proof: no acknowledged revocation is lost when Sentinel (and,
separately, the cluster) promotes a replica — with ``min_replicas_ack`` —
and the negative control: the same run without WAIT loses them.

One round, on the store Django built (``get_store()``, never rebuilt):

1. healthy: a writer revokes new tokens and bumps versions of the users of
   one master (recording what was acknowledged, ``tests/load.Ledger``) while
   three threads check tokens whose expected answer is known;
2. replication paused, deterministically (``pause_replication``: the replica
   frozen and the stream it has not acknowledged past the kernel's socket
   buffers), the load going on;
3. the master SIGKILLed, the replica thawed; Sentinel / the cluster promotes
   it; the old master comes back as a replica of the new one (as a
   supervisor would restart it); the load goes on throughout;
4. then every acknowledged revocation and version is read from the new master.

With WAIT: 0 lost, 0 checks wrongly passed (no check said "good" of a token
whose revocation was acknowledged before the check began); writes made while
replication was paused are refused (503: not claimed). Without WAIT they are
acknowledged — and lost. Both: 0 server errors, checks served again by the
same store. ``make scale`` runs three rounds per configuration.
"""

from __future__ import annotations

import collections
import time

import pytest

from drf_toctou.stores import get_store
from tests.conftest import close_store, use_store
from tests.load import Ledger, Load, window
from tests.replication import Topology, pause_replication, users_by_master
from tests.scale.conftest import FULL, scaled, table
from tests.topology import wait_until

COLUMNS = ["topology", "WAIT", "rounds", "revocations acknowledged", "bumps acknowledged",
           "acknowledged while replication paused", "refused (503, not claimed)", "revocations lost",
           "versions gone back", "checks", "wrongly passed", "503s, killed master's users",
           "503s, other users", "500s", "checks unavailable (s)", "writes unavailable (s)", "failover (s)"]
table("failover", "Failover: acknowledged revocations and versions (kill the master, a replica is promoted)", COLUMNS,
      "Per round: a writer revokes and bumps versions of the killed master's users while 3 threads check "
      "tokens; replication is paused (replica frozen, stream past the socket buffers), the master SIGKILLed, "
      "the replica promoted, the old master restarted as its replica. *Revocations lost*: acknowledged "
      "revocations no longer in force; *versions gone back*: acknowledged bumps "
      "whose number was handed out again later (the bump it repeats was lost: tokens it revoked pass again "
      "until the version moves past it), plus users whose version ended below one acknowledged. "
      "*Wrongly passed*: checks that said good of a token whose revocation (or bump) was acknowledged before "
      "the check began (a lost revocation is checked again and again). *Checks unavailable*: first 503 after "
      "the kill to the first answer (right or wrong) to a check begun after it. *Writes unavailable*: first refused write "
      "(with WAIT: from the replication pause; without: from the kill) to the next acknowledged one (with "
      "WAIT and one replica: once the old master streams again as a replica). Maxima over the rounds.")

HEALTHY, PAUSED, AFTER = scaled(0.5, 5.0), scaled(0.5, 2.0), scaled(0.5, 5.0)


CONFIGURATIONS = [  # (topology, min_replicas_ack, cluster-require-full-coverage)
    pytest.param("sentinel", 1, None, id="sentinel-wait"),
    pytest.param("sentinel", 0, None, id="sentinel-no_wait_control"),
    pytest.param("cluster", 1, "no", id="cluster-wait"),
    pytest.param("cluster", 0, "no", id="cluster-no_wait_control"),
    # the default coverage: in make scale only (test_redis_cluster_store.py shows its 503s over HTTP)
    pytest.param("cluster", 1, "yes", id="cluster-wait-full_coverage",
                 marks=pytest.mark.skipif(not FULL, reason="make scale only")),
]


@pytest.fixture
def topology(request):
    kind = request.node.callspec.params["kind"]
    launcher = request.getfixturevalue(f"redis_{kind}")
    launcher.flush()
    coverage = request.node.callspec.params["coverage"]
    if coverage:
        launcher.config_set("cluster-require-full-coverage", coverage)
    yield Topology(kind, launcher)
    close_store()
    if coverage:
        launcher.config_set("cluster-require-full-coverage", "yes")


def writes_window(ledger: Ledger, since: float) -> float | None:
    """Seconds from the first refused write sent after ``since`` to the next
    acknowledged one sent after it (None when none was refused)."""
    writes = sorted(ledger.writes)
    first = next((answered for sent, answered, acknowledged in writes if sent >= since and not acknowledged), None)
    if first is None:
        return None
    back = next((answered for sent, answered, acknowledged in writes if acknowledged and sent > first), None)
    return (back - first) if back is not None else float("inf")


def one_round(store, topology: Topology, round_no: int) -> dict:
    unplanned = topology.settle()
    by_master = users_by_master(store, topology, 6, prefix=f"r{round_no}-")
    master = topology.master_of(store.version_key(next(iter(by_master.values()))[0]))
    victims = by_master[master]
    bystanders = [user for port, users in by_master.items() if port != master for user in users]
    replica = topology.replica_of(store.version_key(victims[0]))
    ledger = Ledger()
    for user in victims:
        wait_until(lambda u=user: ledger.revoke(store, u), 10, f"a revocation of {user} acknowledged")
    with Load(store, victims + bystanders, ledger, checkers=3, writers_users=victims, write_every=0.005) as load:
        time.sleep(HEALTHY)
        frozen_at, filler_mb = pause_replication(topology.launcher, master, replica, tag=victims[0])
        time.sleep(PAUSED)  # every write from now on waits in the master's memory
        killed_at = time.monotonic()
        topology.launcher.kill(master)
        topology.launcher.thaw(replica)
        new_master, failover = topology.fail_over(master)
        topology.bring_back(master)
        time.sleep(AFTER)
    lost_revocations, lost_versions = ledger.lost(store)
    checks = window(load.tally.events, killed_at, set(victims))
    return {
        "ledger": ledger, "tally": load.tally, "filler_mb": filler_mb, "failover": failover,
        "lost": lost_revocations + lost_versions, "lost_revocations": lost_revocations, "lost_versions": lost_versions,
        "paused": ledger.acknowledged_between(frozen_at + 0.01, killed_at),  # sent once the replica was stopped
        "victim_503s": sum(e.outcome == "unavailable" and e.user in victims for e in load.tally.events),
        "bystander_503s": sum(e.outcome == "unavailable" and e.user not in victims for e in load.tally.events),
        "checks_unavailable": checks[0] if checks else 0.0,
        "writes_unavailable": writes_window(ledger, frozen_at), "new_master": new_master, "victims": victims,
        "unplanned": unplanned,
    }


@pytest.mark.parametrize(("kind", "ack", "coverage"), CONFIGURATIONS)
def test_failover_loses_no_acknowledged_revocation_with_wait(settings, topology, kind, ack, coverage, report):
    use_store(settings, f"redis_{topology.kind}", **topology.options(min_replicas_ack=ack))
    store = get_store()
    rounds = [one_round(store, topology, n) for n in range(scaled(1, 3))]
    tallies = [r["tally"] for r in rounds]
    row = {
        "topology": "Sentinel (1 master, 1 replica, 3 Sentinels)" if kind == "sentinel"
        else f"Cluster (3 masters, 1 replica each), cluster-require-full-coverage {coverage}",
        "WAIT": "min_replicas_ack=1" if ack else "none (control)", "rounds": len(rounds),
        "revocations acknowledged": sum(len(r["ledger"].revocations) for r in rounds),
        "bumps acknowledged": sum(r["ledger"].bumps for r in rounds),
        "acknowledged while replication paused": sum(r["paused"] for r in rounds),
        "refused (503, not claimed)": sum(r["ledger"].refused for r in rounds),
        "revocations lost": sum(r["lost_revocations"] for r in rounds),
        "versions gone back": sum(r["lost_versions"] + r["ledger"].reissued for r in rounds),
        "checks": sum(t.checks for t in tallies), "wrongly passed": sum(t.wrongly_passed for t in tallies),
        "503s, killed master's users": sum(r["victim_503s"] for r in rounds),
        "503s, other users": sum(r["bystander_503s"] for r in rounds) if topology.kind == "cluster" else "—",
        "500s": sum(len(t.errors) for t in tallies),
        "checks unavailable (s)": f"{max(r['checks_unavailable'] for r in rounds):.2f}",
        "writes unavailable (s)": f"{max(r['writes_unavailable'] or 0 for r in rounds):.2f}",
        "failover (s)": f"{max(r['failover'] for r in rounds):.2f}",
    }
    print(f"\n{row}")
    bystanders = collections.Counter(e.detail for r in rounds for e in r["tally"].events
                                     if e.outcome == "unavailable" and e.user not in r["victims"])
    print(f"503s of other users: {bystanders.most_common(5)}")
    report("failover", row, note=f"{row['topology']}, {row['WAIT']}: " + "; ".join(
        f"round {n + 1}: {r['filler_mb']} MB of filler to pause replication, {r['paused']} writes acknowledged "
        f"while paused, {r['lost_revocations']} revocations lost, {r['ledger'].reissued} version numbers handed "
        f"out twice, failover {r['failover']:.2f} s, checks unavailable "
        f"{r['checks_unavailable']:.2f} s, writes unavailable {r['writes_unavailable'] or 0:.2f} s"
        + (" (Sentinel had failed over on its own before this round)" if r["unplanned"] else "")
        for n, r in enumerate(rounds)))
    assert not any(t.errors for t in tallies), [t.errors[:3] for t in tallies]  # never a 500
    assert all(t.wrongly_refused == 0 for t in tallies)
    assert get_store() is store  # served again by the store built before the failover
    assert store.check("anyone", "0" * 32).version == 0
    if coverage == "no":
        assert row["503s, other users"] == 0  # the other masters' users never noticed
    if ack:
        assert row["revocations lost"] == row["versions gone back"] == row["wrongly passed"] == 0
        assert row["acknowledged while replication paused"] == 0 and row["refused (503, not claimed)"] > 0
    else:  # the control: the acknowledged writes queued in the dead master's memory are gone
        assert all(r["paused"] > 0 and r["lost_revocations"] > 0 for r in rounds), \
            [(r["paused"], r["lost"]) for r in rounds]
