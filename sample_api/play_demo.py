"""`make demo`: start the sample API as a real server process on loopback and
play S1–S7 over real HTTP against the naive and the protected endpoints; then
S8: a write around the API with a revoked token, reported by the Streams
watcher (`manage.py toctou_watch`) running next to the server.

Each run: the victim request (a PATCH by alice) pauses at a demo-only pause
point — after authentication (S1, S2) or after the object-level check (S3–S6) —
while a second request lands inside that window. S7 replays one refresh token
— eight times at once, then after its rotation — against simplejwt's own refresh
and drf-toctou's. Exit status 0 only if every protected endpoint refused the
stale write (S7: one winner, then the family ended) and every naive one let it
through.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sample_api.demo_refresh import play_s7, play_s7_conclusively, print_s7, s7_failures
from sample_api.server import MANAGE, PASSWORDS, ROOT, Server, free_port, request  # noqa: F401  (re-exported)

VICTIM_TITLE = "victim-write"


@dataclass
class Run:
    scenario: str
    resource: str
    mode: str
    status: int = 0
    code: str = ""
    landed: bool = False
    state: str = ""
    timeline: dict[str, float] = field(default_factory=dict)


class Demo:
    def __init__(self, base: str, pause: float) -> None:
        self.base, self.pause = base, pause
        self.ids = {name: self.call("GET", "/api/me/", self.login(name))[1]["id"] for name in PASSWORDS}

    def call(self, method: str, path: str, token: str | None = None, body: Any = None, **headers: str):
        return request(self.base, method, path, token, body, headers)

    def login(self, username: str) -> str:
        status, body, _ = self.call("POST", "/api/auth/token/", body={"username": username,
                                                                      "password": PASSWORDS[username]})
        assert status == 200, (status, body)
        return body["access"]

    # --- what lands inside the window ------------------------------------------

    def interferers(self) -> dict[str, tuple[str, str, Callable[[dict[str, Any]], int]]]:
        return {
            "S1": ("after_auth", "alice logs out (jti revoked) after authentication",
                   lambda c: self.call("POST", "/api/auth/logout/", c["victim"])[0]),
            "S2": ("after_auth", "alice logs out everywhere (version bumped) after authentication",
                   lambda c: self.call("POST", "/api/auth/logout-all/", c["helper"])[0]),
            "S3": ("before_write", "alice transfers the object to bob after the object check",
                   lambda c: self.call("POST", f"{c['path']}transfer/", c["helper"], {"to": self.ids["bob"]})[0]),
            "S4": ("before_write", "the object is deleted after the object check",
                   lambda c: self.call("DELETE", c["path"], c["helper"])[0]),
            "S5": ("before_write", "another client updates the object this client read",
                   lambda c: self.call("PATCH", c["path"], c["helper"], {"title": "other-client"})[0]),
            "S6": ("before_write", "the token is revoked after the object check, before the write",
                   lambda c: self.call("POST", "/api/auth/logout/", c["victim"])[0]),
        }

    def play(self, scenario: str, resource: str, mode: str) -> Run:
        point, _, interfere = self.interferers()[scenario]
        run = Run(scenario, resource, mode)
        victim, helper = self.login("alice"), self.login("alice")
        status, made, _ = self.call("POST", f"/api/{resource}/", helper, {"title": "original"})
        assert status == 201, (status, made)
        key = made["id"]
        raw = self.raw_key(resource, key, "alice")
        context = {"victim": victim, "helper": helper, "path": f"/api/{resource}/{key}/"}
        etag = self.call("GET", context["path"], victim)[2].get("ETag", "*")
        target = context["path"] if mode == "protected" else f"/api/naive/{resource}/{raw}/"
        answer: dict[str, Any] = {}
        started = time.monotonic()

        def victim_write() -> None:
            answer["reply"] = self.call("PATCH", target, victim, {"title": VICTIM_TITLE},
                                        **{"X-Demo-Pause": point, "If-Match": etag})
            answer["at"] = time.monotonic() - started

        thread = threading.Thread(target=victim_write)
        thread.start()
        time.sleep(self.pause / 3)
        interfered = interfere(context)
        run.timeline["interfered"] = time.monotonic() - started
        thread.join()
        run.timeline["answered"] = answer["at"]
        run.status, body, _ = answer["reply"]
        run.code = body.get("code", "") if isinstance(body, dict) else ""
        stored = self.call("GET", f"/demo/inspect/{resource}/{raw}/")[1]
        run.landed = 200 <= run.status < 300 and stored.get("title") == VICTIM_TITLE
        run.state = self.describe(stored, interfered)
        return run

    def raw_key(self, resource: str, reference: str, user: str) -> str:
        """The stored key behind what the protected API answered: documents
        carry per-user references, which the naive twins don't understand."""
        if resource != "documents":
            return str(reference)
        return str(self.call("GET", f"/demo/inspect/documents/{reference}/?as={self.ids[user]}")[1]["key"])

    def describe(self, stored: dict[str, Any], interfered: int) -> str:
        if not stored["exists"]:
            return "object absent"
        owner = next((name for name, uid in self.ids.items() if str(uid) == str(stored["owner_id"])), "nobody")
        return f"title={stored['title']!r}, owner={owner}"


