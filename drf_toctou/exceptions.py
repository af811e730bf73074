"""Exceptions: internal ones (store faults, failed write conditions) and the
HTTP-facing ones, whose body is always ``{"detail": ..., "code": ...}``.

Internal exceptions are converted to HTTP ones at one boundary:
``drf_toctou.state`` for store faults, the mixins for write conditions.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status

# --- internal ---------------------------------------------------------------


class StoreError(Exception):
    """The token-state store could not answer (down, slow, throttled, broken)."""


class ConditionFailed(Exception):
    """A conditional write was refused; ``reason`` says which condition failed.

    Reasons: ``"not_found"``, ``"not_owner"``, ``"precondition_failed"``,
    ``"token_revoked"``, ``"token_version_stale"``, ``"write_conflict"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- HTTP-facing ------------------------------------------------------------


class ToctouAPIException(exceptions.APIException):
    """An APIException whose detail is a dict, so DRF's default exception
    handler renders ``{"detail": ..., "code": ...}`` without any setup."""

    def __init__(self, detail: Any = None, code: str | None = None) -> None:
        code = code or self.default_code
        super().__init__({"detail": detail or self.default_detail, "code": code}, code)


class TokenRevoked(ToctouAPIException):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = _("Token has been revoked.")
    default_code = "token_revoked"


class TokenVersionStale(ToctouAPIException):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = _("Token was issued before its user's tokens were revoked.")
    default_code = "token_version_stale"


class TokenStateUnavailable(ToctouAPIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("Token state could not be verified; try again.")
    default_code = "token_state_unavailable"


class NotFound(ToctouAPIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = _("Not found.")
    default_code = "not_found"


class NotOwner(ToctouAPIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = _("You do not own this object.")
    default_code = "not_owner"


class NotAuthenticated(ToctouAPIException, exceptions.NotAuthenticated):
    """No credentials on a conditional-mixin view (one open to anyone by its
    permissions): 401 with DRF's ``WWW-Authenticate`` handling."""

    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = _("Authentication credentials were not provided.")
    default_code = "not_authenticated"


class TokenAuthRequired(ToctouAPIException):
    """The caller was let in by an authentication class other than
    ``BearerRevalidatingAuthentication``: there is no checked token to act for."""

    status_code = status.HTTP_403_FORBIDDEN
    default_detail = _("This resource requires a bearer token checked by drf-toctou.")
    default_code = "token_auth_required"


class PreconditionFailed(ToctouAPIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _("The object changed since you read it (If-Match failed).")
    default_code = "precondition_failed"


class WriteConflict(ToctouAPIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The write lost a race with another change; retry.")
    default_code = "write_conflict"


TOKEN_STATE_EXCEPTIONS = {
    "token_revoked": TokenRevoked,
    "token_version_stale": TokenVersionStale,
}


class BadRequest(ToctouAPIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("Malformed request body.")
    default_code = "invalid_body"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """Optional ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``: DRF's handler, plus a
    ``code`` next to a lone ``detail`` (e.g. DRF's own ``not_authenticated``),
    so every refusal of the API carries a stable code."""
    from rest_framework.views import exception_handler as drf_handler

    response = drf_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and set(response.data) == {"detail"}:
        detail = response.data["detail"]
        response.data["code"] = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    return response


class DataStoreUnavailable(ToctouAPIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The data store could not answer; try again.")
    default_code = "data_unavailable"
