"""Tables of the ``DatabaseStore``: one row per user (token version) and per
version bump, one row per revoked or used token until it can no longer be
accepted, one row per session (refresh family)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class TokenVersion(models.Model):
    """The user's current token version; tokens whose ``ver`` is older are dead.

    This row is also the fence: fenced writes lock it shared, revocations and
    version bumps lock it exclusively. It is never deleted with its user, so a
    re-created id never starts again at 0.
    """

    user_id = models.CharField(_("user id"), max_length=255, primary_key=True)
    version = models.BigIntegerField(_("version"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("token version")
        verbose_name_plural = _("token versions")

    def __str__(self) -> str:
        return f"user {self.user_id}: version {self.version}"


class VersionBump(models.Model):
    """When a user's version reached ``version`` (for forensics)."""

    user_id = models.CharField(_("user id"), max_length=255)
    version = models.BigIntegerField(_("version"))
    bumped_at = models.DateTimeField(_("bumped at"), auto_now_add=True)

    class Meta:
        verbose_name = _("version bump")
        verbose_name_plural = _("version bumps")
        constraints = [models.UniqueConstraint(fields=["user_id", "version"], name="drf_toctou_one_bump_per_version")]

    def __str__(self) -> str:
        return f"user {self.user_id}: version {self.version}"


class RevokedToken(models.Model):
    """A revoked (``kind`` "r") or rotated-out refresh (``kind`` "c") ``jti``;
    kept until ``expires_at`` — the token's exp plus leeway and grace — then purgeable."""

    KINDS = [("r", _("revoked")), ("c", _("used by a refresh rotation"))]

    jti = models.CharField(_("jti"), max_length=255, primary_key=True)
    user_id = models.CharField(_("user id"), max_length=255, db_index=True)
    expires_at = models.BigIntegerField(_("kept until (epoch seconds)"), db_index=True)
    revoked_at = models.DateTimeField(_("revoked at"), auto_now_add=True)
    kind = models.CharField(_("kind"), max_length=1, choices=KINDS, default="r")

    class Meta:
        verbose_name = _("revoked token")
        verbose_name_plural = _("revoked tokens")

    def __str__(self) -> str:
        return f"{self.jti} (user {self.user_id})"


class Session(models.Model):
    """A session (refresh family): its registry entry and, once ended, its
    revocation — kept until ``expires_at``, when its newest refresh token dies."""

    session_id = models.CharField(_("session id"), max_length=64, primary_key=True)
    user_id = models.CharField(_("user id"), max_length=255, db_index=True)
    created_at = models.DateTimeField(_("created at"))
    refreshed_at = models.DateTimeField(_("last refreshed at"))
    expires_at = models.BigIntegerField(_("kept until (epoch seconds)"), db_index=True)
    client = models.CharField(_("client"), max_length=200, blank=True, default="")
    ip = models.CharField(_("IP address"), max_length=64, blank=True, default="")
    revoked_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    version = models.BigIntegerField(_("user's version at login"), default=0)

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")

    def __str__(self) -> str:
        return f"session {self.session_id} (user {self.user_id})"


class Reference(models.Model):
    """A random reference minted for one user to one object of one view
    (``MappedReferenceCodec``): it says nothing about the key it stands for."""

    reference = models.CharField(_("reference"), max_length=64, primary_key=True)
    scope = models.CharField(_("scope"), max_length=200)
    user_id = models.CharField(_("user id"), max_length=255)
    key = models.CharField(_("object key"), max_length=1024)
    key_hash = models.CharField(_("sha256 of the key"), max_length=64)  # indexable on every database
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("object reference")
        verbose_name_plural = _("object references")
        constraints = [models.UniqueConstraint(fields=["scope", "user_id", "key_hash"],
                                               name="drf_toctou_one_reference_per_user_and_key")]

    def __str__(self) -> str:
        return f"{self.reference} (user {self.user_id}, {self.scope})"
