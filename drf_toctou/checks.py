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


def register() -> None:
    checks.register(check_store, "drf_toctou")
    checks.register(check_settings, "drf_toctou")
