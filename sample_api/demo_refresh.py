"""S7 of `make demo`: one refresh token refreshed eight times at once, then
replayed after its rotation — against simplejwt's own refresh (with
BLACKLIST_AFTER_ROTATION) and against drf-toctou's."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from sample_api.server import PASSWORDS, request

S7_PATHS = {"naive": ("/api/naive/auth/token/", "/api/naive/auth/token/refresh/"),
            "protected": ("/api/auth/token/", "/api/auth/token/refresh/")}
S7_RACERS = 8


@dataclass
class RefreshRun:
    mode: str
    winners: int = 0  # 200s among the concurrent refreshes of one token
    refused: dict[str, int] = field(default_factory=dict)  # their refusals, by code
    alive: int = 0  # refresh tokens the race handed out that still refresh: live sessions
    replay: str = ""  # the answer to a rotated-out refresh token, replayed
    rotated_alive: bool = False  # after that replay, its successor still refreshes


def concurrent_posts(base: str, path: str, body: dict[str, Any], racers: int) -> list[tuple[int, Any]]:
    """``racers`` POSTs of ``body`` sent at once: keep-alive connections opened
    first, then released together by a barrier."""
    import http.client

    host, port = base.removeprefix("http://").split(":")
    connections = [http.client.HTTPConnection(host, int(port), timeout=30) for _ in range(racers)]
    for connection in connections:  # opened (and proven alive) before the race
        connection.request("GET", "/api/me/")
        connection.getresponse().read()
    barrier, answers = threading.Barrier(racers), [(0, None)] * racers
    payload = json.dumps(body).encode()

    def send(index: int) -> None:
        barrier.wait()
        connections[index].request("POST", path, payload, {"Content-Type": "application/json"})
        answer = connections[index].getresponse()
        answers[index] = (answer.status, json.loads(answer.read() or b"null"))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(racers)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    [c.close() for c in connections]
    return answers


def play_s7(base: str, mode: str) -> RefreshRun:
    login_path, refresh_path = S7_PATHS[mode]
    credentials = {"username": "alice", "password": PASSWORDS["alice"]}

    def login() -> dict[str, Any]:
        status, body, _ = request(base, "POST", login_path, body=credentials)
        assert status == 200, (status, body)
        return body

    def refreshes(token: str) -> tuple[int, Any]:
        status, body, _ = request(base, "POST", refresh_path, body={"refresh": token})
        return status, body

    run = RefreshRun(mode)
    answers = concurrent_posts(base, refresh_path, {"refresh": login()["refresh"]}, S7_RACERS)
    won = [body for status, body in answers if status == 200]
    run.winners = len(won)
    for status, body in answers:
        if status != 200:
            code = f"{status} {body.get('code', '') if isinstance(body, dict) else ''}".strip()
            run.refused[code] = run.refused.get(code, 0) + 1
    run.alive = sum(refreshes(body["refresh"])[0] == 200 for body in won)
    first = login()["refresh"]
    status, rotated = refreshes(first)
    assert status == 200, (status, rotated)
    status, body = refreshes(first)  # the rotated-out token, replayed (a copy an attacker kept)
    run.replay = f"{status} {body.get('code', '') if isinstance(body, dict) else ''}".strip()
    run.rotated_alive = refreshes(rotated["refresh"])[0] == 200
    return run


def play_s7_conclusively(base: str, mode: str, tries: int = 3) -> RefreshRun:
    """Replay the naive run (up to ``tries``) when its refreshes did not overlap
    enough for a second winner, which says nothing about either endpoint."""
    for _ in range(tries):
        run = play_s7(base, mode)
        if mode == "protected" or run.winners > 1:
            return run
        print("  S7 naive: the refreshes did not overlap; replaying")
    return run


def s7_outcomes(run: RefreshRun) -> tuple[str, str]:
    refused = ", ".join(f"{n} × {code}" for code, n in sorted(run.refused.items()))
    race = f"{run.winners} × 200{', ' + refused if refused else ''}: "
    race += f"{run.alive} live session{'s' * (run.alive != 1)} from one token" if run.alive else \
        "the losers were reuses, so the family ended (0 live sessions)"
    replay = f"{run.replay}; its successor {'still refreshes: the session lives on' if run.rotated_alive else 'refused: the family ended'}"
    return race, replay


def print_s7(naive: RefreshRun, protected: RefreshRun) -> None:
    header = ["scenario", "the same refresh token", "naive (simplejwt + blacklist)", "protected"]
    (naive_race, naive_replay), (guarded_race, guarded_replay) = s7_outcomes(naive), s7_outcomes(protected)
    rows = [["S7", f"refreshed {S7_RACERS} times at once", naive_race, guarded_race],
            ["S7", "replayed after its rotation", naive_replay, guarded_replay]]
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    line = "+".join("-" * (w + 2) for w in widths)
    print("\n" + line)
    for row in [header, None, *rows]:
        print(line if row is None else "|".join(f" {c:<{w}} " for c, w in zip(row, widths, strict=True)))
    print(line)


def s7_failures(naive: RefreshRun, protected: RefreshRun) -> list[str]:
    """What S7 failed to show, if anything."""
    found = []
    if protected.winners != 1 or protected.alive != 0:
        found.append(f"protected: {protected.winners} winner(s), {protected.alive} live session(s) after the race")
    if protected.replay != "401 token_reused" or protected.rotated_alive:
        found.append(f"protected replay: {protected.replay}, successor alive: {protected.rotated_alive}")
    if naive.winners < 2 or not naive.rotated_alive:
        found.append(f"naive: {naive.winners} winner(s); successor alive after the replay: {naive.rotated_alive}")
    return found
