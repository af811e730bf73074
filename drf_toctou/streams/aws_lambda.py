"""The AWS Lambda handler: the same rules on the batches a DynamoDB Streams
event source mapping delivers. Lambda keeps the stream position itself; the
tombstones live in ``STREAM_CHECKPOINT_TABLE`` as for the command.

Configure the function with ``DJANGO_SETTINGS_MODULE`` and the handler
``drf_toctou.streams.lambda_handler``; turn on ``ReportBatchItemFailures`` on
the mapping, so that a record the watcher could not judge (store down) is
delivered again rather than skipped.
"""

from __future__ import annotations

from typing import Any

from drf_toctou.streams.changes import Change, WatchedTable, table_of
from drf_toctou.streams.checkpoints import CheckpointTable
from drf_toctou.streams.context import Context
from drf_toctou.streams.findings import Tally, report
from drf_toctou.streams.judge import Judge
from drf_toctou.streams.watcher import TRANSIENT, connection_options

_judge: Judge | None = None
_tables: dict[str, WatchedTable] = {}


def judge() -> Judge:
    """One judge per Lambda container (its token-history cache survives warm starts)."""
    global _judge
    if _judge is None:
        from drf_toctou import dynamodb as ddb

        tombstones = CheckpointTable(ddb.shared_client(connection_options(), timeout=10.0))
        tombstones.ensure()
        _judge = Judge(Context(tombstones))
    return _judge


def handle_event(event: dict[str, Any], tally: Tally | None = None) -> dict[str, Any]:
    """Judge the records of one Lambda event in order; on the first that
    can't be judged, stop and name it (and the rest) in ``batchItemFailures``."""
    tally = tally or Tally()
    records = event.get("Records", [])
    for position, record in enumerate(records):
        name = table_of(record.get("eventSourceARN", ""))
        table = _tables.setdefault(name, WatchedTable.of(name))
        try:
            findings = judge().judge(Change.from_record(record, table))
        except TRANSIENT:
            failed = records[position]["dynamodb"].get("SequenceNumber", "")
            return {"batchItemFailures": [{"itemIdentifier": failed}]}
        tally.records += 1
        for finding in findings:
            report(finding, tally)
    return {"batchItemFailures": []}
