"""System checks that walk the URLconf (tag ``urls``): what ``toctou_audit``
finds, raised at start-up so that a misconfigured view fails ``manage.py
check`` instead of answering 500 — or, worse, 200 — at its first request."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import router

from drf_toctou.audit import drf_views, is_conditional, object_recheck, revalidation, shadowed, token_view_problem
from drf_toctou.authentication import BearerRevalidatingAuthentication

W004_MSG = (
    "TokenOwnershipPermission is used but BearerRevalidatingAuthentication is not in DEFAULT_AUTHENTICATION_CLASSES."
)
W004_HINT = (
    "Add drf_toctou.authentication.BearerRevalidatingAuthentication to "
    "REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES']."
)
E005_MSG = "{view}: the owner field can't be compared with the token's user id: {error}"
E005_HINT = "Set owner_field to a ForeignKey to the user model (README 'Ownership'), or DRF_TOCTOU['OWNER_FIELD']."
E006_MSG = "{view} at {route!r}: {problem}"
E006_HINT = "See README 'Using simplejwt's and dj-rest-auth's views'."
E008_MSG = "{view} at {route!r}: {problem}"
E008_HINT = "Put BearerRevalidatingAuthentication first in authentication_classes."
E009_MSG = "{view} at {route!r}: {problem}"
E009_HINT = "Drop the other operand, or put TokenOwnershipPermission in an AND (README 'TokenOwnershipPermission')."
W011_MSG = ("{view} combines a conditional mixin with a class that gives no actions: it serves nothing. Since 0.2 "
            "ConditionalModelMixin adds no action of its own.")
W011_HINT = "Use viewsets.ModelViewSet or ReadOnlyModelViewSet, or list DRF's mixins (README 'ConditionalModelMixin')."
W012_MSG = ("{view} writes to database {alias!r}, but DatabaseStore keeps token state in {using!r}: its writes are "
            "rechecked just before they are sent, not fenced (S6 has a residual window).")
W012_HINT = "Point DatabaseStore's 'using' at the database the writes go to, or accept the residual window."
ACTIONS = ("list", "retrieve", "create", "update", "partial_update", "destroy")


def _name(view_class: Any) -> str:
    return f"{view_class.__module__}.{view_class.__qualname__}"


def check_endpoints(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from rest_framework.settings import api_settings

    found: list[checks.CheckMessage] = []
    seen: set[Any] = set()
    uses_permission = False
    for route, callback, _detail in drf_views():
        view_class = callback.cls
        problem = token_view_problem(view_class)
        if problem and not shadowed(route, callback):
            found.append(checks.Error(E006_MSG.format(view=_name(view_class), route=route, problem=problem),
                                      hint=E006_HINT, id="drf_toctou.E006"))
        classes = list(getattr(view_class, "authentication_classes", ()))
        _, problems = revalidation(classes)
        if any(issubclass(c, BearerRevalidatingAuthentication) for c in classes):
            for severity, text in problems:
                if severity == "error":
                    found.append(checks.Error(E008_MSG.format(view=_name(view_class), route=route, problem=text),
                                              hint=E008_HINT, id="drf_toctou.E008"))
        rechecked, permission_findings = object_recheck(getattr(view_class, "permission_classes", ()))
        uses_permission |= rechecked
        if not is_conditional(view_class):
            for severity, text in permission_findings:
                if severity == "error":
                    found.append(checks.Error(E009_MSG.format(view=_name(view_class), route=route, problem=text),
                                              hint=E009_HINT, id="drf_toctou.E009"))
        if view_class not in seen:
            seen.add(view_class)
            found += owner_field_problems(view_class, rechecked)
            found += fence_problems(view_class)
    defaults: Any = api_settings.DEFAULT_AUTHENTICATION_CLASSES
    if uses_permission and not any(issubclass(cls, BearerRevalidatingAuthentication) for cls in defaults):
        found.append(checks.Warning(W004_MSG, hint=W004_HINT, id="drf_toctou.W004"))
    return found + action_problems()


def owner_field_problems(view_class: Any, rechecked: bool) -> list[checks.CheckMessage]:
    from drf_toctou.mixins.model import ConditionalModelMixin
    from drf_toctou.ownership import model_owner_field, owner_field, view_model

    if not (rechecked or issubclass(view_class, ConditionalModelMixin)):
        return []
    view = view_class()
    model = view_model(view)
    if model is None:
        return []
    try:
        model_owner_field(model, owner_field(view))
    except (ImproperlyConfigured, AttributeError) as e:
        return [checks.Error(E005_MSG.format(view=_name(view_class), error=e), hint=E005_HINT, id="drf_toctou.E005")]
    return []


def fence_problems(view_class: Any) -> list[checks.CheckMessage]:
    from drf_toctou.mixins.model import ConditionalModelMixin
    from drf_toctou.ownership import view_model
    from drf_toctou.stores import get_store
    from drf_toctou.stores.database import DatabaseStore

    try:
        store = get_store()
    except Exception:  # E001 says why
        return []
    if not (issubclass(view_class, ConditionalModelMixin) and isinstance(store, DatabaseStore)):
        return []
    model = view_model(view_class())
    alias = router.db_for_write(model) if model is not None else None
    if alias is None or store.write_fence(alias) is not None:
        return []
    return [checks.Warning(W012_MSG.format(view=_name(view_class), alias=alias, using=store.using), hint=W012_HINT,
                           id="drf_toctou.W012")]


def _leaves(cls: type) -> list[type]:
    children: list[type] = cls.__subclasses__()
    return [leaf for child in children for leaf in _leaves(child)] if children else [cls]


def action_problems() -> list[checks.CheckMessage]:
    from rest_framework.viewsets import ViewSetMixin

    from drf_toctou.mixins.model import ConditionalModelMixin

    found: list[checks.CheckMessage] = []
    for leaf in _leaves(ConditionalModelMixin):
        if is_conditional(leaf) and issubclass(leaf, ViewSetMixin) and not any(hasattr(leaf, a) for a in ACTIONS):
            found.append(checks.Warning(W011_MSG.format(view=_name(leaf)), hint=W011_HINT, id="drf_toctou.W011"))
    return found


def register() -> None:
    checks.register(check_endpoints, "drf_toctou", checks.Tags.urls)
