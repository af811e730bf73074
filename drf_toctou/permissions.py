"""``TokenOwnershipPermission``: the object-level check done at the point of use
(L2). It reads the token state from the store again — never a value cached
during authentication — and compares the object's owner with the token's own
user id claim, never with ``request.user``.

With ``HIDE_FORBIDDEN_AS_NOT_FOUND`` (default) a foreign object answers 404
``not_found``, like a missing one; this is a final answer, so when combining
with ``|``, put this permission last (``IsAdminUser | TokenOwnershipPermission``).
Without hiding, it returns ``False`` with code ``not_owner`` (403).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import APIException
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from drf_toctou.audit import reason_of, reject
from drf_toctou.authentication import BearerRevalidatingAuthentication
from drf_toctou.exceptions import NotFound, TokenAuthRequired
from drf_toctou.settings import toctou_settings
from drf_toctou.state import check_token, take_recheck


def owner_field_of(view: Any) -> str:
    return getattr(view, "owner_field", None) or toctou_settings.OWNER_FIELD


def owner_of(obj: Any, field: str) -> Any:
    """The owner id held by ``obj``: a model instance or a dict (DynamoDB item)."""
    if isinstance(obj, dict):
        return obj.get(field)
    return getattr(obj, field, None)


def is_owner(obj: Any, field: str, user_id: str) -> bool:
    owner = owner_of(obj, field)
    return owner is not None and str(owner) == user_id


class TokenOwnershipPermission(BasePermission):
    message: Any = {"detail": _("You do not own this object."), "code": "not_owner"}
    code = "not_owner"
    token_required = {"detail": TokenAuthRequired.default_detail, "code": TokenAuthRequired.default_code}

    def has_permission(self, request: Request, view: Any) -> bool:
        authenticator = getattr(request, "successful_authenticator", None)
        if authenticator is None:
            return False  # DRF answers 401 not_authenticated
        if not isinstance(authenticator, BearerRevalidatingAuthentication):
            self.message, self.code = self.token_required, "token_auth_required"
            return False
        return True

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if request.auth is None:
            return False
        try:
            # The second round trip: now, not then — sent with the object's read
            # by the conditional mixins, else here.
            pending = take_recheck(request)
            identity = pending.result() if pending is not None else check_token(request.auth)
        except APIException as e:
            reject(request, reason_of(e), request.auth)
            raise
        if is_owner(obj, owner_field_of(view), identity.user_id):
            return True
        reject(request, "not_owner", request.auth)
        if toctou_settings.HIDE_FORBIDDEN_AS_NOT_FOUND:
            raise NotFound()
        return False
