"""System checks (``manage.py check``), ids ``drf_toctou.E0xx`` / ``W0xx``."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from drf_toctou.settings import ON_STORE_ERROR_CHOICES, jwt_settings, toctou_settings

E001_MSG = "DRF_TOCTOU['STORE'] could not be imported or built: {error}"
E001_HINT = "Set DRF_TOCTOU['STORE'] to the dotted path of a store and check STORE_OPTIONS."
E002_MSG = "SIMPLE_JWT['JTI_CLAIM'] is disabled: tokens can't be revoked one by one."
E002_HINT = "Leave SIMPLE_JWT['JTI_CLAIM'] at its default, 'jti'."
E003_MSG = "DRF_TOCTOU['ON_STORE_ERROR'] must be one of {choices}, not {value!r}."
E003_HINT = "Use 'deny' (503 when the store can't answer)."
W001_MSG = "DRF_TOCTOU['ON_STORE_ERROR'] is 'allow': requests pass unchecked when the store is down (fail-open)."
W001_HINT = "Use 'deny' unless you accept revoked tokens working during a store outage."
W002_MSG = (
    "SIMPLE_JWT['AUTH_TOKEN_CLASSES'] has no versioned token class: after a version bump, new tokens are stale too."
)
W002_HINT = "Use drf_toctou.tokens.VersionedAccessToken (and VersionedRefreshToken for the token views)."
W003_MSG = "SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'] is {minutes:.0f} minutes: short-lived tokens are the first defence."
W003_HINT = "Keep access tokens at 15 minutes or less (5 is a good default)."
W004_MSG = (
    "TokenOwnershipPermission is used but BearerRevalidatingAuthentication is not in DEFAULT_AUTHENTICATION_CLASSES."
)
W004_HINT = (
    "Add drf_toctou.authentication.BearerRevalidatingAuthentication to "
    "REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES']."
)
W005_MSG = "Redis maxmemory-policy is {policy!r}: Redis may evict revocation keys, un-revoking tokens."
W005_HINT = "Use maxmemory-policy noeviction (or no maxmemory) for the Redis that holds token state."
W006_MSG = "DynamoDB table {table!r} has TTL {status}: expired revocations will pile up."
W006_HINT = "Run manage.py toctou_setup, or enable TTL on attribute 'expires_at'."
W007_MSG = "The token-state store could not be inspected for --deploy checks: {error}"
W007_HINT = "Make sure the store is reachable from this host."
MAX_ACCESS_MINUTES = 15


def check_store(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from drf_toctou.stores import get_store, reset_store

    try:
        reset_store()
        get_store()
    except (ImproperlyConfigured, ImportError, TypeError, ValueError, KeyError) as e:
        return [checks.Error(E001_MSG.format(error=e), hint=E001_HINT, id="drf_toctou.E001")]
    return []


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:

    found: list[checks.CheckMessage] = []
    if not jwt_settings().JTI_CLAIM:
        found.append(checks.Error(E002_MSG, hint=E002_HINT, id="drf_toctou.E002"))
    value = toctou_settings.ON_STORE_ERROR
    if value not in ON_STORE_ERROR_CHOICES:
        message = E003_MSG.format(choices=ON_STORE_ERROR_CHOICES, value=value)
        found.append(checks.Error(message, hint=E003_HINT, id="drf_toctou.E003"))
    elif value == "allow":
        found.append(checks.Warning(W001_MSG, hint=W001_HINT, id="drf_toctou.W001"))
    return found


def check_tokens(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from drf_toctou.tokens import VersionedTokenMixin

    jwt = jwt_settings()
    found: list[checks.CheckMessage] = []
    classes = [_class(path) for path in jwt.AUTH_TOKEN_CLASSES]
    if not any(isinstance(cls, type) and issubclass(cls, VersionedTokenMixin) for cls in classes):
        found.append(checks.Warning(W002_MSG, hint=W002_HINT, id="drf_toctou.W002"))
    minutes = jwt.ACCESS_TOKEN_LIFETIME.total_seconds() / 60
    if minutes > MAX_ACCESS_MINUTES:
        found.append(checks.Warning(W003_MSG.format(minutes=minutes), hint=W003_HINT, id="drf_toctou.W003"))
    return found


def _class(path: Any) -> Any:
    from django.utils.module_loading import import_string

    try:
        return import_string(path) if isinstance(path, str) else path
    except ImportError:
        return None


def check_authentication(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from rest_framework.settings import api_settings

    from drf_toctou.authentication import BearerRevalidatingAuthentication
    from drf_toctou.endpoint_audit import drf_views, has_token_permission

    classes: Any = api_settings.DEFAULT_AUTHENTICATION_CLASSES  # imported classes at run time
    if any(issubclass(cls, BearerRevalidatingAuthentication) for cls in classes):
        return []
    used = has_token_permission(api_settings.DEFAULT_PERMISSION_CLASSES) or any(
        has_token_permission(getattr(callback.cls, "permission_classes", ())) for _, callback, _ in drf_views()
    )
    return [checks.Warning(W004_MSG, hint=W004_HINT, id="drf_toctou.W004")] if used else []


def check_deploy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """--deploy: a Redis that can evict revocations, a DynamoDB table without TTL."""
    from drf_toctou.stores import get_store

    store = get_store()
    try:
        if hasattr(store, "client") and hasattr(store.client, "config_get"):
            return _redis_policy(store.client)
        if hasattr(store, "condition_checks"):
            return _dynamodb_ttl(store)
    except Exception as e:  # the store's own errors, whatever the backend
        return [checks.Warning(W007_MSG.format(error=e), hint=W007_HINT, id="drf_toctou.W007")]
    return []


def _redis_policy(client: Any) -> list[checks.CheckMessage]:
    config = client.config_get("maxmemory*")
    policy = config.get("maxmemory-policy", "noeviction")
    if int(config.get("maxmemory", 0) or 0) and policy != "noeviction":
        return [checks.Warning(W005_MSG.format(policy=policy), hint=W005_HINT, id="drf_toctou.W005")]
    return []


def _dynamodb_ttl(store: Any) -> list[checks.CheckMessage]:
    answer = store.client.describe_time_to_live(TableName=store.table_name)["TimeToLiveDescription"]
    status = answer.get("TimeToLiveStatus", "DISABLED")
    if status not in ("ENABLED", "ENABLING"):
        message = W006_MSG.format(table=store.table_name, status=status.lower())
        return [checks.Warning(message, hint=W006_HINT, id="drf_toctou.W006")]
    return []


def register() -> None:
    checks.register(check_store, "drf_toctou")
    checks.register(check_settings, "drf_toctou")
    checks.register(check_tokens, "drf_toctou")
    checks.register(check_authentication, "drf_toctou", checks.Tags.urls)
    checks.register(check_deploy, "drf_toctou", deploy=True)
