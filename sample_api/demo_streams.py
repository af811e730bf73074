"""S8 of `make demo`: a write around the API, reported by the Streams watcher.

alice's token is revoked; an insider then writes her document with it
directly in DynamoDB — boto3, the stamping code, no fence (`manage.py
demo_bypass`). The API refuses the token; `manage.py toctou_watch`, running
next to the server, reports the raw write. The table printed also shows what
each side puts on the wire as the document's id: the raw key, or an opaque
per-user reference.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sample_api.play_demo import Demo
from sample_api.server import MANAGE, Server


@dataclass
class StreamsRun:
    naive_id: str = ""
    protected_id: str = ""
    refused: str = ""
    finding: dict[str, Any] | None = None
    latency: float | None = None  # seconds from the raw write to the watcher's finding
    watcher_exit: int | None = None

    @property
    def detected(self) -> bool:
        return self.finding is not None and self.watcher_exit == 0


class WatcherProcess:
    """`manage.py toctou_watch --from latest` next to the server; its findings
    (JSON lines on stdout) are collected with the time they arrived."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.table = server.env.get("SAMPLE_API_DOCUMENTS_TABLE", "sample_documents")
        self.findings: list[tuple[float, dict[str, Any]]] = []
        self.notes: list[str] = []
        self.ready = threading.Event()

    def start(self, timeout: float = 60) -> WatcherProcess:
        self.process = subprocess.Popen(MANAGE + ["toctou_watch", "--table", self.table, "--from", "latest"],
                                        env=self.server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, args=(self.process.stdout, self._finding), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self._note), daemon=True).start()
        if not self.ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"toctou_watch did not start: {self.notes[-5:]}")
        return self

    def _read(self, stream: Any, keep: Callable[[str], None]) -> None:
        for line in stream:
            keep(line.strip())

    def _finding(self, line: str) -> None:
        try:
            self.findings.append((time.time(), json.loads(line)))
        except ValueError:
            self.notes.append(line)

    def _note(self, line: str) -> None:
        self.notes.append(line)
        if "watching" in line:
            self.ready.set()

    def wait_for(self, wanted: Callable[[dict[str, Any]], bool], timeout: float) -> tuple[float, dict[str, Any]] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hit = next(((at, f) for at, f in list(self.findings) if wanted(f)), None)
            if hit:
                return hit
            time.sleep(0.02)
        return None

    def stop(self) -> int | None:
        """SIGTERM, as a service manager would: the watcher finishes the record in hand and exits 0."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def play_s8(server: Server, demo: Demo, clock_margin: float = 2.0) -> StreamsRun:
    """alice's token is revoked; an insider then writes her document with it
    directly in DynamoDB (boto3, stamped, unfenced). The API refuses the token;
    the watcher reports the raw write."""
    run = StreamsRun()
    watcher = WatcherProcess(server).start()
    try:
        token = demo.login("alice")
        reference = demo.call("POST", "/api/documents/", token, {"title": "s8"})[1]["id"]
        raw = demo.raw_key("documents", reference, "alice")
        run.protected_id, run.naive_id = reference, demo.call("GET", f"/api/naive/documents/{raw}/", token)[1]["id"]
        demo.call("POST", "/api/auth/logout/", token)
        status, body, _ = demo.call("PATCH", f"/api/documents/{reference}/", token, {"title": "through the API"})
        run.refused = f"{status} {body.get('code', '')}"
        later = time.time() + clock_margin + 0.5  # the insider acts a little later: beyond the watcher's clock margin
        done = subprocess.run(MANAGE + ["demo_bypass", "--token", token, "--key", raw, "--not-before", str(later)],
                              env=server.env, capture_output=True, text=True, check=True)
        written_at = json.loads(done.stdout.strip().splitlines()[-1])["written_at"]
        hit = watcher.wait_for(lambda f: f["key"] == raw and f["rule"] == "written_after_revocation", 20)
        if hit:
            run.latency, run.finding = hit[0] - written_at, hit[1]
    finally:
        run.watcher_exit = watcher.stop()
    return run


def print_s8(run: StreamsRun) -> None:
    finding = run.finding or {}
    rows = [["what the client sees as the document's id", f"{run.naive_id} (the raw key)",
             f"{run.protected_id} (an opaque reference for alice)"],
            ["alice's revoked token through the API", "-", run.refused],
            ["the same token, written around the API (raw boto3)", "lands unnoticed",
             f"reported {run.latency * 1000:.0f} ms after the write: {finding.get('rule')} ({finding.get('severity')})"
             if run.latency is not None else "NOT REPORTED"]]
    header = ["S8: detection (DynamoDB Streams watcher)", "naive", "protected"]
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(3)]
    line = "+".join("-" * (w + 2) for w in widths)
    print("\n" + line)
    print("|".join(f" {h:<{w}} " for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("|".join(f" {c:<{w}} " for c, w in zip(row, widths, strict=True)))
    print(line)
    if run.finding:
        print(f"  finding: {run.finding['detail']}")
    print(f"  toctou_watch stopped by SIGTERM: exit status {run.watcher_exit}")
