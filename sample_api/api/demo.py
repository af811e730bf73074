"""The demo-only pause points. They sleep only when the settings module in use
is ``sample_api.demo_settings`` (the only one defining SAMPLE_API_DEMO_PAUSE)
and the request asks for that point with ``X-Demo-Pause``. Production settings
cannot enable them."""

from __future__ import annotations

import time

from django.conf import settings
from rest_framework_simplejwt.authentication import JWTAuthentication

from drf_toctou.authentication import BearerRevalidatingAuthentication

DEMO_SETTINGS = "sample_api.demo_settings"
AFTER_AUTH = "after_auth"
BEFORE_WRITE = "before_write"


def pause_seconds() -> float:
    if settings.SETTINGS_MODULE != DEMO_SETTINGS:
        return 0.0
    return float(getattr(settings, "SAMPLE_API_DEMO_PAUSE", 0) or 0)


def pause(request, point: str) -> None:
    seconds = pause_seconds()
    if seconds and request.headers.get("X-Demo-Pause") == point:
        time.sleep(seconds)


class PauseAfterAuthentication:
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            pause(request, AFTER_AUTH)
        return result


class DemoBearerAuthentication(PauseAfterAuthentication, BearerRevalidatingAuthentication):
    """The plugin's authentication, with the demo's after-authentication pause."""


class NaiveDemoAuthentication(PauseAfterAuthentication, JWTAuthentication):
    """Plain simplejwt, with the same pause."""
