"""Exceptions: internal ones (store faults, failed write conditions) and the
HTTP-facing ones, whose body is always ``{"detail": ..., "code": ...}``.

The HTTP-facing ones are DRF's and simplejwt's own classes with simplejwt's
``DetailDictMixin``: a refused token is an ``InvalidToken`` (401, with
``WWW-Authenticate``), a hidden object a DRF ``NotFound``, and so on. Code
raises the class that says what happened; nobody passes codes as strings.
Internal exceptions become HTTP ones at one boundary: ``drf_toctou.state`` for
store faults, the mixins for write conditions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework_simplejwt.exceptions import DetailDictMixin, InvalidToken

# Lazy messages, typed loosely: simplejwt annotates default_detail as str.
_: Callable[[str], Any] = gettext_lazy

# --- internal ---------------------------------------------------------------


class StoreError(Exception):
    """The token-state store could not answer (down, slow, throttled, broken)."""


class ConditionFailed(Exception):
    """A conditional write was refused; ``refusal`` is the HTTP exception class
    that says why (``NotFound``, ``NotOwner``, ``TokenRevoked``, ...)."""

    def __init__(self, refusal: type[Exception]) -> None:
        super().__init__(getattr(refusal, "default_code", refusal.__name__))
        self.refusal = refusal


# --- 401: the token is no longer good ----------------------------------------


class TokenRefused(InvalidToken):
    """A token whose signature and claims are fine, refused by its state."""


class TokenRevoked(TokenRefused):
    default_detail = _("Token has been revoked.")
    default_code = "token_revoked"


class TokenVersionStale(TokenRefused):
    default_detail = _("Token was issued before its user's tokens were revoked.")
    default_code = "token_version_stale"


class SessionRevoked(TokenRefused):
    default_detail = _("The session of this token has ended.")
    default_code = "session_revoked"


class TokenReused(TokenRefused):
    default_detail = _("This refresh token was already used; its session has ended.")
    default_code = "token_reused"


class NotAuthenticated(DetailDictMixin, exceptions.NotAuthenticated):
    """No credentials on a conditional-mixin view (one open to anyone by its
    permissions): 401 with DRF's ``WWW-Authenticate`` handling."""

    default_detail = _("Authentication credentials were not provided.")
    default_code = "not_authenticated"


# --- 403 / 404: not the caller's --------------------------------------------


class NotFound(DetailDictMixin, exceptions.NotFound):
    default_detail = _("Not found.")
    default_code = "not_found"


class NotOwner(DetailDictMixin, exceptions.PermissionDenied):
    default_detail = _("You do not own this object.")
    default_code = "not_owner"


class TokenAuthRequired(DetailDictMixin, exceptions.PermissionDenied):
    """The caller was let in by an authentication class other than
    ``BearerRevalidatingAuthentication``: there is no checked token to act for."""

    default_detail = _("This resource requires a bearer token checked by drf-toctou.")
    default_code = "token_auth_required"


class TooManySessions(DetailDictMixin, exceptions.PermissionDenied):
    default_detail = _("Too many sessions: end one before logging in again.")
    default_code = "too_many_sessions"


# --- 409 / 412: the write lost ----------------------------------------------


class PreconditionFailed(DetailDictMixin, exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _("The object changed since you read it (If-Match failed).")
    default_code = "precondition_failed"


class KeyExistsPrecondition(PreconditionFailed):
    default_detail = _("An object with this key already exists (If-None-Match: *).")


class NoneMatchPrecondition(PreconditionFailed):
    default_detail = _("The object exists in a version If-None-Match names (or If-None-Match is *).")


class WriteConflict(DetailDictMixin, exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The write lost a race with another change; read the object again.")
    default_code = "write_conflict"


class KeyExists(WriteConflict):
    default_detail = _("An object with this key already exists.")


# --- 400 / 503 --------------------------------------------------------------


class BadRequest(DetailDictMixin, exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("Malformed request body.")
    default_code = "invalid_body"


class TokenStateUnavailable(DetailDictMixin, exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("Token state could not be verified; try again.")
    default_code = "token_state_unavailable"
    wait = 1  # DRF's exception handler sends it as Retry-After


class DataStoreUnavailable(DetailDictMixin, exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The data store could not answer; try again.")
    default_code = "data_unavailable"
    wait = 1


def refusal_code(error: Exception) -> str:
    """The stable code of a refusal: our exceptions and simplejwt's carry it in
    their detail dict; DRF's own exceptions in ``default_code``."""
    detail = getattr(error, "detail", None)
    if isinstance(detail, dict) and "code" in detail:
        return str(detail["code"])
    return str(getattr(error, "default_code", "error"))


def with_code(response: Any, exc: Exception) -> Any:
    """A ``code`` next to a lone ``detail`` (e.g. DRF's own ``parse_error``)."""
    if response is not None and isinstance(response.data, dict) and set(response.data) == {"detail"}:
        detail = response.data["detail"]
        response.data["code"] = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """Optional ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``: DRF's handler, plus a
    ``code`` next to a lone ``detail`` (e.g. DRF's own ``not_authenticated``),
    so every refusal of the API carries a stable code. drf-toctou's own views
    add it whatever the project's handler (``views.ErrorContract``)."""
    from rest_framework.views import exception_handler as drf_handler

    return with_code(drf_handler(exc, context), exc)


class InvalidBody(BadRequest):
    """A serializer's field errors in the error contract's shape:
    ``{"detail": ..., "code": "invalid", "errors": {field: [...]}}``."""

    default_detail = _("Invalid input.")
    default_code = "invalid"

    def __init__(self, errors: Any) -> None:
        super().__init__({"errors": errors})
