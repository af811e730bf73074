"""The near cache of ``RedisStore`` (opt-in): check answers kept in the
process, dropped when Redis pushes an invalidation of their key, served only
while the tracking connection is proven fresh. README "Near cache (opt-in)":
options, figures, why not redis-py's client-side cache (no absent keys).

**The guarantee.** A revocation acknowledged at time t is refused by every
process from t + ``max_staleness`` on: an answer is served from the cache only
when a probe (PING; ROLE with Sentinel) sent on the tracking connection at
most ``max_staleness`` ago has been answered (``near_tracking`` says why that
proves every earlier invalidation applied), else the check is the strict
round trip; who sends the probes: ``near_pinger``. A write's recheck
(``WRITE``) never reads the cache.

**What is cached.** The value of each key a check reads (version, jti and
session marks, present or absent), in an LRU of ``max_entries`` keys.

**Populating without a race.** Before a strict check is sent, the cache notes
its epoch (bumped at every reset: connection lost, FLUSHALL, fork) and its
invalidation count; the answer is inserted only if the epoch is the same and
no invalidation of one of the check's keys arrived meanwhile. A revocation
after Redis read the keys either arrived before the insert (then the insert is
skipped) or arrives after it (then it drops the entry). With Sentinel, only an
answer from the server the tracking connection is on.

**Failures.** The connection lost or closed (a Redis restart, a kill, a
network cut), a probe unanswered for a second, an unexpected message, a
FLUSHALL, a fork, a master the Sentinels replaced: the cache is emptied and
checks are strict until a new connection is subscribed (by the thread, which
retries every 100 ms). A backlog of more than 256 KiB of invalidations is
read by the thread, not the request, and checks are strict meanwhile. Not
with ``cluster`` (refused in ``near_options``).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from redis.sentinel import SentinelConnectionPool

from drf_toctou.settings import toctou_settings
from drf_toctou.stores.near_pinger import Pinger
from drf_toctou.stores.near_tracking import Tracking

logger = logging.getLogger("drf_toctou")

WARN_EVERY = 60.0  # seconds between two warnings of the same kind
RECENT_LIMIT = 10_000  # invalidated keys remembered for the populate check
BACKLOG_READ = 1 << 22  # bytes of a backlog the thread reads in one turn (a check reads at most 256 KiB)
COVER_AFTER = 0.05  # the thread sends the checks' PING when it is this late (in max_staleness) ...
MIN_SLEEP = 0.0002  # ... and never sleeps less than this (seconds) while they read the socket
_MISSING = object()
Token = tuple[int, int]  # (epoch, invalidation count) noted before a strict check


def for_pool(pool: Any, prefix: str, options: dict[str, Any]) -> NearCache:
    """A near cache whose tracking connection is built like ``pool``'s (a
    Sentinel pool's asks the Sentinels for the master when it connects)."""
    sentinel = isinstance(pool, SentinelConnectionPool)
    return NearCache(lambda: pool.connection_class(**pool.connection_kwargs), prefix, options,
                     float(toctou_settings.STORE_TIMEOUT), master=pool.get_master_address if sentinel else None)


