"""The contract every token-state store fulfils.

User ids, jtis and session ids reach a store as ``str``; times as epoch
seconds. A user with no record has version 0. Every method raises
``drf_toctou.exceptions.StoreError`` — and nothing else — when the store can't
answer, including when it is slower than ``STORE_TIMEOUT``.

A store of your own implements the methods marked *required*; the others are
capabilities with a safe default (no fence, no sent-ahead check, no deploy
checks). ``tests/test_stores.py`` and ``tests/test_sessions.py`` are the suite
it must pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from drf_toctou.settings import unknown_keys

CONSUMED, REVOKED = "consumed", "revoked"
AUTHENTICATION, READ, WRITE = "authentication", "read", "write"  # why a token is checked


@dataclass(frozen=True)
class TokenState:
    """What the store knows of one token, read in one round trip."""

    revoked: bool  # its jti was revoked, or consumed by a refresh rotation
    version: int  # its user's current version
    session_revoked: bool = False  # its session (refresh family) was ended


@dataclass(frozen=True)
class SessionRecord:
    """One session (refresh family) in a user's registry."""

    session_id: str
    user_id: str
    created_at: float
    refreshed_at: float
    expires_at: int  # the entry goes when the session's newest refresh token can no longer be used
    client: str = ""
    ip: str = ""
    version: int = 0  # the user's version at login: a later bump ended the session


@dataclass(frozen=True)
class TokenHistory:
    """When a token stopped being good (epoch seconds), for forensics."""

    revoked_at: float | None = None  # its jti was revoked or consumed
    session_revoked_at: float | None = None  # its session was ended
    superseded_at: float | None = None  # its user's version moved past the token's


class BaseStore:
    """A token-state store, built as ``Store(options)`` from ``STORE_OPTIONS``.

    ``OPTIONS`` names the option keys the store accepts: any other key is an
    ``ImproperlyConfigured`` error (and system check E001), never ignored.
    """

    OPTIONS: frozenset[str] = frozenset()

    #: True when ``send_check`` splits the round trip (see there).
    sends_ahead = False

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        unknown = unknown_keys(self.options, self.OPTIONS)
        if unknown:
            raise ImproperlyConfigured(f"Unknown STORE_OPTIONS key(s) for {type(self).__name__}: {', '.join(unknown)}.")

    # --- the request path ---------------------------------------------------

    def check(self, user_id: str, jti: str, session: str | None = None) -> TokenState:
        """*Required.* The token's state in ONE round trip: whether ``jti`` is
        revoked, the user's version, whether ``session`` (if given) was ended.
        A revocation past its keep-until time counts as absent."""
        raise NotImplementedError

    def send_check(self, user_id: str, jti: str, session: str | None = None) -> Callable[[], TokenState]:
        """Only for stores with ``sends_ahead = True``: send ``check`` now and
        return a function that reads its answer (called exactly once), so the
        caller's own query runs while the store answers."""
        raise NotImplementedError

    def cached_check(self, user_id: str, jti: str, session: str | None, purpose: str) -> TokenState | None:
        """A capability: the token's state from a cache proven fresh, without a
        round trip, or None (the default) to ask the store. ``purpose`` is
        ``AUTHENTICATION``, ``READ`` (the point-of-use recheck of a read) or
        ``WRITE`` (the recheck before a write, and token operations): a store
        never answers ``WRITE`` from a cache."""
        return None

    # --- revocation -----------------------------------------------------------

    def revoke(self, user_id: str, jti: str, keep_until: int) -> None:
        """*Required.* Record ``jti`` as revoked until ``keep_until``. Idempotent.
        Returns only once the revocation is durable and visible to every ``check``."""
        raise NotImplementedError

    def bump_version(self, user_id: str) -> int:
        """*Required.* Atomically increment the user's version; return the new
        value. A version never goes back, not even when the user is deleted."""
        raise NotImplementedError

    def current_version(self, user_id: str) -> int:
        """*Required.* The user's version (0 without a record), one round trip."""
        raise NotImplementedError

    # --- refresh rotation and sessions --------------------------------------------

    def consume(self, user_id: str, jti: str, keep_until: int) -> str | None:
        """*Required.* Compare-and-set: mark the refresh token ``jti`` as used
        until ``keep_until``, only if it is neither used nor revoked. Return
        None when this call consumed it (exactly one concurrent caller wins),
        else what it already was: ``CONSUMED`` or ``REVOKED``."""
        raise NotImplementedError

    def revoke_session(self, user_id: str, session: str, keep_until: int) -> None:
        """*Required.* End ``session``: every token carrying it is refused by
        ``check`` until ``keep_until``, whatever their number. One operation."""
        raise NotImplementedError

    def save_session(self, record: SessionRecord) -> None:
        """*Required.* Create or update a registry entry; it goes by itself at
        ``record.expires_at``. An update keeps the entry's ``created_at``; an
        ended session (``revoke_session``) is never saved again."""
        raise NotImplementedError

    def sessions(self, user_id: str) -> list[SessionRecord]:
        """*Required.* The user's sessions still in the registry (any order)."""
        raise NotImplementedError

    def forget_session(self, user_id: str, session: str) -> None:
        """*Required.* Drop a registry entry (its revocation, if any, stays)."""
        raise NotImplementedError

    # --- fences: capabilities ---------------------------------------------------

    def write_fence(self, db_alias: str) -> Callable[[str], None] | None:
        """A function that, called with a user id inside a transaction on
        ``db_alias``, holds that user's token state until the transaction ends:
        no revocation of the user commits meanwhile. None (the default) when
        this store cannot fence writes to ``db_alias``."""
        return None

    def transaction_checks(self, user_id: str, jti: str, version: int, session: str | None,
                           endpoint: tuple[str | None, str | None]) -> list[dict[str, Any]] | None:
        """DynamoDB ``TransactWriteItems`` entries (low-level, typed values) that
        fail the transaction if the token is no longer good when it commits —
        for a data table at ``endpoint`` (``(endpoint_url, region)``). None (the
        default) when this store can't join that transaction."""
        return None

    def explain_cancellation(self, reasons: Sequence[dict[str, Any]]) -> type[Exception] | None:
        """Given the ``CancellationReasons`` of the entries ``transaction_checks``
        returned (in that order), the refusal class of the first that failed."""
        return None

    # --- operations ---------------------------------------------------------------

    def setup(self) -> str:
        """*Required.* Prepare the store (tables, TTL, connectivity); idempotent.
        Return a one-line, human-readable report."""
        raise NotImplementedError

    def purge_expired(self) -> int | None:
        """Delete revocations past their keep-until time; return how many, or
        None when the store expires them by itself."""
        return None

    def deploy_checks(self) -> list[Any]:
        """``manage.py check --deploy`` findings (``django.core.checks`` messages)
        about how the store is run: persistence, eviction, replication, TTL."""
        return []

    def token_history(self, user_id: str, jti: str, session: str | None, version: int) -> TokenHistory:
        """*Required.* When the token stopped being good, if it did: not on the
        request path (several round trips are fine)."""
        raise NotImplementedError
