"""Scale and report for the scale-out proofs (Redis Cluster and Sentinel).

``make test`` runs them short (SCALE unset); ``make scale`` sets SCALE=full
and SCALE_REPORT=docs/RELIABILITY.md: the rows every test adds replace the
section between ``BEGIN`` and ``END`` of that file at the end of the run (the
rest of the file, written by ``make reliability``, is left as it is)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

import pytest
import redis

FULL = os.environ.get("SCALE") == "full"
BEGIN, END = "<!-- make scale: begin -->", "<!-- make scale: end -->"
TABLES: dict[str, tuple[str, list[str], str]] = {}  # name -> (title, columns, description)
ROWS: dict[str, list[dict]] = {}
NOTES: list[str] = []


def scaled(short, full):
    return full if FULL else short


def table(name: str, title: str, columns: list[str], description: str = "") -> None:
    TABLES.setdefault(name, (title, columns, description))


@pytest.fixture
def report():
    def add(name: str, row: dict, note: str = "") -> None:
        ROWS.setdefault(name, []).append(row)
        if note:
            NOTES.append(note)

    return add


def pytest_sessionfinish(session, exitstatus):
    target = os.environ.get("SCALE_REPORT")
    if not target or not ROWS:
        return
    path = Path(target)
    text = path.read_text() if path.exists() else "# Reliability report\n"
    section = render(exitstatus)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def render(exitstatus: int) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    server = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    version = next((w.split("=", 1)[1] for w in server if w.startswith("v=")), "?")
    lines = [BEGIN, "## Scale-out: Redis Cluster and Sentinel (`make scale`)", "",
             f"Written by `make scale` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"commit `{commit or 'unknown'}`, {platform.platform()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}, redis-server {version}, redis-py {redis.__version__}. "
             f"pytest exit status: {exitstatus}. Short versions of the same tests run in `make test`.", ""]
    for name, (title, columns, description) in TABLES.items():
        if not ROWS.get(name):
            continue
        lines += [f"### {title}", ""] + ([description, ""] if description else [])
        lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(str(row.get(c, "—")) for c in columns) + " |" for row in ROWS[name]]
        lines.append("")
    if NOTES:
        lines += ["### Notes", ""] + [f"- {note}" for note in NOTES] + [""]
    return "\n".join(lines) + END
