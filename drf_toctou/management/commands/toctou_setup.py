from typing import Any

from django.core.management.base import BaseCommand, CommandError

from drf_toctou.exceptions import StoreError
from drf_toctou.stores import get_store


class Command(BaseCommand):
    help = ("Prepare the configured token-state store (DynamoDB table + TTL, Redis ping) and the DynamoDB tables "
            "declared by the ConditionalDynamoMixin viewsets of the URLconf. Idempotent.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-data-tables", action="store_true", help="prepare the token-state store only")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self.stdout.write(get_store().setup())
        except StoreError as e:
            raise CommandError(str(e)) from e
        if not options["no_data_tables"]:
            for line in self.data_tables():
                self.stdout.write(line)

    def data_tables(self) -> list[str]:
        from drf_toctou.audit import drf_views

        try:
            from drf_toctou.mixins.dynamo import ConditionalDynamoMixin, table_spec
        except ImportError:  # boto3 not installed: no DynamoDB views
            return []
        done: dict[str, str] = {}
        for _route, callback, _detail in drf_views():
            if isinstance(callback.cls, type) and issubclass(callback.cls, ConditionalDynamoMixin):
                name, report = table_spec(callback.cls())
                if name not in done:
                    done[name] = report()
        return list(done.values())
