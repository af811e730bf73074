"""``DatabaseStore``: token state in Django tables (the embedded default).

Fencing: ``write_fence(alias)`` gives, for writes to the store's own database,
a function that locks the user's version row shared inside the write's
transaction; revocations and version bumps take the same row exclusively, so
they wait for writes in flight, and writes that start later see them. On
SQLite, which has no row locks, both sides take the database write lock.

Timeouts come from the database connection itself (for PostgreSQL, e.g.
``OPTIONS={"options": "-c statement_timeout=250"}``); a database error is a
``StoreError``. Options: ``using`` (the database alias, default ``"default"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.models import Max

from drf_toctou.exceptions import StoreError
from drf_toctou.models import RevokedToken, Session, TokenVersion, VersionBump
from drf_toctou.stores.base import CONSUMED, REVOKED, BaseStore, SessionRecord, TokenHistory, TokenState

PURGE_BATCH_SIZE = 5000


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except DatabaseError as e:
        raise StoreError(f"database store: {e}") from e


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


class DatabaseStore(BaseStore):
    OPTIONS = frozenset({"using"})

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.using = self.options.get("using", "default")
        if self.using not in connections.settings:
            raise ImproperlyConfigured(f"DatabaseStore 'using' names no database in DATABASES: {self.using!r}.")
        versions, revoked, sessions = (m._meta.db_table for m in (TokenVersion, RevokedToken, Session))
        # Table names come from the models' meta, never from input.
        self._check_sql = (
            f"SELECT (SELECT v.version FROM {versions} v WHERE v.user_id = %s),"  # noqa: S608
            f" EXISTS(SELECT 1 FROM {revoked} r WHERE r.jti = %s AND r.expires_at > %s),"
            f" EXISTS(SELECT 1 FROM {sessions} s WHERE s.session_id = %s AND s.revoked_at IS NOT NULL"
            f" AND s.expires_at > %s)"
        )

    def check(self, user_id: str, jti: str, session: str | None = None) -> TokenState:
        now = int(time.time())
        with _store_errors(), connections[self.using].cursor() as cursor:
            cursor.execute(self._check_sql, [user_id, jti, now, session or "", now])
            version, revoked, session_revoked = cursor.fetchone()
        return TokenState(revoked=bool(revoked), version=int(version or 0), session_revoked=bool(session_revoked))

    def revoke(self, user_id: str, jti: str, keep_until: int) -> None:
        with _store_errors(), transaction.atomic(using=self.using):
            self._lock_exclusive(user_id)
            self._revoked().bulk_create([RevokedToken(jti=jti, user_id=user_id, expires_at=keep_until)],
                                        ignore_conflicts=True)
            self._revoked().filter(jti=jti, expires_at__lt=keep_until).update(expires_at=keep_until, kind="r")

    def bump_version(self, user_id: str) -> int:
        """The new version is above both the row's and every version this user
        ever reached: a lost or deleted row never hands a version out twice."""
        with _store_errors(), transaction.atomic(using=self.using):
            self._lock_exclusive(user_id)
            rows = self._versions().filter(pk=user_id)
            reached = VersionBump.objects.using(self.using).filter(user_id=user_id).aggregate(top=Max("version"))
            version = max(int(rows.values_list("version", flat=True).get()), int(reached["top"] or 0)) + 1
            rows.update(version=version)
            VersionBump.objects.using(self.using).create(user_id=user_id, version=version)
            return version

    def current_version(self, user_id: str) -> int:
        with _store_errors():
            found = self._versions().filter(pk=user_id).values_list("version", flat=True)
            return int(next(iter(found), 0))

    # --- refresh rotation and sessions ------------------------------------------

    def consume(self, user_id: str, jti: str, keep_until: int) -> str | None:
        # Each step is one statement that writes first (a unique insert, a
        # filtered update): no transaction reads then writes, which SQLite
        # answers with "database is locked" under concurrent writers.
        now = int(time.time())
        with _store_errors():
            try:
                with transaction.atomic(using=self.using):
                    self._revoked().create(jti=jti, user_id=user_id, expires_at=keep_until, kind="c")
                return None
            except IntegrityError:  # used or revoked before
                pass
            # A record past its keep-until time counts as absent: take it over, once.
            if self._revoked().filter(jti=jti, expires_at__lte=now).update(
                    expires_at=keep_until, kind="c", user_id=user_id):
                return None
            kind = self._revoked().filter(jti=jti).values_list("kind", flat=True).first()
            return CONSUMED if kind == "c" else REVOKED

    def revoke_session(self, user_id: str, session: str, keep_until: int) -> None:
        now = _moment(time.time())
        with _store_errors(), transaction.atomic(using=self.using):
            self._lock_exclusive(user_id)
            row, created = self._sessions().get_or_create(session_id=session, defaults={
                "user_id": user_id, "created_at": now, "refreshed_at": now, "expires_at": keep_until,
                "revoked_at": now})
            if not created:
                self._sessions().filter(pk=session, revoked_at__isnull=True).update(revoked_at=now)
                self._sessions().filter(pk=session, expires_at__lt=keep_until).update(expires_at=keep_until)

    def save_session(self, record: SessionRecord) -> None:
        fields = {"user_id": record.user_id, "refreshed_at": _moment(record.refreshed_at),
                  "expires_at": record.expires_at, "client": record.client, "ip": record.ip, "version": record.version}
        with _store_errors(), transaction.atomic(using=self.using):
            # Write first (see consume). An update keeps the creation time and
            # never brings an ended session back; an ended one is not re-created.
            if not self._sessions().filter(pk=record.session_id, revoked_at__isnull=True).update(**fields):
                created = Session(session_id=record.session_id, created_at=_moment(record.created_at), **fields)
                self._sessions().bulk_create([created], ignore_conflicts=True)

    def sessions(self, user_id: str) -> list[SessionRecord]:
        with _store_errors():
            rows = self._sessions().filter(user_id=user_id, revoked_at__isnull=True, expires_at__gt=int(time.time()))
            return [SessionRecord(
                session_id=row.session_id, user_id=row.user_id, created_at=row.created_at.timestamp(),
                refreshed_at=row.refreshed_at.timestamp(), expires_at=row.expires_at, client=row.client, ip=row.ip,
                version=row.version,
            ) for row in rows]

    def forget_session(self, user_id: str, session: str) -> None:
        with _store_errors():  # an ended session's row is its revocation: it stays
            self._sessions().filter(pk=session, user_id=user_id, revoked_at__isnull=True).delete()

    def token_history(self, user_id: str, jti: str, session: str | None, version: int) -> TokenHistory:
        with _store_errors():
            revoked = self._revoked().filter(jti=jti).values_list("revoked_at", flat=True).first()
            ended = self._sessions().filter(pk=session or "").values_list("revoked_at", flat=True).first()
            bumps = VersionBump.objects.using(self.using).filter(user_id=user_id, version=version + 1)
            superseded = bumps.values_list("bumped_at", flat=True).first()
        return TokenHistory(revoked_at=_epoch(revoked), session_revoked_at=_epoch(ended),
                            superseded_at=_epoch(superseded))

    # --- fencing ------------------------------------------------------------------

    def write_fence(self, db_alias: str) -> Callable[[str], None] | None:
        return self.lock_shared if db_alias == self.using else None

    def lock_shared(self, user_id: str) -> None:
        """Inside the caller's transaction, lock the user's row so that no
        revocation of this user commits before that transaction ends."""
        connection = connections[self.using]
        if not connection.in_atomic_block:
            raise RuntimeError("lock_shared() must run inside transaction.atomic().")
        with _store_errors():
            if not self._try_lock_shared(connection, user_id):
                self._ensure_row(user_id)
                self._try_lock_shared(connection, user_id)

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

    def _revoked(self) -> Any:
        return RevokedToken.objects.using(self.using)

    def _sessions(self) -> Any:
        return Session.objects.using(self.using)

    # --- operations -----------------------------------------------------------------

    def setup(self) -> str:
        return f"DatabaseStore uses database {self.using!r}: run `manage.py migrate drf_toctou`."

    def purge_expired(self, batch_size: int = PURGE_BATCH_SIZE, now: int | None = None) -> int:
        """Delete revocations and sessions past their keep-until time,
        ``batch_size`` rows per statement; return how many were deleted."""
        cutoff = int(time.time()) if now is None else now
        deleted = 0
        with _store_errors():
            for manager in (self._revoked(), self._sessions()):
                expired = manager.filter(expires_at__lte=cutoff)
                while batch := list(expired.values_list("pk", flat=True)[:batch_size]):
                    deleted += manager.filter(pk__in=batch).delete()[0]
        return deleted
