"""The ``DRF_TOCTOU`` settings dict, read lazily and reloaded on ``setting_changed``.

Usage::

    from drf_toctou.settings import toctou_settings
    toctou_settings.STORE_TIMEOUT

A key this module does not know is an error (``ImproperlyConfigured`` naming
the closest valid key), never silently ignored: a typo in a security setting
must not fall back to a default.
"""

from __future__ import annotations

import difflib
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string
from rest_framework_simplejwt import settings as simplejwt_settings

SETTING_NAME = "DRF_TOCTOU"

DEFAULTS: dict[str, Any] = {
    "STORE": "drf_toctou.stores.database.DatabaseStore",
    "STORE_OPTIONS": {},
    "VERSION_CLAIM": "ver",
    # The claim naming a token's session (its refresh family), stamped at login.
    "SESSION_CLAIM": "sid",
    "ON_STORE_ERROR": "deny",
    "STORE_TIMEOUT": 0.25,
    "OWNER_FIELD": "owner_id",
    "HIDE_FORBIDDEN_AS_NOT_FOUND": True,
    "REVOKE_ON_PASSWORD_CHANGE": True,
    "REVOKE_ON_DEACTIVATE": True,
    "REVOKE_ON_DELETE": True,
    # Seconds a revocation outlives exp + SIMPLE_JWT["LEEWAY"]: clock skew between
    # the servers that validate tokens and the store that forgets revocations.
    "REVOCATION_GRACE": 60,
    # Raw tokens longer than this are refused before any decoding.
    "MAX_TOKEN_BYTES": 8192,
    # How ConditionalDynamoMixin.get_table() reaches the data tables:
    # {"region_name": ..., "endpoint_url": ...}; empty means "as the store".
    "DYNAMODB_DATA_OPTIONS": {},
    # Sessions (refresh families): None for no limit; beyond it, "end_oldest" or "refuse".
    "MAX_SESSIONS_PER_USER": None,
    "ON_MAX_SESSIONS": "end_oldest",
    # What the session registry keeps of the client's address: "full", "hash" or "none".
    "SESSION_CLIENT_IP": "full",
    # A store failing for the same cause is logged at ERROR once per this many seconds.
    "STORE_ERROR_LOG_INTERVAL": 60,
    # The DynamoDB Streams watcher (drf_toctou.streams): its rules (dotted paths of
    # Rule classes), the clock skew it forgives between servers (seconds), how long
    # a deleted key counts as recently deleted (seconds), and its checkpoint table.
    "STREAM_RULES": [
        "drf_toctou.streams.rules.WrittenAfterRevocation",
        "drf_toctou.streams.rules.NonOwnerWrite",
        "drf_toctou.streams.rules.Resurrection",
        "drf_toctou.streams.rules.UnstampedWrite",
        "drf_toctou.streams.rules.VersionRegression",
    ],
    "STREAM_CLOCK_MARGIN": 2.0,
    "STREAM_RESURRECTION_WINDOW": 86400,
    "STREAM_CHECKPOINT_TABLE": "drf_toctou_streams",
}

IMPORT_STRINGS = ("STORE",)

ON_STORE_ERROR_CHOICES = ("deny", "allow")
ON_MAX_SESSIONS_CHOICES = ("end_oldest", "refuse")
SESSION_CLIENT_IP_CHOICES = ("full", "hash", "none")


def _number(minimum: float, above: bool = False, integer: bool = False) -> Any:
    kind = "an integer" if integer else "a number"

    def valid(value: Any) -> str | None:
        types = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, types) or value < minimum or (above and value == minimum):
            return f"must be {kind} {'above' if above else 'at least'} {minimum}"
        return None

    return valid


def _kind(expected: type | tuple[type, ...], text: str) -> Any:
    return lambda value: None if isinstance(value, expected) and value != "" else f"must be {text}"


def _choice(choices: tuple[str, ...]) -> Any:
    return lambda value: None if value in choices else f"must be one of {choices}"


def _optional_count(value: Any) -> str | None:
    return None if value is None else _number(1, integer=True)(value)


