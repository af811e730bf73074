"""The sample API as a real server process on loopback (``Server``) and a
small HTTP client for it (``request``): used by `make demo` and by the tests
that drive the sample over real HTTP."""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "sample_api" / "manage.py")]
PASSWORDS = {"alice": "alice-demo-password", "bob": "bob-demo-password"}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """The sample API under `manage.py runserver --noreload` on 127.0.0.1."""

    def __init__(self, pause: float, extra_env: dict[str, str] | None = None, setup_script: str = "") -> None:
        self.setup_script = setup_script
        self.port = free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="toctou-demo-")
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "sample_api.demo_settings",
                    "DEMO_PAUSE": str(pause), "SAMPLE_API_DB": str(Path(self.dir.name) / "demo.sqlite3"),
                    "SAMPLE_API_MOTO_PORT": str(free_port()), "PYTHONPATH": str(ROOT), **(extra_env or {})}
        self.process: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        commands = [["migrate", "-v", "0"], ["demo_users"]]
        if self.setup_script:
            commands.append(["shell", "-c", self.setup_script])
        # Set-up commands meet cold stores (DynamoDB Local's JVM warming up): a request's timeout is not theirs.
        setup_env = {"TOCTOU_STORE_TIMEOUT": "5", **self.env}
        for command in commands:
            subprocess.run(MANAGE + command, env=setup_env, check=True, stdout=subprocess.DEVNULL)
        self.log = open(Path(self.dir.name) / "server.log", "w")
        self.process = subprocess.Popen(MANAGE + ["runserver", f"127.0.0.1:{self.port}", "--noreload"],
                                        env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        atexit.register(self.stop)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the sample API exited: see {self.log.name}")
            try:
                if request(self.url, "GET", "/api/schema/")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the sample API did not start in time")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.dir.cleanup()


def request(base: str, method: str, path: str, token: str | None = None, body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            status, raw, got = answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), dict(error.headers)
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode(errors="replace")
    return status, payload, got
