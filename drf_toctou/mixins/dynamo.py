"""``ConditionalDynamoMixin``: a viewset over a DynamoDB table whose writes
carry their own conditions — the item exists, the caller owns it, [the version
the client saw] — and, with ``DynamoDBStore`` on the same endpoint, the token
state as ``ConditionCheck``s of the same ``TransactWriteItems``.

View attributes: ``table_name``; ``key_field`` (``"id"``); ``owner_field``
(default ``OWNER_FIELD``; stored as a string); ``serializer_class`` (validates
the writable attributes and renders items); ``version_field`` (optional
optimistic version counter); ``owner_index`` (optional GSI on the owner, used
by ``list``; without it ``list`` is a paginated ``Scan`` with a filter, which
reads — and is billed for — the whole table). ``get_table()`` returns a
``DataTable``: the table name and one low-level boto3 client shared by the
process, built from ``DRF_TOCTOU["DYNAMODB_DATA_OPTIONS"]`` (or, when empty,
the ``DynamoDBStore``'s endpoint and region).
"""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, ConditionBase, ConditionExpressionBuilder, Key
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.core.signals import setting_changed
from rest_framework import status
from rest_framework.response import Response

from drf_toctou.exceptions import DataStoreUnavailable, NotFound
from drf_toctou.mixins.base import ConditionalMixinBase, raise_for
from drf_toctou.mixins.etag import ANY, version_from_etag
from drf_toctou.permissions import is_owner
from drf_toctou.settings import toctou_settings
from drf_toctou.state import TokenIdentity
from drf_toctou.stores import get_store
from drf_toctou.stores.dynamodb import plain, typed

CONDITION_FAILED = "ConditionalCheckFailedException"
CANCELLED = "TransactionCanceledException"
MAX_KEY_LENGTH = 1024
Items = list[dict[str, Any]]  # named here: the viewset's own ``list`` shadows the builtin in its body
TYPED_FIELDS = ("Key", "Item", "ExpressionAttributeValues", "ExclusiveStartKey")

_clients: dict[tuple[tuple[str, str], ...], Any] = {}
_clients_lock = threading.Lock()


class DataTable:
    """One DynamoDB table seen through a low-level client shared by every
    thread of the process (clients are thread-safe; resources are not, and
    building either costs tens of milliseconds). Python values in and out."""

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
        return None if item is None else plain(item)


def shared_client(options: dict[str, Any]) -> Any:
    key = tuple(sorted((k, str(v)) for k, v in options.items()))
    with _clients_lock:
        if key not in _clients:
            config = Config(retries={"total_max_attempts": 3, "mode": "standard"}, max_pool_connections=64)
            _clients[key] = boto3.session.Session().client("dynamodb", config=config, **options)
        return _clients[key]


def data_table(name: str) -> DataTable:
    """The table ``name`` on ``DYNAMODB_DATA_OPTIONS`` (or the store's endpoint)."""
    options = dict(toctou_settings.DYNAMODB_DATA_OPTIONS) or getattr(get_store(), "connection_options", {})
    return DataTable(name, shared_client(options))


def _forget_clients(**kwargs: Any) -> None:
    with _clients_lock:
        _clients.clear()


setting_changed.connect(_forget_clients)


