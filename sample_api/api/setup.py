"""Start-up preparation: embedded moto, the documents table, the token-state
table (DynamoDBStore). Idempotent."""

from __future__ import annotations

import boto3
from django.conf import settings

from drf_toctou.stores import get_store
from drf_toctou.stores.dynamodb import DynamoDBStore
from sample_api import embedded


def prepare() -> None:
    if settings.SAMPLE_API_EMBEDDED_MOTO_PORT:
        embedded.start_moto(settings.SAMPLE_API_EMBEDDED_MOTO_PORT)
    ensure_documents_table()
    store = get_store()
    if isinstance(store, DynamoDBStore):
        store.setup()


def ensure_documents_table() -> None:
    """The documents table as DocumentViewSet declares it: key, owner index,
    and the stream its writer stamps are watched on."""
    from drf_toctou.dynamodb import ensure_table

    client = boto3.client("dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL, region_name=settings.DYNAMODB_REGION)
    ensure_table(client, settings.SAMPLE_API_DOCUMENTS_TABLE, "id", {"by_owner": "owner_id"}, stream=True)
