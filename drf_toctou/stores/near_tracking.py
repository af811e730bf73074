"""The tracking connection of the near cache (``near_cache``): one socket per
process, speaking RESP3 to Redis, subscribed with ``CLIENT TRACKING ON BCAST
PREFIX <prefix>: NOLOOP``. Redis pushes an invalidation on it for every change
of a key under the prefix, and a null one for ``FLUSHALL``/``FLUSHDB``.

Freshness is proven with ``PING``: Redis queues the BCAST invalidations of a
write before it sends the write's acknowledgement, so the PONG of a PING sent
after that acknowledgement comes after the invalidation on this socket. A
cache whose last answered PING was sent at most ``max_staleness`` ago has
therefore applied every invalidation of every write acknowledged before
``now - max_staleness``.

The connection is opened by redis-py (address, TLS, AUTH, SELECT, as the
store's own connections), then read and written here directly, without
redis-py's parser, which may read ahead: no byte after the subscription's
reply is ever left in a buffer this module does not read. Every method runs
under the near cache's lock, except ``open`` (a blocking handshake).

Who sends the PINGs (checks, or the thread of a quiet process) and why:
``near_pinger``. With Sentinel the probe is ``ROLE``, not ``PING``.
"""

from __future__ import annotations

import collections
import contextlib
import select
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drf_toctou.stores.redis_checks import address

WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
NAME = "drf-toctou-near-cache"
DEAD_AFTER = 1.0  # seconds a PING may stay unanswered before the connection counts as lost
LEAD_FACTOR = 2  # a PING goes out this many observed PONG delays before the last proof expires ...
LEAD_RANGE = (0.1, 0.5)  # ... but no later than 0.9 and no earlier than 0.5 × max_staleness after it
RECV_SIZE = 65536


class Push(list[Any]):
    """A RESP3 push message (``>``)."""


class ReplyError(str):
    """A RESP3 error reply (``-``)."""


class _Incomplete(Exception):
    pass


def _parse(buf: bytearray, pos: int) -> tuple[Any, int]:
    """One RESP3 value at ``pos``: (value, the position after it)."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, line, pos = buf[pos], bytes(buf[pos + 1:end]), end + 2
    if kind in b"+#,(":
        return line, pos
    if kind == ord("-"):
        return ReplyError(line.decode(errors="replace")), pos
    if kind == ord(":"):
        return int(line), pos
    if kind == ord("_"):
        return None, pos
    if kind in b"$=!":
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            raise _Incomplete
        return bytes(buf[pos:pos + size]), pos + size + 2
    if kind in b"*>~%|":
        size = int(line) * (2 if kind in b"%|" else 1)
        items = []
        for _ in range(max(size, 0)):
            item, pos = _parse(buf, pos)
            items.append(item)
        if kind == ord("|"):  # an attribute: the value it describes follows
            return _parse(buf, pos)
        return (Push(items) if kind == ord(">") else items), pos
    raise ValueError(f"unexpected RESP3 type byte {kind!r}")


class Reader:
    """Complete RESP3 values out of the bytes fed so far."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.pos = 0

    def feed(self, data: bytes) -> None:
        if self.pos > 65536:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data

    def values(self, limit: int = -1) -> list[Any]:
        found: list[Any] = []
        while self.pos < len(self.buf) and len(found) != limit:
            try:
                value, self.pos = _parse(self.buf, self.pos)
            except _Incomplete:
                break
            found.append(value)
        return found


