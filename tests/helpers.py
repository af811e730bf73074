from __future__ import annotations

import time

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
