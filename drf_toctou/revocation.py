"""Revoke one token, or every token of a user.

Both return only once the store acknowledged the change; from then on the very
next request with a revoked token is refused, and so is every fenced write that
has not committed yet. A store fault raises ``TokenStateUnavailable`` (503):
a revocation never fails silently.

A revocation is kept until the token's ``exp`` plus simplejwt's ``LEEWAY``
plus ``REVOCATION_GRACE`` (clock skew): as long as any validator could still
accept the token.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from rest_framework_simplejwt.tokens import Token

from drf_toctou.malformed import build
from drf_toctou.settings import jwt_settings, leeway_seconds, toctou_settings
from drf_toctou.state import call_store, token_identity
from drf_toctou.stores import get_store
from drf_toctou.tokens import user_id_of


def keep_until(expires_at: float) -> int:
    """Until when a revocation of a token expiring at ``expires_at`` is kept."""
    return int(math.ceil(expires_at + leeway_seconds())) + int(toctou_settings.REVOCATION_GRACE)


def token_expiry(token: Token) -> int:
    """The token's ``exp``; an unsaved token without one lives for its lifetime."""
    expires_at = token.payload.get("exp")
    if type(expires_at) is int:
        return expires_at
    lifetime = token.lifetime.total_seconds() if token.lifetime else 0
    return int(token.current_time.timestamp() + lifetime)


def revoke_token(token: Token | str | bytes) -> None:
    """Revoke ``token`` (a simplejwt ``Token`` or an encoded string, whose
    signature is verified). Idempotent.

    Raises simplejwt's ``TokenError`` for an encoded token that is invalid or
    already expired (beyond ``LEEWAY``), and ``InvalidToken`` for malformed claims.
    """
    if not isinstance(token, Token):
        token = build(token)
    identity = token_identity(token)
    call_store(get_store().revoke, identity.user_id, identity.jti, keep_until(token_expiry(token)))


def user_key(user: Any) -> str:
    """A user object, or its id (``USER_ID_FIELD``'s value, in any spelling the
    field accepts — a UUID in capitals, without dashes), as the store's key:
    the spelling tokens carry."""
    if isinstance(user, (int, str, uuid.UUID)) and not isinstance(user, bool):
        from django.contrib.auth import get_user_model
        from django.core.exceptions import ValidationError

        field: Any = get_user_model()._meta.get_field(jwt_settings().USER_ID_FIELD)
        try:
            value = field.to_python(user)
        except ValidationError as e:
            raise ValueError(f"{user!r} is not a valid {field.name} of a user") from e
        return str(value)
    return user_id_of(user)


def revoke_user_tokens(user: Any) -> int:
    """Bump the version of ``user`` (a user object or its id): every token
    issued before is dead. Return the new version."""
    return call_store(get_store().bump_version, user_key(user))
