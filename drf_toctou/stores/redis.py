"""``RedisStore``: token state in Redis, Redis Cluster or Sentinel.

Keys of one user share the hash tag ``{user_id}``, so a check is one ``MGET``
and every multi-key change one script, unchanged on a cluster::

    <prefix>:{<user_id>}v          the user's version (INCR)
    <prefix>:{<user_id>}h          hash: version -> when it was reached (ms)
    <prefix>:{<user_id>}j<jti>     a revoked ("r<ms>") or used ("c<ms>") jti, EXAT keep-until
    <prefix>:{<user_id>}f<sid>     an ended session ("<ms>"), EXAT keep-until
    <prefix>:{<user_id>}s / z      the session registry: hash sid -> JSON, zset sid -> expiry

A 32-hex-digit jti (simplejwt's uuid4) is stored as its 16 raw bytes, keeping a
revocation near 120 bytes of Redis memory (measured by ``make bench``).

Options: ``url`` (``redis://``, ``rediss://``, ``unix://``), or ``client`` (a
ready redis-py client), or ``sentinels`` + ``service_name``; ``cluster: True``
for Redis Cluster; ``prefix`` (default ``"t"``); ``client_kwargs``;
``min_replicas_ack`` + ``replicas_ack_timeout`` (ms): after every revocation,
``WAIT`` for that many replicas, and fail (503) when fewer acknowledged — so a
failover cannot lose an acknowledged revocation. Socket timeouts are
``STORE_TIMEOUT`` and redis-py's own retries are off: a slow Redis is a failed
Redis, answered at once with 503 rather than after a retry loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import redis
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

from drf_toctou.exceptions import StoreError
from drf_toctou.settings import toctou_settings
from drf_toctou.stores import redis_ops
from drf_toctou.stores.base import CONSUMED, REVOKED, BaseStore, SessionRecord, TokenHistory, TokenState
from drf_toctou.stores.redis_checks import STORE_ERRORS, CheckConnections, check_pool


def _tag(user_id: str) -> str:
    """Make ``user_id`` safe inside a hash tag (no braces of its own)."""
    return user_id.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def _compact(jti: str) -> bytes:
    """A 32-hex-digit jti as its 16 bytes; any other jti as UTF-8."""
    if len(jti) == 32:
        try:
            return bytes.fromhex(jti)
        except ValueError:
            pass
    return jti.encode()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _store_error(error: BaseException) -> BaseException:
    return StoreError(f"redis store: {error}") if isinstance(error, STORE_ERRORS) else error


def _state(version: Any, revoked: Any, session: Any = None) -> TokenState:
    try:
        return TokenState(revoked=revoked is not None, version=int(version or 0), session_revoked=session is not None)
    except ValueError as e:  # a version key someone overwrote: fail closed
        raise StoreError(f"redis store: version is not an integer: {version!r}") from e


class RedisStore(BaseStore):
    OPTIONS = frozenset({"url", "client", "sentinels", "service_name", "cluster", "prefix", "client_kwargs",
                         "min_replicas_ack", "replicas_ack_timeout"})
    sends_ahead = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        if not any(self.options.get(key) for key in ("url", "client", "sentinels")):
            raise ImproperlyConfigured(
                "RedisStore needs STORE_OPTIONS 'url' (e.g. 'redis://127.0.0.1:6379/0'), 'client', "
                "or 'sentinels' and 'service_name': it never guesses an address.")
        self.prefix = self.options.get("prefix", "t")
        self.client = self.options.get("client") or self._build_client()
        self.cluster = isinstance(self.client, redis.RedisCluster)
        pool = check_pool(self.client)
        self._checks = CheckConnections(pool) if pool is not None else None
        self.min_replicas_ack = int(self.options.get("min_replicas_ack") or 0)
        self.replicas_ack_timeout = int(self.options.get("replicas_ack_timeout")
                                        or toctou_settings.STORE_TIMEOUT * 800)
        self.ops = redis_ops.Scripts(self.client)

    def _build_client(self) -> Any:
        timeout = float(toctou_settings.STORE_TIMEOUT)
        kwargs = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
            **self.options.get("client_kwargs", {}),
        }
        if self.options.get("sentinels"):
            if not self.options.get("service_name"):
                raise ImproperlyConfigured("RedisStore with 'sentinels' needs 'service_name'.")
            sentinel = redis.Sentinel(self.options["sentinels"], sentinel_kwargs=kwargs, **kwargs)
            return sentinel.master_for(self.options["service_name"], **kwargs)
        if self.options.get("cluster"):
            return redis.RedisCluster.from_url(self.options["url"], **kwargs)
        return redis.Redis.from_url(self.options["url"], **kwargs)

    # --- keys -------------------------------------------------------------------

    def key(self, user_id: str, kind: str, suffix: bytes = b"") -> bytes:
        return f"{self.prefix}:{{{_tag(user_id)}}}{kind}".encode() + suffix

    def version_key(self, user_id: str) -> bytes:
        return self.key(user_id, "v")

    def jti_key(self, user_id: str, jti: str) -> bytes:
        return self.key(user_id, "j", _compact(jti))

    def session_key(self, user_id: str, session: str) -> bytes:
        return self.key(user_id, "f", session.encode())

    def _check_keys(self, user_id: str, jti: str, session: str | None) -> list[bytes]:
        keys = [self.version_key(user_id), self.jti_key(user_id, jti)]
        return keys + [self.session_key(user_id, session)] if session else keys

    # --- the request path ---------------------------------------------------------

    def check(self, user_id: str, jti: str, session: str | None = None) -> TokenState:
        return self.send_check(user_id, jti, session)()

    def send_check(self, user_id: str, jti: str, session: str | None = None) -> Callable[[], TokenState]:
        """Write the ``MGET`` now; the returned function reads the reply (within
        ``STORE_TIMEOUT``). Cluster and Sentinel clients take redis-py's own
        path: one ``MGET`` sent and read at once."""
        keys = self._check_keys(user_id, jti, session)
        if self._checks is None:
            reply = self._call(self.client.mget, keys)
            state = _state(*reply)
            return lambda: state
        read = self._checks.send(keys, _store_error)
        return lambda: _state(*read())

    # --- revocation -------------------------------------------------------------------

    def revoke(self, user_id: str, jti: str, keep_until: int) -> None:
        key = self.jti_key(user_id, jti)
        # EXAT: the key dies when no validator can accept the token any more.
        self._write(key, lambda c: c.set(key, b"r%d" % _now_ms(), exat=max(int(keep_until), 1)))

    def bump_version(self, user_id: str) -> int:
        keys = [self.version_key(user_id), self.key(user_id, "h")]
        return int(self._write(keys[0], lambda c: self.ops.bump(keys=keys, args=[_now_ms()], client=c)))

    def current_version(self, user_id: str) -> int:
        return int(self._call(self.client.get, self.version_key(user_id)) or 0)

    # --- refresh rotation and sessions ----------------------------------------------

    def consume(self, user_id: str, jti: str, keep_until: int) -> str | None:
        key = self.jti_key(user_id, jti)
        args = [b"c%d" % _now_ms(), max(int(keep_until), 1)]
        found = self._write(key, lambda c: self.ops.consume(keys=[key], args=args, client=c))
        if found is None:
            return None
        return CONSUMED if bytes(found)[:1] == b"c" else REVOKED

    def revoke_session(self, user_id: str, session: str, keep_until: int) -> None:
        keys = [self.session_key(user_id, session), self.key(user_id, "s"), self.key(user_id, "z")]
        args = [_now_ms(), max(int(keep_until), 1), session]
        self._write(keys[0], lambda c: self.ops.end_session(keys=keys, args=args, client=c))

    def save_session(self, record: SessionRecord) -> None:
        rest = json.dumps([record.refreshed_at, record.client, record.ip, record.version], separators=(",", ":"))
        keys = [self.key(record.user_id, "s"), self.key(record.user_id, "z"),
                self.session_key(record.user_id, record.session_id)]
        self._call(self.ops.save_session, keys=keys, args=[record.session_id, rest[1:], int(record.expires_at),
                                                           int(time.time()), json.dumps(record.created_at)])

    def sessions(self, user_id: str) -> list[SessionRecord]:
        keys = [self.key(user_id, "s"), self.key(user_id, "z")]
        reply = self._call(self.ops.list_sessions, keys=keys, args=[int(time.time())])
        records = []
        for session, expires_at, entry in zip(reply[0::3], reply[1::3], reply[2::3], strict=True):
            created, refreshed, client, ip, version = json.loads(entry)
            records.append(SessionRecord(session_id=session.decode(), user_id=user_id, created_at=created,
                                         refreshed_at=refreshed, expires_at=int(float(expires_at)), client=client,
                                         ip=ip, version=version))
        return records

    def forget_session(self, user_id: str, session: str) -> None:
        keys = [self.key(user_id, "s"), self.key(user_id, "z")]
        self._call(self.ops.forget_session, keys=keys, args=[session])

    def token_history(self, user_id: str, jti: str, session: str | None, version: int) -> TokenHistory:
        revoked = self._call(self.client.get, self.jti_key(user_id, jti))
        ended = self._call(self.client.get, self.session_key(user_id, session)) if session else None
        bumped = self._call(self.client.hget, self.key(user_id, "h"), str(version + 1))

        def seconds(value: Any, skip: int = 0) -> float | None:
            digits = bytes(value or b"")[skip:]
            return int(digits) / 1000 if digits.isdigit() else None

        return TokenHistory(revoked_at=seconds(revoked, 1), session_revoked_at=seconds(ended),
                            superseded_at=seconds(bumped))

    # --- plumbing -----------------------------------------------------------------

    def _call(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return operation(*args, **kwargs)
        except STORE_ERRORS as e:
            raise StoreError(f"redis store: {e}") from e

    def _write(self, key: bytes, command: Callable[[Any], Any]) -> Any:
        """Run ``command(client)`` (a write to ``key``) and return its reply.
        With ``min_replicas_ack``, the write and a ``WAIT`` travel in one
        pipeline on the connection of the node holding ``key`` (WAIT counts the
        writes of its own connection), and too few acknowledgements fail: the
        caller must not believe it revoked."""
        if not self.min_replicas_ack:
            return self._call(command, self.client)
        node = self.client.get_node_from_key(key).redis_connection if self.cluster else self.client
        pipe = node.pipeline(transaction=False)
        command(pipe)
        pipe.execute_command("WAIT", self.min_replicas_ack, self.replicas_ack_timeout)
        reply, acked = self._call(pipe.execute)
        if int(acked) < self.min_replicas_ack:
            raise StoreError(f"redis store: the write reached {acked} replica(s), "
                             f"{self.min_replicas_ack} required (min_replicas_ack)")
        return reply

    # --- operations -----------------------------------------------------------------

    def setup(self) -> str:
        self._call(self.client.ping)
        return "RedisStore: Redis answers PING."

    def deploy_checks(self) -> list[Any]:
        from drf_toctou.stores.redis_deploy import deploy_checks

        return deploy_checks(self)
