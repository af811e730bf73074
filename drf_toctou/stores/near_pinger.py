"""The near cache's thread (``near_cache``): it opens the tracking connection
(and reopens it, every ``RECONNECT_EVERY`` while it can't), keeps an idle
process proven fresh, reads a backlog, and with Sentinel moves the tracking
connection to a new master.

**Who sends the PINGs.** The checks, while they come often enough: a check
that finds the last PING ``Tracking.interval`` old (0.5 to 0.9 ×
max_staleness, by how fast PONGs are read) sends the next one and a later
check reads its PONG, so a busy process proves itself fresh on its own
request path. Then the thread rests (``REST``), because each of its system
calls hands the GIL back and forth with the requests: with a thread PINGing
every 1.7 ms the near cache added 196 µs to a request of plain simplejwt's
423 µs, with the checks PINGing 87 µs, the strict round trip 221 µs
(``python -m bench.near_thread 40``). When the checks are sparse or absent,
the thread PINGs every ``0.6 × max_staleness``, so the first check after a
pause is still answered from the cache — but never ahead of checks that read
the socket: then only when their PING is overdue (``near_cache.COVER_AFTER``), so
checks that stop never leave the last proof to expire. A check that finds the
cache not proven fresh while the thread rests wakes it (``nudge``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING

from drf_toctou.stores.near_tracking import PING, ROLE, Tracking

if TYPE_CHECKING:
    from drf_toctou.stores.near_cache import NearCache

logger = logging.getLogger("drf_toctou")

RECONNECT_EVERY = 0.1  # seconds between a lost tracking connection and the next attempt to open one
MASTER_POLL = 0.5  # seconds between two questions to the Sentinels: where is the master now?
REST = 0.25  # seconds the thread sleeps while checks send the PINGs (a check that finds it needed wakes it)
BUSY_GAP = 1 / 8  # checks keep the connection fresh when they come this often (in max_staleness) on average


class Pinger:
    """The thread of one near cache in one process, and what it knows."""

    def __init__(self, cache: NearCache) -> None:
        self.wake = threading.Event()
        self.resting = self.wanted = self.backlog = False
        self.counted = (time.monotonic(), 0)  # (when, checks) at the last turn that counted them
        self.master_polled = time.monotonic()
        self.thread = threading.Thread(target=_run, args=(weakref.ref(cache), os.getpid()),
                                       name="drf-toctou-near-cache", daemon=True)

    def nudge(self) -> None:
        """Wake the thread if it rests (one futex wake, only on a strict path)."""
        if self.resting:
            self.resting, self.wanted = False, True
            self.wake.set()

    def stop(self) -> None:
        self.wake.set()
        if self.thread is not threading.current_thread() and self.thread.is_alive():
            self.thread.join(2)

    def turn(self, cache: NearCache) -> float:
        """One turn: return how long to sleep (the module's docstring says when it rests)."""
        tracking = cache.tracking
        if tracking is None:
            pause = cache.dropped_at + RECONNECT_EVERY - time.monotonic()
            if pause > 0:
                return pause
            self.connect(cache)
            return 0
        now, checks = time.monotonic(), cache.checks
        if cache.master is not None and now - self.master_polled >= MASTER_POLL:
            self.master_polled = now
            self.follow_master(cache, tracking)
            return 0
        since, counted = self.counted
        if self.wanted or now - since >= tracking.idle_interval:  # the pace over at least idle_interval
            self.counted = (now, checks)
            if not self.wanted and checks > counted and \
                    now - since <= (checks - counted) * BUSY_GAP * cache.max_staleness:
                self.resting = True
                return REST
        self.wanted = self.resting = False
        quiet = tracking.last_sent + tracking.idle_interval - now
        if quiet > 0 and not self.backlog:
            return quiet
        read = cache.read(tracking, self.backlog)
        if read is None:  # a backlog: read on at once
            self.backlog = self.wanted = True
            return 0
        self.backlog = False
        return read

    def follow_master(self, cache: NearCache, tracking: Tracking) -> None:
        """Sentinel: move the tracking connection when the Sentinels name
        another master (a failover: the old master may answer as a master for
        seconds before it is demoted). Sentinels that can't be reached leave it
        where it is: ROLE still proves it is on a master."""
        assert cache.master is not None
        try:
            master = cache.master()  # redis-py's pool then moves its idle connections along
        except Exception as e:  # noqa: BLE001
            cache.warn("sentinels", "near cache: no Sentinel answered (the tracking connection stays): %s", e)
            return
        if master != tracking.address:
            cache.drop(tracking, f"the master moved to {master[0]}:{master[1]}", reconnect_at_once=True)

    def connect(self, cache: NearCache) -> None:
        try:
            tracking = Tracking.open(cache.open_connection(), cache.prefix, cache.max_staleness, cache.timeout,
                                     probe=ROLE if cache.master is not None else PING)
        except Exception as e:  # noqa: BLE001  (any failure: strict, and try again later)
            cache.warn("connect", "near cache: tracking connection failed (checks stay strict): %s", e)
            self.wake.wait(RECONNECT_EVERY)
            return
        cache.adopt(tracking)


def _run(own: weakref.ref[NearCache], pid: int) -> None:
    """The thread. Holds the cache only while it works (not while it waits): a
    cache nobody uses any more is collected, and its thread ends."""
    while (cache := own()) is not None and not cache.closed and cache.pid == pid:
        pinger = cache.pinger
        try:
            wait = pinger.turn(cache)
        except Exception:  # never let the thread die: strict checks until a new connection
            logger.exception("near cache: its thread failed; reopening the tracking connection")
            cache.drop(cache.tracking, "the thread failed")
            wait = RECONNECT_EVERY
        del cache
        if wait:
            pinger.wake.wait(wait)
            pinger.wake.clear()
