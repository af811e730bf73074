from typing import Any

from django.core.management.base import BaseCommand, CommandError

from drf_toctou.exceptions import StoreError
from drf_toctou.stores import get_store


class Command(BaseCommand):
    help = "Prepare the configured token-state store (DynamoDB table + TTL, Redis ping). Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = get_store().setup()
        except StoreError as e:
            raise CommandError(str(e)) from e
        self.stdout.write(report)
