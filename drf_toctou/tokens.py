"""simplejwt token classes that carry the user's token version.

``for_user`` stamps the user's current version in the ``VERSION_CLAIM`` claim.
A refresh token's ``access_token`` copies the claim, so refreshed access tokens
die with their refresh token when the version moves. Tokens without the claim
count as version 0: existing simplejwt tokens keep working until the user's
version moves.
"""

from __future__ import annotations

from typing import Any

from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from drf_toctou.settings import jwt_settings, toctou_settings
from drf_toctou.state import call_store
from drf_toctou.stores import get_store


def user_id_of(user: Any) -> str:
    """The id under which the store keys ``user``: its ``USER_ID_FIELD``, as str."""
    return str(getattr(user, jwt_settings().USER_ID_FIELD))


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
