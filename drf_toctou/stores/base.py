"""The contract every token-state store fulfils.

User ids and jtis reach a store as ``str``; expiries as integer epoch seconds.
A user with no record has version 0. Every method raises
``drf_toctou.exceptions.StoreError`` — and nothing else — when the store can't
answer, including when it is slower than ``STORE_TIMEOUT``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokenState:
    """What the store knows of one token: its jti revoked, its user's version."""

    revoked: bool
    version: int


class BaseStore:
    """A token-state store. Subclasses are built as ``Store(options)``.

    ``fence`` names how writes can be fenced with this store:
    ``"transaction"`` (token conditions inside the data store's transaction),
    ``"lock"`` (a shared row lock held by the write's DB transaction) or
    ``"recheck"`` (the state is rechecked just before the write).
    """

    fence = "recheck"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    def check(self, user_id: str, jti: str) -> TokenState:
        """Return the token's state in ONE round trip: whether ``jti`` is revoked
        (an expired revocation counts as absent) and the user's version."""
        raise NotImplementedError

    def start_check(self, user_id: str, jti: str) -> Callable[[], TokenState]:
        """Send ``check`` now and return a function that reads its answer, so
        that the caller's own work overlaps the round trip. Either step may
        raise ``StoreError``; the returned function is called exactly once.
        Stores that can't split the round trip check here, at once."""
        state = self.check(user_id, jti)
        return lambda: state

    def revoke(self, user_id: str, jti: str, expires_at: int) -> None:
        """Record ``jti`` as revoked until ``expires_at``. Idempotent. Returns
        only once the revocation is durable and visible to every ``check``."""
        raise NotImplementedError

    def bump_version(self, user_id: str) -> int:
        """Atomically increment the user's version; return the new value."""
        raise NotImplementedError

    def current_version(self, user_id: str) -> int:
        """Return the user's version (0 without a record), one round trip."""
        raise NotImplementedError

    def setup(self) -> str:
        """Prepare the store (tables, TTL, connectivity); idempotent.
        Return a one-line, human-readable report."""
        raise NotImplementedError
