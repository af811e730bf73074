"""The concurrent hammer: N writer threads update their own objects through
the real HTTP stack while a revoker thread revokes their tokens (jti or user
version) at random moments.

Every write answers the object's new version; right after a revocation is
acknowledged, the revoker reads the object's version (``V_ack``). Versions
order the commits of an object, so a write with a killed token that answered
a version above ``V_ack`` committed after the revocation was acknowledged: a
violation of the fence invariant.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sample_api.server import request


def jti_of(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"]


@dataclass
class Writer:
    username: str
    password: str
    path: str = ""
    key: str = ""
    token: str = ""
    used: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Revocation:
    writer: int
    kind: str
    killed: set[str]
    version_at_ack: int
    acked_at: float


@dataclass
class Result:
    writes: int = 0
    refused: int = 0
    server_errors: int = 0
    unavailable: int = 0
    other: int = 0
    error_samples: list = field(default_factory=list)
    revocations: int = 0
    violations: int = 0
    seconds: float = 0.0
    worst_latency: float = 0.0


class Hammer:
    def __init__(self, base: str, resource: str, mode: str, users: list[tuple[str, str]], total: int,
                 seed: int = 7, revoke_every: tuple[float, float] = (0.005, 0.03)) -> None:
        self.base, self.resource, self.mode, self.total = base, resource, mode, total
        self.writers = [Writer(name, password) for name, password in users]
        self.random = random.Random(seed)
        self.revoke_every = revoke_every
        self.log: list[tuple[str, int]] = []  # (jti, version) of every accepted write
        self.revocations: list[Revocation] = []
        self.result = Result()
        self.count = threading.Lock()
        self.stop = threading.Event()

    def call(self, method: str, path: str, token: str | None = None, body: Any = None):
        return request(self.base, method, path, token, body)

    def login(self, writer: Writer) -> str:
        status, body, _ = self.call("POST", "/api/auth/token/", body={"username": writer.username,
                                                                      "password": writer.password})
        assert status == 200, (status, body)
        return body["access"]

    def prepare(self) -> None:
        for writer in self.writers:
            writer.token = self.login(writer)
            writer.used.append(jti_of(writer.token))
            status, made, _ = self.call("POST", f"/api/{self.resource}/", writer.token, {"title": "start"})
            assert status == 201, (status, made)
            reference = writer.key = str(made["id"])
            if self.resource == "documents":  # the API shows per-user references; inspect and the naive twin take keys
                me = self.call("GET", "/api/me/", writer.token)[1]["id"]
                writer.key = str(self.call("GET", f"/demo/inspect/documents/{reference}/?as={me}")[1]["key"])
            if self.mode == "protected":
                writer.path = f"/api/{self.resource}/{reference}/"
            else:
                writer.path = f"/api/naive/{self.resource}/{writer.key}/"

    def write_loop(self, index: int) -> None:
        writer = self.writers[index]
        sequence = 0
        while not self.stop.is_set():
            with self.count:
                if self.result.writes + self.result.refused + self.result.unavailable >= self.total:
                    self.stop.set()
                    return
            with writer.lock:
                token = writer.token
            sequence += 1
            started = time.monotonic()
            status, body, _ = self.call("PATCH", writer.path, token, {"title": f"w{index}-{sequence}"})
            elapsed = time.monotonic() - started
            with self.count:
                self.result.worst_latency = max(self.result.worst_latency, elapsed)
                if status == 200:
                    self.result.writes += 1
                    self.log.append((jti_of(token), int(body["version"])))
                elif status == 401:
                    self.result.refused += 1
                elif status == 503 and isinstance(body, dict) and body.get("code") == "token_state_unavailable":
                    self.result.unavailable += 1  # the store was slower than STORE_TIMEOUT: fail-closed
                elif status >= 500:
                    self.result.server_errors += 1
                    self.result.error_samples = (self.result.error_samples + [(status, body)])[:5]
                else:
                    self.result.other += 1
            if status == 401:
                fresh = self.login(writer)
                with writer.lock:
                    writer.token = fresh
                    writer.used.append(jti_of(fresh))

    def revoke_loop(self) -> None:
        while not self.stop.wait(self.random.uniform(*self.revoke_every)):
            index = self.random.randrange(len(self.writers))
            writer = self.writers[index]
            with writer.lock:
                token, killed = writer.token, set(writer.used)
            if self.random.random() < 0.5:
                kind, status = "jti", self.call("POST", "/api/auth/logout/", token)[0]
                killed = {jti_of(token)}
            else:
                kind, status = "version", self.call("POST", "/api/auth/logout-all/", self.login(writer))[0]
            if status != 204:
                continue  # e.g. that token was already dead: nothing acknowledged
            acked = time.monotonic()
            stored = self.call("GET", f"/demo/inspect/{self.resource}/{writer.key}/")[1]
            self.revocations.append(Revocation(index, kind, killed, int(stored["version"]), acked))

    def run(self, writers_timeout: float = 1800) -> Result:
        self.prepare()
        started = time.monotonic()
        threads = [threading.Thread(target=self.write_loop, args=(i,)) for i in range(len(self.writers))]
        revoker = threading.Thread(target=self.revoke_loop)
        [t.start() for t in threads]
        revoker.start()
        deadline = time.monotonic() + writers_timeout
        for thread in threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        self.stop.set()
        revoker.join(60)
        self.result.seconds = time.monotonic() - started
        self.result.revocations = len(self.revocations)
        self.result.violations = self.count_violations()
        return self.result

    def count_violations(self) -> int:
        violations = 0
        for revocation in self.revocations:
            violations += sum(1 for jti, version in self.log
                              if jti in revocation.killed and version > revocation.version_at_ack)
        return violations
