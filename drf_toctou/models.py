"""Tables of the ``DatabaseStore``: one row per user (token version), one row
per revoked token until that token's expiry."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class TokenVersion(models.Model):
    """The user's current token version; tokens whose ``ver`` is older are dead.

    This row is also the fence: fenced writes lock it shared, revocations and
    version bumps lock it exclusively.
    """

    user_id = models.CharField(_("user id"), max_length=255, primary_key=True)
    version = models.BigIntegerField(_("version"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("token version")
        verbose_name_plural = _("token versions")

    def __str__(self) -> str:
        return f"user {self.user_id}: version {self.version}"


class RevokedToken(models.Model):
    """A revoked ``jti``; meaningless (and purgeable) once ``expires_at`` passed."""

    jti = models.CharField(_("jti"), max_length=255, primary_key=True)
    user_id = models.CharField(_("user id"), max_length=255, db_index=True)
    expires_at = models.BigIntegerField(_("expires at (epoch seconds)"), db_index=True)
    revoked_at = models.DateTimeField(_("revoked at"), auto_now_add=True)

    class Meta:
        verbose_name = _("revoked token")
        verbose_name_plural = _("revoked tokens")

    def __str__(self) -> str:
        return f"{self.jti} (user {self.user_id})"
