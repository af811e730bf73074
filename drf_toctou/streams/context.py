"""What the watcher's rules may ask while judging a change: the token-state
store (``token_history``, remembered while conclusive) and the keys deleted
recently (tombstones)."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Protocol

from drf_toctou.settings import toctou_settings
from drf_toctou.stamps import WriterStamp
from drf_toctou.stores import get_store
from drf_toctou.stores.base import TokenHistory

HISTORY_CACHE_SIZE = 10_000


class Tombstones(Protocol):
    def removed_at(self, table: str, key: str) -> float | None: ...

    def remember(self, table: str, key: str, at: float) -> None: ...


class MemoryTombstones:
    """Tombstones of one process (tests; a watcher without a checkpoint table)."""

    def __init__(self) -> None:
        self.removed: dict[tuple[str, str], float] = {}

    def removed_at(self, table: str, key: str) -> float | None:
        return self.removed.get((table, key))

    def remember(self, table: str, key: str, at: float) -> None:
        self.removed[(table, key)] = at


class Context:
    """What rules may ask. ``history()`` asks the store at most once per
    token while the answer stays conclusive: a revocation time never changes,
    and "not revoked" asked at time Q settles every write made before Q."""

    def __init__(self, tombstones: Tombstones, store: Any = None, clock_margin: float | None = None,
                 resurrection_window: float | None = None) -> None:
        self.tombstones = tombstones
        self.store = store
        self.clock_margin = float(toctou_settings.STREAM_CLOCK_MARGIN if clock_margin is None else clock_margin)
        self.resurrection_window = float(toctou_settings.STREAM_RESURRECTION_WINDOW
                                         if resurrection_window is None else resurrection_window)
        self._histories: OrderedDict[tuple[Any, ...], tuple[TokenHistory, float]] = OrderedDict()

    def history(self, stamp: WriterStamp) -> TokenHistory:
        """When the stamp's token stopped being good (``StoreError`` if the
        store can't say)."""
        key = (stamp.user_id, stamp.jti, stamp.session, stamp.version)
        cached = self._histories.get(key)
        if cached is not None:
            history, asked_at = cached
            final = None not in (history.revoked_at, history.superseded_at) and \
                (stamp.session is None or history.session_revoked_at is not None)
            if final or asked_at >= stamp.written_at:
                self._histories.move_to_end(key)
                return history
        asked_at = time.time()
        store = self.store or get_store()
        history = store.token_history(stamp.user_id, stamp.jti, stamp.session, stamp.version)
        self._histories[key] = (history, asked_at)
        if len(self._histories) > HISTORY_CACHE_SIZE:
            self._histories.popitem(last=False)
        return history

    def removed_at(self, table: str, key: str) -> float | None:
        return self.tombstones.removed_at(table, key)
