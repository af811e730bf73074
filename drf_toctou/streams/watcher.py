"""``Watcher``: one table's stream, read with checkpoints and judged by the
rules in force; what ``manage.py toctou_watch`` runs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from drf_toctou import dynamodb as ddb
from drf_toctou.exceptions import StoreError
from drf_toctou.settings import toctou_settings
from drf_toctou.stores import get_store
from drf_toctou.streams.changes import Change, WatchedTable
from drf_toctou.streams.checkpoints import CheckpointTable
from drf_toctou.streams.context import Context
from drf_toctou.streams.findings import HIGH, Finding, Tally, report
from drf_toctou.streams.judge import Judge
from drf_toctou.streams.reader import TRIM_HORIZON, StreamReader, stream_of
from drf_toctou.streams.rules import Rule

logger = logging.getLogger("drf_toctou.streams")

#: What a pass may fail with and be retried: the data endpoint or the store.
TRANSIENT = (*ddb.ERRORS, StoreError)


def connection_options() -> dict[str, Any]:
    """Where the data tables are: ``DYNAMODB_DATA_OPTIONS``, else the store's."""
    return dict(toctou_settings.DYNAMODB_DATA_OPTIONS) or dict(getattr(get_store(), "connection_options", {}))


_streams_clients: dict[tuple[Any, ...], Any] = {}


def streams_client(options: dict[str, Any]) -> Any:
    """A ``dynamodbstreams`` client for ``options``, built once per process."""
    import boto3

    key = tuple(sorted((k, str(v)) for k, v in options.items()))
    if key not in _streams_clients:
        config = ddb.client_config(10.0, 3)
        _streams_clients[key] = boto3.session.Session().client("dynamodbstreams", config=config, **options)
    return _streams_clients[key]


class Watcher:
    """Judges every change of ``table``'s stream. ``checkpoints`` defaults to
    the ``STREAM_CHECKPOINT_TABLE`` on the data tables' endpoint (created when
    missing); ``rules`` to ``STREAM_RULES``; ``store`` to the configured one."""

    def __init__(self, table: str, start: str = TRIM_HORIZON, rules: list[Rule] | None = None,
                 checkpoints: Any = None, options: dict[str, Any] | None = None, poll_interval: float = 0.5,
                 store: Any = None) -> None:
        options = connection_options() if options is None else options
        client = ddb.shared_client(options, timeout=10.0)
        if checkpoints is None:
            checkpoints = CheckpointTable(client)
            checkpoints.ensure()
        self.table = WatchedTable.of(table)
        self.tally = Tally()
        self.judge = Judge(Context(checkpoints, store), rules)
        self.reader = StreamReader(streams_client(options), stream_of(client, table), checkpoints, start,
                                   on_gap=self._gap)
        self.poll_interval = poll_interval

    def handle(self, record: dict[str, Any]) -> bool:
        """Judge one record and report its findings; True when it had any."""
        findings = self.judge.judge(Change.from_record(record, self.table))
        self.tally.records += 1
        for finding in findings:
            report(finding, self.tally)
        return bool(findings)

    def run(self, once: bool = False, stop: threading.Event | None = None, limit: int | None = None,
            retries: int = 5, on_ready: Callable[[], None] | None = None) -> Tally:
        """Read and judge until ``stop`` is set (or, with ``once``, until the
        stream's tip, or ``limit`` records); ``on_ready`` is called after the
        first pass (every shard has its position). A fault of DynamoDB or of
        the store is retried with backoff from the last record judged — up to
        ``retries`` times in a row, then raised."""
        stop = stop or threading.Event()
        failures = 0
        started = time.monotonic()
        while not stop.is_set():
            try:
                handled = self.reader.read(self.handle, stop, None if limit is None else limit - self.tally.records)
                failures = 0
                if on_ready is not None:
                    ready, on_ready = on_ready, None
                    ready()
            except TRANSIENT as e:
                failures += 1
                if failures > retries:
                    raise
                logger.warning("toctou_watch: %s: %s; retrying", type(e).__name__, e)
                stop.wait(min(30.0, 0.5 * 2 ** failures))
                continue
            if once and handled == 0 or limit is not None and self.tally.records >= limit:
                break
            if handled == 0:
                stop.wait(self.poll_interval)
        self.tally.seconds = time.monotonic() - started
        return self.tally

    def _gap(self, shard_id: str) -> None:
        report(Finding(rule="stream_gap", severity=HIGH, table=self.table.name, key="", event="",
                       sequence_number=f"gap:{shard_id}:{int(time.time())}",
                       detail=f"shard {shard_id}: records were trimmed from the stream (older than 24 h) before "
                              "they were judged; the watcher resumes at the oldest record left"), self.tally)
