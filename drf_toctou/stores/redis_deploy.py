"""``manage.py check --deploy`` findings about the Redis that holds token
state: what it may evict, whether it keeps anything across a restart, and
whether an acknowledged revocation can be lost on failover."""

from __future__ import annotations

from typing import Any

from django.core import checks

W005_MSG = ("Redis {node} has maxmemory-policy {policy!r}: it may evict revocation keys (they carry an expiry, "
            "so volatile-* policies evict them first) or versions, un-revoking tokens.")
W005_HINT = "Use maxmemory-policy noeviction (or no maxmemory) for the Redis that holds token state."
W008_MSG = ("Redis {node} keeps nothing on disk (appendonly no, no save points): after a restart every "
            "revocation is gone and every version is back to 0.")
W008_HINT = "Enable AOF (appendonly yes, appendfsync everysec or always) or RDB snapshots; see README 'Operations'."
W009_MSG = ("Redis {node} replicates to {replicas} replica(s) asynchronously and the store's min_replicas_ack is "
            "not set: a failover can lose acknowledged revocations (min-replicas-to-write does not prevent it: "
            "it refuses writes only once replicas have been silent for min-replicas-max-lag seconds).")
W009_HINT = "Set STORE_OPTIONS['min_replicas_ack'] (WAIT for that many replicas after every revocation)."


def _nodes(store: Any) -> list[tuple[str, Any]]:
    """(name, single-node client) for every master holding token state."""
    if store.cluster:
        return [(node.name, node.redis_connection) for node in store.client.get_primaries()]
    if store.options.get("sentinels"):
        return [(f"(Sentinel service {store.options['service_name']!r})", store.client)]
    kwargs = store.client.connection_pool.connection_kwargs
    name = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
    return [(str(name), store.client)]


def deploy_checks(store: Any) -> list[checks.CheckMessage]:
    found: list[checks.CheckMessage] = []
    for name, client in _nodes(store):
        config = client.config_get("*")
        policy = config.get("maxmemory-policy", "noeviction")
        if int(config.get("maxmemory", 0) or 0) and policy != "noeviction":
            found.append(checks.Warning(W005_MSG.format(node=name, policy=policy), hint=W005_HINT,
                                        id="drf_toctou.W005"))
        if config.get("appendonly", "no") == "no" and not (config.get("save") or "").strip():
            found.append(checks.Warning(W008_MSG.format(node=name), hint=W008_HINT, id="drf_toctou.W008"))
        replicas = int(client.info("replication").get("connected_slaves", 0) or 0)
        if replicas and not store.min_replicas_ack:
            found.append(checks.Warning(W009_MSG.format(node=name, replicas=replicas), hint=W009_HINT,
                                        id="drf_toctou.W009"))
    return found
