"""``DynamoDBStore``: token state in one DynamoDB table, strongly consistent.

Items (partition key ``pk``, string)::

    u#<user_id>   {"ver": N}                        the user's version (ADD)
    j#<jti>       {"uid": ..., "expires_at": exp}   a revoked jti

``expires_at`` is the table's TTL attribute. DynamoDB deletes expired items up
to about two days late, so every read and every condition compares it itself.

Options: ``table_name`` (default ``"drf_toctou"``), ``region_name``,
``endpoint_url``, ``max_attempts`` (botocore attempts per call, default 1:
a slow store is a failed store), ``client_kwargs``.

Fencing: ``condition_checks()`` returns the ``ConditionCheck`` entries that make
a ``TransactWriteItems`` fail when the token was revoked at any moment before
the transaction commits.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, ConditionBase, ConditionExpressionBuilder
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from drf_toctou.exceptions import StoreError
from drf_toctou.settings import toctou_settings
from drf_toctou.stores.base import BaseStore, TokenState

KEY = "pk"
VERSION = "ver"
EXPIRES = "expires_at"
STORE_ERRORS = (BotoCoreError, ClientError)

_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize


def user_key(user_id: str) -> str:
    return f"u#{user_id}"


def jti_key(jti: str) -> str:
    return f"j#{jti}"


def client_config(max_attempts: int = 1, timeout: float | None = None) -> Config:
    timeout = float(toctou_settings.STORE_TIMEOUT) if timeout is None else timeout
    return Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        max_pool_connections=64,
    )


def typed(values: dict[str, Any]) -> dict[str, Any]:
    """``{name: python value}`` as DynamoDB's typed form (``{"S": ...}``)."""
    return {name: _serialize(value) for name, value in values.items()}


def plain(values: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed form as ``{name: python value}``."""
    return {name: _deserialize(value) for name, value in values.items()}


class DynamoDBStore(BaseStore):
    fence = "transaction"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.table_name = self.options.get("table_name", "drf_toctou")
        self.connection_options = {
            key: self.options[key] for key in ("region_name", "endpoint_url") if self.options.get(key)
        }
        # One low-level client (typed values) for the process, built now: clients
        # are thread-safe, and building one costs 50-150 ms that no request
        # should pay inside its STORE_TIMEOUT.
        config = client_config(int(self.options.get("max_attempts", 1)))
        self.client = boto3.session.Session().client(
            "dynamodb", config=config, **self.connection_options, **self.options.get("client_kwargs", {})
        )

    def check(self, user_id: str, jti: str) -> TokenState:
        keys = [{KEY: {"S": user_key(user_id)}}, {KEY: {"S": jti_key(jti)}}]
        request: Any = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
        try:
            answer = self.client.batch_get_item(RequestItems=request)
        except STORE_ERRORS as e:
            raise StoreError(f"dynamodb store: {e}") from e
        if answer.get("UnprocessedKeys"):
            raise StoreError("dynamodb store: keys left unprocessed (throttled)")
        items = {item[KEY]["S"]: item for item in answer["Responses"].get(self.table_name, [])}
        version_item = items.get(user_key(user_id), {})
        version = int(_deserialize(version_item[VERSION])) if VERSION in version_item else 0
        revocation = items.get(jti_key(jti))
        revoked = revocation is not None and int(_deserialize(revocation[EXPIRES])) > time.time()
        return TokenState(revoked=revoked, version=version)

    def revoke(self, user_id: str, jti: str, expires_at: int) -> None:
        item = {KEY: jti_key(jti), "uid": user_id, EXPIRES: int(expires_at)}
        self._call("put_item", TableName=self.table_name, Item=typed(item))

    def bump_version(self, user_id: str) -> int:
        answer = self._call(
            "update_item",
            TableName=self.table_name,
            Key={KEY: {"S": user_key(user_id)}},
            UpdateExpression="ADD #v :one",
            ExpressionAttributeNames={"#v": VERSION},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(_deserialize(answer["Attributes"][VERSION]))

    def current_version(self, user_id: str) -> int:
        answer = self._call(
            "get_item", TableName=self.table_name, Key={KEY: {"S": user_key(user_id)}}, ConsistentRead=True
        )
        item = answer.get("Item", {})
        return int(_deserialize(item[VERSION])) if VERSION in item else 0

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, operation)(**kwargs)
        except STORE_ERRORS as e:
            raise StoreError(f"dynamodb store: {e}") from e

    # --- fencing ------------------------------------------------------------

    def condition_checks(self, user_id: str, jti: str, version: int) -> list[dict[str, Any]]:
        """Two ``TransactWriteItems`` entries for a low-level client (typed
        values): the jti is not revoked (or its revocation has expired), and the
        user's version still equals ``version``."""
        not_revoked = Attr(KEY).not_exists() | Attr(EXPIRES).lte(int(time.time()))
        same_version: ConditionBase = Attr(VERSION).eq(version)
        if version == 0:
            same_version = Attr(KEY).not_exists() | same_version
        return [
            self._condition_check(jti_key(jti), not_revoked),
            self._condition_check(user_key(user_id), same_version),
        ]

    def _condition_check(self, key: str, condition: ConditionBase) -> dict[str, Any]:
        built = ConditionExpressionBuilder().build_expression(condition)
        check = {
            "TableName": self.table_name,
            "Key": typed({KEY: key}),
            "ConditionExpression": built.condition_expression,
            "ExpressionAttributeNames": built.attribute_name_placeholders,
        }
        if built.attribute_value_placeholders:
            check["ExpressionAttributeValues"] = typed(built.attribute_value_placeholders)
        return {"ConditionCheck": check}

    # --- setup --------------------------------------------------------------

    def setup(self) -> str:
        """Create the table (on-demand) with TTL on ``expires_at``; idempotent.
        An operator's command, not a request: it gets generous timeouts."""
        client = boto3.session.Session().client(
            "dynamodb", config=client_config(max_attempts=3, timeout=10.0), **self.connection_options
        )
        try:
            created = self._create_table(client)
            client.get_waiter("table_exists").wait(
                TableName=self.table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
            ttl = client.describe_time_to_live(TableName=self.table_name)["TimeToLiveDescription"]
            if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                client.update_time_to_live(
                    TableName=self.table_name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES},
                )
        except STORE_ERRORS as e:
            raise StoreError(f"dynamodb store: {e}") from e
        state = "created" if created else "already present"
        return f"DynamoDBStore: table {self.table_name!r} {state}, TTL on {EXPIRES!r}."

    def _create_table(self, client: Any) -> bool:
        try:
            client.create_table(
                TableName=self.table_name,
                KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except client.exceptions.ResourceInUseException:
            return False
        return True
