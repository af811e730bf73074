"""Slot migrations under load: while the slots of two users move from master
to master and back, key batch by key batch (``redis-cli --cluster reshard``'s
way: IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE), three threads check tokens
whose expected answer is known and a writer revokes new tokens and bumps
versions of those users with ``min_replicas_ack=1`` (``tests/load.py``).

No check passes wrongly (a revocation or version acknowledged before the check
began is always seen), none fails with anything but a StoreError (a 503), no
acknowledged write is lost; the redirections (ASK) the migration caused and
the 503s are counted. The HTTP layer during a migration is covered by
tests/test_redis_cluster_store.py.
"""

from __future__ import annotations

import time

from drf_toctou.stores import get_store
from tests.conftest import close_store, cluster_options, use_store
from tests.load import Ledger, Load
from tests.replication import Topology, users_by_master
from tests.scale.conftest import scaled, table
from tests.topology import WireCommands

COLUMNS = ["slot migrations", "keys moved", "checks", "503s", "wrongly passed", "wrongly refused", "500s",
           "ASK redirections followed", "writes acknowledged", "writes refused (503)", "lost"]
table("migration", "Slot migration under load (checks from 3 threads, acknowledged writes with WAIT 1)", COLUMNS,
      "The slots of two users move to another master and back, 25 keys per MIGRATE, again and again, while "
      "3 threads check tokens (revoked ones included) and a writer revokes and bumps with min_replicas_ack=1. "
      "*Wrongly passed*: a check that missed a revocation or version acknowledged before it began. *ASK "
      "redirections followed*: ASKING commands sent (by checks and by writes). A 503 is a StoreError.")


def test_checks_and_acknowledged_writes_while_slots_migrate(settings, redis_cluster, report):
    redis_cluster.flush()
    use_store(settings, "redis_cluster", **cluster_options(redis_cluster, min_replicas_ack=1))
    store = get_store()
    try:
        by_master = users_by_master(store, Topology("cluster", redis_cluster), 3, prefix="mig")
        masters = sorted(by_master)
        movers = [by_master[masters[0]][0], by_master[masters[1]][0]]
        bystanders = [user for users in by_master.values() for user in users if user not in movers]
        ledger = Ledger()
        for mover in movers:  # keys, so that a migration takes many batches
            for _ in range(scaled(150, 1000)):
                assert ledger.revoke(store, mover)
        migrations = moved = 0
        with WireCommands() as wire, Load(store, movers + bystanders, ledger, checkers=3, writers_users=movers,
                                          write_every=0.002) as load:
            time.sleep(0.2)
            for _ in range(scaled(1, 10)):
                for mover in movers:
                    slot = redis_cluster.slot_of(store.version_key(mover))
                    source = redis_cluster.node_of_slot(slot)
                    target = next(p for p in redis_cluster.masters() if p != source)
                    moved += redis_cluster.migrate_slot(slot, source, target, batch=25,
                                                        during=lambda migrated: time.sleep(0.01))
                    moved += redis_cluster.migrate_slot(slot, target, source, batch=25,
                                                        during=lambda migrated: time.sleep(0.01))
                    migrations += 2
            time.sleep(0.2)
        lost = sum(ledger.lost(store))
        tally = load.tally
        row = {"slot migrations": migrations, "keys moved": moved, "checks": tally.checks, "503s": tally.unavailable,
               "wrongly passed": tally.wrongly_passed, "wrongly refused": tally.wrongly_refused,
               "500s": len(tally.errors), "ASK redirections followed": wire.names().count("ASKING"),
               "writes acknowledged": len(ledger.revocations) + ledger.bumps, "writes refused (503)": ledger.refused,
               "lost": lost}
        print(f"\n{row}")
        report("migration", row)
        assert not tally.errors, tally.errors[:3]
        assert tally.wrongly_passed == 0 and tally.wrongly_refused == 0 and lost == 0
        assert row["ASK redirections followed"] > 0  # the migrations were really met
        assert tally.unavailable <= tally.checks // 100  # a bounded number of 503s: under 1%
    finally:
        close_store()
