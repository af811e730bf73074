"""Django admin: the ``DatabaseStore`` tables, and on the registered user
admin — whatever the store — "revoke all tokens" and "sessions" (list and
end them), plus a clean error instead of a 500 when a password change,
deactivation or deletion can't revoke tokens because the store is down
(nothing is saved then). A project that registers its own user admin after
``drf_toctou`` is loaded calls ``protect_user_admin()`` once after registering it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from drf_toctou.exceptions import TokenStateUnavailable
from drf_toctou.models import RevokedToken, Session, TokenVersion
from drf_toctou.revocation import revoke_user_tokens, user_key
from drf_toctou.sessions import end_session, list_sessions

STORE_DOWN = _("Nothing was changed: the token-state store could not be reached to revoke this user's tokens. "
               "Try again when it answers.")


@admin.action(description=_("Revoke all tokens of the selected users"))
def revoke_all_tokens(modeladmin: Any, request: Any, queryset: Any) -> None:
    count = 0
    for user in queryset:
        revoke_user_tokens(user)
        count += 1
    modeladmin.message_user(request, ngettext("Revoked every token of %d user.", "Revoked every token of %d users.",
                                              count) % count, messages.SUCCESS)


@admin.action(description=_("Show the sessions of the selected user"))
def show_sessions(modeladmin: Any, request: Any, queryset: Any) -> HttpResponse | None:
    user = queryset.first()
    if user is None or queryset.count() != 1:
        modeladmin.message_user(request, _("Select exactly one user."), messages.WARNING)
        return None
    meta = modeladmin.model._meta
    return HttpResponseRedirect(reverse(f"admin:{meta.app_label}_{meta.model_name}_toctou_sessions", args=[user.pk]))


def sessions_view(modeladmin: Any) -> Callable[..., HttpResponse]:
    """The page listing a user's sessions, each with an "end" button."""

    def view(request: HttpRequest, object_id: str) -> HttpResponse:
        user = modeladmin.get_object(request, object_id)
        if user is None or not modeladmin.has_change_permission(request, user):
            return HttpResponseRedirect(reverse("admin:index"))
        key = user_key(user)
        if request.method == "POST":
            ended = [s.session_id for s in list_sessions(key)
                     if request.POST.get("session") in (s.session_id, "__all__")]
            for session in ended:
                end_session(key, session, "ended_by_admin")
            modeladmin.message_user(request, ngettext("Ended %d session.", "Ended %d sessions.", len(ended))
                                    % len(ended), messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        rows = [{"id": s.session_id, "client": s.client, "ip": s.ip,
                 "created": datetime.fromtimestamp(s.created_at, tz=timezone.utc),
                 "refreshed": datetime.fromtimestamp(s.refreshed_at, tz=timezone.utc)} for s in list_sessions(key)]
        context = {**modeladmin.admin_site.each_context(request), "title": _("Sessions of %s") % user,
                   "subject": user, "sessions": rows, "opts": modeladmin.model._meta}
        return TemplateResponse(request, "drf_toctou/sessions.html", context)

    return view


def clean_store_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except TokenStateUnavailable:
            messages.error(request, STORE_DOWN)
            return HttpResponseRedirect(request.get_full_path())

    return wrapped


def protect_user_admin(site: admin.AdminSite = admin.site) -> None:
    """Add the actions, the sessions page and clean store errors to the user
    admin registered on ``site``, if any. Idempotent."""
    user_admin: Any = site._registry.get(get_user_model())
    if user_admin is None or getattr(user_admin, "_drf_toctou", False):
        return
    user_admin._drf_toctou = True
    user_admin.actions = [*(user_admin.actions or ()), revoke_all_tokens, show_sessions]
    for name in ("changeform_view", "delete_view", "changelist_view", "user_change_password"):
        if hasattr(user_admin, name):
            setattr(user_admin, name, clean_store_errors(getattr(user_admin, name)))
    get_urls, meta = user_admin.get_urls, user_admin.model._meta

    def urls() -> list[Any]:
        page = site.admin_view(clean_store_errors(sessions_view(user_admin)))
        name = f"{meta.app_label}_{meta.model_name}_toctou_sessions"
        return [path("<path:object_id>/sessions/", page, name=name), *get_urls()]

    user_admin.get_urls = urls


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


class ReadOnlyStateAdmin(admin.ModelAdmin):
    """Token state is seen here, never edited: deleting a version row or a
    revocation would bring revoked tokens back. Revoke with the actions."""

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(TokenVersion)
class TokenVersionAdmin(ReadOnlyStateAdmin):
    list_display = ("user_id", "version", "updated_at")
    search_fields = ("user_id",)
    readonly_fields = ("user_id", "version", "updated_at")
    actions = [bump_versions]


@admin.register(RevokedToken)
class RevokedTokenAdmin(ReadOnlyStateAdmin):
    list_display = ("jti", "user_id", "kind", "kept_until", "revoked_at")
    list_filter = (ExpiryFilter, "kind", "revoked_at")
    search_fields = ("jti", "user_id")
    readonly_fields = ("jti", "user_id", "kind", "expires_at", "revoked_at")

    @admin.display(description=_("kept until"), ordering="expires_at")
    def kept_until(self, row: RevokedToken) -> datetime:
        return datetime.fromtimestamp(row.expires_at, tz=timezone.utc)


@admin.register(Session)
class SessionAdmin(ReadOnlyStateAdmin):
    list_display = ("session_id", "user_id", "client", "created_at", "refreshed_at", "revoked_at")
    list_filter = (ExpiryFilter, "revoked_at")
    search_fields = ("session_id", "user_id")
    readonly_fields = ("session_id", "user_id", "client", "ip", "created_at", "refreshed_at", "expires_at",
                       "revoked_at", "version")


protect_user_admin()
