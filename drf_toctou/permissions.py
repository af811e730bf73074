"""``TokenOwnershipPermission``: the object-level check done at the point of
use. It asks the store again — never a value cached during authentication —
and compares the object's owner with the token's own user id claim, never
with ``request.user``.

The owner field is the view's (``get_owner_field()``, ``owner_field`` or
``OWNER_FIELD``; see ``drf_toctou.ownership``). With
``HIDE_FORBIDDEN_AS_NOT_FOUND`` (default) a foreign object answers 404
``not_found``, like a missing one; this is a final answer, so when combining
with ``|``, put this permission last (``IsAdminUser | TokenOwnershipPermission``).
Without hiding, it returns ``False`` with code ``not_owner`` (403).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework.exceptions import APIException
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from drf_toctou.authentication import BearerRevalidatingAuthentication
from drf_toctou.exceptions import NotFound, NotOwner, TokenAuthRequired
from drf_toctou.ownership import is_owner, model_owner_field, owner_field
from drf_toctou.refusals import reject
from drf_toctou.settings import toctou_settings
from drf_toctou.state import PendingCheck, TokenIdentity, check_token
from drf_toctou.stores.base import READ, WRITE


def as_message(refusal: type[APIException]) -> dict[str, Any]:
    return {"detail": refusal.default_detail, "code": refusal.default_code}


class TokenOwnershipPermission(BasePermission):
    message: Any = as_message(NotOwner)
    code = NotOwner.default_code

    def has_permission(self, request: Request, view: Any) -> bool:
        authenticator = getattr(request, "successful_authenticator", None)
        if authenticator is None:
            return False  # DRF answers 401 not_authenticated
        if not isinstance(authenticator, BearerRevalidatingAuthentication):
            self.message, self.code = as_message(TokenAuthRequired), TokenAuthRequired.default_code
            return False
        return True

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if request.auth is None:
            return False
        identity = self.recheck(request, view)
        field = owner_field(view)
        if isinstance(obj, models.Model):
            field = model_owner_field(type(obj), field)
        if is_owner(obj, field, identity.user_id):
            return True
        reject(request, NotOwner(), request.auth)
        if toctou_settings.HIDE_FORBIDDEN_AS_NOT_FOUND:
            raise NotFound()
        return False

    def recheck(self, request: Request, view: Any) -> TokenIdentity:
        """The token's state now, not as authentication saw it: the recheck a
        conditional mixin sent together with the object's read (handed over
        by ``view.take_token_recheck()``), else a new round trip."""
        take = getattr(view, "take_token_recheck", None)
        pending: PendingCheck | None = take() if callable(take) else None
        try:
            purpose = READ if request.method in SAFE_METHODS else WRITE
            return pending.result() if pending is not None else check_token(request.auth, purpose)
        except APIException as e:
            reject(request, e, request.auth)
            raise