def outcome(run: Run) -> str:
    answer = f"{run.status} {run.code}".strip()
    return f"{answer}: {'WROTE — ' if run.landed else 'nothing written — '}{run.state}"


def print_table(runs: list[Run], demo: Demo, pause: float) -> None:
    interferers = demo.interferers()
    print(f"\nPause at the demo-only pause point: {pause * 1000:.0f} ms; the second request lands at ~{pause / 3 * 1000:.0f} ms.\n")
    header = ["scenario", "resource", "inside the window", "naive endpoint", "protected endpoint"]
    rows = []
    for scenario in interferers:
        for resource in ("notes", "documents"):
            naive = next(r for r in runs if (r.scenario, r.resource, r.mode) == (scenario, resource, "naive"))
            guarded = next(r for r in runs if (r.scenario, r.resource, r.mode) == (scenario, resource, "protected"))
            rows.append([scenario, resource, interferers[scenario][1], outcome(naive), outcome(guarded)])
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    line = "+".join("-" * (w + 2) for w in widths)
    print(line)
    print("|".join(f" {h:<{w}} " for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("|".join(f" {c:<{w}} " for c, w in zip(row, widths, strict=True)))
    print(line)


def play_conclusively(demo: Demo, scenario: str, resource: str, mode: str, tries: int = 3) -> Run:
    """Play one run; replay it (up to ``tries``) if the second request did not
    finish inside the window, which says nothing about either endpoint."""
    for _ in range(tries):
        run = demo.play(scenario, resource, mode)
        if run.timeline["interfered"] < run.timeline["answered"]:
            return run
        print(f"  {scenario} {resource} {mode}: the second request missed the window; replaying")
    return run


def play_all(demo: Demo) -> list[Run]:
    runs = []
    for scenario in demo.interferers():
        for resource in ("notes", "documents"):
            for mode in ("naive", "protected"):
                run = play_conclusively(demo, scenario, resource, mode)
                runs.append(run)
                print(f"  {scenario} {resource:<9} {mode:<9} t+0 victim PATCH sent, "
                      f"t+{run.timeline['interfered'] * 1000:4.0f} ms second request done, "
                      f"t+{run.timeline['answered'] * 1000:4.0f} ms victim answered {run.status}")
    return runs


def failures(runs: list[Run]) -> tuple[list[Run], list[Run]]:
    """(protected runs whose stale write landed, naive runs whose did not)."""
    lost = [r for r in runs if r.mode == "protected" and r.landed]
    unexpected = [r for r in runs if r.mode == "naive" and not r.landed]
    return lost, unexpected


# --- S7: the same refresh token replayed concurrently and after rotation ------------------
# Played on the token endpoints, not on a resource: simplejwt's own refresh
# (ROTATE_REFRESH_TOKENS + BLACKLIST_AFTER_ROTATION, /api/naive/auth/...) against
# drf-toctou's (/api/auth/...).

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pause", type=float, default=float(os.environ.get("DEMO_PAUSE", "1.0")))
    args = parser.parse_args(argv)
    print(f"Starting the sample API on loopback (pause {args.pause}s)...")
    server = Server(args.pause).start()
    try:
        print(f"Sample API at {server.url}")
        demo = Demo(server.url, args.pause)
        runs = play_all(demo)
        print_table(runs, demo, args.pause)
        s7 = play_s7_conclusively(server.url, "naive"), play_s7(server.url, "protected")
        print_s7(*s7)
        from sample_api.demo_streams import play_s8, print_s8

        s8 = play_s8(server, demo)
        print_s8(s8)
    finally:
        server.stop()
    lost, unexpected = failures(runs)
    naive_total = sum(r.mode == "naive" for r in runs)
    problems = s7_failures(*s7)
    if lost or unexpected or problems or not s8.detected:
        print(f"\nVERDICT: FAIL — protected endpoints lost {len(lost)} race(s); "
              f"{len(unexpected)} naive run(s) did not show the race; S7: {'; '.join(problems) or 'ok'}; "
              f"S8 {'' if s8.detected else 'not '}detected.")
        return 1
    print(f"\nVERDICT: the naive endpoints lost {naive_total}/{naive_total} races; "
          f"drf-toctou refused all {len(runs) - naive_total} stale writes. S7: simplejwt's refresh gave "
          f"{s7[0].winners} sessions for one token; drf-toctou one winner, and its family ended on reuse. "
          f"S8: the watcher reported the write around the API {s8.latency * 1000:.0f} ms after it landed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
