"""Checks and revocations running from several threads against one store,
judged as they go: the harness of the slot-migration and failover proofs.

``Ledger`` records what the store acknowledged (a revocation or a version
bump counts once ``revoke``/``bump_version`` returned), with when. ``Load``
runs checker threads and one writer thread; every check picks a token whose
expected answer is known *before* the check begins — a revocation already
acknowledged, or a token never revoked — and is judged:

- ``wrongly_passed``: said "not revoked" of a revocation acknowledged before
  the check began, or a version older than one acknowledged before it began
  (the token would pass: the failure that matters);
- ``wrongly_refused``: said "revoked" of a token nobody revoked;
- ``unavailable``: a ``StoreError`` (a 503: fail closed, allowed);
- ``errors``: any other exception (a 500: never allowed).

Every check is also an ``Event`` (end time, user, outcome), from which a test
computes unavailability windows.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from drf_toctou.exceptions import StoreError

KEEP = 3600  # seconds a test revocation is kept


def new_jti() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Event:
    began: float  # time.monotonic() when the check began
    at: float  # ... and when it ended
    user: str
    outcome: str  # "ok", "unavailable", "wrongly_passed", "wrongly_refused", "error"
    detail: str = ""  # the StoreError's message, for a 503


class Ledger:
    """What the store acknowledged, and what it refused (not claimed)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.revocations: list[tuple[str, str, float]] = []  # (user, jti, acknowledged at)
        self.versions: dict[str, int] = {}  # user -> highest version acknowledged
        self.bumps = 0
        self.reissued = 0  # acknowledged bumps that returned a number already acknowledged: one was lost
        self.refused = 0  # writes answered with StoreError: the caller knows they may not hold
        self.writes: list[tuple[float, float, bool]] = []  # (sent, answered, acknowledged) of every write

    def revoke(self, store: Any, user: str, jti: str | None = None) -> bool:
        jti, sent = jti or new_jti(), time.monotonic()
        try:
            store.revoke(user, jti, int(time.time()) + KEEP)
        except StoreError:
            return self._refused(sent)
        with self.lock:
            self.revocations.append((user, jti, time.monotonic()))
            self.writes.append((sent, time.monotonic(), True))
        return True

    def bump(self, store: Any, user: str) -> bool:
        sent = time.monotonic()
        try:
            version = store.bump_version(user)
        except StoreError:
            return self._refused(sent)
        with self.lock:
            self.reissued += version <= self.versions.get(user, 0)
            self.versions[user] = max(self.versions.get(user, 0), version)
            self.bumps += 1
            self.writes.append((sent, time.monotonic(), True))
        return True

    def _refused(self, sent: float) -> bool:
        with self.lock:
            self.refused += 1
            self.writes.append((sent, time.monotonic(), False))
        return False

    def acknowledged_between(self, start: float, end: float) -> int:
        """Writes sent at or after ``start`` and acknowledged before ``end``."""
        return sum(acknowledged and sent >= start and answered < end for sent, answered, acknowledged in self.writes)

    def lost(self, store: Any, attempts: int = 20) -> tuple[int, int]:
        """(acknowledged revocations no longer in force, acknowledged versions
        gone back), read from ``store`` now — retried while it is unavailable."""
        def read(fn: Callable[[], Any]) -> Any:
            for attempt in range(attempts):
                try:
                    return fn()
                except StoreError:
                    if attempt == attempts - 1:
                        raise
                    time.sleep(0.1)
            return None

        revocations = sum(not read(lambda u=user, j=jti: store.check(u, j)).revoked
                          for user, jti, _ in self.revocations)
        versions = sum(read(lambda u=user: store.current_version(u)) < version for user, version in self.versions.items())
        return revocations, versions


@dataclass
class Tally:
    checks: int = 0
    ok: int = 0
    unavailable: int = 0
    wrongly_passed: int = 0
    wrongly_refused: int = 0
    errors: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def add(self, event: Event) -> None:
        self.checks += 1
        self.events.append(event)
        if event.outcome == "ok":
            self.ok += 1
        elif event.outcome == "unavailable":
            self.unavailable += 1
        elif event.outcome == "wrongly_passed":
            self.wrongly_passed += 1
        elif event.outcome == "wrongly_refused":
            self.wrongly_refused += 1

    def summary(self) -> dict[str, int]:
        return {"checks": self.checks, "ok": self.ok, "503": self.unavailable, "wrongly passed": self.wrongly_passed,
                "wrongly refused": self.wrongly_refused, "500": len(self.errors)}


