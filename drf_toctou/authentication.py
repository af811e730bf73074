"""``BearerRevalidatingAuthentication``: simplejwt's ``JWTAuthentication`` plus
one named step that asks the token-state store, in one round trip, whether the
token is still good.

The steps, each overridable with simplejwt's contract::

    get_header -> get_raw_token -> get_validated_token -> check_token_state(get_user)

``check_token_state`` sends the store's check, runs ``get_user`` while the
answer travels (the round trip overlaps the user's query), then decides.
Every 401 carries ``WWW-Authenticate: Bearer realm="api"`` and, when the
request presented a token, ``error="invalid_token"`` (RFC 6750 §3).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import HTTP_HEADER_ENCODING
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.tokens import Token

from drf_toctou import malformed
from drf_toctou.refusals import reject
from drf_toctou.settings import jwt_settings, toctou_settings
from drf_toctou.state import check_token_while
from drf_toctou.stores.base import AUTHENTICATION

T = TypeVar("T")

# What malformed claims can raise deep inside token or ORM code (drf_toctou.malformed).
MALFORMED = (*malformed.MALFORMED, ValidationError)


def header_types() -> tuple[str, ...]:
    """simplejwt's ``AUTH_HEADER_TYPES`` as of now (never bound at import)."""
    types = jwt_settings().AUTH_HEADER_TYPES
    return tuple(types) if isinstance(types, (list, tuple)) else (types,)


# simplejwt's AUTH_HEADER_TYPES as last read, and as bytes.
_header_bytes: tuple[object, frozenset[bytes]] = (object(), frozenset())


def header_type_bytes() -> frozenset[bytes]:
    """``header_types()`` as bytes, encoded again only when simplejwt's
    setting is another object (a check on the hot path: ~130 ns)."""
    global _header_bytes
    types = jwt_settings().AUTH_HEADER_TYPES
    seen, encoded = _header_bytes
    if types is not seen:
        listed = types if isinstance(types, (list, tuple)) else (types,)
        encoded = frozenset(t.encode(HTTP_HEADER_ENCODING) for t in listed)
        _header_bytes = (types, encoded)
    return encoded


class BearerRevalidatingAuthentication(JWTAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Token] | None:
        validated_token = None
        try:
            header = self.get_header(request)
            if header is None:
                return None
            raw_token = self.get_raw_token(header)
            if raw_token is None:
                return None
            validated_token = self.get_validated_token(raw_token)
            user = self.check_token_state(validated_token, lambda: self.get_user(validated_token))
            return user, validated_token
        except APIException as e:
            reject(request, e, validated_token)
            raise

    def authenticate_header(self, request: Request) -> str:
        """The challenge of a 401 (RFC 6750 §3): ``error="invalid_token"`` when
        the request carried a bearer token, ``invalid_request`` when its header
        was malformed, nothing more when it carried none."""
        challenge = f'{header_types()[0]} realm="{self.www_authenticate_realm}"'
        header = self.get_header(request)
        parts = header.split(b" ") if isinstance(header, bytes) else []
        if not parts or parts[0] not in header_type_bytes():
            return challenge
        error = "invalid_token" if len(parts) == 2 and parts[1] else "invalid_request"
        return f'{challenge}, error="{error}"'

    def get_raw_token(self, header: bytes) -> bytes | None:
        """simplejwt's contract, parsed strictly: ``<type> SP <token>`` only
        (no tabs, no runs of spaces, no second token)."""
        parts = header.split(b" ")
        if not parts or parts[0] not in header_type_bytes():
            return None
        if len(parts) != 2 or not parts[1]:
            raise AuthenticationFailed(str(_("Authorization header must contain two space-delimited values")),
                                       code="bad_authorization_header")
        return parts[1]

    def get_validated_token(self, raw_token: bytes) -> Token:
        """simplejwt's validation, plus: an oversized token is refused before
        decoding, and claims of a wrong JSON type give 401, never 500."""
        if len(raw_token) > toctou_settings.MAX_TOKEN_BYTES:
            raise InvalidToken(str(_("Token is too large.")))
        try:
            return super().get_validated_token(raw_token)
        except MALFORMED as e:
            raise InvalidToken(str(_("Token is malformed."))) from e
        except OSError as e:
            if not malformed.overflowed(e):
                raise
            raise InvalidToken(str(_("Token is malformed."))) from e

    def check_token_state(self, validated_token: Token, then: Callable[[], T] | None = None) -> T | None:
        """Refuse a revoked (401 ``token_revoked``), superseded (401
        ``token_version_stale``) or session-ended (401 ``session_revoked``)
        token; 503 when the store can't answer; 401 ``token_not_valid`` for
        missing or malformed identification claims.

        ``then`` (``authenticate`` passes ``get_user``) runs while the store's
        answer is on its way; its result is returned. A refusal of the token
        wins over an exception of ``then``."""
        if jwt_settings().USER_ID_CLAIM not in validated_token.payload:
            if then is not None:
                then()  # simplejwt's own refusal (get_user) of a token without a user id
            raise InvalidToken(str(_("Token contained no recognizable user identification")))
        return check_token_while(validated_token, then or (lambda: None), AUTHENTICATION)

    def get_user(self, validated_token: Token) -> Any:
        try:
            return super().get_user(validated_token)
        except MALFORMED as e:
            raise InvalidToken(str(_("Token contained no recognizable user identification"))) from e