#: What each setting must be: a wrong type or range is an error, never a
#: silently different behaviour (a negative grace would forget revocations).
VALIDATORS: dict[str, Any] = {
    "STORE": _kind((str, type), "a dotted path or a store class"),
    "STORE_OPTIONS": _kind(dict, "a dict"),
    "VERSION_CLAIM": _kind(str, "a claim name"),
    "SESSION_CLAIM": _kind(str, "a claim name"),
    "ON_STORE_ERROR": _choice(ON_STORE_ERROR_CHOICES),
    "STORE_TIMEOUT": _number(0, above=True),
    "OWNER_FIELD": _kind(str, "a field name"),
    "HIDE_FORBIDDEN_AS_NOT_FOUND": _kind(bool, "True or False"),
    "REVOKE_ON_PASSWORD_CHANGE": _kind(bool, "True or False"),
    "REVOKE_ON_DEACTIVATE": _kind(bool, "True or False"),
    "REVOKE_ON_DELETE": _kind(bool, "True or False"),
    "REVOCATION_GRACE": _number(0),
    "MAX_TOKEN_BYTES": _number(1, integer=True),
    "DYNAMODB_DATA_OPTIONS": _kind(dict, "a dict"),
    "MAX_SESSIONS_PER_USER": _optional_count,
    "ON_MAX_SESSIONS": _choice(ON_MAX_SESSIONS_CHOICES),
    "SESSION_CLIENT_IP": _choice(SESSION_CLIENT_IP_CHOICES),
    "STORE_ERROR_LOG_INTERVAL": _number(0),
    "STREAM_RULES": _kind((list, tuple), "a list of dotted paths"),
    "STREAM_CLOCK_MARGIN": _number(0),
    "STREAM_RESURRECTION_WINDOW": _number(0),
    "STREAM_CHECKPOINT_TABLE": _kind(str, "a table name"),
}


def invalid(name: str, value: Any) -> str | None:
    """Why ``value`` can't be setting ``name``, or None."""
    check = VALIDATORS.get(name)
    return check(value) if check is not None else None


def unknown_keys(given: Any, known: Any) -> list[str]:
    """One message per key of ``given`` not in ``known``, naming the closest known key."""
    messages = []
    by_case = {str(k).lower(): str(k) for k in known}
    for key in sorted(set(given) - set(known), key=str):
        close = difflib.get_close_matches(str(key).lower(), list(by_case), n=1, cutoff=0.6)
        messages.append(f"{key!r}" + (f" (did you mean {by_case[close[0]]!r}?)" if close else ""))
    return messages


class TocTouSettings:
    """Attribute access to ``settings.DRF_TOCTOU`` merged over ``DEFAULTS``."""

    def __init__(self, defaults: dict[str, Any] | None = None) -> None:
        self.defaults = defaults or DEFAULTS
        self._cached: set[str] = set()

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, SETTING_NAME, None) or {}
        if not isinstance(value, dict):
            raise ImproperlyConfigured(f"{SETTING_NAME} must be a dict.")
        unknown = unknown_keys(value, self.defaults)
        if unknown:
            raise ImproperlyConfigured(f"Unknown {SETTING_NAME} key(s): {', '.join(unknown)}.")
        return value

    def __getattr__(self, name: str) -> Any:
        """Called only for a setting not read yet: it is resolved once and kept
        as an instance attribute, so later reads cost a plain lookup."""
        if name.startswith("_") or name not in self.defaults:
            raise AttributeError(f"Invalid {SETTING_NAME} setting: {name!r}")
        value = self.user_settings.get(name, self.defaults[name])
        problem = invalid(name, value)
        if problem:
            raise ImproperlyConfigured(f"{SETTING_NAME}[{name!r}] {problem}, not {value!r}.")
        if name in IMPORT_STRINGS and isinstance(value, str):
            value = _import(value, name)
        setattr(self, name, value)
        self._cached.add(name)
        return value

    def reload(self) -> None:
        for name in list(self._cached):
            self.__dict__.pop(name, None)
        self._cached.clear()


def _import(dotted_path: str, setting: str) -> Any:
    try:
        return import_string(dotted_path)
    except ImportError as e:
        raise ImproperlyConfigured(
            f"Could not import {dotted_path!r} for {SETTING_NAME}[{setting!r}]: {e}"
        ) from e


toctou_settings = TocTouSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTING_NAME, "SIMPLE_JWT"):
        toctou_settings.reload()


setting_changed.connect(_reload)


def jwt_settings() -> Any:
    """simplejwt's ``api_settings`` as of now: simplejwt rebinds the module
    global on ``setting_changed``, so a reference taken at import goes stale."""
    return simplejwt_settings.api_settings


def leeway_seconds() -> float:
    """simplejwt's ``LEEWAY`` (a number or a timedelta) in seconds."""
    leeway = jwt_settings().LEEWAY or 0
    return float(leeway.total_seconds() if hasattr(leeway, "total_seconds") else leeway)


def require_installed() -> None:
    """Without ``drf_toctou`` in ``INSTALLED_APPS`` no system check runs, the
    commands are missing and credential changes stop revoking tokens: refuse
    to work at all rather than half."""
    if not apps.is_installed("drf_toctou"):
        raise ImproperlyConfigured(
            "drf_toctou is not in INSTALLED_APPS: add 'drf_toctou' to INSTALLED_APPS. Without it, "
            "password changes, deactivations and deletions do not revoke tokens."
        )
