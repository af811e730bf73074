"""The one decision: is this token still good, now?

Authentication, the object permission and the fenced writes all call
``check_token`` (or ``PendingCheck``); none of them compares versions or reads
revocations itself. Store faults become HTTP 503 here and nowhere else.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.exceptions import InvalidToken

from drf_toctou.exceptions import (
    SessionRevoked,
    StoreError,
    TokenRefused,
    TokenRevoked,
    TokenStateUnavailable,
    TokenVersionStale,
)
from drf_toctou.settings import jwt_settings, toctou_settings
from drf_toctou.stores import get_store
from drf_toctou.stores.base import WRITE, TokenState

logger = logging.getLogger("drf_toctou")

MAX_ID_LENGTH = 255
MAX_VERSION = 2**63 - 1

T = TypeVar("T")


class TokenIdentity(NamedTuple):
    """The claims the token state is keyed on, validated and normalised (a
    named tuple: built up to four times per request, so built cheaply)."""

    user_id: str
    jti: str
    version: int
    session: str | None = None


def token_identity(token: Any) -> TokenIdentity:
    """Read the user id, ``jti``, version and session claims of a validated
    token. A missing or malformed claim raises ``InvalidToken`` (401), never a 500."""
    payload, jwt = token.payload, jwt_settings()
    user_id = payload.get(jwt.USER_ID_CLAIM)
    jti = payload.get(jwt.JTI_CLAIM) if jwt.JTI_CLAIM else None
    version = payload.get(toctou_settings.VERSION_CLAIM, 0)
    session = payload.get(toctou_settings.SESSION_CLAIM)
    if not _is_id(user_id) or not _is_text(jti):
        raise InvalidToken(str(_("Token has malformed identification claims.")))
    if type(version) is not int or not 0 <= version <= MAX_VERSION:
        raise InvalidToken(str(_("Token has a malformed version claim.")))
    if session is not None and not _is_text(session):
        raise InvalidToken(str(_("Token has a malformed session claim.")))
    return TokenIdentity(user_id=str(user_id), jti=str(jti), version=version, session=session)


def _is_id(value: Any) -> bool:
    if type(value) is int:
        return -MAX_VERSION <= value <= MAX_VERSION
    return _is_text(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def verdict(state: TokenState, identity: TokenIdentity) -> type[TokenRefused] | None:
    """``None`` when the token is good, else the refusal to raise."""
    if state.revoked:
        return TokenRevoked
    if state.session_revoked:
        return SessionRevoked
    if state.version != identity.version:
        # Older: revoked by a bump. Newer: the store lost its data; fail closed.
        return TokenVersionStale
    return None


class PendingCheck:
    """A token check whose answer is read by ``result()``. ``purpose`` says why
    the token is checked (``AUTHENTICATION``, ``READ``, ``WRITE``, the default):
    a store with a cache proven fresh may answer the first two from it, never
    a write. With a store that
    sends ahead, the question leaves now and the caller's own work (the user's
    row, the object's row) runs while the answer travels; with others, the
    store is asked in ``result()``. ``result()`` is the one decision: it raises
    401 (revoked, stale, session ended) or 503 (store can't answer), else
    returns the token's identity. Call it exactly once, also on error paths:
    it releases what the store holds for the check.
    """

    def __init__(self, token: Any, purpose: str = WRITE) -> None:
        self.identity = identity = token_identity(token)
        self._answer: Callable[[], TokenState] | StoreError
        store = get_store()
        try:
            cached = None if purpose == WRITE else store.cached_check(
                identity.user_id, identity.jti, identity.session, purpose)
            if cached is not None:
                self._answer = lambda: cached
            elif store.sends_ahead:
                self._answer = store.send_check(identity.user_id, identity.jti, identity.session)
            else:
                self._answer = lambda: store.check(identity.user_id, identity.jti, identity.session)
        except StoreError as e:
            self._answer = e

    def result(self) -> TokenIdentity:
        answer, self._answer = self._answer, StoreError("token check already read")
        try:
            if isinstance(answer, StoreError):
                raise answer
            state = answer()
        except StoreError as e:
            store_failed(e)
            if toctou_settings.ON_STORE_ERROR == "allow":
                logger.warning("token state unavailable, allowed by ON_STORE_ERROR: %s", e)
                return self.identity
            raise TokenStateUnavailable() from e
        refusal = verdict(state, self.identity)
        if refusal is not None:
            raise refusal()
        return self.identity


def check_token(token: Any, purpose: str = WRITE) -> TokenIdentity:
    """Ask the store, in one round trip, whether ``token`` is still good.
    Raise 401 (revoked/stale/session ended) or 503; return its identity."""
    return PendingCheck(token, purpose).result()


def check_token_while(token: Any, work: Callable[[], T], purpose: str = WRITE) -> T:
    """Send the check of ``token``, run ``work`` while the store answers, then
    decide: a refusal of the token wins over ``work``'s own exception."""
    pending = PendingCheck(token, purpose)
    try:
        return work()
    finally:
        pending.result()


def call_store(operation: Callable[..., T], *args: Any) -> T:
    """Run a store operation other than ``check``; a fault is a 503, always
    (revocations and issuance never fail open)."""
    try:
        return operation(*args)
    except StoreError as e:
        store_failed(e)
        raise TokenStateUnavailable() from e


_last_logged: dict[tuple[str, str], float] = {}
_log_lock = threading.Lock()


def store_failed(error: StoreError) -> None:
    """Log why the store failed — the underlying exception's type and message,
    never a token — at ERROR, once per cause per ``STORE_ERROR_LOG_INTERVAL``:
    an operator can tell a typo (a missing table, a wrong port) from an outage."""
    cause = error.__cause__ or error
    key = (type(cause).__name__, str(cause)[:300])
    now = time.monotonic()
    with _log_lock:
        if now - _last_logged.get(key, -1e18) < float(toctou_settings.STORE_ERROR_LOG_INTERVAL):
            return
        if len(_last_logged) > 1000:
            _last_logged.clear()
        _last_logged[key] = now
    logger.error("token-state store failed: %s: %s", *key, extra={"store_error": key[0]})
