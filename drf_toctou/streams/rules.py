"""The rules the watcher judges every change by. Each is a class with a
stable ``name`` (it appears in findings), a ``severity`` and ``judge()``.

``DRF_TOCTOU["STREAM_RULES"]`` lists the rules in force by dotted path:
remove one to switch it off, add your own ``Rule`` subclass to extend them::

    class NoEmptyTitles(Rule):
        name, severity = "empty_title", LOW

        def judge(self, change, context):
            if change.new is not None and not change.new.get("title"):
                return "a document without a title"
            return None
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from django.utils.module_loading import import_string

from drf_toctou.settings import toctou_settings
from drf_toctou.streams.changes import INSERT, MODIFY, REMOVE, Change
from drf_toctou.streams.context import Context
from drf_toctou.streams.findings import HIGH, MEDIUM


def moment(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="milliseconds")


def as_id(value: Any) -> str | None:
    """An owner as stored (a string, or a number DynamoDB gives as Decimal)."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    return None if value is None else str(value)


class Rule:
    """One judgement of one change: ``judge()`` returns a sentence saying what
    is wrong, or None. Rules are built once per watcher; keep no state."""

    name = ""
    severity = MEDIUM

    def judge(self, change: Change, context: Context) -> str | None:
        raise NotImplementedError


class WrittenAfterRevocation(Rule):
    """The writer's token was already dead when the write happened: its jti
    revoked, its session ended, or its user's version bumped past its ``ver``
    — more than ``STREAM_CLOCK_MARGIN`` seconds before the stamp's time. A
    fenced write can't do that: something wrote with the stamping code but
    without the fence."""

    name, severity = "written_after_revocation", HIGH

    def judge(self, change: Change, context: Context) -> str | None:
        stamp = change.stamp
        if stamp is None:
            return None
        history = context.history(stamp)
        for when, what in ((history.revoked_at, "its token was revoked"),
                           (history.session_revoked_at, "its session was ended"),
                           (history.superseded_at, "its user's tokens were revoked (version bumped)")):
            if when is not None and when + context.clock_margin < stamp.written_at:
                return (f"written at {moment(stamp.written_at)} by user {stamp.user_id}, "
                        f"{stamp.written_at - when:.1f} s after {what} at {moment(when)}")
        return None


class NonOwnerWrite(Rule):
    """The writer did not own the item before the write (old image), or the
    owner changed — unless the write came from one of the view's
    ``transfer_actions``. A create must be owned by its writer."""

    name, severity = "non_owner_write", HIGH

    def judge(self, change: Change, context: Context) -> str | None:
        stamp = change.stamp
        if stamp is None or stamp.operation in change.table.transfer_actions:
            return None
        field = change.table.owner_field
        before, after = as_id((change.old or {}).get(field)), as_id((change.new or {}).get(field))
        if change.event == MODIFY and before != stamp.user_id:
            return f"written by user {stamp.user_id} ({stamp.operation}); the item belonged to user {before}"
        if change.event == MODIFY and after != before:
            return f"owner changed from user {before} to {after} by {stamp.operation!r}, not a transfer action"
        if change.event == INSERT and after != stamp.user_id:
            return f"created by user {stamp.user_id} for owner {after}"
        return None


class Resurrection(Rule):
    """An INSERT of a key deleted less than ``STREAM_RESURRECTION_WINDOW``
    seconds before: an update that re-created a deleted object (S4). A create
    through the API (stamped ``create``, conditional on the key being free) is
    a new object, not a resurrection; deletions by TTL don't count."""

    name, severity = "resurrection", MEDIUM

    def judge(self, change: Change, context: Context) -> str | None:
        if change.event != INSERT:
            return None
        stamp = change.stamp
        if stamp is not None and stamp.operation == "create":
            return None
        removed = context.removed_at(change.table.name, change.key)
        written = change.at or time.time()
        if removed is not None and 0 <= written - removed + context.clock_margin and \
                written - removed <= context.resurrection_window:
            return f"deleted at {moment(removed)} and written again {max(0.0, written - removed):.1f} s later"
        return None


class UnstampedWrite(Rule):
    """On a stamped table, a write without a stamp of its own: none, one that
    does not open (made up, altered, copied from another item), or the
    previous write's stamp left in place. Someone wrote around the API."""

    name, severity = "unstamped_write", HIGH

    def judge(self, change: Change, context: Context) -> str | None:
        if not change.table.stamped or change.event == REMOVE:
            return None
        if change.stamp is None:
            return f"{change.stamp_problem}: written around the API"
        return None


class VersionRegression(Rule):
    """The view's version attribute went down, vanished, or moved by more
    than one in a single write."""

    name, severity = "version_regression", MEDIUM

    def judge(self, change: Change, context: Context) -> str | None:
        field = change.table.version_field
        if not field or change.event != MODIFY:
            return None
        before, after = (change.old or {}).get(field), (change.new or {}).get(field)
        if before is None:
            return None
        if after is None:
            return f"{field} removed (was {before})"
        try:
            if after < before:
                return f"{field} went down from {before} to {after}"
            if after - before > 1:
                return f"{field} jumped from {before} to {after}"
        except TypeError:
            return f"{field} is no longer a number ({after!r})"
        return None


def configured_rules() -> list[Rule]:
    """One instance of each rule of ``STREAM_RULES``."""
    return [import_string(path)() for path in toctou_settings.STREAM_RULES]