def judged_check(store: Any, ledger: Ledger, tally: Tally, user: str, jti: str, revoked: bool) -> None:
    """One check of (``user``, ``jti``), whose revocation — if ``revoked`` —
    was acknowledged before this call; judged against the ledger as it was
    when the check began."""
    expected_version, detail, began = ledger.versions.get(user, 0), "", time.monotonic()
    try:
        state = store.check(user, jti)
    except StoreError as e:
        outcome, detail = "unavailable", str(e)[:200]
    except Exception as e:  # noqa: BLE001 - a 500 in a view: counted, never hidden
        tally.errors.append(repr(e))
        outcome = "error"
    else:
        if (revoked and not state.revoked) or state.version < expected_version:
            outcome = "wrongly_passed"
        elif state.revoked and not revoked:
            outcome = "wrongly_refused"
        else:
            outcome = "ok"
    tally.add(Event(began, time.monotonic(), user, outcome, detail))


class Load:
    """``checkers`` threads checking tokens of ``users``, and (unless
    ``writes`` is False) one writer revoking a new token or bumping a
    version of one of ``writers_users`` every ``write_every`` seconds."""

    def __init__(self, store: Any, users: Sequence[str], ledger: Ledger | None = None, *, checkers: int = 3,
                 writes: bool = True, writers_users: Sequence[str] | None = None, write_every: float = 0.005,
                 bump_share: float = 0.2, seed: int = 15) -> None:
        self.store, self.users = store, list(users)
        self.ledger = ledger or Ledger()
        self.tally = Tally()
        self.checkers, self.writes, self.write_every = checkers, writes, write_every
        self.writers_users = list(writers_users or users)
        self.bump_share = bump_share
        self.good = {user: new_jti() for user in self.users}  # a token per user nobody revokes
        self.seed = seed
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Load:
        for i in range(self.checkers):
            self._threads.append(threading.Thread(target=self._check_loop, args=(random.Random(self.seed + i),)))
        if self.writes:
            self._threads.append(threading.Thread(target=self._write_loop, args=(random.Random(self.seed - 1),)))
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _check_loop(self, rng: random.Random) -> None:
        while not self._stop.is_set():
            with self.ledger.lock:
                revoked = self.ledger.revocations[rng.randrange(len(self.ledger.revocations))] \
                    if self.ledger.revocations and rng.random() < 0.5 else None
            if revoked is not None:
                user, jti, _ = revoked
                judged_check(self.store, self.ledger, self.tally, user, jti, revoked=True)
            else:
                user = rng.choice(self.users)
                judged_check(self.store, self.ledger, self.tally, user, self.good[user], revoked=False)

    def _write_loop(self, rng: random.Random) -> None:
        while not self._stop.is_set():
            user = rng.choice(self.writers_users)
            if rng.random() < self.bump_share:
                self.ledger.bump(self.store, user)
            else:
                self.ledger.revoke(self.store, user)
            self._stop.wait(self.write_every)


def window(events: Sequence[Event], since: float, users: set[str] | None = None) -> tuple[float, int] | None:
    """(seconds from the first 503 after ``since`` to the end of the first
    check begun after it that the store answered — rightly or not: a lost
    revocation is an answer —, 503s in between) for checks of ``users``
    (default: all); None when nothing was unavailable."""
    relevant = sorted((e for e in events if e.at >= since and (users is None or e.user in users)), key=lambda e: e.at)
    first = next((e for e in relevant if e.outcome == "unavailable"), None)
    if first is None:
        return None
    recovered = next((e for e in relevant if e.began > first.at and e.outcome not in ("unavailable", "error")), None)
    if recovered is None:
        return float("inf"), sum(e.outcome == "unavailable" for e in relevant)
    between = sum(e.outcome == "unavailable" and first.at <= e.at <= recovered.at for e in relevant)
    return recovered.at - first.at, between
