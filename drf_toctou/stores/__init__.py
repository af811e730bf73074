"""Token-state stores, and ``get_store()``: the configured one, built lazily."""

from __future__ import annotations

import threading
from typing import Any

from django.core.signals import setting_changed

from drf_toctou.settings import SETTING_NAME, require_installed, toctou_settings
from drf_toctou.stores.base import BaseStore, SessionRecord, TokenHistory, TokenState

__all__ = ["BaseStore", "SessionRecord", "TokenHistory", "TokenState", "get_store", "reset_store"]

_lock = threading.Lock()
_store: BaseStore | None = None


def get_store() -> BaseStore:
    """The store named by ``DRF_TOCTOU["STORE"]``, built once per process."""
    global _store
    store = _store
    if store is None:
        with _lock:
            if _store is None:
                require_installed()
                _store = toctou_settings.STORE(toctou_settings.STORE_OPTIONS)
            store = _store
    return store


def reset_store() -> None:
    """Forget the memoised store; the next ``get_store()`` builds it anew."""
    global _store
    with _lock:
        old, _store = _store, None
    close = getattr(old, "close", None)
    if close is not None:  # its connections and threads (the near cache's) go now, not at garbage collection
        close()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTING_NAME, "INSTALLED_APPS"):
        reset_store()


setting_changed.connect(_on_setting_changed)
