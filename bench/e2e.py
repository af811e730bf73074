"""End to end: gunicorn (2 sync workers) on loopback under wrk (2 threads, 8
connections); one gunicorn per store the configurations name.

Rounds of short wrk runs, every configuration once per round in serpentine
order, each run with a token minted right before it (a token never outlives
its phase). A run with any non-2xx response, socket error or timeout makes its
configuration a failed measurement: it is reported with the count and measured
no further, never as a row with a ratio."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.configs import END_TO_END, Config
from bench.harness import ROOT, Harness

THREADS, CONNECTIONS, WORKERS = 2, 8, 2
DEFAULT_STORE = "redis"  # the server for configurations that use no drf-toctou store


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float


@dataclass
class EndToEnd:
    runs: dict[str, list[Run]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: str = ""


def milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def parse(out: str) -> tuple[Run | None, str]:
    """wrk's output → (the run, "") or (None, why the measurement failed)."""
    problems = []
    total = re.search(r"(\d+) requests in", out)
    if found := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        problems.append(f"{found.group(1)} of {total.group(1) if total else '?'} responses non-2xx")
    if found := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors = dict(zip(("connect", "read", "write", "timeout"), map(int, found.groups()), strict=True))
        problems += [f"{n} {kind} errors" for kind, n in errors.items() if n]
    rps, p50, p99 = (re.search(pattern, out) for pattern in
                     (r"Requests/sec:\s+([\d.]+)", r"50%\s+([\d.]+\w+)", r"99%\s+([\d.]+\w+)"))
    if not total or int(total.group(1)) == 0 or not (rps and p50 and p99):
        problems.append("no requests completed (wrk output: " + " ".join(out.split())[:200] + ")")
    if problems:
        return None, "FAILED: " + ", ".join(problems)
    return Run(float(rps.group(1)), milliseconds(p50.group(1)), milliseconds(p99.group(1))), ""


class Servers:
    """One gunicorn per store, started before the runs and stopped after
    (``worker``: gunicorn's worker arguments, sync workers by default)."""

    def __init__(self, harness: Harness, worker: tuple[str, ...] = ("-k", "sync")) -> None:
        self.harness, self.ports, self.processes, self.worker = harness, {}, [], worker

    def start(self, stores: set[str]) -> None:
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
        for store in sorted(stores):
            dotted, options = self.harness.store_setting(store)
            port = free_port()
            env = {**os.environ, "BENCH_STORE": dotted, "BENCH_STORE_OPTIONS": json.dumps(options),
                   "PYTHONPATH": str(ROOT)}
            self.processes.append(subprocess.Popen(
                [gunicorn, "-w", str(WORKERS), *self.worker, "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                 "bench.wsgi:application"], env=env, cwd=ROOT))
            self.ports[store] = port
        for store, port in self.ports.items():
            self.wait_ready(store, port)

    def url(self, config: Config) -> str:
        return f"http://127.0.0.1:{self.ports[config.store or DEFAULT_STORE]}{self.harness.path(config)}"

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(10)


    def wait_ready(self, store: str, port: int, timeout: float = 60.0) -> None:
        """Until both workers have loaded the application: a few answered requests."""
        import urllib.error
        import urllib.request

        probe = Config("readiness", "/stateless/me/", "jwt")
        deadline, answered = time.monotonic() + timeout, 0
        while answered < 2 * WORKERS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn for store {store!r} on port {port} did not answer")
            request = urllib.request.Request(f"http://127.0.0.1:{port}{probe.path}",
                                             headers={"Authorization": self.harness.mint(probe)})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    answered += response.status == 200
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wrk(binary: str, url: str, header: str, seconds: int) -> str:
    command = [binary, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-H",
               f"Authorization: {header}", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout


def end_to_end(harness: Harness, rounds: int, seconds: int, configs: list[Config] = END_TO_END,
               progress: Callable[[str], None] = print) -> EndToEnd:
    result = EndToEnd()
    binary, gunicorn = shutil.which("wrk"), shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    if not binary or not gunicorn:
        result.skipped = "skipped: wrk or gunicorn missing (apt-get install wrk)"
        return result
    servers = Servers(harness)

    def measure(config: Config, duration: int) -> Run | None:
        with harness.store(config.store or DEFAULT_STORE):
            header = harness.mint(config)  # fresh, right before this run
        run, why = parse(wrk(binary, servers.url(config), header, duration))
        if run is None:
            result.failed[config.label] = why
        return run

    try:
        servers.start({c.store or DEFAULT_STORE for c in configs})
        for config in configs:  # warm-up: both workers, the store connections; not recorded
            measure(config, 2)
        for number in range(rounds):
            for config in configs if number % 2 == 0 else reversed(configs):
                if config.label not in result.failed and (run := measure(config, seconds)):
                    result.runs.setdefault(config.label, []).append(run)
            progress(f"  round {number + 1}/{rounds}")
    finally:
        servers.stop()
    for label in result.failed:
        result.runs.pop(label, None)
    return result
