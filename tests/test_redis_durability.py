"""Durable revocations on real Sentinel and Cluster topologies: with
``min_replicas_ack`` a write is acknowledged only once a replica has it (read
there at once, not awaited); a frozen replica makes every revocation a 503
that claims nothing; and ``check --deploy`` reports what can lose or evict
revocations (W005 eviction, W008 no persistence, W009 replicas without
``min_replicas_ack``) against the real servers.

The failover proofs (what is lost with and without WAIT) are in tests/scale/.
"""

from __future__ import annotations

import time

import pytest
from django.core.checks import run_checks

from drf_toctou.exceptions import StoreError
from drf_toctou.stores import get_store
from drf_toctou.stores.base import CONSUMED, SessionRecord
from tests.conftest import close_store, use_store
from tests.helpers import access_for, assert_refusal, bearer, later
from tests.load import new_jti
from tests.replication import Topology

USER = "d1"


@pytest.fixture(params=["sentinel", "cluster"])
def topology(request):
    launcher = request.getfixturevalue("redis_cluster" if request.param == "cluster" else "redis_sentinel")
    launcher.flush()
    yield Topology(request.param, launcher)
    close_store()


def store_with(settings, topology: Topology, **extra):
    close_store()
    use_store(settings, f"redis_{topology.kind}", **topology.options(**extra))
    return get_store()


def ids(messages, wanted: str) -> list:
    return [m for m in messages if m.id == wanted]


@pytest.mark.parametrize("ack", [0, 1])
def test_every_write_works_with_and_without_wait(settings, topology, ack):
    """The contract suite runs on the cluster with WAIT and on Sentinel
    without: here the other two combinations, every kind of write."""
    store = store_with(settings, topology, min_replicas_ack=ack)
    jti = new_jti()
    store.revoke(USER, jti, later(600))
    assert store.bump_version(USER) == 1
    assert store.consume(USER, "refresh-1", later(600)) is None
    assert store.consume(USER, "refresh-1", later(600)) == CONSUMED
    store.save_session(SessionRecord("s1", USER, time.time(), time.time(), later(600)))
    assert [s.session_id for s in store.sessions(USER)] == ["s1"]
    store.revoke_session(USER, "s1", later(600))
    state = store.check(USER, jti, "s1")
    assert (state.revoked, state.version, state.session_revoked) == (True, 1, True)


def test_acknowledged_writes_are_on_the_replica_when_acknowledged(settings, topology):
    store = store_with(settings, topology, min_replicas_ack=1)
    jti = new_jti()
    store.revoke(USER, jti, later(600))
    assert topology.replica_has(store.jti_key(USER, jti))  # read at once: WAIT said the replica has it
    store.bump_version(USER)
    assert topology.replica_has(store.version_key(USER))
    store.consume(USER, "refresh-2", later(600))
    assert topology.replica_has(store.jti_key(USER, "refresh-2"))
    store.revoke_session(USER, "s2", later(600))
    assert topology.replica_has(store.session_key(USER, "s2"))


def test_a_frozen_replica_makes_revocations_503_and_claims_nothing(settings, topology, users):
    """SIGSTOP on the replica: WAIT answers 0, so logout answers 503 — the
    caller knows the revocation may not have held (it may: the master applied
    it) — and every revocation or bump is a StoreError: WAIT's own answer,
    within STORE_TIMEOUT. Thawed, the same store acknowledges again."""
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STORE_TIMEOUT": 1.0}  # slack for a loaded machine
    store = store_with(settings, topology, min_replicas_ack=1)  # so WAIT's own timeout is 400 ms
    alice, _ = users
    user = str(alice.pk)
    replica = topology.replica_of(store.version_key(user))
    topology.launcher.freeze(replica)
    try:
        assert_refusal(bearer(access_for(alice)).post("/auth/logout/"), 503, "token_state_unavailable")
        for write in (lambda: store.revoke(user, new_jti(), later(600)), lambda: store.bump_version(user)):
            began = time.monotonic()
            with pytest.raises(StoreError, match=r"reached 0 replica\(s\), 1 required"):
                write()
            assert time.monotonic() - began < 1.0  # STORE_TIMEOUT
    finally:
        topology.launcher.thaw(replica)
    topology.wait_streaming()
    token = access_for(alice)  # stamped with the version the refused bump left
    assert bearer(token).post("/auth/logout/").status_code == 204
    assert topology.replica_has(store.jti_key(user, token["jti"]))
    assert_refusal(bearer(token).get("/me/"), 401, "token_revoked")


