"""``DatabaseStore``: token state in two Django tables (the embedded default).

Fencing: a fenced write's transaction calls ``lock_shared(user_id)``; revocations
and version bumps take the same user row exclusively, so they wait for writes in
flight, and writes that start later see them. On SQLite, which has no row locks,
both sides take the database write lock instead.

Timeouts come from the database connection itself (for PostgreSQL, e.g.
``OPTIONS={"options": "-c statement_timeout=250"}``); a database error is a
``StoreError``.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.db.models import F

from drf_toctou.exceptions import StoreError
from drf_toctou.models import RevokedToken, TokenVersion
from drf_toctou.stores.base import BaseStore, TokenState

PURGE_BATCH_SIZE = 5000


class DatabaseStore(BaseStore):
    fence = "lock"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.using = self.options.get("using", "default")
        versions = TokenVersion._meta.db_table
        revoked = RevokedToken._meta.db_table
        # Table names come from the models' meta, never from input.
        self._check_sql = (
            f"SELECT (SELECT v.version FROM {versions} v WHERE v.user_id = %s),"  # noqa: S608
            f" EXISTS(SELECT 1 FROM {revoked} r WHERE r.jti = %s AND r.expires_at > %s)"
        )

    def check(self, user_id: str, jti: str) -> TokenState:
        try:
            with connections[self.using].cursor() as cursor:
                cursor.execute(self._check_sql, [user_id, jti, int(time.time())])
                version, revoked = cursor.fetchone()
        except DatabaseError as e:
            raise StoreError(f"database store: {e}") from e
        return TokenState(revoked=bool(revoked), version=int(version or 0))

    def revoke(self, user_id: str, jti: str, expires_at: int) -> None:
        try:
            with transaction.atomic(using=self.using):
                self._lock_exclusive(user_id)
                RevokedToken.objects.using(self.using).bulk_create(
                    [RevokedToken(jti=jti, user_id=user_id, expires_at=expires_at)],
                    ignore_conflicts=True,
                )
        except DatabaseError as e:
            raise StoreError(f"database store: {e}") from e

    def bump_version(self, user_id: str) -> int:
        try:
            with transaction.atomic(using=self.using):
                rows = self._versions().filter(pk=user_id)
                self._ensure_row(user_id)
                rows.update(version=F("version") + 1)
                return int(rows.values_list("version", flat=True).get())
        except DatabaseError as e:
            raise StoreError(f"database store: {e}") from e

    def current_version(self, user_id: str) -> int:
        try:
            found = self._versions().filter(pk=user_id).values_list("version", flat=True)
            return int(next(iter(found), 0))
        except DatabaseError as e:
            raise StoreError(f"database store: {e}") from e

    def setup(self) -> str:
        return f"DatabaseStore uses database {self.using!r}: run `manage.py migrate drf_toctou`."

    # --- fencing ------------------------------------------------------------

    def lock_shared(self, user_id: str) -> None:
        """Inside the caller's transaction, lock the user's row so that no
        revocation of this user commits before that transaction ends."""
        connection = connections[self.using]
        if not connection.in_atomic_block:
            raise RuntimeError("lock_shared() must run inside transaction.atomic().")
        try:
            if not self._try_lock_shared(connection, user_id):
                self._ensure_row(user_id)
                self._try_lock_shared(connection, user_id)
        except DatabaseError as e:
            raise StoreError(f"database store: {e}") from e

    def _try_lock_shared(self, connection: Any, user_id: str) -> bool:
        table = TokenVersion._meta.db_table
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                # No row locks: a write takes the database write lock instead.
                cursor.execute(f"UPDATE {table} SET version = version WHERE user_id = %s", [user_id])  # noqa: S608
                return cursor.rowcount > 0
            if connection.vendor in ("postgresql", "mysql"):
                cursor.execute(f"SELECT 1 FROM {table} WHERE user_id = %s FOR SHARE", [user_id])  # noqa: S608
                return cursor.fetchone() is not None
        return self._versions().select_for_update().filter(pk=user_id).exists()

    def _lock_exclusive(self, user_id: str) -> None:
        self._ensure_row(user_id)
        list(self._versions().select_for_update().filter(pk=user_id).values_list("pk"))

    def _ensure_row(self, user_id: str) -> None:
        self._versions().bulk_create([TokenVersion(user_id=user_id)], ignore_conflicts=True)

    def _versions(self) -> Any:
        return TokenVersion.objects.using(self.using)

    # --- maintenance --------------------------------------------------------

    def purge_expired(self, batch_size: int = PURGE_BATCH_SIZE, now: int | None = None) -> int:
        """Delete revocations whose token has expired, ``batch_size`` rows per
        statement; return how many were deleted."""
        cutoff = int(time.time()) if now is None else now
        expired = RevokedToken.objects.using(self.using).filter(expires_at__lte=cutoff)
        deleted = 0
        while True:
            batch = list(expired.values_list("pk", flat=True)[:batch_size])
            if not batch:
                return deleted
            deleted += RevokedToken.objects.using(self.using).filter(pk__in=batch).delete()[0]
