"""The endpoint audit behind ``manage.py toctou_audit`` and checks W004/E006:
walk the URLconf and judge every DRF endpoint and method — is a presented
bearer token revalidated against the store, is the object rechecked at the
point of use, are object writes conditional — without false assurance:

- a class before ``BearerRevalidatingAuthentication`` that can accept the
  bearer token (simplejwt's own, a token class with the same keyword) means
  the token is *not* revalidated; an unknown class there is a warning;
- ``X | TokenOwnershipPermission`` where ``X`` lets every caller through
  (``AllowAny``, ``IsAuthenticated``, ...) means the recheck never runs;
- a simplejwt token view that issues tokens without a version claim is an
  error (once a user's version moves, every new token is refused).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import authentication, permissions

from drf_toctou.authentication import BearerRevalidatingAuthentication, header_types
from drf_toctou.permissions import TokenOwnershipPermission

WRITES = {"post", "put", "patch", "delete"}
OBJECT_WRITES = {"put", "patch", "delete"}
PROTECTED, PRONE, NOT_APPLICABLE = "protected", "TOCTOU-prone", "not applicable"
SEVERITY = {"ok": 0, "warning": 1, "error": 2}
NO_BEARER = (authentication.SessionAuthentication, authentication.BasicAuthentication,
             authentication.RemoteUserAuthentication)
ALWAYS_PASS = (permissions.AllowAny, permissions.IsAuthenticated, permissions.IsAuthenticatedOrReadOnly)


def __getattr__(name: str) -> Any:
    if name == "token_rejected":  # its home before 0.2
        from drf_toctou.signals import token_rejected

        return token_rejected
    raise AttributeError(name)


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


def accepts_bearer(cls: type) -> bool | None:
    """Whether an authentication class can accept a bearer token: True,
    False, or None when it can't be told."""
    if hasattr(cls, "get_validated_token"):
        return True
    if issubclass(cls, NO_BEARER):
        return False
    keyword = getattr(cls, "keyword", None)
    return keyword in header_types() if isinstance(keyword, str) else None


def revalidation(classes: list[type]) -> tuple[bool, list[tuple[str, str]]]:
    """(bearer tokens revalidated, findings) for an ``authentication_classes``
    list: ours must come before any class that could accept the token first."""
    for cls in classes:
        if issubclass(cls, BearerRevalidatingAuthentication):
            return True, []
        accepts = accepts_bearer(cls)
        if accepts:
            return False, [("error", f"{cls.__name__} accepts the bearer token before it is revalidated: "
                                     "a revoked token works until exp (S1, S2)")]
        if accepts is None and any(issubclass(c, BearerRevalidatingAuthentication) for c in classes):
            return False, [("warning", f"{cls.__name__} comes before BearerRevalidatingAuthentication: if it can "
                                       "accept bearer tokens, revoked tokens pass")]
    bearer = any(accepts_bearer(cls) for cls in classes)
    return False, [("error", "bearer tokens are not revalidated: a revoked token works until exp (S1, S2)")] if bearer \
        else []


def _operands(node: Any) -> list[Any]:
    return [getattr(node, name) for name in ("op1_class", "op2_class") if hasattr(node, name)]


def _contains_token_permission(node: Any) -> bool:
    if isinstance(node, type):
        return issubclass(node, TokenOwnershipPermission)
    return any(_contains_token_permission(op) for op in _operands(node))


def _always_passes(node: Any) -> bool:
    if not isinstance(node, type) or not issubclass(node, permissions.BasePermission):
        return False
    return issubclass(node, ALWAYS_PASS) or (
        node.has_permission is permissions.BasePermission.has_permission
        and node.has_object_permission is permissions.BasePermission.has_object_permission)


def _name(node: Any) -> str:
    return node.__name__ if isinstance(node, type) else type(node).__name__


def object_recheck(entries: Any) -> tuple[bool, list[tuple[str, str]]]:
    """(TokenOwnershipPermission effectively runs, findings) for a
    ``permission_classes`` list, composed with ``&``, ``|``, ``~`` or not."""
    found: list[tuple[str, str]] = []
    effective = False
    for entry in entries:
        effective |= _effective(entry, found)
    return effective, found


