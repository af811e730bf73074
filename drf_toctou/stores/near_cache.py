"""The near cache of ``RedisStore`` (opt-in): check answers kept in the
process, dropped when Redis pushes an invalidation of their key, served only
while the tracking connection is proven fresh.

``STORE_OPTIONS = {"url": …, "near_cache": {"max_entries": 100_000,
"max_staleness": 0.005, "purposes": ["authentication", "read"]}}``.

**The guarantee.** A revocation acknowledged at time t is refused by every
process from t + ``max_staleness`` on: an answer is served from the cache only
when a PING sent on the tracking connection at most ``max_staleness`` ago has
been answered (``near_tracking`` says why that proves every earlier
invalidation applied), else the check is the strict round trip. A write's
recheck (``WRITE``) never reads the cache; ``purposes`` chooses whether
authentication (L1) and the point-of-use recheck of reads (L2) do.

**What is cached.** The value of each key a check reads (the user's version,
the jti's and the session's revocation marks, present or absent), in one LRU
of ``max_entries`` keys. An absent key — "not revoked", the answer of almost
every check — is cached like a present one.

**Why a connection of our own, not redis-py's client-side cache.** redis-py's
cache (5.1+) refuses servers older than Redis 7.4 and caches only keys it read
that exist: an absent key, the "not revoked" answer, is never cached, and it
tracks keys one by one. ``CLIENT TRACKING … BCAST PREFIX`` (Redis 6+) on one
RESP3 connection per process pushes the change of any key under our prefix,
whether we read it or not, and works on the Redis 7.0 of Debian.

**Populating without a race.** Before a strict check is sent, the cache notes
its epoch (bumped at every reset: connection lost, FLUSHALL, fork) and its
invalidation count; the answer is inserted only if the epoch is the same and
no invalidation of one of the check's keys arrived meanwhile. A revocation
after Redis read the keys either arrived before the insert (then the insert is
skipped) or arrives after it (then it drops the entry).

**Failures.** The connection lost or closed (a Redis restart, a kill, a
network cut), a PING unanswered for a second, an unexpected message, a
FLUSHALL, a fork: the cache is emptied and checks are strict until a new
connection is subscribed (by the pinger thread, which retries every 100 ms).
A backlog of more than 256 KiB of invalidations is read by the pinger, not
the request, and checks are strict meanwhile.

**Limits.** Plain Redis only (``url`` or a client with a plain connection
pool): with ``cluster`` (one tracking connection per master, and slot
migrations) or ``sentinels`` (the tracking connection must follow failovers)
the near cache is refused with ``ImproperlyConfigured`` (``near_options``).
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

from drf_toctou.settings import toctou_settings
from drf_toctou.stores.near_tracking import Tracking

logger = logging.getLogger("drf_toctou")

RECONNECT_EVERY = 0.1  # seconds between a lost tracking connection and the next attempt to open one
WARN_EVERY = 60.0  # seconds between two warnings of the same kind
RECENT_LIMIT = 10_000  # invalidated keys remembered for the populate check
_MISSING = object()
Token = tuple[int, int]  # (epoch, invalidation count) noted before a strict check


def for_pool(pool: Any, prefix: str, options: dict[str, Any]) -> NearCache:
    """A near cache whose tracking connection is built like ``pool``'s."""
    return NearCache(lambda: pool.connection_class(**pool.connection_kwargs), prefix, options,
                     float(toctou_settings.STORE_TIMEOUT))


