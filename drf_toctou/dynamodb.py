"""The DynamoDB toolkit shared by ``DynamoDBStore`` and ``ConditionalDynamoMixin``:
clients, typed values, condition expressions built with
``boto3.dynamodb.conditions``, and numbers DynamoDB can hold.

One low-level client (typed values) per configuration and process: clients
are thread-safe, resources are not, and building either costs tens of
milliseconds that no request should pay.
"""

from __future__ import annotations

import threading
from decimal import Decimal, DecimalException
from typing import Any

import boto3
from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder
from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.core.signals import setting_changed

ERRORS = (BotoCoreError, ClientError)
CONDITION_FAILED = "ConditionalCheckFailedException"
CANCELLED = "TransactionCanceledException"
TYPED_FIELDS = ("Key", "Item", "ExpressionAttributeValues", "ExclusiveStartKey")

_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize
_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def typed(values: dict[str, Any]) -> dict[str, Any]:
    """``{name: python value}`` as DynamoDB's typed form (``{"S": ...}``)."""
    return {name: _serialize(value) for name, value in values.items()}


def native(values: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed form as ``{name: python value}``."""
    return {name: _deserialize(value) for name, value in values.items()}


def client_config(timeout: float | None, max_attempts: int) -> Config:
    """Timeouts in seconds (None: botocore's own), attempts per call."""
    retries: Any = {"total_max_attempts": max_attempts, "mode": "standard"}
    if timeout is None:
        return Config(retries=retries, max_pool_connections=64)
    return Config(retries=retries, max_pool_connections=64, connect_timeout=timeout, read_timeout=timeout)


def shared_client(options: dict[str, Any], timeout: float | None = None, max_attempts: int = 3) -> Any:
    """The process's low-level client for ``options`` (``region_name``,
    ``endpoint_url``, ...) with these timeouts, built once."""
    key = (tuple(sorted((k, str(v)) for k, v in options.items())), timeout, max_attempts)
    with _clients_lock:
        if key not in _clients:
            config = client_config(timeout, max_attempts)
            _clients[key] = boto3.session.Session().client("dynamodb", config=config, **options)
        return _clients[key]


def endpoint_of(client: Any) -> tuple[str | None, str | None]:
    """``(endpoint_url, region)`` of a client: two clients with the same can
    share a transaction."""
    return client.meta.endpoint_url, client.meta.region_name


def _forget_clients(**kwargs: Any) -> None:
    with _clients_lock:
        _clients.clear()


setting_changed.connect(_forget_clients)


def expression(condition: ConditionBase, key_condition: bool = False) -> dict[str, Any]:
    """A condition as request parameters (native values), e.g.
    ``{"ConditionExpression": ..., "ExpressionAttributeNames": ..., ...}``."""
    built = ConditionExpressionBuilder().build_expression(condition, is_key_condition=key_condition)
    name = "KeyConditionExpression" if key_condition else "ConditionExpression"
    params = {name: built.condition_expression, "ExpressionAttributeNames": dict(built.attribute_name_placeholders)}
    if built.attribute_value_placeholders:
        params["ExpressionAttributeValues"] = dict(built.attribute_value_placeholders)
    return params


def set_expression(updates: dict[str, Any]) -> dict[str, Any]:
    """``SET #u0 = :u0, ...`` with placeholders (they never collide with the
    ``#n``/``:v`` ones of ``ConditionExpressionBuilder``)."""
    names = {f"#u{i}": name for i, name in enumerate(updates)}
    values = {f":u{i}": to_dynamo(value) for i, value in enumerate(updates.values())}
    clauses = ", ".join(f"#u{i} = :u{i}" for i in range(len(updates)))
    return {"UpdateExpression": f"SET {clauses}", "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values}


def merge(*parts: dict[str, Any]) -> dict[str, Any]:
    """Request parameters merged, placeholder dicts united."""
    merged: dict[str, Any] = {}
    for part in parts:
        for name, value in part.items():
            merged[name] = {**merged[name], **value} if isinstance(value, dict) and name in merged else value
    return merged


def to_dynamo(value: Any) -> Any:
    """Python values DynamoDB accepts: numbers become Decimals, recursively.
    A number DynamoDB can't hold (over 38 digits, beyond 1E+126 or under
    1E-130, NaN, infinity) raises ``ValueError``."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        try:
            return DYNAMODB_CONTEXT.create_decimal(Decimal(str(value)) if isinstance(value, float) else value)
        except DecimalException as e:
            raise ValueError(f"{value!r} can't be stored as a DynamoDB number") from e
    if isinstance(value, dict):
        return {k: to_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_dynamo(v) for v in value]
    return value


class DataTable:
    """One DynamoDB table seen through a shared low-level client; Python
    values in and out."""

    def __init__(self, name: str, client: Any) -> None:
        self.name = name
        self.client = client

    def request(self, **params: Any) -> dict[str, Any]:
        """``params`` with native values, typed for the client, ``TableName`` set."""
        return {"TableName": self.name, **{k: typed(v) if k in TYPED_FIELDS else v for k, v in params.items()}}

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        return getattr(self.client, operation)(**self.request(**params))

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self.call("get_item", Key=key, ConsistentRead=True).get("Item")
        return None if item is None else native(item)


def error_code(error: ClientError) -> str | None:
    return error.response.get("Error", {}).get("Code")


def ensure_table(client: Any, name: str, key: str, indexes: dict[str, str] | None = None,
                 ttl: str | None = None, stream: bool = False) -> list[str]:
    """Create table ``name`` (on-demand, string partition key ``key``) with a
    string-keyed GSI per ``indexes`` item (index name -> attribute, all
    attributes projected), TTL on ``ttl``, and a ``NEW_AND_OLD_IMAGES`` stream
    when ``stream``; add what an existing table lacks. Idempotent; an
    operator's command, so waits as long as DynamoDB needs. Returns what changed."""
    indexes = indexes or {}
    attributes = {key, *indexes.values()}
    definitions = [{"AttributeName": name, "AttributeType": "S"} for name in sorted(attributes)]
    changes = []
    try:
        spec: dict[str, Any] = {
            "TableName": name, "BillingMode": "PAY_PER_REQUEST", "AttributeDefinitions": definitions,
            "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}]}
        if indexes:
            spec["GlobalSecondaryIndexes"] = [_index(index, attribute) for index, attribute in indexes.items()]
        if stream:
            spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        client.create_table(**spec)
        changes.append("created")
    except client.exceptions.ResourceInUseException:
        pass
    _wait_active(client, name)
    table = client.describe_table(TableName=name)["Table"]
    present = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    for index, attribute in indexes.items():
        if index not in present:
            client.update_table(TableName=name, AttributeDefinitions=definitions,
                                GlobalSecondaryIndexUpdates=[{"Create": _index(index, attribute)}])
            _wait_active(client, name)
            changes.append(f"index {index!r} added")
    if stream and not table.get("StreamSpecification", {}).get("StreamEnabled"):
        client.update_table(TableName=name, StreamSpecification={
            "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        _wait_active(client, name)
        changes.append("stream enabled")
    if ttl:
        status = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if status.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl})
            changes.append(f"TTL on {ttl!r}")
    return changes


def _index(name: str, attribute: str) -> dict[str, Any]:
    return {"IndexName": name, "KeySchema": [{"AttributeName": attribute, "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}


def _wait_active(client: Any, name: str, seconds: float = 120.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        table = client.describe_table(TableName=name)["Table"]
        indexes = table.get("GlobalSecondaryIndexes", [])
        if table["TableStatus"] == "ACTIVE" and all(i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes):
            return
        time.sleep(0.5)
    raise TimeoutError(f"DynamoDB table {name!r} did not become active in {seconds:.0f} s")
