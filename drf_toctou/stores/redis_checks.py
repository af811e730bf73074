"""The split round trip of ``RedisStore.send_check``: the ``MGET`` is written
at once and its reply read when the caller asks for it, so authentication's
user query (and a conditional mixin's object read) runs while Redis answers.

Checks use connections of their own, built with the client's pool settings and
kept for reuse (as many as checks ever in flight at once): taking one is a list
pop, not the pool's lock and readiness probe. A check owns its connection from
the write to the read, so a reply can only be read by the check that asked; a
connection that failed is closed and dropped; an idle one that Redis closed (a
restart) is replaced once, at once; a timeout is never retried.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import redis
import redis.sentinel

# RuntimeError: redis-py 5.0's cluster client walks its node table while
# another thread changes it during a failover ("dictionary changed size during
# iteration"); a client that can't answer is a store that can't answer (503).
STORE_ERRORS = (redis.RedisError, redis.exceptions.RedisClusterException, OSError, RuntimeError)

# Pools whose connections can be built from their settings alone (Cluster's
# need their manager and take redis-py's own path). Sentinel's connections ask
# the Sentinels for the master when they connect; checks use them only with the
# near cache, which needs to know which server answered a check (``send``).
PLAIN_POOLS = (redis.ConnectionPool,)
PLAIN_CONNECTIONS = (redis.Connection, redis.UnixDomainSocketConnection)


def check_pool(client: Any, sentinel: bool = False) -> Any:
    """The pool whose settings check connections are built with, or None when
    the client can't lend itself to a split round trip (``sentinel``: a
    Sentinel master's pool lends itself too)."""
    pool = getattr(client, "connection_pool", None)
    if pool is None or getattr(client, "connection", None) is not None:
        return None
    if sentinel and type(pool) is redis.sentinel.SentinelConnectionPool and pool.is_master:
        return pool
    if type(pool) not in PLAIN_POOLS:
        return None
    return pool if issubclass(pool.connection_class, PLAIN_CONNECTIONS) else None


def address(connection: Any) -> Any:
    """The server a connection talks to (its socket's peer; a unix socket's path)."""
    return getattr(connection, "path", None) or (connection.host, connection.port)


def cluster_gets(client: Any, keys: list[bytes]) -> list[Any]:
    """The check on a cluster: one GET per key in one pipeline — one round
    trip to the user's node — since an MGET in a slot being migrated gets
    TRYAGAIN whenever one key has moved and the other (a jti never
    revoked) exists nowhere; single-key GETs follow ASK instead. Not one
    atomic read, but each value only moves towards refusal."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
    return list(pipe.execute())


class CheckConnections:
    """Connections for sent-ahead ``MGET``s, each owned by one check at a time."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._idle: list[Any] = []  # connections with nothing in flight
        self._pid = os.getpid()

    def send(self, keys: Sequence[str | bytes], on_error: Callable[[BaseException], BaseException],
             answered_by: list[Any] | None = None) -> Callable[[], Any]:
        """Write ``MGET keys`` now; return the function that reads the reply
        (and appends the address of the server that answered to ``answered_by``)."""
        connection, reused = self._take()
        try:
            _send_mget(connection, keys, retry=reused)
        except BaseException as e:
            connection.disconnect()  # its reply, if any, is never read by anyone
            raise on_error(e) from e

        def reply() -> Any:
            try:
                answer = _read_mget(connection, keys, retry=reused)
            except BaseException as e:
                connection.disconnect()
                raise on_error(e) from e
            self._idle.append(connection)  # its reply read: ready for the next check
            if answered_by is not None:
                answered_by.append(address(connection))
            return answer

        return reply

    def _take(self) -> tuple[Any, bool]:
        """An idle connection (``True``: reused), else a new one. One whose
        reply is never read never comes back."""
        if self._pid != os.getpid():  # a forked child never uses the parent's sockets
            self._idle, self._pid = [], os.getpid()
        try:
            connection = self._idle.pop()  # list.pop and append are atomic: no lock
        except IndexError:
            return self.pool.connection_class(**self.pool.connection_kwargs), False
        master = getattr(self.pool, "master_address", None)  # Sentinel: where the master was last seen
        if master is not None and address(connection) != master:
            connection.disconnect()  # still on a master Sentinel has replaced: reconnect through Sentinel
        return connection, True


def _send_mget(connection: Any, keys: Sequence[str | bytes], retry: bool) -> None:
    try:
        _connected(connection).send_command("MGET", *keys)
    except redis.ConnectionError:
        if not retry:
            raise
        _resend(connection, keys)


def _read_mget(connection: Any, keys: Sequence[str | bytes], retry: bool) -> Any:
    try:
        return connection.read_response()
    except redis.ConnectionError:
        if not retry:
            raise
        _resend(connection, keys)
        return connection.read_response()


def _resend(connection: Any, keys: Sequence[str | bytes]) -> None:
    """An idle connection Redis closed (a restart): the MGET once more, on a new
    connection. MGET only reads, so sending it twice is harmless; a timeout is
    never retried (it is not a ConnectionError)."""
    connection.disconnect()
    _connected(connection).send_command("MGET", *keys)


def _connected(connection: Any) -> Any:
    """``connection``, connected by its own ``connect()``: a Sentinel-managed
    one asks the Sentinels for the master there (a command sent on an
    unconnected one would connect to its default address instead)."""
    if connection._sock is None:
        connection.connect()
    return connection
