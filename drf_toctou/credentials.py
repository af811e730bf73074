"""A credential change revokes the user's tokens — and never commits without
that revocation.

Wired by ``apps.py`` on the user model: ``post_init`` remembers the password
and ``is_active`` as loaded; ``pre_save`` bumps the user's version *before*
the row is written when the password changed (``set_password``,
``set_unusable_password``), the user is being deactivated, or the value
tokens name the user by (a ``USER_ID_FIELD`` such as an email) changed;
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

from django.contrib.auth.hashers import is_password_usable

from drf_toctou.revocation import revoke_user_tokens
from drf_toctou.settings import jwt_settings, toctou_settings

LOADED = "_drf_toctou_loaded"  # {column: value} as loaded from the database


def _touches(update_fields: Any, field: str) -> bool:
    return update_fields is None or field in update_fields


def _watched(sender: Any) -> list[str]:
    """The columns whose change revokes: password, is_active, and the field
    tokens name the user by (``USER_ID_FIELD``) when it is not the key."""
    id_field = sender._meta.get_field(jwt_settings().USER_ID_FIELD)
    columns = {f.attname for f in sender._meta.concrete_fields}
    watched = [name for name in ("password", "is_active") if name in columns]
    return watched + ([id_field.attname] if not id_field.primary_key else [])


def remember_loaded(sender: Any, instance: Any, **kwargs: Any) -> None:
    """post_init: keep the credentials as loaded (deferred fields stay unknown)."""
    if instance.pk is not None:
        values = instance.__dict__
        setattr(instance, LOADED, {name: values.get(name) for name in _watched(sender)})


def _loaded(sender: Any, instance: Any) -> dict[str, Any]:
    known = dict(getattr(instance, LOADED, None) or {})
    missing = [name for name in _watched(sender) if known.get(name) is None]
    if missing:  # built by hand, or deferred: ask the database
        known.update(sender._base_manager.filter(pk=instance.pk).values(*missing).first() or {})
    return known


def revoke_before_save(sender: Any, instance: Any, update_fields: Any = None, raw: bool = False,
                       **kwargs: Any) -> None:
    """pre_save: bump the version before a password change, a deactivation or
    a change of the id tokens carry is written.

    A password change is ``set_password()`` or ``set_unusable_password()``; a
    hash Django re-computes at login (a hasher upgrade: ``check_password``
    saves it with ``_password`` cleared, as Django itself tells the two apart)
    is not one."""
    if raw or instance.pk is None or instance._state.adding:
        return
    id_field = sender._meta.get_field(jwt_settings().USER_ID_FIELD)
    check_password = toctou_settings.REVOKE_ON_PASSWORD_CHANGE and _touches(update_fields, "password") and (
        getattr(instance, "_password", None) is not None
        or not is_password_usable(getattr(instance, "password", None)))
    check_active = (toctou_settings.REVOKE_ON_DEACTIVATE and _touches(update_fields, "is_active")
                    and getattr(instance, "is_active", True) is False)
    check_id = not id_field.primary_key and _touches(update_fields, id_field.name)
    if not (check_password or check_active or check_id):
        return
    loaded = _loaded(sender, instance)
    if check_id and loaded.get(id_field.attname) not in (None, getattr(instance, id_field.attname)):
        # Tokens name the user by the old value: whoever takes it next must not inherit them.
        revoke_user_tokens(loaded[id_field.attname])
    changed = check_password and getattr(instance, "password", None) != loaded.get("password")
    deactivated = check_active and loaded.get("is_active") is not False
    if changed or deactivated:
        revoke_user_tokens(instance)
    setattr(instance, LOADED, {name: getattr(instance, name, None) for name in _watched(sender)})


def revoke_before_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    """pre_delete: bump the version of a user about to be deleted."""
    if toctou_settings.REVOKE_ON_DELETE:
        revoke_user_tokens(instance)
