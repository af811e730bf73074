"""A credential change revokes the user's tokens — and never commits without
that revocation.

Wired by ``apps.py`` on the user model: ``post_init`` remembers the password
and ``is_active`` as loaded; ``pre_save`` bumps the user's version *before*
the row is written when the password changed (``set_password``,
``set_unusable_password``, any new hash) or the user is being deactivated;
``pre_delete`` bumps before a user is deleted, so a later account reusing the
id (a reused primary key, or a re-registered ``USER_ID_FIELD``) never inherits
the old tokens. A store fault raises ``TokenStateUnavailable`` (503) from the
signal, so the save or delete does not happen: a bump without a save fails
safe, a save without a bump would fail open. With ``DatabaseStore`` on the
same database, the bump joins the caller's transaction.

Only ``Model.save()`` and ``Model.delete()``/``QuerySet.delete()`` send these
signals: ``QuerySet.update()`` and raw SQL bypass them, so bulk paths must
call ``revoke_user_tokens`` themselves.
"""

from __future__ import annotations

from typing import Any

from drf_toctou.revocation import revoke_user_tokens
from drf_toctou.settings import toctou_settings

LOADED = "_drf_toctou_loaded"  # (password, is_active) as loaded from the database


def _touches(update_fields: Any, field: str) -> bool:
    return update_fields is None or field in update_fields


def remember_loaded(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_init: keep the credentials as loaded (deferred fields stay unknown)."""
    if instance.pk is not None:
        values = instance.__dict__
        setattr(instance, LOADED, (values.get("password"), values.get("is_active")))


def _loaded(sender: Any, instance: Any) -> tuple[Any, Any]:
    password, active = getattr(instance, LOADED, (None, None))
    columns = {f.attname for f in sender._meta.concrete_fields} & {"password", "is_active"}
    if password is None or (active is None and "is_active" in columns):  # built by hand, or deferred
        row = sender._base_manager.filter(pk=instance.pk).values(*columns).first() or {}
        password = row.get("password") if password is None else password
        active = row.get("is_active") if active is None else active
    return password, active


def revoke_before_save(sender: Any, instance: Any, update_fields: Any = None, raw: bool = False,
                       **kwargs: Any) -> None:
    """pre_save: bump the version before a password change or a deactivation is written."""
    if raw or instance.pk is None or instance._state.adding:
        return
    check_password = toctou_settings.REVOKE_ON_PASSWORD_CHANGE and _touches(update_fields, "password")
    check_active = (toctou_settings.REVOKE_ON_DEACTIVATE and _touches(update_fields, "is_active")
                    and getattr(instance, "is_active", True) is False)
    if not (check_password or check_active):
        return
    password, active = _loaded(sender, instance)
    changed = check_password and getattr(instance, "password", None) != password
    deactivated = check_active and active is not False
    if changed or deactivated:
        revoke_user_tokens(instance)
        setattr(instance, LOADED, (getattr(instance, "password", None), getattr(instance, "is_active", None)))


def revoke_before_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """pre_delete: bump the version of a user about to be deleted."""
    if toctou_settings.REVOKE_ON_DELETE:
        revoke_user_tokens(instance)
