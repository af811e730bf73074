from typing import Any

from django.core.management.base import BaseCommand, CommandError

from drf_toctou.stores import get_store
from drf_toctou.stores.database import PURGE_BATCH_SIZE, DatabaseStore


class Command(BaseCommand):
    help = "Delete expired revocations of the DatabaseStore, in batches."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=PURGE_BATCH_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        store = get_store()
        if not isinstance(store, DatabaseStore):
            raise CommandError(f"{type(store).__name__} expires revocations by itself; nothing to purge.")
        deleted = store.purge_expired(batch_size=options["batch_size"])
        self.stdout.write(f"Deleted {deleted} expired revocation(s).")
