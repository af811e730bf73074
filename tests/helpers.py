from __future__ import annotations

import time
from contextlib import contextmanager
from unittest import mock

from rest_framework.test import APIClient

from drf_toctou.tokens import VersionedAccessToken, VersionedRefreshToken


def bearer(token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def access_for(user) -> VersionedAccessToken:
    return VersionedAccessToken.for_user(user)


def pair_for(user) -> tuple[VersionedAccessToken, VersionedRefreshToken]:
    refresh = VersionedRefreshToken.for_user(user)
    return refresh.access_token, refresh


def assert_refusal(response, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, getattr(response, "data", response.content))
    body = response.json()
    assert body["code"] == code, body
    assert "detail" in body, body


def later(seconds: int) -> int:
    return int(time.time()) + seconds


@contextmanager
def after_object_check(permission_class, action):
    """Run ``action(request, obj)`` right after ``permission_class`` allowed the
    object: the deterministic injection point of the race tests."""
    original = permission_class.has_object_permission

    def checked(self, request, view, obj):
        allowed = original(self, request, view, obj)
        if allowed:
            action(request, obj)
        return allowed

    with mock.patch.object(permission_class, "has_object_permission", checked):
        yield