class NearCache:
    """Check answers by Redis key, and the tracking connection that keeps them
    true. ``open_connection`` builds an unconnected redis-py connection;
    ``master`` (Sentinel) says where the master is now."""

    def __init__(self, open_connection: Callable[[], Any], prefix: str, options: dict[str, Any],
                 timeout: float, master: Callable[[], Any] | None = None) -> None:
        self.open_connection = open_connection
        self.master = master
        self.prefix = f"{prefix}:".encode()
        self.max_entries = options["max_entries"]
        self.max_staleness = options["max_staleness"]
        self.purposes = options["purposes"]
        self.timeout = timeout
        self.hits = self.misses = self.strict = 0
        self.pings = {"checks": 0, "thread": 0}  # PINGs sent, by whom
        self.closed = False
        self._start()
        own = weakref.ref(self)

        def after_fork() -> None:
            cache = own()
            if cache is not None:
                cache._forked()

        os.register_at_fork(after_in_child=after_fork)

    def _start(self) -> None:
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[bytes, Any] = collections.OrderedDict()
        self._recent: dict[bytes, int] = {}  # key -> invalidation count when it was last invalidated
        self.epoch = self.invalidations = self._floor = 0
        self.dropped_at = -1e18  # when the tracking connection was last lost (monotonic)
        self.drained_at = -1e18  # when a check last read the tracking connection (monotonic)
        self._warned: dict[str, float] = {}
        self.tracking: Tracking | None = None
        self.pinger = Pinger(self)
        self.pinger.thread.start()

    @property
    def checks(self) -> int:
        return self.hits + self.misses + self.strict

    # --- the request path -----------------------------------------------------------

    def lookup(self, keys: Sequence[bytes]) -> list[Any] | None:
        """The cached values of ``keys`` if all are cached and the connection is
        proven fresh, else None (ask Redis)."""
        if self.pid != os.getpid():
            self._forked()
        with self._lock:
            if not self._proven():
                self.strict += 1
                return None
            entries, values = self._entries, []
            for key in keys:
                value = entries.get(key, _MISSING)
                if value is _MISSING:
                    self.misses += 1
                    return None
                values.append(value)
            for key in keys:
                entries.move_to_end(key)
            self.hits += 1
            return values

    def token(self) -> Token | None:
        """What to note before a strict check whose answer may be inserted."""
        with self._lock:
            if self.tracking is None or not self.tracking.alive or self.pid != os.getpid():
                return None
            return self.epoch, self.invalidations

    def insert(self, keys: Sequence[bytes], values: Sequence[Any], token: Token | None) -> None:
        """Keep a strict check's answer, unless an invalidation of one of its
        keys (or a reset) may have come in since ``token`` was noted."""
        if token is None:
            return
        epoch, seen = token
        with self._lock:
            if epoch != self.epoch or seen < self._floor or self.tracking is None:
                return
            if seen != self.invalidations and any(self._recent.get(key, -1) > seen for key in keys):
                return
            entries = self._entries
            for key, value in zip(keys, values, strict=True):
                entries[key] = value
                entries.move_to_end(key)
            while len(entries) > self.max_entries:
                entries.popitem(last=False)

    def remember(self, keys: Sequence[bytes], values: Sequence[Any], token: Token | None,
                 answered_by: Any = None) -> None:
        """``insert`` the raw ``MGET`` answer of a check (version first; the
        revocation marks kept as present or absent only). With Sentinel, only
        an answer from the server the tracking connection is on (after a
        failover, a connection still on the old master may answer for a while)."""
        if token is None:
            return
        if self.master is not None:
            tracking = self.tracking
            if tracking is None or answered_by != tracking.address:
                return
        self.insert(keys, [values[0], *(None if v is None else True for v in values[1:])], token)

    def forget(self, keys: Sequence[bytes]) -> None:
        """Drop ``keys`` at once: what this process wrote, it refuses from the
        write's acknowledgement on (Redis's push of it comes a moment later),
        and a strict answer read before the write is not inserted after it."""
        with self._lock:
            self._invalidated(list(keys))

    def _proven(self, ping: bool = True) -> bool:
        """Apply the invalidations that arrived, send a PING when one is due
        (``ping``), and say whether the tracking connection is proven fresh
        (under the lock)."""
        tracking = self.tracking
        if tracking is None:
            return False
        now = time.monotonic()
        if ping:  # a check (``stats`` reads too, but sends no PING: it must not hold the thread back)
            self.drained_at = now
        if tracking.drain(self._invalidated):
            if ping and tracking.keep_fresh(now):  # a PING when one is due; a later check reads its PONG
                self.pings["checks"] += 1
            if tracking.fresh(now):
                return True
        if not tracking.alive:
            self._drop_tracking("tracking connection lost")  # the thread opens the next one
        else:
            self.pinger.nudge()  # not proven fresh (a pause in the traffic, or a backlog): the thread's turn
        return False

    # --- invalidations and resets (under the lock) --------------------------------------

    def _invalidated(self, keys: list[bytes] | None) -> None:
        if keys is None:
            self._reset("flush")
            return
        self.invalidations += 1
        for key in keys:
            self._entries.pop(key, None)
            self._recent[key] = self.invalidations
        if len(self._recent) > RECENT_LIMIT:
            self._recent.clear()
            self._floor = self.invalidations + 1

    def _reset(self, why: str) -> None:
        self.epoch += 1
        self._entries.clear()
        self._recent.clear()
        logger.debug("near cache emptied: %s", why)

    def _drop_tracking(self, why: str) -> None:
        tracking, self.tracking = self.tracking, None
        self._reset(why)
        if tracking is not None:
            self.dropped_at = time.monotonic()
            tracking.close()
            self.pinger.nudge()
            if why != "closed":
                self.warn("lost", "near cache: %s (checks stay strict until a new one is subscribed)", why)

    def warn(self, kind: str, message: str, *args: Any) -> None:
        """Log at WARNING, once per ``kind`` per ``WARN_EVERY`` seconds."""
        now = time.monotonic()
        if now - self._warned.get(kind, -1e18) >= WARN_EVERY:
            self._warned[kind] = now
            logger.warning(message, *args)

    # --- what the thread does with the cache (near_pinger) ---------------------------------------

    def read(self, tracking: Tracking, backlog: bool = False) -> float | None:
        """Send a PING if one is due and, unless checks read the socket in the
        last ``idle_interval``, read what arrived (a ``backlog`` always): how
        long the thread may sleep, None while a backlog is read."""
        with self._lock:
            if tracking is not self.tracking:
                return 0
            # The PING first: each system call hands the GIL back, and behind busy request threads the
            # thread waits up to sys.getswitchinterval() to take it again — the PING must not wait. And
            # no read the checks do anyway: one system call less, one hand-over of the GIL less.
            # While checks read the socket they PING on their own schedule: the thread covers only for
            # a PING of theirs overdue by ``COVER_AFTER`` (sending first, it would take the GIL to do
            # it), and wakes up for that moment — if the checks stop, its PING goes out then, before
            # the last proof expires.
            now = time.monotonic()
            checking = now - self.drained_at < tracking.idle_interval
            due = tracking.interval + COVER_AFTER * self.max_staleness if checking else tracking.idle_interval
            if tracking.keep_fresh(now, due):
                self.pings["thread"] += 1
            if not backlog and checking:
                return max(tracking.last_sent + due - now, MIN_SLEEP)
            if not tracking.drain(self._invalidated, budget=BACKLOG_READ):
                if not tracking.alive:
                    self._drop_tracking("tracking connection lost")
                    return 0
                return None
            return tracking.idle_interval

    def adopt(self, tracking: Tracking) -> None:
        """Start using a freshly subscribed tracking connection (with an empty cache)."""
        with self._lock:
            if self.closed or self.pid != os.getpid():
                tracking.close()
                return
            self._reset("tracking connection opened")
            self.tracking = tracking

    def drop(self, tracking: Tracking | None, why: str, reconnect_at_once: bool = False) -> None:
        """Stop using ``tracking`` if it is still the one in use."""
        with self._lock:
            if tracking is self.tracking:
                self._drop_tracking(why)
                if reconnect_at_once:
                    self.dropped_at = -1e18

    # --- lifecycle -------------------------------------------------------------------------------

    def _forked(self) -> None:
        """In a forked child: the parent's socket, lock and thread are not ours."""
        if self.pid == os.getpid() or self.closed:
            return
        tracking = self.tracking
        if tracking is not None:
            tracking.close(forked=True)
        self._start()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            fresh = self._proven(ping=False)
            return {"entries": len(self._entries), "hits": self.hits, "misses": self.misses,
                    "strict": self.strict, "epoch": self.epoch, "fresh": fresh, "pings": dict(self.pings),
                    "thread": "resting" if self.pinger.resting else "pinging"}

    def close(self) -> None:
        self.closed = True
        with self._lock:
            self._drop_tracking("closed")
        self.pinger.stop()
