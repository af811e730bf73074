from typing import Any

from django.core.management.base import BaseCommand

from drf_toctou.state import call_store
from drf_toctou.stores import get_store
from drf_toctou.stores.database import PURGE_BATCH_SIZE, DatabaseStore


class Command(BaseCommand):
    help = "Delete revocations and ended sessions past their keep-until time (DatabaseStore), in batches."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=PURGE_BATCH_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        store = get_store()
        deleted: int | None
        if isinstance(store, DatabaseStore):
            deleted = call_store(store.purge_expired, options["batch_size"])
        else:
            deleted = call_store(store.purge_expired)
        if deleted is None:
            self.stdout.write(f"{type(store).__name__} expires revocations by itself: nothing to purge.")
            return
        self.stdout.write(f"Deleted {deleted} expired record(s).")
