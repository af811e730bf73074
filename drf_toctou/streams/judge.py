"""Judging one change: every rule in force, with what they may ask
(``streams.context``)."""

from __future__ import annotations

import time

from drf_toctou.streams.changes import REMOVE, Change
from drf_toctou.streams.context import Context
from drf_toctou.streams.findings import Finding
from drf_toctou.streams.rules import Rule, configured_rules


class Judge:
    """The rules in force (``STREAM_RULES`` unless given) applied to changes."""

    def __init__(self, context: Context, rules: list[Rule] | None = None) -> None:
        self.context = context
        self.rules = configured_rules() if rules is None else rules

    def judge(self, change: Change) -> list[Finding]:
        stamp = change.stamp
        findings = []
        for rule in self.rules:
            detail = rule.judge(change, self.context)
            if detail:
                findings.append(Finding(rule=rule.name, severity=rule.severity, table=change.table.name,
                                        key=change.key, event=change.event, sequence_number=change.sequence_number,
                                        detail=detail, writer=stamp.public() if stamp else None))
        if change.event == REMOVE and not change.by_service:
            self.context.tombstones.remember(change.table.name, change.key, change.approximate_at or time.time())
        return findings
