"""Detecting bypasses: a DynamoDB Streams watcher that judges every change of
a table — written after the writer's token was revoked, by a non-owner, a
deleted key brought back, written without a writer stamp (around the API), a
version going backwards — and reports findings (signal ``stream_finding``,
JSON lines on logger ``drf_toctou.streams``, counts).

Run it as ``manage.py toctou_watch --table documents`` (long-running, or
``--once``), or as the Lambda handler ``drf_toctou.streams.lambda_handler``.
Nothing on the request path imports this package.

- ``findings``: ``Finding``, severities, reporting
- ``changes``: a stream record as the rules see it, ``WatchedTable``
- ``rules``: the five built-in ``Rule`` classes (``STREAM_RULES``)
- ``judge``: the rules applied, with the store and the tombstones
- ``checkpoints``, ``reader``, ``watcher``: the long-running reader
- ``aws_lambda``: the Lambda handler
"""

from __future__ import annotations

from typing import Any

from drf_toctou.streams.findings import HIGH, LOW, MEDIUM, Finding
from drf_toctou.streams.rules import Rule

__all__ = ["HIGH", "LOW", "MEDIUM", "Finding", "Rule", "lambda_handler"]


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point for a DynamoDB Streams event source mapping."""
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from drf_toctou.streams.aws_lambda import handle_event

    return handle_event(event)
