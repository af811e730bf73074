"""Revoke one token, or every token of a user.

Both return only once the store acknowledged the change; from then on the very
next request with a revoked token is refused, and so is every fenced write that
has not committed yet. A store fault raises ``TokenStateUnavailable`` (503):
a revocation never fails silently.
"""

from __future__ import annotations

from typing import Any

from rest_framework_simplejwt.tokens import Token, UntypedToken

from drf_toctou.state import call_store, token_identity
from drf_toctou.stores import get_store
from drf_toctou.tokens import user_id_of


def revoke_token(token: Token | str | bytes) -> None:
    """Revoke ``token`` (a simplejwt ``Token`` or an encoded string, whose
    signature is verified) until its ``exp``. Idempotent.

    Raises simplejwt's ``TokenError`` for an encoded token that is invalid or
    already expired, and ``InvalidToken`` for malformed claims.
    """
    if not isinstance(token, Token):
        token = UntypedToken(token)  # type: ignore[arg-type]  # simplejwt annotates the encoded token as a Token
    identity = token_identity(token)
    expires_at = token.payload.get("exp")
    if type(expires_at) is not int:  # an unsaved Token without exp: it lives for its lifetime
        lifetime = token.lifetime.total_seconds() if token.lifetime else 0
        expires_at = int(token.current_time.timestamp() + lifetime)
    call_store(get_store().revoke, identity.user_id, identity.jti, expires_at)


def revoke_user_tokens(user: Any) -> int:
    """Bump the version of ``user`` (a user object or its id): every token
    issued before is dead. Return the new version."""
    user_id = str(user) if isinstance(user, (int, str)) else user_id_of(user)
    return call_store(get_store().bump_version, user_id)
