"""Token serializers that plug into simplejwt's own views and settings::

    SIMPLE_JWT = {
        "TOKEN_OBTAIN_SERIALIZER": "drf_toctou.serializers.TokenObtainPairSerializer",
        "TOKEN_REFRESH_SERIALIZER": "drf_toctou.serializers.TokenRefreshSerializer",
        "TOKEN_VERIFY_SERIALIZER": "drf_toctou.serializers.TokenVerifySerializer",
        "TOKEN_BLACKLIST_SERIALIZER": "drf_toctou.serializers.TokenBlacklistSerializer",
    }

so that ``rest_framework_simplejwt.views`` (and dj-rest-auth, through
``JWT_TOKEN_CLAIMS_SERIALIZER``) issue versioned tokens that open a session,
refresh without races, and verify and revoke against the token-state store.
Field errors follow the error contract: ``{"detail", "code": "invalid", "errors"}``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import update_last_login
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.tokens import Token

from drf_toctou.exceptions import InvalidBody
from drf_toctou.malformed import MALFORMED, parse_token
from drf_toctou.refusals import reject
from drf_toctou.revocation import revoke_token
from drf_toctou.sessions import end_session, open_session, rotate
from drf_toctou.settings import jwt_settings
from drf_toctou.state import check_token, token_identity
from drf_toctou.tokens import VersionedRefreshToken


class ContractErrors:
    """Field errors as ``InvalidBody``: ``{"detail", "code", "errors"}``."""

    def is_valid(self, *, raise_exception: bool = False) -> bool:
        valid = super().is_valid(raise_exception=False)  # type: ignore[misc]
        if not valid and raise_exception:
            raise InvalidBody(self.errors)  # type: ignore[attr-defined]
        return bool(valid)


class TokenObtainPairSerializer(ContractErrors, jwt_serializers.TokenObtainPairSerializer):
    """simplejwt's login, issuing versioned tokens that open a session."""

    token_class = VersionedRefreshToken

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        data = jwt_serializers.TokenObtainSerializer.validate(self, attrs)
        refresh = self.get_token(self.user)  # type: ignore[type-var]  # validate() refused a None user
        open_session(refresh, self.context.get("request"))
        data["refresh"], data["access"] = str(refresh), str(refresh.access_token)  # type: ignore[attr-defined]
        if jwt_settings().UPDATE_LAST_LOGIN:
            update_last_login(None, self.user)  # type: ignore[arg-type]
        return data


class TokenRefreshSerializer(ContractErrors, serializers.Serializer):
    """Refresh like simplejwt, but a revoked or stale refresh token is refused
    and, with ``ROTATE_REFRESH_TOKENS``, exactly one concurrent refresh of a
    token wins; replaying a rotated-out token ends its session."""

    refresh = serializers.CharField()
    access = serializers.CharField(read_only=True)
    token_class = VersionedRefreshToken

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        request: Any = self.context.get("request")
        refresh: Any = None
        try:
            refresh = parse_token(attrs["refresh"], self.token_class)
            check_user(refresh)
            if jwt_settings().ROTATE_REFRESH_TOKENS:
                rotate(refresh, request)
                return {"access": str(refresh.access_token), "refresh": str(refresh)}
            check_token(refresh)
            return {"access": str(refresh.access_token)}
        except APIException as e:  # audited like a refusal at authentication (token_reused, ...)
            reject(request, e, refresh)
            raise


def check_user(refresh: Token) -> None:
    """The refresh token's user exists and may log in (simplejwt's rule)."""
    user_model, jwt = get_user_model(), jwt_settings()
    try:
        user = user_model._default_manager.get(**{jwt.USER_ID_FIELD: refresh[jwt.USER_ID_CLAIM]})
    except user_model.DoesNotExist as e:
        raise AuthenticationFailed(str(_("User not found")), code="user_not_found") from e
    except (*MALFORMED, user_model.MultipleObjectsReturned) as e:
        raise InvalidToken(str(_("Token contained no recognizable user identification"))) from e
    if not jwt.USER_AUTHENTICATION_RULE(user):
        raise AuthenticationFailed(str(_("No active account found for the given token.")), code="no_active_account")


class TokenVerifySerializer(ContractErrors, serializers.Serializer):
    """Valid only when signature, expiry *and* state are good: a revoked or
    superseded token is 401, as on every other endpoint."""

    token = serializers.CharField(write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        check_token(parse_token(attrs["token"]))
        return {}


def revoke_with_session(token: Token) -> None:
    """Revoke ``token``; a refresh token ends its whole session (RFC 7009 §2.1:
    the access tokens of the same grant go too)."""
    revoke_token(token)
    identity = token_identity(token)
    if identity.session and token.get("token_type") == "refresh":
        end_session(identity.user_id, identity.session, "logout")


class TokenBlacklistSerializer(ContractErrors, serializers.Serializer):
    """simplejwt's ``TokenBlacklistView``, revoking in the token-state store."""

    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        revoke_with_session(parse_token(attrs["refresh"], VersionedRefreshToken))
        return {}


def expired_but_signed(raw: str) -> bool:
    """Whether ``raw`` is a token of ours whose signature holds but which has
    expired beyond ``LEEWAY`` (nothing left to revoke)."""
    import time

    import jwt

    from drf_toctou.settings import leeway_seconds

    backend = jwt_settings()
    try:
        from rest_framework_simplejwt.state import token_backend

        key = token_backend.get_verifying_key(raw)  # type: ignore[arg-type]  # it takes the encoded token
        payload = jwt.decode(raw, key, algorithms=[token_backend.algorithm],
                             audience=backend.AUDIENCE, issuer=backend.ISSUER,
                             options={"verify_exp": False, "verify_aud": backend.AUDIENCE is not None})
    except Exception:  # any decoding or verification failure: not ours, or tampered
        return False
    exp = payload.get("exp")
    return isinstance(exp, (int, float)) and exp + leeway_seconds() < time.time()
