"""Django admin for the DatabaseStore tables, and a "revoke all tokens" action
on the user admin."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from drf_toctou.models import RevokedToken, TokenVersion
from drf_toctou.revocation import revoke_user_tokens


@admin.action(description=_("Revoke all tokens of the selected users"))
def revoke_all_tokens(modeladmin: Any, request: Any, queryset: Any) -> None:
    count = 0
    for user in queryset:
        revoke_user_tokens(user)
        count += 1
    modeladmin.message_user(request, ngettext("Revoked every token of %d user.", "Revoked every token of %d users.",
                                              count) % count, messages.SUCCESS)


@admin.action(description=_("Revoke all tokens of these users (bump their version)"))
def bump_versions(modeladmin: Any, request: Any, queryset: Any) -> None:
    for row in queryset:
        revoke_user_tokens(row.user_id)
    modeladmin.message_user(request, _("Versions bumped."), messages.SUCCESS)


class ExpiryFilter(admin.SimpleListFilter):
    title = _("expiry")
    parameter_name = "expired"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, Any]]:
        return [("no", _("still in force")), ("yes", _("expired (purgeable)"))]

    def queryset(self, request: Any, queryset: Any) -> Any:
        now = int(time.time())
        if self.value() == "yes":
            return queryset.filter(expires_at__lte=now)
        if self.value() == "no":
            return queryset.filter(expires_at__gt=now)
        return queryset


@admin.register(TokenVersion)
class TokenVersionAdmin(admin.ModelAdmin):
    list_display = ("user_id", "version", "updated_at")
    search_fields = ("user_id",)
    readonly_fields = ("user_id", "version", "updated_at")
    actions = [bump_versions]


@admin.register(RevokedToken)
class RevokedTokenAdmin(admin.ModelAdmin):
    list_display = ("jti", "user_id", "expires", "revoked_at")
    list_filter = (ExpiryFilter, "revoked_at")
    search_fields = ("jti", "user_id")
    readonly_fields = ("jti", "user_id", "expires_at", "revoked_at")

    @admin.display(description=_("expires"), ordering="expires_at")
    def expires(self, row: RevokedToken) -> datetime:
        return datetime.fromtimestamp(row.expires_at, tz=timezone.utc)


def add_user_admin_action(site: admin.AdminSite = admin.site) -> None:
    """Offer ``revoke_all_tokens`` on the registered user admin, if any."""
    user_admin = site._registry.get(get_user_model())
    if user_admin is not None and revoke_all_tokens not in (user_admin.actions or ()):
        user_admin.actions = [*(user_admin.actions or ()), revoke_all_tokens]


add_user_admin_action()
