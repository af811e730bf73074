"""Walk the URLconf and judge every DRF endpoint: is its bearer token
revalidated (L1), is the object rechecked at use (L2), are object writes
conditional (L3)? The logic behind ``manage.py toctou_audit`` and check W004."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from drf_toctou.authentication import BearerRevalidatingAuthentication
from drf_toctou.permissions import TokenOwnershipPermission

WRITES = {"post", "put", "patch", "delete"}
OBJECT_WRITES = {"put", "patch", "delete"}
PROTECTED, PRONE, NOT_APPLICABLE = "protected", "TOCTOU-prone", "not applicable"
SEVERITY = {PROTECTED: 0, NOT_APPLICABLE: 0, "warning": 1, "error": 2}


@dataclass
class Endpoint:
    path: str
    method: str
    view: str
    authentication: list[str]
    revalidating: bool
    object_recheck: bool
    conditional_writes: bool
    verdict: str = PROTECTED
    severity: str = "ok"
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def permission_classes(node: Any) -> Iterator[type]:
    """Every permission class in a DRF permission tree (``&``, ``|``, ``~``)."""
    for attr in ("op1_class", "op2_class"):
        if hasattr(node, attr):
            yield from permission_classes(getattr(node, attr))
    if isinstance(node, type):
        yield node


def has_token_permission(entries: Any) -> bool:
    """Whether a ``permission_classes`` list holds TokenOwnershipPermission
    anywhere, composed or not."""
    return any(
        issubclass(cls, TokenOwnershipPermission) for entry in entries for cls in permission_classes(entry)
    )


def is_conditional(view_class: Any) -> bool:
    from drf_toctou.mixins.base import ConditionalMixinBase

    return issubclass(view_class, ConditionalMixinBase)


def drf_views(resolver: Any = None, prefix: str = "") -> Iterator[tuple[str, Any, bool]]:
    """(route, callback, has_url_kwargs) for every DRF view of the URLconf."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern).lstrip("^").rstrip("$")
        if isinstance(entry, URLResolver):
            yield from drf_views(entry, route)
        elif isinstance(entry, URLPattern) and hasattr(entry.callback, "cls"):
            has_kwargs = bool(entry.pattern.regex.groupindex)
            yield route, entry.callback, has_kwargs


def methods_of(callback: Any) -> list[str]:
    actions = getattr(callback, "actions", None)
    if actions:
        return sorted(actions)
    view_class = callback.cls
    return [m for m in view_class.http_method_names if m not in ("options", "head") and hasattr(view_class, m)]


def judge(route: str, method: str, callback: Any, detail: bool) -> Endpoint:
    view_class = callback.cls
    classes = list(getattr(view_class, "authentication_classes", ()))
    endpoint = Endpoint(
        path=route, method=method.upper(), view=f"{view_class.__module__}.{view_class.__qualname__}",
        authentication=[cls.__name__ for cls in classes],
        revalidating=any(issubclass(cls, BearerRevalidatingAuthentication) for cls in classes),
        # The conditional mixins recheck the token with every object read themselves.
        object_recheck=has_token_permission(getattr(view_class, "permission_classes", ()))
        or is_conditional(view_class),
        conditional_writes=is_conditional(view_class),
    )
    bearer = [cls for cls in classes if hasattr(cls, "get_validated_token")]
    if not classes or (not bearer and not endpoint.revalidating):
        endpoint.verdict = NOT_APPLICABLE
        return endpoint
    if not endpoint.revalidating:
        flag(endpoint, "error", "bearer tokens are not revalidated: a revoked token works until exp (S1, S2)")
    if detail and not endpoint.object_recheck:
        flag(endpoint, "warning",
             "no point-of-use recheck of the token (TokenOwnershipPermission or a conditional mixin)")
    if detail and method in OBJECT_WRITES and not endpoint.conditional_writes:
        flag(endpoint, "warning", "object writes are check-then-write, not conditional (S3-S6)")
    if method in WRITES and not detail and method != "post" and not endpoint.conditional_writes:
        flag(endpoint, "warning", "writes are not conditional")
    return endpoint


def flag(endpoint: Endpoint, severity: str, reason: str) -> None:
    endpoint.verdict = PRONE
    if SEVERITY[severity] > SEVERITY.get(endpoint.severity, 0):
        endpoint.severity = severity
    endpoint.reasons.append(reason)


def audit(urlconf: str | None = None) -> list[Endpoint]:
    resolver = get_resolver(urlconf)
    return [judge(route, method, callback, detail)
            for route, callback, detail in drf_views(resolver) for method in methods_of(callback)]
