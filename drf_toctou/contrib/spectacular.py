"""drf-spectacular extensions, registered by ``AppConfig.ready()`` when
drf-spectacular is installed: the bearer JWT scheme of
``BearerRevalidatingAuthentication`` (and its subclasses), and the request and
response shapes of the token endpoints."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiViewExtension,
)
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers

from drf_toctou.settings import jwt_settings

REFUSAL = inline_serializer("Refusal", fields={"detail": serializers.CharField(), "code": serializers.CharField()})


class BearerRevalidatingScheme(OpenApiAuthenticationExtension):
    target_class = "drf_toctou.authentication.BearerRevalidatingAuthentication"
    match_subclasses = True
    name = "jwtAuth"

    def get_security_definition(self, auto_schema: Any) -> Any:
        jwt = jwt_settings()
        return build_bearer_security_scheme_object(
            header_name=getattr(jwt, "AUTH_HEADER_NAME", "HTTP_AUTHORIZATION"),
            token_prefix=jwt.AUTH_HEADER_TYPES[0],
            bearer_format="JWT",
        )


class PlainJWTScheme(BearerRevalidatingScheme):
    """Subclasses of plain simplejwt authentication (drf-spectacular matches
    only the exact class)."""

    target_class = "rest_framework_simplejwt.authentication.JWTAuthentication"
    priority = -1
    name = "plainJwtAuth"


class TokenObtainPairSerializerExtension(OpenApiSerializerExtension):
    target_class = "drf_toctou.views.TokenObtainPairSerializer"

    def map_serializer(self, auto_schema: Any, direction: Any) -> Any:
        fixed = inline_serializer("TokenObtainPair", fields={
            self.target_class.username_field: serializers.CharField(write_only=True),
            "password": serializers.CharField(write_only=True),
            "access": serializers.CharField(read_only=True),
            "refresh": serializers.CharField(read_only=True),
        })
        return auto_schema._map_serializer(fixed, direction)


class LogoutViewExtension(OpenApiViewExtension):
    target_class = "drf_toctou.views.LogoutView"

    def view_replacement(self) -> Any:
        body = inline_serializer("Logout", fields={"refresh": serializers.CharField(required=False)})

        class Fixed(self.target_class):  # type: ignore[name-defined]
            @extend_schema(request=body, responses={204: None, 401: REFUSAL, 403: REFUSAL, 503: REFUSAL})
            def post(self, request: Any, *args: Any, **kwargs: Any) -> Any:
                return super().post(request, *args, **kwargs)

        return Fixed


class LogoutAllViewExtension(OpenApiViewExtension):
    target_class = "drf_toctou.views.LogoutAllView"

    def view_replacement(self) -> Any:
        class Fixed(self.target_class):  # type: ignore[name-defined]
            @extend_schema(request=None, responses={204: None, 401: REFUSAL, 503: REFUSAL})
            def post(self, request: Any, *args: Any, **kwargs: Any) -> Any:
                return super().post(request, *args, **kwargs)

        return Fixed


def refusal_responses() -> dict[int, Any]:
    """The refusals every protected operation can answer, for ``extend_schema``."""
    return {
        401: OpenApiResponse(REFUSAL, description="token_not_valid, token_revoked, token_version_stale, ..."),
        503: OpenApiResponse(REFUSAL, description="token_state_unavailable"),
    }
