"""Who owns an object, compared with the token's own user id claim.

The owner field of a view is named once (``get_owner_field()``, else the
``owner_field`` attribute, else ``OWNER_FIELD``). On a model it must resolve
to a field whose values live in the same space as the token's
``USER_ID_CLAIM``: a foreign key to the user model whose target is
``USER_ID_FIELD`` (compared through its column, ``owner_id``), or a plain field
of the same kind as ``USER_ID_FIELD``. Anything else is refused at start-up
(system check E005) and never compared: a model instance's ``str()`` is a
username, not an id.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models

from drf_toctou.settings import jwt_settings, toctou_settings


def owner_field(view: Any) -> str:
    """The owner field a view names: its ``get_owner_field()`` hook when it
    has one (the conditional mixins), else ``owner_field``, else the setting."""
    hook = getattr(view, "get_owner_field", None)
    if callable(hook):
        return str(hook())
    return getattr(view, "owner_field", None) or toctou_settings.OWNER_FIELD


def view_model(view: Any) -> Any:
    """The model behind a view's queryset, or None (DynamoDB items, APIViews)."""
    queryset = getattr(view, "queryset", None)
    if queryset is None and hasattr(view, "get_queryset"):
        try:
            queryset = view.get_queryset()
        except Exception:  # a view whose queryset needs a request: judged on its objects
            queryset = None
    return getattr(queryset, "model", None)


def _kind(field: Any) -> str:
    if isinstance(field, models.IntegerField):
        return "integer"
    if isinstance(field, (models.CharField, models.TextField, models.UUIDField)):
        return "text"
    return type(field).__name__


@lru_cache(maxsize=512)
def _resolve(model: Any, name: str, user_model: Any, id_field_name: str) -> str:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist as e:
        raise ImproperlyConfigured(f"{model._meta.label} has no owner field {name!r}.") from e
    id_field = user_model._meta.get_field(id_field_name)
    if field.is_relation:
        if not (field.many_to_one or field.one_to_one) or field.related_model is not user_model:
            raise ImproperlyConfigured(
                f"{model._meta.label}.{field.name} is not a foreign key to {user_model._meta.label}.")
        if field.target_field.name != id_field.name:
            raise ImproperlyConfigured(
                f"{model._meta.label}.{field.name} points at {user_model._meta.label}.{field.target_field.name}, "
                f"but tokens identify users by SIMPLE_JWT['USER_ID_FIELD'] = {id_field_name!r}: "
                f"declare ForeignKey(..., to_field={id_field_name!r}).")
        return str(field.attname)
    if not getattr(field, "concrete", False) or _kind(field) != _kind(id_field):
        raise ImproperlyConfigured(
            f"{model._meta.label}.{name} ({type(field).__name__}) can't hold the user ids of tokens "
            f"({user_model._meta.label}.{id_field_name}, {type(id_field).__name__}).")
    return str(field.attname)


def model_owner_field(model: Any, name: str) -> str:
    """The column (attname) of ``model`` holding the owner's user id, named
    ``name`` or its column; ``ImproperlyConfigured`` when its values can't be
    the token's user ids."""
    return _resolve(model, name, get_user_model(), jwt_settings().USER_ID_FIELD)


def owner_value(model: Any, attname: str, user_id: str) -> Any:
    """The token's user id as the owner column's Python value (an int for the
    usual ``owner_id``), for a create."""
    field = next(f for f in model._meta.concrete_fields if f.attname == attname)
    return getattr(field, "target_field", field).to_python(user_id)


def owner_of(obj: Any, field: str) -> Any:
    """The owner id held by ``obj``: a model instance or a dict (DynamoDB item)."""
    if isinstance(obj, dict):
        return obj.get(field)
    return getattr(obj, field, None)


def is_owner(obj: Any, field: str, user_id: str) -> bool:
    """Whether ``obj``'s owner is the user ``user_id`` (the token's claim, as
    str). Only ids are compared — an int, a string or a UUID — never an object."""
    owner = owner_of(obj, field)
    if isinstance(owner, bool) or not isinstance(owner, (int, str, uuid.UUID)):
        return False
    return str(owner) == user_id
