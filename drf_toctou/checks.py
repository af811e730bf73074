"""System checks (``manage.py check``) of the settings and the store, ids
``drf_toctou.E0xx`` / ``W0xx``. The checks that walk the URLconf live in
``drf_toctou.url_checks``; the store's own ``--deploy`` findings in its module
(``deploy_checks()``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from drf_toctou.settings import DEFAULTS, SETTING_NAME, invalid, jwt_settings, toctou_settings, unknown_keys

E001_MSG = "DRF_TOCTOU['STORE'] could not be imported or built: {error}"
E001_HINT = "Set DRF_TOCTOU['STORE'] to the dotted path of a store and check STORE_OPTIONS (README 'Choosing a store')."
E002_MSG = "SIMPLE_JWT['JTI_CLAIM'] is disabled: tokens can't be revoked one by one."
E002_HINT = "Leave SIMPLE_JWT['JTI_CLAIM'] at its default, 'jti'."
E003_MSG = "DRF_TOCTOU[{key!r}] {problem}, not {value!r}."
E003_HINT = "See README 'Settings'."
E004_MSG = "Unknown DRF_TOCTOU key {key}: drf-toctou refuses to start rather than ignore a security setting."
E004_HINT = "Fix the key's name; the valid ones are listed in README 'Settings'."
W001_MSG = "DRF_TOCTOU['ON_STORE_ERROR'] is 'allow': requests pass unchecked when the store is down (fail-open)."
W001_HINT = "Use 'deny' unless you accept revoked tokens working during a store outage."
W002_MSG = (
    "SIMPLE_JWT['AUTH_TOKEN_CLASSES'] has no versioned token class: after a version bump, new tokens are stale too."
)
W002_HINT = "Use drf_toctou.tokens.VersionedAccessToken (and VersionedRefreshToken for the token views)."
W003_MSG = "SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'] is {minutes:.0f} minutes: short-lived tokens are the first defence."
W003_HINT = "Keep access tokens at 15 minutes or less (5 is a good default)."
W007_MSG = "The token-state store could not be inspected for --deploy checks: {error}"
W007_HINT = "Make sure the store is reachable from this host."
MAX_ACCESS_MINUTES = 15


def check_store(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from drf_toctou.stores import get_store, reset_store

    given = getattr(settings, SETTING_NAME, None) or {}
    if not isinstance(given, dict) or unknown_keys(given, DEFAULTS) or any(
            invalid(key, value) for key, value in given.items()):
        return []  # E004 / E003 say why; the store can't be built from them
    try:
        reset_store()
        get_store()
    except (ImproperlyConfigured, ImportError, TypeError, ValueError, KeyError) as e:
        return [checks.Error(E001_MSG.format(error=e), hint=E001_HINT, id="drf_toctou.E001")]
    return []


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    given = getattr(settings, SETTING_NAME, None) or {}
    if not isinstance(given, dict):
        return [checks.Error(f"{SETTING_NAME} must be a dict, not {type(given).__name__}.", hint=E003_HINT,
                             id="drf_toctou.E003")]
    unknown = unknown_keys(given, DEFAULTS)
    if unknown:
        return [checks.Error(E004_MSG.format(key=key), hint=E004_HINT, id="drf_toctou.E004") for key in unknown]
    found: list[checks.CheckMessage] = []
    if not jwt_settings().JTI_CLAIM:
        found.append(checks.Error(E002_MSG, hint=E002_HINT, id="drf_toctou.E002"))
    for key, value in given.items():
        problem = invalid(key, value)
        if problem:
            found.append(checks.Error(E003_MSG.format(key=key, problem=problem, value=value), hint=E003_HINT,
                                      id="drf_toctou.E003"))
    if found:
        return found
    if toctou_settings.ON_STORE_ERROR == "allow":
        found.append(checks.Warning(W001_MSG, hint=W001_HINT, id="drf_toctou.W001"))
    return found


def check_tokens(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.utils.module_loading import import_string

    from drf_toctou.tokens import VersionedTokenMixin

    jwt = jwt_settings()
    found: list[checks.CheckMessage] = []
    classes = []
    for path in jwt.AUTH_TOKEN_CLASSES:
        try:
            classes.append(import_string(path) if isinstance(path, str) else path)
        except ImportError:
            continue
    if not any(isinstance(cls, type) and issubclass(cls, VersionedTokenMixin) for cls in classes):
        found.append(checks.Warning(W002_MSG, hint=W002_HINT, id="drf_toctou.W002"))
    minutes = jwt.ACCESS_TOKEN_LIFETIME.total_seconds() / 60
    if minutes > MAX_ACCESS_MINUTES:
        found.append(checks.Warning(W003_MSG.format(minutes=minutes), hint=W003_HINT, id="drf_toctou.W003"))
    return found


def check_deploy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """--deploy: what the store says of how it is run (eviction, persistence,
    replication, TTL, global tables)."""
    from drf_toctou.stores import get_store

    try:
        return list(get_store().deploy_checks())
    except Exception as e:  # the store's own errors, whatever the backend
        return [checks.Warning(W007_MSG.format(error=e), hint=W007_HINT, id="drf_toctou.W007")]


def refuse_to_start() -> None:
    """Raise ``ImproperlyConfigured`` at start-up (``AppConfig.ready``) for
    the errors of ``check_settings`` and ``check_store``: a WSGI server such
    as gunicorn runs no system checks, and a typo found at the first request
    would be a 500 there. A store that fails to build for another reason
    (e.g. no AWS region in a build step) is left to its first use."""
    try:
        found = check_settings() + check_store()
    except Exception:  # noqa: BLE001  (not a settings error: the first use reports it)
        return
    errors = [message for message in found if message.is_serious()]
    if errors:
        raise ImproperlyConfigured("drf-toctou refuses to start: " + " ".join(
            f"[{message.id}] {message.msg}" for message in errors))


def register() -> None:
    checks.register(check_settings, "drf_toctou")
    checks.register(check_store, "drf_toctou")
    checks.register(check_tokens, "drf_toctou")
    checks.register(check_deploy, "drf_toctou", deploy=True)
