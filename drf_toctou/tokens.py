"""simplejwt token classes that carry the user's token version and a session.

``for_user`` stamps the user's current version in the ``VERSION_CLAIM`` claim;
a refresh token also gets a new session id (``SESSION_CLAIM``, its refresh
family), kept through rotations. A refresh token's ``access_token`` copies
both claims, so refreshed access tokens die with their session and with their
user's version. Tokens without a version count as version 0: existing
simplejwt tokens keep working until the user's version moves.
"""

from __future__ import annotations

import uuid
from typing import Any

from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from drf_toctou.settings import jwt_settings, toctou_settings
from drf_toctou.state import call_store
from drf_toctou.stores import get_store


def user_id_of(user: Any) -> str:
    """The id under which the store keys ``user``: its ``USER_ID_FIELD``, as str."""
    return str(getattr(user, jwt_settings().USER_ID_FIELD))


def new_session_id() -> str:
    return uuid.uuid4().hex


class VersionedTokenMixin:
    @classmethod
    def for_user(cls, user: Any) -> Any:
        token = super().for_user(user)  # type: ignore[misc]
        token[toctou_settings.VERSION_CLAIM] = call_store(get_store().current_version, user_id_of(user))
        return token


class VersionedAccessToken(VersionedTokenMixin, AccessToken):
    pass


class VersionedRefreshToken(VersionedTokenMixin, RefreshToken):
    access_token_class = VersionedAccessToken

    @classmethod
    def for_user(cls, user: Any) -> Any:
        """A refresh token opening a new session (refresh family)."""
        token = super().for_user(user)
        token[toctou_settings.SESSION_CLAIM] = new_session_id()
        return token