def _command(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


@dataclass(frozen=True)
class Probe:
    """What proves the connection fresh: a command, and the answer that counts
    (any other answer loses the connection)."""

    command: bytes
    answers: Callable[[Any], bool]


PING = Probe(_command(b"PING"), lambda value: value == b"PONG")
# With Sentinel: only a master's answer proves anything. A demoted master still
# answers PING, and pushes the invalidations of what it replicates, late.
ROLE = Probe(_command(b"ROLE"), lambda value: isinstance(value, list) and value[:1] == [b"master"])


class Tracking:
    """One subscribed tracking connection and what it has proven."""

    def __init__(self, connection: Any, reader: Reader, max_staleness: float, probe: Probe = PING) -> None:
        self.connection = connection
        self.address = address(connection)
        self.probe = probe
        self.sock = connection._sock
        self.sock.setblocking(False)
        self.reader = reader
        self.poller = select.poll()  # poll(0) costs a third of a recv that finds nothing
        self.poller.register(self.sock, select.POLLIN)
        self.pending: Callable[[], int] = getattr(self.sock, "pending", lambda: 0)  # TLS: bytes decrypted ahead
        self.max_staleness = max_staleness
        # Checks send a PING when the last one is ``interval`` old and read its PONG at a later drain.
        # The interval is max_staleness less a ``lead``: the time a PONG takes to be read (sent, answered,
        # read by a later check or the thread), observed, times LEAD_FACTOR, kept within LEAD_RANGE.
        # Each PING wakes Redis (on this kind of VM a send costs ~70 µs in a request, and more in what
        # it displaces), so a busy process sends one per 0.7–0.9 × max_staleness (one per ~0.75 × at
        # 0.5 ms a request and 5 ms), a sparser one per 0.5 × (the start). The lead only decides how
        # often the cache is found fresh; the bound is ``fresh``'s alone. The pinger thread sends one
        # when no PING went out for ``idle_interval`` and no check read the socket meanwhile (an idle
        # process: a check after a pause finds a PONG at most 0.6 × max_staleness old, plus the
        # thread's lateness, with 0.4 × to spare), or when the checks' own PING is late (``near_cache``).
        self.lead = max_staleness * LEAD_RANGE[1]
        self.delay = 0.0  # how long the last PONGs took to be read (rises at once, decays slowly)
        self.interval = max_staleness - self.lead
        self.idle_interval = max_staleness * 0.6
        self.pings: collections.deque[float] = collections.deque()  # send times of unanswered PINGs
        self.answered = -1e18  # send time of the last answered PING
        self.last_sent = -1e18
        self.alive = True
        self.tls = isinstance(self.sock, ssl.SSLSocket)  # a short read of TLS may leave records in the kernel

    @classmethod
    def open(cls, connection: Any, prefix: bytes, max_staleness: float, timeout: float,
             probe: Probe = PING) -> Tracking:
        """Connect (redis-py: address, TLS, AUTH, SELECT), switch to RESP3 and
        subscribe; blocking, within ``timeout``. Raises ``OSError``/``RedisError``."""
        connection.connect()
        sock, reader = connection._sock, Reader()
        sock.sendall(_command(b"HELLO", b"3") + _command(b"CLIENT", b"SETNAME", NAME.encode())
                     + _command(b"CLIENT", b"TRACKING", b"ON", b"BCAST", b"PREFIX", prefix, b"NOLOOP"))
        replies: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(replies) < 3:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer to the tracking handshake")
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("Redis closed the tracking connection during the handshake")
            reader.feed(data)
            # One value at a time: pushes after the subscription's reply stay for ``drain``.
            while len(replies) < 3 and (value := reader.values(1)):
                replies += value
        errors = [r for r in replies if isinstance(r, ReplyError)]
        if errors:
            raise ConnectionError(f"tracking handshake refused: {errors[0]}")
        return cls(connection, reader, max_staleness, probe)

    def drain(self, on_invalidate: Callable[[list[bytes] | None], None], budget: int = 1 << 18) -> bool:
        """Apply what already arrived, without waiting. False when the
        connection is lost or more than ``budget`` bytes are waiting (a backlog:
        not fresh until the pinger has read it)."""
        if self.alive and not self.poller.poll(0) and not self.pending():
            return True
        read = 0
        while self.alive:
            try:
                data = self.sock.recv(RECV_SIZE)
            except WOULD_BLOCK:
                break
            except OSError:
                return self.lose()
            if not data:
                return self.lose()
            self.reader.feed(data)
            read += len(data)
            try:
                values = self.reader.values()
            except ValueError:  # not RESP3 as this module knows it: trust nothing more from this socket
                return self.lose()
            for value in values:
                self._handle(value, on_invalidate)
            if read > budget:
                return False
            if read < RECV_SIZE and not self.tls:  # a PONG, a few invalidations: no recv just to hear EAGAIN
                break  # (after a full read Redis may be writing more: a backlog is read on, to the budget)
        return self.alive

    def _handle(self, value: Any, on_invalidate: Callable[[list[bytes] | None], None]) -> None:
        if isinstance(value, Push):
            if len(value) == 2 and value[0] == b"invalidate":
                on_invalidate(value[1] if isinstance(value[1], list) else None)
            else:  # nothing else is expected here: assume the worst
                on_invalidate(None)
        elif self.pings and self.probe.answers(value):
            self.answered = sent = self.pings.popleft()
            self._adapt(time.monotonic() - sent)
        else:  # an error, a reply no probe asked for, a ROLE that is not a master's
            self.lose()

    def fresh(self, now: float) -> bool:
        """Whether a PING sent at most ``max_staleness`` before ``now`` was
        answered (after ``drain``). No system call: a check only reads."""
        return self.alive and now - self.answered <= self.max_staleness

    def _adapt(self, delay: float) -> None:
        """Note how long a PONG took to be read; set the next PINGs' ``interval``."""
        self.delay = max(delay, 0.75 * self.delay + 0.25 * delay)
        low, high = LEAD_RANGE
        self.lead = min(max(LEAD_FACTOR * self.delay, low * self.max_staleness), high * self.max_staleness)
        self.interval = self.max_staleness - self.lead

    def keep_fresh(self, now: float, interval: float | None = None) -> bool:
        """Send the next PING when one is due (``interval`` after the last,
        by default the checks' own); a PING unanswered for ``DEAD_AFTER``
        means the connection is lost. Whether a PING was sent."""
        if self.pings and now - self.pings[0] > DEAD_AFTER:
            return self.lose()
        if now - self.last_sent >= (self.interval if interval is None else interval):
            return self.ping(now)
        return False

    def ping(self, now: float) -> bool:
        try:
            sent = self.sock.send(self.probe.command)
        except OSError:
            return self.lose()
        if sent != len(self.probe.command):  # a full socket buffer: a probe cut in two is no proof
            return self.lose()
        self.pings.append(now)
        self.last_sent = now
        return True

    def lose(self) -> bool:
        self.alive = False
        return False

    def close(self, forked: bool = False) -> None:
        """Close the socket; in a forked child only this process's descriptor
        (a shutdown would cut the parent's connection too)."""
        self.alive = False
        with contextlib.suppress(Exception):  # closing a connection that failed
            if forked:
                self.sock.close()
            else:
                self.connection.disconnect()
