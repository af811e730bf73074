"""``RedisStore``: token state in Redis, Redis Cluster or Sentinel.

Keys of one user share the hash tag ``{user_id}``, so ``check`` is one ``MGET``
that works unchanged on a cluster::

    <prefix>:{<user_id>}v          the user's version (INCR)
    <prefix>:{<user_id>}j<jti>     a revoked jti (SET ... EXAT <token exp>)

A 32-hex-digit jti (simplejwt's uuid4) is stored as its 16 raw bytes: keys are
short so a revocation costs ~117 bytes of Redis memory (measured by
``make bench``).

Options: ``url`` (``redis://``, ``rediss://``, ``unix://``), or ``client`` (a
ready redis-py client), or ``sentinels`` + ``service_name``; ``cluster: True``
for Redis Cluster; ``prefix`` (default ``"t"``). Socket timeouts are
``STORE_TIMEOUT`` and redis-py's own retries are off: a slow Redis is a failed
Redis, answered at once with 503 rather than after a retry loop.

``start_check`` splits the round trip: the ``MGET`` is written at once and its
reply read when the caller asks for it, so authentication's user query (and a
conditional mixin's object read) runs while Redis answers. Checks use
connections of their own, built with the client's pool settings and kept for
reuse (as many as checks ever in flight at once): taking one is a list pop, not
the pool's lock and readiness probe (three system calls). A check owns its
connection from the write to the read, so a reply can only be read by the check
that asked; a connection that failed is closed and dropped; an idle one that
Redis closed (a restart) is replaced once, at once; a timeout is never retried.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from drf_toctou.exceptions import StoreError
from drf_toctou.settings import toctou_settings
from drf_toctou.stores.base import BaseStore, TokenState

STORE_ERRORS = (redis.RedisError, OSError)


def _tag(user_id: str) -> str:
    """Make ``user_id`` safe inside a hash tag (no braces of its own)."""
    return user_id.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def _send_mget(connection: Any, keys: tuple[str, bytes], retry: bool) -> None:
    try:
        connection.send_command("MGET", *keys)
    except redis.ConnectionError:
        if not retry:
            raise
        _resend(connection, keys)


def _read_mget(connection: Any, keys: tuple[str, bytes], retry: bool) -> Any:
    try:
        return connection.read_response()
    except redis.ConnectionError:
        if not retry:
            raise
        _resend(connection, keys)
        return connection.read_response()


def _resend(connection: Any, keys: tuple[str, bytes]) -> None:
    """An idle connection Redis closed (a restart): the MGET once more, on a new
    connection. MGET only reads, so sending it twice is harmless; a timeout is
    never retried (it is not a ConnectionError)."""
    connection.disconnect()
    connection.send_command("MGET", *keys)


def _failed(connection: Any, error: BaseException) -> BaseException:
    """Close ``connection`` (its reply, if any, is never read by anyone) and
    give the exception to raise: ``StoreError`` for a store fault."""
    connection.disconnect()
    if isinstance(error, STORE_ERRORS):
        return StoreError(f"redis store: {error}")
    return error


def _state(version: Any, revoked: Any) -> TokenState:
    try:
        return TokenState(revoked=revoked is not None, version=int(version or 0))
    except ValueError as e:  # a version key someone overwrote: fail closed
        raise StoreError(f"redis store: version is not an integer: {version!r}") from e


def _compact(jti: str) -> bytes:
    """A 32-hex-digit jti as its 16 bytes; any other jti as UTF-8."""
    if len(jti) == 32:
        try:
            return bytes.fromhex(jti)
        except ValueError:
            pass
    return jti.encode()


class RedisStore(BaseStore):
    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.prefix = self.options.get("prefix", "t")
        self.client = self.options.get("client") or self._build_client()
        # The pool whose settings the check connections are built with.
        pool = getattr(self.client, "connection_pool", None)
        self._pool = pool if pool is not None and getattr(self.client, "connection", None) is None else None
        self._idle: list[Any] = []  # check connections with nothing in flight
        self._idle_pid = os.getpid()

    def _build_client(self) -> Any:
        timeout = float(toctou_settings.STORE_TIMEOUT)
        kwargs = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
            **self.options.get("client_kwargs", {}),
        }
        if self.options.get("sentinels"):
            sentinel = redis.Sentinel(self.options["sentinels"], **kwargs)
            return sentinel.master_for(self.options["service_name"], **kwargs)
        url = self.options.get("url", "redis://127.0.0.1:6379/0")
        if self.options.get("cluster"):
            return redis.RedisCluster.from_url(url, **kwargs)
        return redis.Redis.from_url(url, **kwargs)

    def version_key(self, user_id: str) -> str:
        return f"{self.prefix}:{{{_tag(user_id)}}}v"

    def jti_key(self, user_id: str, jti: str) -> bytes:
        return f"{self.prefix}:{{{_tag(user_id)}}}j".encode() + _compact(jti)

    def check(self, user_id: str, jti: str) -> TokenState:
        return self.start_check(user_id, jti)()

    def start_check(self, user_id: str, jti: str) -> Callable[[], TokenState]:
        """Write the ``MGET`` now; the returned function reads the reply
        (within ``STORE_TIMEOUT``). No client-side cache is consulted."""
        keys = (self.version_key(user_id), self.jti_key(user_id, jti))
        pool = self._pool
        if pool is None:  # Cluster, or a single-connection client: redis-py's own path
            return self._check_with_client(keys)
        connection, reused = self._take_connection(pool)
        try:
            _send_mget(connection, keys, retry=reused)
        except BaseException as e:
            raise _failed(connection, e) from e

        def answer() -> TokenState:
            try:
                reply = _read_mget(connection, keys, retry=reused)
            except BaseException as e:
                raise _failed(connection, e) from e
            self._idle.append(connection)  # its reply read: ready for the next check
            return _state(*reply)

        return answer

    def _take_connection(self, pool: Any) -> tuple[Any, bool]:
        """An idle check connection (``True``: reused), else a new one built
        with the pool's settings. A check owns its connection from the write to
        the read; one whose reply is never read never comes back."""
        if self._idle_pid != os.getpid():  # a forked child never uses the parent's sockets
            self._idle, self._idle_pid = [], os.getpid()
        try:
            return self._idle.pop(), True  # list.pop and append are atomic: no lock
        except IndexError:
            return pool.connection_class(**pool.connection_kwargs), False

    def _check_with_client(self, keys: tuple[str, bytes]) -> Callable[[], TokenState]:
        try:
            reply = self.client.mget(*keys)
        except STORE_ERRORS as e:
            raise StoreError(f"redis store: {e}") from e
        state = _state(*reply)
        return lambda: state

    def revoke(self, user_id: str, jti: str, expires_at: int) -> None:
        try:
            # EXAT: the key dies with the token; one already expired is a no-op.
            self.client.set(self.jti_key(user_id, jti), b"1", exat=max(int(expires_at), 1))
        except STORE_ERRORS as e:
            raise StoreError(f"redis store: {e}") from e

    def bump_version(self, user_id: str) -> int:
        try:
            return int(self.client.incr(self.version_key(user_id)))
        except STORE_ERRORS as e:
            raise StoreError(f"redis store: {e}") from e

    def current_version(self, user_id: str) -> int:
        try:
            return int(self.client.get(self.version_key(user_id)) or 0)
        except STORE_ERRORS as e:
            raise StoreError(f"redis store: {e}") from e

    def setup(self) -> str:
        try:
            self.client.ping()
        except STORE_ERRORS as e:
            raise StoreError(f"redis store: {e}") from e
        return "RedisStore: Redis answers PING."
