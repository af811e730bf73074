"""The one decision: is this token still good, now?

Authentication, the object permission and the fenced writes all call
``check_token``; none of them compares versions or reads revocations itself.
Store faults become HTTP 503 here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.exceptions import InvalidToken

from drf_toctou.exceptions import TOKEN_STATE_EXCEPTIONS, StoreError, TokenStateUnavailable
from drf_toctou.settings import jwt_settings, toctou_settings
from drf_toctou.stores import get_store
from drf_toctou.stores.base import TokenState

logger = logging.getLogger("drf_toctou")

MAX_ID_LENGTH = 255
MAX_VERSION = 2**63 - 1

T = TypeVar("T")


class TokenIdentity(NamedTuple):
    """The three claims the token state is keyed on, validated and normalised
    (a named tuple: built up to four times per request, so built cheaply)."""

    user_id: str
    jti: str
    version: int


def token_identity(token: Any) -> TokenIdentity:
    """Read ``user_id``, ``jti`` and the version claim from a validated token.
    Claims of the wrong JSON type raise ``InvalidToken`` (401), never a 500."""
    payload, jwt = token.payload, jwt_settings()
    user_id = payload.get(jwt.USER_ID_CLAIM)
    jti = payload.get(jwt.JTI_CLAIM) if jwt.JTI_CLAIM else None
    version = payload.get(toctou_settings.VERSION_CLAIM, 0)
    if not _is_id(user_id) or not (isinstance(jti, str) and 0 < len(jti) <= MAX_ID_LENGTH):
        raise InvalidToken(str(_("Token has malformed identification claims.")))
    if type(version) is not int or not 0 <= version <= MAX_VERSION:
        raise InvalidToken(str(_("Token has a malformed version claim.")))
    return TokenIdentity(user_id=str(user_id), jti=jti, version=version)


def _is_id(value: Any) -> bool:
    if type(value) is int:
        return -MAX_VERSION <= value <= MAX_VERSION
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def verdict(state: TokenState, identity: TokenIdentity) -> str | None:
    """``None`` when the token is good, else the refusal code."""
    if state.revoked:
        return "token_revoked"
    if state.version != identity.version:
        # Older: revoked by a bump. Newer: the store lost its data; fail closed.
        return "token_version_stale"
    return None


class PendingCheck:
    """A token check already sent to the store, whose answer is read by
    ``result()`` — so the caller's own work (the user's row, the object's row)
    runs while the answer is on its way. ``result()`` is the one decision:
    it raises 401 (revoked/stale) or 503 (store can't answer), else returns
    the token's identity. It reads the answer once and always releases what
    the store holds for it, so call it exactly once, also on error paths.
    """

    def __init__(self, token: Any) -> None:
        self.identity = token_identity(token)
        try:
            self._answer: Callable[[], TokenState] | StoreError = get_store().start_check(
                self.identity.user_id, self.identity.jti)
        except StoreError as e:
            self._answer = e

    def result(self) -> TokenIdentity:
        answer, self._answer = self._answer, StoreError("token check already read")
        try:
            if isinstance(answer, StoreError):
                raise answer
            state = answer()
        except StoreError as e:
            if toctou_settings.ON_STORE_ERROR == "allow":
                logger.warning("token state unavailable, allowed by ON_STORE_ERROR: %s", e)
                return self.identity
            raise TokenStateUnavailable() from e
        refuse(verdict(state, self.identity))
        return self.identity


def check_token(token: Any) -> TokenIdentity:
    """Ask the store, in one round trip, whether ``token`` is still good.
    Raise 401 (revoked/stale) or 503 (store can't answer); return its identity."""
    return PendingCheck(token).result()


def check_token_during(token: Any, work: Callable[[], T]) -> T:
    """Send the check of ``token``, run ``work`` while the store answers, then
    decide: a refusal of the token wins over ``work``'s own exception."""
    pending = PendingCheck(token)
    try:
        return work()
    finally:
        pending.result()


# The request attribute holding a recheck sent ahead of the object's read.
_RECHECK = "_drf_toctou_recheck"


def send_recheck(request: Any) -> PendingCheck:
    """Send the point-of-use recheck of ``request.auth`` now, so that it travels
    while the object is read; ``take_recheck`` hands it to whoever decides."""
    pending = PendingCheck(request.auth)
    setattr(request, _RECHECK, pending)
    return pending


def take_recheck(request: Any) -> PendingCheck | None:
    """The recheck sent ahead for ``request`` and not yet read (at most once)."""
    pending = getattr(request, _RECHECK, None)
    if pending is not None:
        setattr(request, _RECHECK, None)
    return pending


def refuse(code: str | None) -> None:
    """Raise the HTTP exception of a token-state refusal code (no-op for None)."""
    if code is not None:
        raise TOKEN_STATE_EXCEPTIONS[code]()


def call_store(operation: Callable[..., T], *args: Any) -> T:
    """Run a store operation other than ``check``; a fault is a 503, always
    (revocations and issuance never fail open)."""
    try:
        return operation(*args)
    except StoreError as e:
        raise TokenStateUnavailable() from e
