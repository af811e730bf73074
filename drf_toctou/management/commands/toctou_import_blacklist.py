"""``manage.py toctou_import_blacklist``: move simplejwt's token blacklist into
the configured store, so that a team leaving ``rest_framework_simplejwt.
token_blacklist`` loses no revocation.

Every blacklisted token (``BlacklistedToken`` → ``OutstandingToken``: jti,
user, expiry) that a validator could still accept is revoked in the store
until its exp + ``LEEWAY`` + ``REVOCATION_GRACE``, under the user id its own
claims carry (what every check reads). Idempotent: a jti already refused by
the store is counted, not written again.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import APIException

from drf_toctou.revocation import keep_until, user_key
from drf_toctou.settings import jwt_settings
from drf_toctou.state import call_store
from drf_toctou.stores import get_store

BLACKLIST_APP = "rest_framework_simplejwt.token_blacklist"
NOT_INSTALLED = (f"simplejwt's blacklist app ({BLACKLIST_APP!r}) is not in INSTALLED_APPS: there is no blacklist to "
                 "import. Keep it installed (and migrated) until the import has run, then remove it.")


def claimed_user_id(outstanding: Any) -> str | None:
    """The user id the token's own claims carry (its signature was checked when
    it was issued; the row is ours), else its user's, else None."""
    try:
        payload = jwt.decode(outstanding.token, options={"verify_signature": False})
        user_id = payload.get(jwt_settings().USER_ID_CLAIM)
    except (jwt.InvalidTokenError, AttributeError, TypeError):
        user_id = None
    if isinstance(user_id, (str, int)) and not isinstance(user_id, bool) and str(user_id):
        return str(user_id)
    return user_key(outstanding.user) if outstanding.user_id is not None else None


class Command(BaseCommand):
    help = ("Revoke, in the configured token-state store, every token of simplejwt's blacklist that could still "
            "be accepted (until its exp + LEEWAY + REVOCATION_GRACE). Idempotent; --dry-run counts only.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count, write nothing")
        parser.add_argument("--batch-size", type=int, default=2000, help="rows read per query")

    def handle(self, *args: Any, **options: Any) -> None:
        if not apps.is_installed(BLACKLIST_APP):
            raise CommandError(NOT_INSTALLED)
        from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

        store, now, dry = get_store(), time.time(), options["dry_run"]
        counts = {"imported": 0, "already": 0, "expired": 0, "skipped": 0}
        rows = BlacklistedToken.objects.select_related("token", "token__user").order_by("pk")
        try:
            for row in rows.iterator(chunk_size=options["batch_size"]):
                outstanding, user_id = row.token, claimed_user_id(row.token)
                keep = keep_until(outstanding.expires_at.timestamp())
                if keep <= now:
                    counts["expired"] += 1
                elif user_id is None or not outstanding.jti:
                    counts["skipped"] += 1
                elif call_store(store.check, user_id, outstanding.jti).revoked:
                    counts["already"] += 1
                else:
                    if not dry:
                        call_store(store.revoke, user_id, outstanding.jti, keep)
                    counts["imported"] += 1
        except APIException as e:
            raise CommandError(f"The store failed after {counts['imported']} import(s): {e.detail}. Run the "
                               "command again: it is idempotent.") from e
        self.stdout.write(
            f"{'Dry run: would import' if dry else 'Imported'} {counts['imported']} blacklisted token(s) into "
            f"{type(store).__name__}; {counts['already']} already revoked there; {counts['expired']} already "
            f"expired (nothing to revoke); {counts['skipped']} skipped (no user id or jti).")
