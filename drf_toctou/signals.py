"""Bump a user's version when their password changes or they are deactivated.

Only ``Model.save()`` sends these signals: ``QuerySet.update()`` and raw SQL
bypass them, so bulk paths must call ``revoke_user_tokens`` themselves.
A store fault makes the save fail (503) rather than leave old tokens alive.
"""

from __future__ import annotations

from typing import Any

from drf_toctou.revocation import revoke_user_tokens
from drf_toctou.settings import toctou_settings

FLAG = "_drf_toctou_revoke"


def _touches(update_fields: Any, field: str) -> bool:
    return update_fields is None or field in update_fields


def note_deactivation(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    """pre_save: remember whether this save turns an active user inactive."""
    if not toctou_settings.REVOKE_ON_DEACTIVATE or instance.pk is None:
        return
    if getattr(instance, "is_active", True) is False and _touches(update_fields, "is_active"):
        was_active = sender._default_manager.filter(pk=instance.pk, is_active=True).exists()
        setattr(instance, FLAG, was_active)


def revoke_after_save(sender: Any, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any) -> None:
    """post_save: bump the version after a deactivation or a password change."""
    deactivated = getattr(instance, FLAG, False)
    password_changed = (
        toctou_settings.REVOKE_ON_PASSWORD_CHANGE
        and getattr(instance, "_password", None) is not None
        and _touches(update_fields, "password")
    )
    if not created and (deactivated or password_changed):
        setattr(instance, FLAG, False)
        revoke_user_tokens(instance)
