"""``BearerRevalidatingAuthentication``: simplejwt's ``JWTAuthentication`` plus
one named step that asks the token-state store, in one round trip, whether the
token is still good (L1).

The steps, each overridable with simplejwt's contract::

    get_header -> get_raw_token -> get_validated_token -> check_token_state(get_user)

``check_token_state`` sends the store's check, runs ``get_user`` while the
answer travels (the round trip overlaps the user's query), then decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import AUTH_HEADER_TYPE_BYTES, JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.tokens import Token

from drf_toctou.audit import reason_of, reject
from drf_toctou.settings import toctou_settings
from drf_toctou.state import check_token_during, token_identity

T = TypeVar("T")

# Exceptions that malformed claims can raise deep inside token or ORM code.
MALFORMED = (TypeError, ValueError, OverflowError, KeyError, AttributeError, ValidationError)


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
            reject(request, reason_of(e), validated_token)
            raise

    def get_raw_token(self, header: bytes) -> bytes | None:
        """simplejwt's contract, parsed strictly: ``<type> SP <token>`` only
        (no tabs, no runs of spaces, no second token)."""
        parts = header.split(b" ")
        if not parts or parts[0] not in AUTH_HEADER_TYPE_BYTES:
            return None
        if len(parts) != 2 or not parts[1]:
            raise AuthenticationFailed(str(_("Authorization header must contain two space-delimited values")),
                code="bad_authorization_header",
            )
        return parts[1]

    def get_validated_token(self, raw_token: bytes) -> Token:
        """simplejwt's validation, plus: an oversized token is refused before
        decoding, and claims of a wrong JSON type give 401, never 500."""
        if len(raw_token) > toctou_settings.MAX_TOKEN_BYTES:
            raise InvalidToken(str(_("Token is too large.")))
        try:
            validated_token = super().get_validated_token(raw_token)
        except MALFORMED as e:
            raise InvalidToken(str(_("Token is malformed."))) from e
        token_identity(validated_token)
        return validated_token

    def check_token_state(self, validated_token: Token, then: Callable[[], T] | None = None) -> T | None:
        """Refuse a revoked (401 ``token_revoked``) or superseded (401
        ``token_version_stale``) token; 503 when the store can't answer.

        ``then`` (``authenticate`` passes ``get_user``) runs while the store's
        answer is on its way; its result is returned. A refusal of the token
        wins over an exception of ``then``."""
        return check_token_during(validated_token, then or (lambda: None))

    def get_user(self, validated_token: Token) -> Any:
        try:
            return super().get_user(validated_token)
        except MALFORMED as e:
            raise InvalidToken(str(_("Token contained no recognizable user identification"))) from e