class NearCache:
    """Check answers by Redis key, and the tracking connection that keeps them
    true. ``open_connection`` builds an unconnected redis-py connection."""

    def __init__(self, open_connection: Callable[[], Any], prefix: str, options: dict[str, Any],
                 timeout: float) -> None:
        self.open_connection = open_connection
        self.prefix = f"{prefix}:".encode()
        self.max_entries = options["max_entries"]
        self.max_staleness = options["max_staleness"]
        self.purposes = options["purposes"]
        self.timeout = timeout
        self.hits = self.misses = self.strict = 0
        self._closed = False
        self._start()
        own = weakref.ref(self)

        def after_fork() -> None:
            cache = own()
            if cache is not None:
                cache._forked()

        os.register_at_fork(after_in_child=after_fork)

    def _start(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[bytes, Any] = collections.OrderedDict()
        self._recent: dict[bytes, int] = {}  # key -> invalidation count when it was last invalidated
        self.epoch = self.invalidations = self._floor = 0
        self._dropped_at = -1e18  # when the tracking connection was last lost (monotonic)
        self._warned: dict[str, float] = {}
        self._tracking: Tracking | None = None
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._pinger, args=(weakref.ref(self), self._pid),
                                        name="drf-toctou-near-cache", daemon=True)
        self._thread.start()

    # --- the request path -----------------------------------------------------------

    def lookup(self, keys: Sequence[bytes]) -> list[Any] | None:
        """The cached values of ``keys`` if all are cached and the connection is
        proven fresh, else None (ask Redis)."""
        if self._pid != os.getpid():
            self._forked()
        with self._lock:
            tracking = self._tracking
            if tracking is None or not tracking.drain(self._invalidated) or not tracking.fresh(time.monotonic()):
                if tracking is not None and not tracking.alive:
                    self._drop_tracking("tracking connection lost")  # the pinger opens the next one
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
            if self._tracking is None or not self._tracking.alive or self._pid != os.getpid():
                return None
            return self.epoch, self.invalidations

    def insert(self, keys: Sequence[bytes], values: Sequence[Any], token: Token | None) -> None:
        """Keep a strict check's answer, unless an invalidation of one of its
        keys (or a reset) may have come in since ``token`` was noted."""
        if token is None:
            return
        epoch, seen = token
        with self._lock:
            if epoch != self.epoch or seen < self._floor or self._tracking is None:
                return
            if seen != self.invalidations and any(self._recent.get(key, -1) > seen for key in keys):
                return
            entries = self._entries
            for key, value in zip(keys, values, strict=True):
                entries[key] = value
                entries.move_to_end(key)
            while len(entries) > self.max_entries:
                entries.popitem(last=False)

    def remember(self, keys: Sequence[bytes], values: Sequence[Any], token: Token | None) -> None:
        """``insert`` the raw ``MGET`` answer of a check (version first; the
        revocation marks kept as present or absent only)."""
        if token is not None:
            self.insert(keys, [values[0], *(None if v is None else True for v in values[1:])], token)

    def forget(self, keys: Sequence[bytes]) -> None:
        """Drop ``keys`` at once: what this process wrote, it refuses from the
        write's acknowledgement on (Redis's push of it comes a moment later),
        and a strict answer read before the write is not inserted after it."""
        with self._lock:
            self._invalidated(list(keys))

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
        tracking, self._tracking = self._tracking, None
        self._reset(why)
        if tracking is not None:
            self._dropped_at = time.monotonic()
            tracking.close()
            if why != "closed":
                self._warn("lost", "near cache: %s (checks stay strict until a new one is subscribed)", why)

    def _warn(self, kind: str, message: str, *args: Any) -> None:
        """Log at WARNING, once per ``kind`` per ``WARN_EVERY`` seconds."""
        now = time.monotonic()
        if now - self._warned.get(kind, -1e18) >= WARN_EVERY:
            self._warned[kind] = now
            logger.warning(message, *args)

    # --- the pinger thread ------------------------------------------------------------------

    @staticmethod
    def _pinger(own: weakref.ref[NearCache], pid: int) -> None:
        """Read the tracking connection, PING it, reopen it. Holds the cache
        only while it works (not while it waits): a cache nobody uses any
        more is collected, and its thread ends."""
        while (cache := own()) is not None and not cache._closed and cache._pid == pid:
            try:
                wait = cache._ping_once()
            except Exception:  # never let the thread die: strict checks until a new connection
                logger.exception("near cache: the pinger failed; reopening the tracking connection")
                with cache._lock:
                    cache._drop_tracking("pinger failed")
                wait = RECONNECT_EVERY
            del cache
            if wait:
                time.sleep(wait)

    def _ping_once(self) -> float:
        """One turn of the pinger: read what arrived, send the next PING;
        return how long to sleep. Only the pinger sends PINGs: a send costs a
        check tens of µs (measured); a check reads the socket only when
        something is waiting there (a poll, about 1 µs)."""
        tracking = self._tracking
        if tracking is None:
            pause = self._dropped_at + RECONNECT_EVERY - time.monotonic()
            if pause > 0:
                return pause
            self._connect()
            return 0
        with self._lock:
            if tracking is not self._tracking:
                return 0
            if not tracking.drain(self._invalidated, budget=1 << 22):
                if not tracking.alive:
                    self._drop_tracking("tracking connection lost")
                return 0  # lost, or a backlog still being read
            tracking.keep_fresh(time.monotonic())
            return tracking.interval

    def _connect(self) -> None:
        try:
            tracking = Tracking.open(self.open_connection(), self.prefix, self.max_staleness, self.timeout)
        except Exception as e:  # noqa: BLE001  (any failure: strict, and try again later)
            self._warn("connect", "near cache: tracking connection failed (checks stay strict): %s", e)
            self._wake.wait(RECONNECT_EVERY)
            return
        with self._lock:
            if self._closed or self._pid != os.getpid():
                tracking.close()
                return
            self._reset("tracking connection opened")
            self._tracking = tracking

    # --- lifecycle -------------------------------------------------------------------------------

    def _forked(self) -> None:
        """In a forked child: the parent's socket, lock and thread are not ours."""
        if self._pid == os.getpid() or self._closed:
            return
        tracking = self._tracking
        if tracking is not None:
            tracking.close(forked=True)
        self._start()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            fresh = self._tracking is not None and self._tracking.fresh(time.monotonic())
            return {"entries": len(self._entries), "hits": self.hits, "misses": self.misses,
                    "strict": self.strict, "epoch": self.epoch, "fresh": fresh}

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        with self._lock:
            self._drop_tracking("closed")
        if self._thread is not threading.current_thread():
            self._thread.join(2)
