"""A stream record as the rules see it: the watched table as its view
declares it, the item's key, its images before and after, and the writer
stamp of the new image (opened, or why it did not open)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from drf_toctou import dynamodb as ddb
from drf_toctou.settings import toctou_settings
from drf_toctou.stamps import STAMP_ATTRIBUTE, StampInvalid, WriterStamp, open_stamp

INSERT, MODIFY, REMOVE = "INSERT", "MODIFY", "REMOVE"


@dataclass(frozen=True)
class WatchedTable:
    """What the watcher knows of a table: what its ``ConditionalDynamoMixin``
    view declares (``WatchedTable.of(name)`` finds it in the URLconf)."""

    name: str
    key_field: str = "id"
    owner_field: str = "owner_id"
    version_field: str | None = None
    stamped: bool = False
    transfer_actions: frozenset[str] = frozenset()

    @classmethod
    def of(cls, name: str) -> WatchedTable:
        """The table ``name`` as the views of the URLconf declare it: stamped if
        any of them stamps its writes, with the transfer actions of them all;
        a table no view declares is watched unstamped, without a version."""
        from drf_toctou.audit import drf_views
        from drf_toctou.mixins.dynamo import ConditionalDynamoMixin

        views: list[Any] = []
        for _route, callback, _detail in drf_views():
            view_class = getattr(callback, "cls", None)
            if isinstance(view_class, type) and issubclass(view_class, ConditionalDynamoMixin):
                view = view_class()
                if view.table_name == name and type(view) not in {type(v) for v in views}:
                    views.append(view)
        if not views:
            return cls(name=name, owner_field=toctou_settings.OWNER_FIELD)
        views.sort(key=lambda view: not view.stamp_writes)  # a stamping view describes the table
        first = views[0]
        return cls(name=name, key_field=first.key_field, owner_field=first.get_owner_field(),
                   version_field=first.version_field, stamped=bool(first.stamp_writes),
                   transfer_actions=frozenset(a for view in views for a in view.transfer_actions))


def table_of(stream_arn: str) -> str:
    """``arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`` → name."""
    return stream_arn.split(":table/", 1)[-1].split("/", 1)[0]


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value) if isinstance(value, (int, float)) else None


@dataclass
class Change:
    """One stream record (from ``GetRecords`` or a Lambda event)."""

    table: WatchedTable
    event: str
    key: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    sequence_number: str
    approximate_at: float | None = None
    by_service: bool = False  # a deletion by DynamoDB itself (TTL)
    _stamp: tuple[WriterStamp | None, str | None] | None = field(default=None, repr=False)

    @classmethod
    def from_record(cls, record: dict[str, Any], table: WatchedTable) -> Change:
        data = record["dynamodb"]
        keys = ddb.native(data.get("Keys", {}))
        key = keys.get(table.key_field) if len(keys) == 1 or table.key_field in keys else None
        identity = record.get("userIdentity") or {}
        return cls(table=table, event=record["eventName"],
                   key=str(key) if key is not None else "|".join(f"{k}={keys[k]}" for k in sorted(keys)),
                   old=ddb.native(data["OldImage"]) if "OldImage" in data else None,
                   new=ddb.native(data["NewImage"]) if "NewImage" in data else None,
                   sequence_number=str(data.get("SequenceNumber", "")),
                   approximate_at=_epoch(data.get("ApproximateCreationDateTime")),
                   by_service=(identity.get("type") or identity.get("Type")) == "Service")  # Lambda / boto3

    def _opened(self) -> tuple[WriterStamp | None, str | None]:
        if self._stamp is None:
            raw = (self.new or {}).get(STAMP_ATTRIBUTE)
            if raw is None:
                self._stamp = (None, "no writer stamp")
            elif self.event == MODIFY and raw == (self.old or {}).get(STAMP_ATTRIBUTE):
                self._stamp = (None, "the writer stamp is the previous write's")
            else:
                try:
                    self._stamp = (open_stamp(raw, self.key), None)
                except StampInvalid as e:
                    self._stamp = (None, f"invalid writer stamp: {e}")
        return self._stamp

    @property
    def stamp(self) -> WriterStamp | None:
        """The stamp this write brought, opened; None when it brought none —
        no stamp, an invalid one, or the previous write's left in place."""
        return self._opened()[0]

    @property
    def stamp_problem(self) -> str | None:
        """Why ``stamp`` is None."""
        return self._opened()[1]

    @property
    def at(self) -> float | None:
        """When the write happened: the stamp's time, else DynamoDB's."""
        stamp = self.stamp
        return stamp.written_at if stamp is not None else self.approximate_at
