"""Reading one DynamoDB stream shard by shard, with checkpoints.

A shard is read only once its parent is done (a shard that closes is
followed by its children, so a key's changes are judged in order); a shard
resumes after its checkpoint. The shards without a checkpoint when the reader
starts begin at ``TRIM_HORIZON`` (everything the stream still holds) or
``LATEST`` (from now on; those already closed are skipped); shards that
appear later always begin at their first record. A record is checkpointed
only after ``handle`` returned for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drf_toctou import dynamodb as ddb
from drf_toctou.streams.checkpoints import Checkpoint

TRIM_HORIZON, LATEST = "TRIM_HORIZON", "LATEST"
SHARD_REFRESH_SECONDS = 60.0
BATCH = 1000
#: How much older than a LATEST start a record may look and still be judged
#: after a restart: ApproximateCreationDateTime is rounded (to the minute on DynamoDB Local).
APPROXIMATION = 60.0


class StreamNotReadable(Exception):
    """The table has no stream, or not one with both images."""


@dataclass(frozen=True)
class Shard:
    id: str
    parent: str | None
    closed: bool  # DynamoDB gave it an ending sequence number


def stream_of(client: Any, table: str) -> str:
    """The ARN of ``table``'s stream; ``StreamNotReadable`` unless it carries
    NEW_AND_OLD_IMAGES."""
    description = client.describe_table(TableName=table)["Table"]
    spec = description.get("StreamSpecification") or {}
    if not spec.get("StreamEnabled") or "LatestStreamArn" not in description:
        raise StreamNotReadable(f"table {table!r} has no stream: set stamp_writes = True on its view and run "
                                "`manage.py toctou_setup`, or enable a NEW_AND_OLD_IMAGES stream")
    if spec.get("StreamViewType") != "NEW_AND_OLD_IMAGES":
        raise StreamNotReadable(f"the stream of {table!r} is {spec.get('StreamViewType')}; the watcher needs "
                                "NEW_AND_OLD_IMAGES (old and new images to compare)")
    return str(description["LatestStreamArn"])


class StreamReader:
    """Reads ``stream_arn`` with ``streams`` (a ``dynamodbstreams`` client),
    checkpointing in ``checkpoints``; ``on_gap(shard_id)`` hears of records
    the stream trimmed before they were judged."""

    def __init__(self, streams: Any, stream_arn: str, checkpoints: Any, start: str = TRIM_HORIZON,
                 on_gap: Callable[[str], None] | None = None) -> None:
        self.streams, self.arn, self.checkpoints, self.start = streams, stream_arn, checkpoints, start
        self.on_gap = on_gap or (lambda shard_id: None)
        self._iterators: dict[str, str] = {}
        self._points: dict[str, Checkpoint] = {}
        self._shards: list[Shard] = []
        self._listed_at = 0.0
        self._first_seen: set[str] = set()  # shards listed at start without a checkpoint: `start` applies to them

    def shards(self) -> list[Shard]:
        """The stream's shards, parents before children (listed again when a
        shard closed, and every minute)."""
        if not self._shards or time.monotonic() - self._listed_at > SHARD_REFRESH_SECONDS:
            shards, params = [], {"StreamArn": self.arn}
            while True:
                page = self.streams.describe_stream(**params)["StreamDescription"]
                shards += [Shard(s["ShardId"], s.get("ParentShardId"),
                                 "EndingSequenceNumber" in s.get("SequenceNumberRange", {})) for s in page["Shards"]]
                if not page.get("LastEvaluatedShardId"):
                    break
                params["ExclusiveStartShardId"] = page["LastEvaluatedShardId"]
            fresh = [s.id for s in shards if s.id not in self._points]
            self._points.update(self.checkpoints.load(self.arn, fresh) if fresh else {})
            if not self._shards:
                self._first_seen = {s.id for s in shards if s.id not in self._points}
            self._shards, self._listed_at = _parents_first(shards), time.monotonic()
        return self._shards

    def read(self, handle: Callable[[dict[str, Any]], bool], stop: threading.Event, limit: int | None = None) -> int:
        """One pass: every readable shard up to its end or the stream's tip.
        ``handle(record)`` returns True when the record must be checkpointed
        at once (it produced findings). Returns how many records were handled."""
        handled = 0
        shards = self.shards()
        known = {s.id for s in shards}
        for shard in shards:
            point = self._points.get(shard.id)
            waiting = shard.parent in known and not self._points.get(shard.parent or "", Checkpoint(None)).closed
            if (point and point.closed) or waiting:
                continue
            handled += self._read_shard(shard, handle, stop, None if limit is None else limit - handled)
            if stop.is_set() or (limit is not None and handled >= limit):
                break
        return handled

    def _read_shard(self, shard: Shard, handle: Callable[[dict[str, Any]], bool], stop: threading.Event,
                    limit: int | None) -> int:
        handled = 0
        point = self._points.get(shard.id) or Checkpoint(None)
        last, since = point.sequence_number, point.since
        iterator = self._iterators.pop(shard.id, None) or self._iterator(shard, last)
        while iterator is not None and not stop.is_set():
            answer = self._get_records(shard, iterator, last)
            records, iterator = answer.get("Records", []), answer.get("NextShardIterator")
            for position, record in enumerate(records):
                if since is not None and _older(record, since - APPROXIMATION):
                    last = record["dynamodb"]["SequenceNumber"]  # before a LATEST start: not ours to judge
                    continue
                try:
                    urgent = handle(record)
                except Exception:
                    self._save(shard, last)  # resume after the last record judged, not after the batch
                    raise
                last, handled = record["dynamodb"]["SequenceNumber"], handled + 1
                if stop.is_set() or (limit is not None and handled >= limit):
                    self._save(shard, last, closed=iterator is None and position == len(records) - 1)
                    return handled
                if urgent:
                    self._save(shard, last)
            if records or iterator is None:
                self._save(shard, last, closed=iterator is None)
            if iterator is None:
                self._listed_at = 0.0  # its children may be listed now
            elif not records:
                self._iterators[shard.id] = iterator  # at the tip: ask again next pass
                break
        return handled

    def _iterator(self, shard: Shard, last: str | None) -> str | None:
        if last is not None:
            params = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last}
        elif self.start == LATEST and shard.id in self._first_seen:
            self._first_seen.discard(shard.id)
            if shard.closed:  # history the operator chose not to judge
                self._save(shard, None, closed=True)
                return None
            self._save(shard, None, since=time.time())  # a restart before the first record resumes from here
            params = {"ShardIteratorType": LATEST}
        else:
            params = {"ShardIteratorType": TRIM_HORIZON}
        return str(self.streams.get_shard_iterator(StreamArn=self.arn, ShardId=shard.id, **params)["ShardIterator"])

    def _get_records(self, shard: Shard, iterator: str, last: str | None) -> dict[str, Any]:
        try:
            return dict(self.streams.get_records(ShardIterator=iterator, Limit=BATCH))
        except ddb.ClientError as e:
            code = ddb.error_code(e)
            if code == "ExpiredIteratorException":  # iterators live 15 minutes
                return dict(self.streams.get_records(ShardIterator=self._iterator(shard, last), Limit=BATCH))
            if code == "TrimmedDataAccessException":  # the checkpoint is older than the stream's 24 h
                self.on_gap(shard.id)
                fresh = self.streams.get_shard_iterator(StreamArn=self.arn, ShardId=shard.id,
                                                        ShardIteratorType=TRIM_HORIZON)["ShardIterator"]
                return dict(self.streams.get_records(ShardIterator=fresh, Limit=BATCH))
            raise

    def _save(self, shard: Shard, last: str | None, closed: bool = False, since: float | None = None) -> None:
        if last is None and since is None:  # nothing judged yet: keep where a LATEST start began
            since = (self._points.get(shard.id) or Checkpoint(None)).since
        point = Checkpoint(last, closed, since)
        if self._points.get(shard.id) != point:
            self.checkpoints.save(self.arn, shard.id, point)
            self._points[shard.id] = point


def _older(record: dict[str, Any], moment: float) -> bool:
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    created = created.timestamp() if hasattr(created, "timestamp") else created
    return isinstance(created, (int, float)) and created < moment


def _parents_first(shards: list[Shard]) -> list[Shard]:
    by_id = {s.id: s for s in shards}

    def depth(shard: Shard) -> int:
        level = 0
        while shard.parent in by_id and level < len(by_id):
            shard, level = by_id[str(shard.parent)], level + 1
        return level

    return sorted(shards, key=lambda s: (depth(s), s.id))
