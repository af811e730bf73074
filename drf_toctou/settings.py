"""The ``DRF_TOCTOU`` settings dict, read lazily and reloaded on ``setting_changed``.

Usage::

    from drf_toctou.settings import toctou_settings
    toctou_settings.STORE_TIMEOUT
"""

from __future__ import annotations

from typing import Any

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
    "ON_STORE_ERROR": "deny",
    "STORE_TIMEOUT": 0.25,
    "OWNER_FIELD": "owner_id",
    "HIDE_FORBIDDEN_AS_NOT_FOUND": True,
    "REVOKE_ON_PASSWORD_CHANGE": True,
    "REVOKE_ON_DEACTIVATE": True,
    # Raw tokens longer than this are refused before any decoding.
    "MAX_TOKEN_BYTES": 8192,
    # How ConditionalDynamoMixin.get_table() reaches the data tables:
    # {"region_name": ..., "endpoint_url": ...}; empty means "as the store".
    "DYNAMODB_DATA_OPTIONS": {},
}

IMPORT_STRINGS = ("STORE",)

ON_STORE_ERROR_CHOICES = ("deny", "allow")


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
        return value

    def __getattr__(self, name: str) -> Any:
        """Called only for a setting not read yet: it is resolved once and kept
        as an instance attribute, so later reads cost a plain lookup."""
        if name.startswith("_") or name not in self.defaults:
            raise AttributeError(f"Invalid {SETTING_NAME} setting: {name!r}")
        value = self.user_settings.get(name, self.defaults[name])
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
