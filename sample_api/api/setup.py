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
    client = boto3.client("dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL, region_name=settings.DYNAMODB_REGION)
    name = settings.SAMPLE_API_DOCUMENTS_TABLE
    try:
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                  {"AttributeName": "owner_id", "AttributeType": "S"}],
            GlobalSecondaryIndexes=[{"IndexName": "by_owner",
                                     "KeySchema": [{"AttributeName": "owner_id", "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "ALL"}}],
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        pass
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
