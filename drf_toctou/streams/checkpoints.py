"""The watcher's own DynamoDB table (``STREAM_CHECKPOINT_TABLE``, partition
key ``pk``, TTL on ``expires_at``):

    cp#<stream arn>#<shard id>   {"seq": last sequence number judged, "closed": bool,
                                  "since": epoch seconds (started at LATEST, nothing judged yet)}
    rm#<table>#<key>             {"at": when the key was deleted}   a tombstone

A checkpoint is written after every batch of records and right after every
record that produced a finding, so a restart resumes after the last record
judged: nothing is missed and nothing reported again. Tombstones live for
``STREAM_RESURRECTION_WINDOW`` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from drf_toctou import dynamodb as ddb
from drf_toctou.settings import toctou_settings

KEY = "pk"
EXPIRES = "expires_at"
CHECKPOINT_DAYS = 7  # a stream keeps records 24 h; a checkpoint outlives its shard comfortably


@dataclass(frozen=True)
class Checkpoint:
    sequence_number: str | None
    closed: bool = False  # the shard ended and every record of it was judged
    since: float | None = None  # read from LATEST at this time, before any record was judged


class MemoryCheckpoints:
    """Checkpoints and tombstones of one process (tests, ``--no-checkpoints``)."""

    def __init__(self) -> None:
        self.points: dict[tuple[str, str], Checkpoint] = {}
        self.removed: dict[tuple[str, str], float] = {}

    def load(self, stream_arn: str, shard_ids: list[str]) -> dict[str, Checkpoint]:
        return {s: self.points[(stream_arn, s)] for s in shard_ids if (stream_arn, s) in self.points}

    def save(self, stream_arn: str, shard_id: str, checkpoint: Checkpoint) -> None:
        self.points[(stream_arn, shard_id)] = checkpoint

    def removed_at(self, table: str, key: str) -> float | None:
        return self.removed.get((table, key))

    def remember(self, table: str, key: str, at: float) -> None:
        self.removed[(table, key)] = at


class CheckpointTable:
    """Checkpoints and tombstones in DynamoDB, shared by every watcher process
    and by the Lambda handler."""

    def __init__(self, client: Any, name: str | None = None) -> None:
        self.table = ddb.DataTable(name or toctou_settings.STREAM_CHECKPOINT_TABLE, client)

    def ensure(self) -> list[str]:
        """Create the table (TTL on ``expires_at``) when missing."""
        return ddb.ensure_table(self.table.client, self.table.name, KEY, ttl=EXPIRES)

    def load(self, stream_arn: str, shard_ids: list[str]) -> dict[str, Checkpoint]:
        found: dict[str, Checkpoint] = {}
        for start in range(0, len(shard_ids), 100):
            pending: Any = {self.table.name: {"Keys": [ddb.typed({KEY: f"cp#{stream_arn}#{s}"})
                                                       for s in shard_ids[start:start + 100]],
                                              "ConsistentRead": True}}
            while pending:
                answer = self.table.client.batch_get_item(RequestItems=pending)
                for item in map(ddb.native, answer["Responses"].get(self.table.name, [])):
                    since = float(item["since"]) if "since" in item else None
                    found[item[KEY].rsplit("#", 1)[1]] = Checkpoint(item.get("seq"), bool(item.get("closed")), since)
                pending = answer.get("UnprocessedKeys") or None
        return found

    def save(self, stream_arn: str, shard_id: str, checkpoint: Checkpoint) -> None:
        item: dict[str, Any] = {KEY: f"cp#{stream_arn}#{shard_id}", "closed": checkpoint.closed,
                                EXPIRES: int(time.time()) + CHECKPOINT_DAYS * 86400}
        if checkpoint.sequence_number is not None:
            item["seq"] = checkpoint.sequence_number
        if checkpoint.since is not None:
            item["since"] = ddb.to_dynamo(round(checkpoint.since, 3))
        self.table.call("put_item", Item=item)

    def removed_at(self, table: str, key: str) -> float | None:
        item = self.table.get({KEY: f"rm#{table}#{key}"})
        if item is None or int(item.get(EXPIRES, 0)) <= time.time():
            return None
        return float(item["at"])

    def remember(self, table: str, key: str, at: float) -> None:
        window = float(toctou_settings.STREAM_RESURRECTION_WINDOW)
        self.table.call("put_item", Item={KEY: f"rm#{table}#{key}", "at": ddb.to_dynamo(round(at, 3)),
                                          EXPIRES: int(at + window) + 1})