def _effective(node: Any, found: list[tuple[str, str]]) -> bool:
    if isinstance(node, type):
        return issubclass(node, TokenOwnershipPermission)
    kind, operands = getattr(getattr(node, "operator_class", None), "__name__", ""), _operands(node)
    if kind == "NOT" and any(_contains_token_permission(op) for op in operands):
        found.append(("error", "~TokenOwnershipPermission inverts the owner check"))
        return False
    if kind == "OR" and len(operands) == 2 and any(_contains_token_permission(op) for op in operands):
        mine, other = operands if _contains_token_permission(operands[0]) else operands[::-1]
        if _always_passes(other):
            found.append(("error", f"{_name(other)} | TokenOwnershipPermission: {_name(other)} lets every caller "
                                   "through, so the point-of-use recheck and the owner check never run"))
            return False
        found.append(("note", f"{_name(other)} | TokenOwnershipPermission: for the callers {_name(other)} admits, "
                              "neither the recheck nor the owner check runs"))
        return _effective(mine, found)
    return any(_effective(op, found) for op in operands)


def is_conditional(view_class: Any) -> bool:
    from drf_toctou.mixins.base import ConditionalMixinBase

    return isinstance(view_class, type) and issubclass(view_class, ConditionalMixinBase)


def drf_views(resolver: Any = None, prefix: str = "") -> Iterator[tuple[str, Any, bool]]:
    """(route, callback, is a detail route) for every DRF view of the URLconf.
    A ``format`` suffix does not make a route a detail route."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern).lstrip("^").rstrip("$")
        if isinstance(entry, URLResolver):
            yield from drf_views(entry, route)
        elif isinstance(entry, URLPattern) and hasattr(entry.callback, "cls"):
            yield route, entry.callback, bool(set(entry.pattern.regex.groupindex) - {"format"})


def shadowed(route: str, callback: Any, urlconf: str | None = None) -> bool:
    """Whether a route without parameters is answered by an earlier pattern
    (e.g. dj-rest-auth's refresh view behind a project's own): unreachable."""
    from django.urls import Resolver404, resolve

    if any(char in route for char in "<([{*+\\"):
        return False
    try:
        match = resolve("/" + route.replace("/?", "/").replace("^", "").replace("$", ""), urlconf)
    except Resolver404:
        return False
    return match.func is not callback


def methods_of(callback: Any) -> list[str]:
    view_class = callback.cls
    allowed = [m for m in view_class.http_method_names if m not in ("options", "head")]
    actions = getattr(callback, "actions", None)
    if actions:
        return sorted(m for m in actions if m in allowed)
    return [m for m in allowed if hasattr(view_class, m)]


def judge(route: str, method: str, callback: Any, detail: bool) -> Endpoint:
    view_class = callback.cls
    classes = list(getattr(view_class, "authentication_classes", ()))
    revalidating, findings = revalidation(classes)
    rechecked, permission_findings = object_recheck(getattr(view_class, "permission_classes", ()))
    endpoint = Endpoint(
        path=route, method=method.upper(), view=f"{view_class.__module__}.{view_class.__qualname__}",
        authentication=[cls.__name__ for cls in classes], revalidating=revalidating,
        # The conditional mixins recheck the token with every object read themselves.
        object_recheck=rechecked or is_conditional(view_class), conditional_writes=is_conditional(view_class),
    )
    problem = token_view_problem(view_class)
    if problem:
        flag(endpoint, "error", problem)
    if not classes or (not revalidating and not findings):
        if not endpoint.reasons:
            endpoint.verdict = NOT_APPLICABLE
        return endpoint
    note = getattr(view_class, "toctou_audit_note", None)
    if note:  # a view acting on token state, not on objects (drf-toctou's own)
        for severity, reason in findings:
            flag(endpoint, severity, reason)
        if endpoint.severity == "ok":
            endpoint.verdict = NOT_APPLICABLE
        endpoint.reasons.append(f"note: {note}")
        return endpoint
    if is_conditional(view_class):  # the mixin rechecks and checks the owner itself, whatever the permissions
        permission_findings = [("note", f"{reason}; the conditional mixin still rechecks the token and checks "
                                        "the owner itself") for _severity, reason in permission_findings]
    for severity, reason in findings + permission_findings:
        flag(endpoint, severity, reason)
    if detail and not endpoint.object_recheck:
        flag(endpoint, "warning",
             "no point-of-use recheck of the token (TokenOwnershipPermission or a conditional mixin)")
    if detail and method in OBJECT_WRITES and not endpoint.conditional_writes:
        flag(endpoint, "warning", "object writes are check-then-write, not conditional (S3-S6)")
    if method in WRITES and not detail and method != "post" and not endpoint.conditional_writes:
        flag(endpoint, "warning", "writes are not conditional")
    return endpoint


def flag(endpoint: Endpoint, severity: str, reason: str) -> None:
    if severity == "note":
        endpoint.reasons.append(f"note: {reason}")
        return
    endpoint.verdict = PRONE
    if SEVERITY[severity] > SEVERITY.get(endpoint.severity, 0):
        endpoint.severity = severity
    endpoint.reasons.append(reason)


def audit(urlconf: str | None = None) -> list[Endpoint]:
    resolver = get_resolver(urlconf)
    endpoints = []
    for route, callback, detail in drf_views(resolver):
        hidden = shadowed(route, callback, urlconf)
        for method in methods_of(callback):
            endpoint = judge(route, method, callback, detail)
            if hidden:  # never reached: an earlier pattern answers this path
                endpoint.verdict, endpoint.severity = NOT_APPLICABLE, "ok"
                endpoint.reasons = ["note: shadowed by an earlier URL pattern"]
            endpoints.append(endpoint)
    return endpoints



def token_view_problem(view_class: Any) -> str | None:
    """What is wrong with a simplejwt token view as mounted, if anything: its
    serializer (``SIMPLE_JWT["TOKEN_*_SERIALIZER"]``) must be drf-toctou's."""
    from django.utils.module_loading import import_string
    from rest_framework_simplejwt import views as jwt_views

    from drf_toctou import serializers as ours
    from drf_toctou.tokens import VersionedTokenMixin

    required = {
        jwt_views.TokenObtainPairView: (ours.TokenObtainPairSerializer, "TOKEN_OBTAIN_SERIALIZER"),
        jwt_views.TokenRefreshView: (ours.TokenRefreshSerializer, "TOKEN_REFRESH_SERIALIZER"),
        jwt_views.TokenVerifyView: (ours.TokenVerifySerializer, "TOKEN_VERIFY_SERIALIZER"),
        jwt_views.TokenBlacklistView: (ours.TokenBlacklistSerializer, "TOKEN_BLACKLIST_SERIALIZER"),
    }
    if not isinstance(view_class, type):
        return None
    if issubclass(view_class, (jwt_views.TokenObtainSlidingView, jwt_views.TokenRefreshSlidingView)):
        return "sliding tokens carry no version: once a user's version moves, they are refused"
    for view_base, (serializer_base, setting) in required.items():
        if not issubclass(view_class, view_base):
            continue
        try:
            serializer = view_class.serializer_class or import_string(view_class._serializer_class)
        except ImportError as e:
            return f"its serializer can't be imported: {e}"
        token_class = getattr(serializer, "token_class", None)
        versioned = isinstance(token_class, type) and issubclass(token_class, VersionedTokenMixin) \
            and view_base is jwt_views.TokenObtainPairView
        if issubclass(serializer, serializer_base) or versioned:
            return None
        return (f"{serializer.__module__}.{serializer.__name__} works outside drf-toctou (tokens without a version "
                f"claim or a session, no revocation check): set SIMPLE_JWT[{setting!r}] = "
                f"'drf_toctou.serializers.{serializer_base.__name__}'")
    return None
