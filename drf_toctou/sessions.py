"""Sessions (refresh families): opened at login, rotated without races, ended
by the user, by a logout, by a limit, or by a replayed refresh token.

Every refresh token carries its session id (``SESSION_CLAIM``), stamped at
login and kept through rotations; access tokens copy it. Ending a session is
one store operation, whatever the number of tokens it issued: the check reads
the session's revocation in the same round trip as the jti and the version.

Rotation is a compare-and-set in the store (``consume``): of concurrent
refreshes of one token exactly one wins. Presenting a refresh token that was
already rotated out is a reuse — the token was copied — and ends its whole
session (refresh-token reuse detection).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.conf import settings

from drf_toctou.exceptions import TokenRefused, TokenReused, TokenRevoked, TooManySessions
from drf_toctou.revocation import keep_until, token_expiry
from drf_toctou.settings import jwt_settings, toctou_settings
from drf_toctou.signals import session_ended
from drf_toctou.state import TokenIdentity, call_store, check_token, token_identity
from drf_toctou.stores import get_store
from drf_toctou.stores.base import CONSUMED, REVOKED, SessionRecord
from drf_toctou.tokens import new_session_id

MAX_CLIENT_LENGTH = 200


def client_of(request: Any) -> tuple[str, str]:
    """(User-Agent, truncated; the address as ``SESSION_CLIENT_IP`` says)."""
    meta = getattr(request, "META", {}) if request is not None else {}
    client = str(meta.get("HTTP_USER_AGENT", ""))[:MAX_CLIENT_LENGTH]
    address, mode = str(meta.get("REMOTE_ADDR", "")), toctou_settings.SESSION_CLIENT_IP
    if mode == "none" or not address:
        return client, ""
    if mode == "hash":
        return client, hashlib.sha256(f"{settings.SECRET_KEY}:{address}".encode()).hexdigest()[:16]
    return client, address[:64]


def session_keep_until() -> int:
    """Until when an ended session stays refused: no token it issued can live longer."""
    return keep_until(time.time() + jwt_settings().REFRESH_TOKEN_LIFETIME.total_seconds())


def open_session(refresh: Any, request: Any) -> None:
    """Record a login's refresh token as a new session, after making room for
    it under ``MAX_SESSIONS_PER_USER``."""
    identity = token_identity(refresh)
    limit = toctou_settings.MAX_SESSIONS_PER_USER
    if limit:
        existing = sorted(list_sessions(identity.user_id), key=lambda s: s.refreshed_at)
        if len(existing) >= limit and toctou_settings.ON_MAX_SESSIONS == "refuse":
            raise TooManySessions()
        for oldest in existing[: max(0, len(existing) - limit + 1)]:
            end_session(identity.user_id, oldest.session_id, "limit")
    client, ip = client_of(request)
    now = time.time()
    call_store(get_store().save_session, SessionRecord(
        session_id=identity.session or "", user_id=identity.user_id, created_at=now, refreshed_at=now,
        expires_at=keep_until(token_expiry(refresh)), client=client, ip=ip, version=identity.version))


def rotate(refresh: Any, request: Any) -> TokenIdentity:
    """Consume ``refresh`` — exactly one concurrent caller gets through — and
    give it its successor's jti, expiry and session. A refresh token already
    used ends its session (401 ``token_reused``); a revoked one is 401
    ``token_revoked``."""
    try:
        identity = check_token(refresh)
    except TokenRevoked:  # revoked, or used before: consume says which
        identity = token_identity(refresh)
        refuse_used(identity, call_store(get_store().consume, identity.user_id, identity.jti,
                                         keep_until(token_expiry(refresh))) or REVOKED)
    mark = call_store(get_store().consume, identity.user_id, identity.jti, keep_until(token_expiry(refresh)))
    if mark is not None:
        refuse_used(identity, mark)
    if not identity.session:  # a token from before sessions: it starts one now
        refresh[toctou_settings.SESSION_CLAIM] = new_session_id()
    refresh.set_jti()
    refresh.set_exp()
    refresh.set_iat()
    identity = token_identity(refresh)
    client, ip = client_of(request)
    now = time.time()
    # The entry's creation time stays (the store keeps it on update); the
    # registry is not read: a refresh costs the same whatever the number of
    # the user's sessions.
    call_store(get_store().save_session, SessionRecord(
        session_id=identity.session or "", user_id=identity.user_id, created_at=now, refreshed_at=now,
        expires_at=keep_until(token_expiry(refresh)), client=client, ip=ip, version=identity.version))
    return identity


def refuse_used(identity: TokenIdentity, mark: str) -> None:
    """A refresh token that can't be consumed: used before — a replay, so its
    session ends — or revoked."""
    refusal: type[TokenRefused] = TokenRevoked
    if mark == CONSUMED:
        refusal = TokenReused
        if identity.session:
            end_session(identity.user_id, identity.session, "reuse_detected")
    raise refusal()


def end_session(user_id: str, session: str, reason: str) -> None:
    """End ``session``: its refresh and access tokens are refused from the very
    next request. One store operation, then the registry entry goes."""
    store = get_store()
    call_store(store.revoke_session, user_id, session, session_keep_until())
    session_ended.send(sender=None, user_id=user_id, session_id=session, reason=reason)


def get_sessions(user_id: str) -> list[SessionRecord]:
    """The registry entries of ``user_id`` (including those of an older version)."""
    return call_store(get_store().sessions, user_id)


def list_sessions(user_id: str) -> list[SessionRecord]:
    """The user's live sessions, newest first: those a version bump (logout
    everywhere, password change) has not ended."""
    version = call_store(get_store().current_version, user_id)
    live = [s for s in get_sessions(user_id) if s.version >= version]
    return sorted(live, key=lambda s: (s.created_at, s.session_id), reverse=True)


def forget_sessions(user_id: str) -> None:
    """Drop every registry entry of ``user_id`` (after a version bump ended them)."""
    for record in get_sessions(user_id):
        call_store(get_store().forget_session, user_id, record.session_id)
