"""Settings for `make demo` and the demo tests: the sample API plus the demo-only
pause point. No other settings module defines SAMPLE_API_DEMO_PAUSE, and the
pause hook also checks that this very module is the one in use."""

import os

from django.conf import global_settings

from sample_api.settings import *  # noqa: F401,F403
from sample_api.settings import REST_FRAMEWORK

SAMPLE_API_DEMO_PAUSE = float(os.environ.get("DEMO_PAUSE", "1.0"))

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_AUTHENTICATION_CLASSES": ["sample_api.api.demo.DemoBearerAuthentication"],
    "DEFAULT_THROTTLE_RATES": {"drf_toctou_auth": "10000/minute"},
}

# The demo and the reliability proofs log in hundreds of times, with throw-away
# users, on loopback: a fast hasher first (Django's PBKDF2 costs ~0.3-0.5 s a
# login on a shared 2-core machine). sample_api.settings keeps Django's own.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *global_settings.PASSWORD_HASHERS]
