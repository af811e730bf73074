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
for Redis Cluster (``url`` may then be a list of startup nodes); ``prefix`` (default ``"t"``); ``client_kwargs``;
``min_replicas_ack`` + ``replicas_ack_timeout`` (ms, default 40% of
``STORE_TIMEOUT``): after every revocation, ``WAIT`` for that many replicas,
and fail (503) when fewer acknowledged — so a failover cannot lose an
acknowledged revocation (``redis_wait``); ``near_cache`` (opt-in, plain
Redis and Sentinel, not Cluster): check answers kept in the process,
invalidated by Redis pushes (``near_cache``). Socket timeouts are
``STORE_TIMEOUT`` and redis-py's own retries are off: a slow Redis is a failed
Redis, answered at once with 503 rather than after a retry loop.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import redis
from django.core.exceptions import ImproperlyConfigured

from drf_toctou.exceptions import StoreError
from drf_toctou.settings import toctou_settings
from drf_toctou.stores import near_cache, near_options, redis_ops, redis_wait
from drf_toctou.stores.base import CONSUMED, REVOKED, BaseStore, SessionRecord, TokenHistory, TokenState
from drf_toctou.stores.redis_checks import STORE_ERRORS, CheckConnections, check_pool, cluster_gets
from drf_toctou.stores.redis_client import build_client


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
                         "min_replicas_ack", "replicas_ack_timeout", "near_cache"})
    sends_ahead = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        if not any(self.options.get(key) for key in ("url", "client", "sentinels")):
            raise ImproperlyConfigured(
                "RedisStore needs STORE_OPTIONS 'url' (e.g. 'redis://127.0.0.1:6379/0'), 'client', "
                "or 'sentinels' and 'service_name': it never guesses an address.")
        urls = self.options.get("url")
        for url in (urls if isinstance(urls, (list, tuple)) else [urls] if urls else []):
            if not isinstance(url, str) or urlparse(url).scheme not in ("redis", "rediss", "unix"):
                raise ImproperlyConfigured(f"RedisStore 'url' must start with redis://, rediss:// or unix://, "
                                           f"not {url!r}.")
        if self.options.get("sentinels") and not self.options.get("service_name"):
            raise ImproperlyConfigured("RedisStore with 'sentinels' needs 'service_name'.")
        self.prefix = self.options.get("prefix", "t")
        self.cluster = bool(self.options.get("cluster")) or isinstance(self.options.get("client"), redis.RedisCluster)
        self.min_replicas_ack = int(self.options.get("min_replicas_ack") or 0)
        # Redis answers a WAIT that timed out on its next cron tick (hz 10: up
        # to 100 ms late), so the default leaves that tick inside STORE_TIMEOUT
        # and the refusal is WAIT's own answer, not a socket timeout.
        self.replicas_ack_timeout = int(self.options.get("replicas_ack_timeout")
                                        or toctou_settings.STORE_TIMEOUT * 400)
        self._client: Any = self.options.get("client")
        self._client_lock = threading.Lock()
        self._checks: CheckConnections | None = None
        self._ops: redis_ops.Scripts | None = None
        self._near_options = near_options.store_options(self.options, self.cluster)
        self._near: near_cache.NearCache | None = None

    @property
    def client(self) -> Any:
        """The redis-py client, built at first use: a cluster client contacts
        its nodes when built, and a store must be buildable while Redis is
        down (the request then gets a 503, and a later one a working store)."""
        if self._client is None or self._ops is None:
            with self._client_lock:
                if self._client is None:
                    try:
                        self._client = build_client(self.options, self.cluster)
                    except STORE_ERRORS as e:
                        raise StoreError(f"redis store: {e}") from e
                if self._ops is None:
                    pool = check_pool(self._client, sentinel=self._near_options is not None)
                    self._checks = CheckConnections(pool) if pool is not None else None
                    if self._near_options is not None and pool is not None and self._near is None:
                        self._near = near_cache.for_pool(pool, self.prefix, self._near_options)
                    self._ops = redis_ops.Scripts(self._client)
        return self._client

    @property
    def ops(self) -> redis_ops.Scripts:
        self.client  # noqa: B018  (builds the client and its scripts)
        assert self._ops is not None
        return self._ops

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
        client = self.client
        if self.cluster:
            state = _state(*self._call(cluster_gets, client, keys))
            return lambda: state
        if self._checks is None:
            state = _state(*self._call(client.mget, keys))
            return lambda: state
        near = self._near
        token = near.token() if near is not None else None  # noted before the MGET leaves
        answered_by: list[Any] | None = [] if near is not None and near.master is not None else None
        read = self._checks.send(keys, _store_error, answered_by)
        if near is None:
            return lambda: _state(*read())

        def reply() -> TokenState:
            values = read()
            state = _state(*values)
            near.remember(keys, values, token, answered_by[0] if answered_by else None)
            return state

        return reply

    def cached_check(self, user_id: str, jti: str, session: str | None, purpose: str) -> TokenState | None:
        """From the near cache (``near_cache``), when it is on for ``purpose``
        and proven fresh; never for ``WRITE``."""
        near = self._near
        if near is None or purpose not in near.purposes:
            return None
        values = near.lookup(self._check_keys(user_id, jti, session))
        return None if values is None else _state(*values)

    def close(self) -> None:
        """Stop the near cache's thread and close the clients' connections."""
        if self._near is not None:
            self._near.close()
        if self._client is not None and hasattr(self._client, "close"):
            self._client.close()

    # --- revocation -------------------------------------------------------------------

    def revoke(self, user_id: str, jti: str, keep_until: int) -> None:
        key = self.jti_key(user_id, jti)
        # EXAT: the key dies when no validator can accept the token any more; a
        # second revocation keeps the first one's time (Streams forensics).
        args = [b"r%d" % _now_ms(), max(int(keep_until), 1)]
        self._write(key, lambda c: self.ops.revoke(keys=[key], args=args, client=c))

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
        """Run ``command(client)`` (a write to ``key``) and return its reply;
        with ``min_replicas_ack``, only once that many replicas acknowledged
        it, else a ``StoreError`` (``redis_wait``). This process's near cache
        forgets ``key`` whatever the outcome (a failed write may have landed)."""
        try:
            if not self.min_replicas_ack:
                return self._call(command, self.client)
            return redis_wait.acknowledged_write(self.client, self.cluster, key, command, self.min_replicas_ack,
                                                 self.replicas_ack_timeout)
        finally:
            if self._near is not None:
                self._near.forget([key])

    # --- operations -----------------------------------------------------------------

    def setup(self) -> str:
        self._call(self.client.ping)
        return "RedisStore: Redis answers PING."

    def deploy_checks(self) -> list[Any]:
        from drf_toctou.stores.redis_deploy import deploy_checks

        return deploy_checks(self)
