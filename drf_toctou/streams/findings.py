"""What the watcher reports: a ``Finding`` per rule that fired on a change,
and the three ways it leaves — the ``drf_toctou.signals.stream_finding``
signal, one JSON line on logger ``drf_toctou.streams``, and a tally."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from drf_toctou.signals import stream_finding

logger = logging.getLogger("drf_toctou.streams")

LOW, MEDIUM, HIGH = "low", "medium", "high"
SEVERITIES = (LOW, MEDIUM, HIGH)
_LOG_LEVEL = {LOW: logging.INFO, MEDIUM: logging.WARNING, HIGH: logging.ERROR}


def at_least(severity: str, threshold: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(threshold)


@dataclass(frozen=True)
class Finding:
    """One rule fired on one stream record. ``id`` is stable: a record judged
    twice (a Lambda retry, a crash before the checkpoint) has the same ids."""

    rule: str
    severity: str
    table: str
    key: str
    event: str  # INSERT, MODIFY or REMOVE
    sequence_number: str
    detail: str
    writer: dict[str, Any] | None = None  # the stamp, without the jti (WriterStamp.public())
    detected_at: float = field(default_factory=time.time)

    @property
    def id(self) -> str:
        return f"{self.table}:{self.sequence_number}:{self.rule}"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, **asdict(self)}

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, default=str)


class Tally:
    """Findings counted by rule and by severity."""

    def __init__(self) -> None:
        self.by_rule: Counter[str] = Counter()
        self.by_severity: Counter[str] = Counter()
        self.records = 0
        self.seconds = 0.0  # how long the judging ran

    def add(self, finding: Finding) -> None:
        self.by_rule[finding.rule] += 1
        self.by_severity[finding.severity] += 1

    @property
    def findings(self) -> int:
        return sum(self.by_rule.values())

    def at_least(self, threshold: str) -> int:
        return sum(n for severity, n in self.by_severity.items() if at_least(severity, threshold))

    def summary(self) -> str:
        rules = ", ".join(f"{rule}: {n}" for rule, n in sorted(self.by_rule.items())) or "none"
        rate = f" in {self.seconds:.2f} s ({self.records / self.seconds:.0f} records/s)" if self.seconds else ""
        return f"{self.records} record(s) judged{rate}, {self.findings} finding(s) ({rules})"


def report(finding: Finding, tally: Tally | None = None) -> None:
    """Send, log and count one finding. A failing receiver is logged, never
    allowed to stop the watcher."""
    if tally is not None:
        tally.add(finding)
    logger.log(_LOG_LEVEL.get(finding.severity, logging.WARNING), finding.as_json())
    try:
        stream_finding.send(sender=Finding, finding=finding)
    except Exception:
        logger.exception("a stream_finding receiver failed")
