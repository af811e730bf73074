"""The refresh race under real concurrency: N client threads present the same
fresh refresh token at once to a real server process, trial after trial, and
every trial counts the 200s.

Each thread owns one keep-alive connection, opened before the trials and
checked right before each of them, and waits at a barrier; the barrier lets
all N send the same pre-built request within microseconds of each other. The
server (``RaceServer``: the sample API under gunicorn, two worker processes of
eight threads each — or runserver, threaded, when gunicorn is missing) handles
them concurrently, so the refreshes also race across processes.

``protected``: drf-toctou's ``/api/auth/token/refresh/``; each trial starts
from a fresh login, and afterwards the winner's new tokens are tried: the
losers were reuses, so the family must be over. ``naive``: simplejwt's own
``TokenRefreshView`` with ``BLACKLIST_AFTER_ROTATION`` (``/api/naive/...``);
each trial starts from a new refresh token a winner of the previous one got.
"""

from __future__ import annotations

import atexit
import http.client
import importlib.util
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sample_api.server import MANAGE, ROOT, Server, request

PATHS = {
    "protected": ("/api/auth/token/", "/api/auth/token/refresh/"),
    "naive": ("/api/naive/auth/token/", "/api/naive/auth/token/refresh/"),
}
WORKERS, THREADS = 2, 8


class RaceServer(Server):
    """The sample API under gunicorn (gthread: ``WORKERS`` processes of
    ``THREADS`` threads, long keep-alive), prepared like ``Server``."""

    def start(self) -> RaceServer:
        if importlib.util.find_spec("gunicorn") is None:
            super().start()  # runserver: threaded, one process
            return self
        prepare = "from django.core.management import call_command as c; c('migrate', verbosity=0); c('demo_users')\n"
        subprocess.run(MANAGE + ["shell", "-c", prepare + self.setup_script], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)  # one interpreter: Django starts once
        self.log = open(Path(self.dir.name) / "server.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "sample_api.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--worker-class", "gthread", "--workers", str(WORKERS), "--threads", str(THREADS),
             "--keep-alive", "120", "--timeout", "120", "--graceful-timeout", "2"],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=str(ROOT))
        atexit.register(self.stop)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the API answers (a cheap 401), not the schema: the schema is
        built per worker process and costs seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the sample API exited: see {self.log.name}")
            try:
                if request(self.url, "GET", "/api/me/")[0] == 401:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the sample API did not start in time")


@dataclass
class RaceResult:
    mode: str
    trials: int = 0
    winners: Counter = field(default_factory=Counter)  # winners in a trial -> trials
    codes: Counter = field(default_factory=Counter)  # "status code" of every answer
    server_errors: int = 0
    families_ended: int = 0  # protected: trials after which the winner's new tokens were refused
    spread_us: list[float] = field(default_factory=list)  # first to last send of a trial
    worst_latency: float = 0.0
    seconds: float = 0.0

    @property
    def exactly_one(self) -> int:
        return self.winners[1]

    @property
    def more_than_one(self) -> int:
        return sum(n for winners, n in self.winners.items() if winners > 1)

    def distribution(self) -> str:
        return ", ".join(f"{n} trial{'s' * (n != 1)} with {w} winner{'s' * (w != 1)}"
                         for w, n in sorted(self.winners.items()))


class RefreshRace:
    def __init__(self, base: str, mode: str, username: str, password: str, threads: int = 8) -> None:
        self.base, self.mode, self.threads = base, mode, threads
        self.credentials = {"username": username, "password": password}
        self.login_path, self.refresh_path = PATHS[mode]
        host, port = base.removeprefix("http://").split(":")
        self.connections = [http.client.HTTPConnection(host, int(port), timeout=60) for _ in range(threads)]
        self.start, self.done = threading.Barrier(threads + 1), threading.Barrier(threads + 1)
        self.body = b""
        self.answers: list[Any] = [None] * threads
        self.sent_at = [0.0] * threads
        self.stopping = False
        self.result = RaceResult(mode)

    def login(self) -> dict[str, str]:
        status, body, _ = request(self.base, "POST", self.login_path, body=self.credentials)
        assert status == 200, (status, body)
        return body

    def racer(self, index: int) -> None:
        connection = self.connections[index]
        headers = {"Content-Type": "application/json", "User-Agent": f"racer-{index}"}
        while True:
            self.start.wait()
            if self.stopping:
                return
            self.sent_at[index] = time.perf_counter()
            try:
                connection.request("POST", self.refresh_path, self.body, headers)
                answer = connection.getresponse()
                self.answers[index] = (answer.status, answer.read(), time.perf_counter() - self.sent_at[index])
            except (OSError, http.client.HTTPException) as e:
                self.answers[index] = (0, repr(e).encode(), 0.0)
                connection.close()
            self.done.wait()

    def warm(self) -> None:
        """Make sure every connection is open and alive right before a trial."""
        for connection in self.connections:
            for attempt in range(2):
                try:
                    connection.request("GET", "/api/me/")
                    connection.getresponse().read()
                    break
                except (OSError, http.client.HTTPException):
                    connection.close()
                    if attempt:
                        raise

    def trial(self, refresh: str) -> list[tuple[int, dict[str, Any]]]:
        self.body = json.dumps({"refresh": refresh}).encode()
        self.answers = [None] * self.threads
        self.warm()
        self.start.wait()
        self.done.wait()
        self.result.spread_us.append((max(self.sent_at) - min(self.sent_at)) * 1e6)
        answers = []
        for status, raw, latency in self.answers:
            self.result.worst_latency = max(self.result.worst_latency, latency)
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {"raw": raw[:200].decode(errors="replace")}
            answers.append((status, body if isinstance(body, dict) else {}))
        return answers

    def family_ended(self, winner: dict[str, Any]) -> bool:
        """The winner's new refresh and access tokens are both refused."""
        refused = request(self.base, "POST", self.refresh_path, body={"refresh": winner["refresh"]})
        access = request(self.base, "GET", "/api/me/", winner["access"])
        return refused[0] == 401 and access[0] == 401

    def run(self, trials: int) -> RaceResult:
        workers = [threading.Thread(target=self.racer, args=(i,), daemon=True) for i in range(self.threads)]
        [w.start() for w in workers]
        started = time.monotonic()
        refresh = self.login()["refresh"]
        try:
            for _ in range(trials):
                answers = self.trial(refresh)
                won = [body for status, body in answers if status == 200]
                self.result.trials += 1
                self.result.winners[len(won)] += 1
                for status, body in answers:
                    self.result.codes[f"{status} {body.get('code', '')}".strip()] += 1
                    self.result.server_errors += status >= 500 or status == 0
                if self.mode == "protected":
                    self.result.families_ended += bool(won) and self.family_ended(won[0])
                    refresh = self.login()["refresh"]
                else:  # a winner's new token, never used yet, starts the next trial
                    refresh = won[0]["refresh"] if won else self.login()["refresh"]
        finally:
            self.stopping = True
            self.start.wait()
            [w.join(5) for w in workers]
            [c.close() for c in self.connections]
        self.result.seconds = time.monotonic() - started
        return self.result