def to_dynamo(value: Any) -> Any:
    """Python values DynamoDB accepts: floats become Decimals, recursively."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: to_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_dynamo(v) for v in value]
    return value


def expression(condition: ConditionBase, key_condition: bool = False) -> dict[str, Any]:
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
    return {
        "UpdateExpression": f"SET {clauses}",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def plain_or_none(item: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if item is None else plain(item)


def merge(*parts: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        for name, value in part.items():
            merged[name] = {**merged[name], **value} if isinstance(value, dict) and name in merged else value
    return merged


class ConditionalDynamoMixin(ConditionalMixinBase):
    table_name: str = ""
    key_field = "id"
    owner_index: str | None = None
    list_limit = 1000
    lookup_field = "pk"

    def get_table(self) -> DataTable:
        return data_table(self.table_name)

    def get_item_key(self) -> str:
        key = self.kwargs.get(getattr(self, "lookup_url_kwarg", None) or self.lookup_field)
        if not isinstance(key, str) or not 0 < len(key.encode()) <= MAX_KEY_LENGTH:
            raise NotFound()
        return key

    # --- reads ----------------------------------------------------------------

    def list(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        owner = self.get_owner_field()
        user_id = self.token_identity().user_id
        if self.owner_index:
            params = {"IndexName": self.owner_index, **expression(Key(owner).eq(user_id), key_condition=True)}
            items = self._collect("query", params)
        else:
            params = expression(Attr(owner).eq(user_id))
            params["FilterExpression"] = params.pop("ConditionExpression")
            items = self._collect("scan", params)
        items = [item for item in items if is_owner(item, owner, user_id)]
        return Response(self.get_serializer(items, many=True).data)

    def _collect(self, operation: str, params: dict[str, Any]) -> Items:
        items: Items = []
        while len(items) < self.list_limit:
            page = self._data_call(self.get_table().call, operation, **params)
            items.extend(plain(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = plain(page["LastEvaluatedKey"])
        return items[: self.list_limit]

    def get_object(self) -> dict[str, Any]:
        """Consistent read, DRF's object permissions (the recheck at use), and
        the mixin's own ownership check."""
        with self.recheck_with_read() as identity:
            item = self._data_call(self.get_table().get, {self.key_field: self.get_item_key()})
            if item is None:
                raise NotFound()
            self.check_object_permissions(self.request, item)
        self.ensure_owner(item, identity)
        return item

    def retrieve(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        item = self.get_object()
        return self.with_etag(Response(self.get_serializer(item).data), item)

    # --- writes ---------------------------------------------------------------

    def create(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        identity = self.token_identity()
        item = {**to_dynamo(dict(serializer.validated_data)), self.key_field: self.new_key(serializer)}
        item[self.get_owner_field()] = identity.user_id
        if self.version_field:
            item[self.version_field] = 1
        write = {"Item": item, **expression(Attr(self.key_field).not_exists())}
        self.write("Put", write, expected_version=None)
        return self.with_etag(Response(self.get_serializer(item).data, status=status.HTTP_201_CREATED), item)

    def new_key(self, serializer: Any) -> str:
        body = self.request.data if isinstance(self.request.data, dict) else {}
        given = serializer.validated_data.get(self.key_field, body.get(self.key_field))
        if isinstance(given, str) and 0 < len(given.encode()) <= MAX_KEY_LENGTH:
            return given
        return uuid.uuid4().hex

    def update(self, request: Any, *args: Any, partial: bool = False, **kwargs: Any) -> Response:
        item = self.get_object()
        serializer = self.get_serializer(item, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        protected = {self.key_field, self.get_owner_field(), self.version_field}
        updates = {k: v for k, v in serializer.validated_data.items() if k not in protected}
        new_item = self.update_item(item, updates)
        return self.with_etag(Response(self.get_serializer(new_item).data), new_item)

    def update_item(self, item: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
        """Conditionally SET ``updates`` on ``item`` (as read by ``get_object``);
        return the item as stored. Code may pass the owner field here (e.g. a
        transfer); request bodies never reach it."""
        condition, expected = self.write_condition(item)
        updates = dict(updates)
        if self.version_field:
            updates[self.version_field] = expected + 1
        updates = updates or {self.get_owner_field(): self.token_identity().user_id}
        write = {"Key": {self.key_field: item[self.key_field]}, **merge(set_expression(updates), expression(condition))}
        new_item = self.write("Update", write, expected_version=expected)
        if new_item is None:
            new_item = self.reread(item) if not self.version_field else {**item, **to_dynamo(updates)}
        return new_item

    def partial_update(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def destroy(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        item = self.get_object()
        condition, expected = self.write_condition(item)
        self.write("Delete", {"Key": {self.key_field: item[self.key_field]}, **expression(condition)}, expected)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def reread(self, item: dict[str, Any]) -> dict[str, Any]:
        return self._data_call(self.get_table().get, {self.key_field: item[self.key_field]}) or item

    # --- the conditions and the write -----------------------------------------

    def write_condition(self, item: dict[str, Any]) -> tuple[ConditionBase, Any]:
        """Exists and owned by the caller, + the version the client saw
        (If-Match, else the one just read), or — without a version field —
        every attribute as read when If-Match named that state."""
        tags = self.check_if_match(self.etag_of(item))
        condition = Attr(self.key_field).exists() & Attr(self.get_owner_field()).eq(self.token_identity().user_id)
        expected = None
        if self.version_field:
            named = [version_from_etag(tag) for tag in tags or [] if tag != ANY]
            expected = named[0] if named else item.get(self.version_field)
            condition &= Attr(self.version_field).eq(expected)
        elif tags and ANY not in tags:
            for name, value in item.items():
                if name not in (self.key_field, self.get_owner_field()):
                    condition &= Attr(name).eq(value)
        return condition, expected

    def write(self, kind: str, params: dict[str, Any], expected_version: Any) -> dict[str, Any] | None:
        """Send the write: one ``TransactWriteItems`` with the token's
        ``ConditionCheck``s when fenced, else a recheck then the plain call.
        Return the new item when the store said it (UpdateItem ALL_NEW)."""
        self.before_write()
        table = self.get_table()
        params = {**params, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        store = get_store()
        try:
            if self.is_fenced(store, table):
                identity = self.token_identity()
                checks = store.condition_checks(identity.user_id, identity.jti, identity.version)  # type: ignore[attr-defined]
                table.client.transact_write_items(TransactItems=[{kind: table.request(**params)}, *checks])
                return None
            identity = self.recheck_token()
            if kind == "Update":
                params["ReturnValues"] = "ALL_NEW"
            answer = table.call(f"{kind.lower()}_item", **params)
            return plain(answer["Attributes"]) if "Attributes" in answer else None
        except ClientError as e:
            raise_for(self.failure_reason(e, identity, expected_version, kind), self.request)
        except BotoCoreError as e:
            raise DataStoreUnavailable() from e
        return None

    def is_fenced(self, store: Any, table: Any) -> bool:
        if store.fence != "transaction":
            return False
        ours, theirs = table.client.meta, store.client.meta
        return (ours.endpoint_url, ours.region_name) == (theirs.endpoint_url, theirs.region_name)

    def failure_reason(self, error: ClientError, identity: TokenIdentity, expected: Any, kind: str) -> str:
        code = error.response.get("Error", {}).get("Code")
        if code == CONDITION_FAILED:
            old: Any = error.response.get("Item")
            return self.reason_from_old(plain_or_none(old), identity, expected, kind)
        if code != CANCELLED:
            raise DataStoreUnavailable() from error
        reasons: Any = error.response.get("CancellationReasons") or []
        codes = [reason.get("Code") for reason in reasons]
        if codes[1:2] == ["ConditionalCheckFailed"]:
            return "token_revoked"
        if codes[2:3] == ["ConditionalCheckFailed"]:
            return "token_version_stale"
        if codes[:1] == ["ConditionalCheckFailed"]:
            return self.reason_from_old(plain_or_none(reasons[0].get("Item")), identity, expected, kind)
        return "write_conflict"

    def reason_from_old(self, old: dict[str, Any] | None, identity: TokenIdentity, expected: Any, kind: str) -> str:
        if kind == "Put":
            return "precondition_failed" if self.wants_no_overwrite() else "write_conflict"
        if old is None:
            return "not_found"
        if not is_owner(old, self.get_owner_field(), identity.user_id):
            return "not_owner"
        return "precondition_failed" if self.if_match() else "write_conflict"

    def _data_call(self, operation: Any, *args: Any, **params: Any) -> Any:
        try:
            return operation(*args, **params)
        except (BotoCoreError, ClientError) as e:
            raise DataStoreUnavailable() from e
