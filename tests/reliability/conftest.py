"""Scale and report for the reliability proofs.

``make test`` runs them short (RELIABILITY_SCALE unset); ``make reliability``
sets RELIABILITY_SCALE=full and RELIABILITY_REPORT=docs/RELIABILITY.md, and the
rows every test adds are written there at the end of the run (the section
``make scale`` writes is kept)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

import pytest

FULL = os.environ.get("RELIABILITY_SCALE") == "full"
ROWS: list[dict] = []
COLUMNS = ["test", "cases", "failures", "worst latency", "naive control"]


def scaled(short: int, full: int) -> int:
    return full if FULL else short


@pytest.fixture
def report():
    def add(test: str, cases: int, failures: int, worst_latency: str = "—", naive: str = "—", **extra):
        ROWS.append({"test": test, "cases": cases, "failures": failures, "worst latency": worst_latency,
                     "naive control": naive, **extra})

    return add


def pytest_sessionfinish(session, exitstatus):
    target = os.environ.get("RELIABILITY_REPORT")
    if not target or not ROWS:
        return
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(render(exitstatus) + scale_section(Path(target)))


def scale_section(path: Path) -> str:
    """The section ``make scale`` wrote into the report (tests/scale/conftest.py):
    kept as it is, since this run did not measure it."""
    from tests.scale.conftest import BEGIN, END

    text = path.read_text() if path.exists() else ""
    if BEGIN not in text or END not in text:
        return ""
    return "\n" + text[text.index(BEGIN):text.index(END) + len(END)] + "\n"


def render(exitstatus: int) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# Reliability report",
        "",
        f"Written by `make reliability` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"commit `{commit or 'unknown'}`, {platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. pytest exit status: {exitstatus}.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(str(row[c]) for c in COLUMNS) + " |" for row in ROWS]
    notes = [row["note"] for row in ROWS if row.get("note")]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