def test_the_default_ack_timeout_leaves_redis_cron_tick_inside_store_timeout(settings, topology):
    """Redis answers a WAIT that timed out on its next cron tick (1000/hz ms
    late at most): with the old default (80% of STORE_TIMEOUT) the answer
    could come after the socket timeout, and a refusal became a timeout."""
    store = store_with(settings, topology, min_replicas_ack=1)
    with topology.launcher.process(topology.masters()[0]).client() as master:
        tick_ms = 1000 / int(master.config_get("hz")["hz"])
    assert store.replicas_ack_timeout + tick_ms < 0.25 * 1000 * 0.9  # STORE_TIMEOUT, with a margin


# --- check --deploy against the real servers ------------------------------------


def test_deploy_w009_replicas_without_min_replicas_ack(settings, topology):
    store_with(settings, topology)
    found = ids(run_checks(include_deployment_checks=True), "drf_toctou.W009")
    assert len(found) == len(topology.masters())  # every master replicates to a replica
    store_with(settings, topology, min_replicas_ack=1)
    assert not ids(run_checks(include_deployment_checks=True), "drf_toctou.W009")


def test_min_replicas_to_write_does_not_silence_w009_it_acknowledges_writes_no_replica_has(settings, topology):
    """min-replicas-to-write only refuses writes once replicas have been
    silent for min-replicas-max-lag seconds: with the replica frozen, a write
    is still acknowledged that no replica has — so it is no substitute for
    WAIT, and W009 stays."""
    store = store_with(settings, topology)
    master = topology.master_of(store.version_key(USER))
    replica = topology.replica_of(store.version_key(USER))
    with topology.launcher.process(master).client() as node:
        node.config_set("min-replicas-to-write", 1)
        try:
            found = ids(run_checks(include_deployment_checks=True), "drf_toctou.W009")
            assert len(found) == len(topology.masters())  # this master's included
            topology.launcher.freeze(replica)
            try:
                pipe = node.pipeline(transaction=False)
                pipe.set(store.version_key(USER), 7)
                pipe.execute_command("WAIT", 1, 50)
                assert pipe.execute() == [True, 0]  # acknowledged; on no replica
            finally:
                topology.launcher.thaw(replica)
        finally:
            node.config_set("min-replicas-to-write", 0)
    topology.wait_streaming()


def test_deploy_w008_a_master_without_persistence(settings, topology):
    store_with(settings, topology, min_replicas_ack=1)
    assert len(ids(run_checks(include_deployment_checks=True), "drf_toctou.W008")) == len(topology.masters())
    clients = [topology.launcher.process(port).client() for port in topology.masters()]
    try:
        for client in clients:
            client.config_set("save", "3600 1")  # RDB snapshots
        assert not ids(run_checks(include_deployment_checks=True), "drf_toctou.W008")
    finally:
        for client in clients:
            client.config_set("save", "")
            client.close()


def test_deploy_w005_a_master_that_may_evict(settings, topology):
    store_with(settings, topology, min_replicas_ack=1)
    assert not ids(run_checks(include_deployment_checks=True), "drf_toctou.W005")
    with topology.launcher.process(topology.masters()[0]).client() as master:
        master.config_set("maxmemory", "512mb")
        master.config_set("maxmemory-policy", "volatile-lru")
        try:
            found = ids(run_checks(include_deployment_checks=True), "drf_toctou.W005")
            assert len(found) == 1 and "volatile-lru" in found[0].msg
        finally:
            master.config_set("maxmemory-policy", "noeviction")
            master.config_set("maxmemory", 0)
