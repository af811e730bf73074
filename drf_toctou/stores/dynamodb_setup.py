"""``DynamoDBStore``'s table: created by ``toctou_setup``, inspected by
``manage.py check --deploy``."""

from __future__ import annotations

from typing import Any

from django.core import checks

from drf_toctou import dynamodb as ddb
from drf_toctou.exceptions import StoreError

W006_MSG = "DynamoDB table {table!r} has TTL {status}: expired revocations will pile up."
W006_HINT = "Run manage.py toctou_setup, or enable TTL on attribute 'expires_at'."
W010_MSG = ("DynamoDB table {table!r} is a global table replicated to {regions} with eventual consistency: "
            "a revocation written in one region is refused in another only once replicated (usually under a "
            "second, unbounded during a regional partition).")
W010_HINT = ("Write and read token state in one region (point every DynamoDBStore at it), or use a global table "
             "with multi-Region strong consistency (MRSC); see README 'Choosing a store'.")


def setup(store: Any, key: str, sessions_index: str, expires: str) -> str:
    """Create the table (on-demand, hash key ``key``) with TTL on ``expires``
    and the sparse session index; idempotent. Generous timeouts: an
    operator's command."""
    client = ddb.shared_client(store.connection_options, timeout=10.0, max_attempts=3)
    try:
        changes = ddb.ensure_table(client, store.table_name, key, {sessions_index: "suid"}, ttl=expires)
    except (*ddb.ERRORS, TimeoutError) as e:
        raise StoreError(f"dynamodb store: {e}") from e
    return f"DynamoDBStore: table {store.table_name!r} " + (", ".join(changes) if changes else "already set up") + "."


def deploy_checks(store: Any) -> list[checks.CheckMessage]:
    found: list[checks.CheckMessage] = []
    answer = store.client.describe_time_to_live(TableName=store.table_name)["TimeToLiveDescription"]
    status = answer.get("TimeToLiveStatus", "DISABLED")
    if status not in ("ENABLED", "ENABLING"):
        found.append(checks.Warning(W006_MSG.format(table=store.table_name, status=status.lower()), hint=W006_HINT,
                                    id="drf_toctou.W006"))
    table = store.client.describe_table(TableName=store.table_name)["Table"]
    replicas = [replica.get("RegionName", "?") for replica in table.get("Replicas", [])]
    if replicas and table.get("MultiRegionConsistency") != "STRONG":
        found.append(checks.Warning(W010_MSG.format(table=store.table_name, regions=", ".join(replicas)),
                                    hint=W010_HINT, id="drf_toctou.W010"))
    return found
