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
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers

from drf_toctou.settings import jwt_settings

REFUSAL = inline_serializer("Refusal", fields={"detail": serializers.CharField(), "code": serializers.CharField()})


class BearerRevalidatingScheme(OpenApiAuthenticationExtension):
    target_class = "drf_toctou.authentication.BearerRevalidatingAuthentication"
    match_subclasses = True
    name = "jwtAuth"

    def get_security_definition(self, auto_schema: Any) -> Any:
        from drf_toctou.authentication import header_types

        jwt = jwt_settings()
        return build_bearer_security_scheme_object(
            header_name=getattr(jwt, "AUTH_HEADER_NAME", "HTTP_AUTHORIZATION"),
            token_prefix=header_types()[0],
            bearer_format="JWT",
        )


class PlainJWTScheme(BearerRevalidatingScheme):
    """Subclasses of plain simplejwt authentication (drf-spectacular matches
    only the exact class)."""

    target_class = "rest_framework_simplejwt.authentication.JWTAuthentication"
    priority = -1
    name = "plainJwtAuth"


class TokenObtainPairSerializerExtension(OpenApiSerializerExtension):
    target_class = "drf_toctou.serializers.TokenObtainPairSerializer"

    def map_serializer(self, auto_schema: Any, direction: Any) -> Any:
        target: Any = self.target_class
        fixed = inline_serializer("TokenObtainPair", fields={
            target.username_field: serializers.CharField(write_only=True),
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


class TokenRevokeViewExtension(OpenApiViewExtension):
    target_class = "drf_toctou.views.TokenRevokeView"

    def view_replacement(self) -> Any:
        body = inline_serializer("TokenRevoke", fields={
            "token": serializers.CharField(), "token_type_hint": serializers.CharField(required=False)})

        class Fixed(self.target_class):  # type: ignore[name-defined]
            @extend_schema(request=body, responses={200: None, 400: REFUSAL, 403: REFUSAL, 503: REFUSAL},
                           description="RFC 7009: revoke a token (a refresh token ends its session). An unknown, "
                                       "invalid or expired token also answers 200.")
            def post(self, request: Any, *args: Any, **kwargs: Any) -> Any:
                return super().post(request, *args, **kwargs)

        return Fixed


SESSIONS = inline_serializer("Session", many=True, fields={
    "id": serializers.CharField(), "created": serializers.DateTimeField(),
    "last_refreshed": serializers.DateTimeField(), "client": serializers.CharField(),
    "ip": serializers.CharField(), "current": serializers.BooleanField()})


class SessionListViewExtension(OpenApiViewExtension):
    target_class = "drf_toctou.views.SessionListView"

    def view_replacement(self) -> Any:
        class Fixed(self.target_class):  # type: ignore[name-defined]
            @extend_schema(responses={200: SESSIONS, 401: REFUSAL, 503: REFUSAL},
                           description="The caller's sessions, newest first; `current` marks this token's.")
            def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
                return super().get(request, *args, **kwargs)

        return Fixed


class SessionDetailViewExtension(OpenApiViewExtension):
    target_class = "drf_toctou.views.SessionDetailView"

    def view_replacement(self) -> Any:
        class Fixed(self.target_class):  # type: ignore[name-defined]
            @extend_schema(responses={204: None, 401: REFUSAL, 404: REFUSAL, 503: REFUSAL},
                           description="End one of the caller's sessions: its tokens are refused from the next "
                                       "request. Another user's session id answers 404.")
            def delete(self, request: Any, *args: Any, **kwargs: Any) -> Any:
                return super().delete(request, *args, **kwargs)

        return Fixed


class OtherSessionsViewExtension(OpenApiViewExtension):
    target_class = "drf_toctou.views.OtherSessionsView"

    def view_replacement(self) -> Any:
        class Fixed(self.target_class):  # type: ignore[name-defined]
            @extend_schema(responses={204: None, 401: REFUSAL, 503: REFUSAL},
                           description="End every session of the caller but the current one.")
            def delete(self, request: Any, *args: Any, **kwargs: Any) -> Any:
                return super().delete(request, *args, **kwargs)

        return Fixed


REFUSALS = {
    "401": "token_not_valid, bad_authorization_header, token_revoked, token_version_stale, session_revoked, "
    "token_reused, user_not_found, user_inactive",
    "503": "token_state_unavailable (the token-state store could not answer in time)",
    "404": "not_found (absent, or not the caller's)",
    "412": "precondition_failed (If-Match names an older version)",
    "409": "write_conflict (the write lost a race with another change)",
}


REFERENCE = ("An opaque reference to the object, minted for the caller: another user's reference, a "
             "tampered one or a raw key answers 404 like a missing object.")


class ToctouAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the refusals drf-toctou adds to an
    operation: 401/503 with a revalidating authentication, 404 on objects
    rechecked at use, 409/412 on conditional writes; on views with a
    ``reference_codec``, the lookup is an opaque string. Set it as
    ``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``."""

    def get_override_parameters(self) -> Any:
        parameters = list(super().get_override_parameters())
        codec = getattr(self.view, "get_reference_codec", lambda: None)()
        if codec is not None:
            import uritemplate

            lookup = getattr(self.view, "lookup_url_kwarg", None) or getattr(self.view, "lookup_field", "pk")
            names = {lookup, "id"} if lookup == "pk" else {lookup}
            parameters += [OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.PATH, description=REFERENCE)
                           for name in uritemplate.variables(self.path) if name in names]
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> Any:
        responses = super()._get_response_bodies(direction)
        for status in self.refusal_statuses():
            if status not in responses:
                response = self._get_response_for_code(REFUSAL, status, direction=direction)
                response["description"] = REFUSALS[status]
                responses[status] = response
        return responses

    def refusal_statuses(self) -> list[str]:
        from drf_toctou.audit import is_conditional, object_recheck
        from drf_toctou.authentication import BearerRevalidatingAuthentication

        view, method = self.view, self.method.lower()
        statuses = []
        if any(isinstance(a, BearerRevalidatingAuthentication) for a in view.get_authenticators()):
            statuses += ["401", "503"]
        detail = bool(self.path_regex and "{" in self.path)
        if detail and object_recheck(getattr(view, "permission_classes", ()))[0]:
            statuses.append("404")
        if is_conditional(type(view)) and method in ("put", "patch", "delete", "post"):
            statuses += ["409"] + (["412"] if detail else [])
        return statuses
