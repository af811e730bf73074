"""``DynamoDBStore``: token state in one DynamoDB table, strongly consistent.

Items (partition key ``pk``, string)::

    u#<user_id>   {"ver": N, "bumped": [ms, ...]}             the version; when it moved
    j#<jti>       {"uid", "expires_at", "at": ms, "k": r|c}   a revoked or used jti
    s#<sid>       {"uid", "suid", "created", "refreshed", "client", "ip",
                   "expires_at", "revoked_at": ms}             a session; ended once revoked_at is set

``expires_at`` is the table's TTL attribute (keep-until: exp + leeway + grace).
DynamoDB deletes expired items up to about two days late, so every read and
every condition compares it itself. ``suid`` exists only on listed sessions:
the sparse index ``by_user`` on it lists a user's sessions.

Options: ``table_name`` (default ``"drf_toctou"``), ``region_name``,
``endpoint_url``, ``max_attempts`` (botocore attempts per call, default 1: a
slow store is a failed store), ``client_kwargs``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key

from drf_toctou import dynamodb as ddb
from drf_toctou.exceptions import SessionRevoked, StoreError, TokenRevoked, TokenVersionStale
from drf_toctou.settings import toctou_settings
from drf_toctou.stores import dynamodb_setup
from drf_toctou.stores.base import CONSUMED, REVOKED, BaseStore, SessionRecord, TokenHistory, TokenState

KEY = "pk"
VERSION = "ver"
EXPIRES = "expires_at"
SESSIONS_INDEX = "by_user"


def user_key(user_id: str) -> str:
    return f"u#{user_id}"


def jti_key(jti: str) -> str:
    return f"j#{jti}"


def session_key(session: str) -> str:
    return f"s#{session}"


def _ms() -> int:
    return int(time.time() * 1000)


class DynamoDBStore(BaseStore):
    OPTIONS = frozenset({"table_name", "region_name", "endpoint_url", "max_attempts", "client_kwargs"})

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.table_name = self.options.get("table_name", "drf_toctou")
        self.connection_options = {
            key: self.options[key] for key in ("region_name", "endpoint_url") if self.options.get(key)
        }
        # Built now: building a client costs 50-150 ms that no request should
        # pay inside its STORE_TIMEOUT.
        self.client = ddb.shared_client({**self.connection_options, **self.options.get("client_kwargs", {})},
                                        float(toctou_settings.STORE_TIMEOUT), int(self.options.get("max_attempts", 1)))
        self.table = ddb.DataTable(self.table_name, self.client)

    def check(self, user_id: str, jti: str, session: str | None = None) -> TokenState:
        keys = [user_key(user_id), jti_key(jti)] + ([session_key(session)] if session else [])
        request: Any = {self.table_name: {"Keys": [{KEY: {"S": key}} for key in keys], "ConsistentRead": True}}
        answer = self._call("batch_get_item", RequestItems=request)
        if answer.get("UnprocessedKeys"):
            raise StoreError("dynamodb store: keys left unprocessed (throttled)")
        items = {item[KEY]["S"]: ddb.native(item) for item in answer["Responses"].get(self.table_name, [])}
        now = time.time()

        def live(key: str, *, ended: bool = False) -> bool:
            item = items.get(key)
            return item is not None and int(item.get(EXPIRES, 0)) > now and (not ended or "revoked_at" in item)

        version = int(items.get(user_key(user_id), {}).get(VERSION, 0))
        return TokenState(revoked=live(jti_key(jti)), version=version,
                          session_revoked=bool(session) and live(session_key(session or ""), ended=True))

    def revoke(self, user_id: str, jti: str, keep_until: int) -> None:
        """A second revocation keeps the first one's time and only lengthens it."""
        key = {KEY: jti_key(jti)}
        self._call("update_item", **self.table.request(
            Key=key, UpdateExpression="SET #u = :uid, #k = :r, #a = if_not_exists(#a, :now), "
                                      "#e = if_not_exists(#e, :keep)",
            ExpressionAttributeNames={"#u": "uid", "#k": "k", "#a": "at", "#e": EXPIRES},
            ExpressionAttributeValues={":uid": user_id, ":r": "r", ":now": _ms(), ":keep": int(keep_until)}))
        self._lengthen(key, keep_until)

    def bump_version(self, user_id: str) -> int:
        answer = self._call("update_item", **self.table.request(
            Key={KEY: user_key(user_id)},
            UpdateExpression="ADD #v :one SET #b = list_append(if_not_exists(#b, :none), :now)",
            ExpressionAttributeNames={"#v": VERSION, "#b": "bumped"},
            ExpressionAttributeValues={":one": 1, ":none": [], ":now": [_ms()]},
            ReturnValues="UPDATED_NEW"))
        return int(ddb.native(answer["Attributes"])[VERSION])

    def current_version(self, user_id: str) -> int:
        item = self._get(user_key(user_id)) or {}
        return int(item.get(VERSION, 0))

    # --- refresh rotation and sessions ------------------------------------------

    def consume(self, user_id: str, jti: str, keep_until: int) -> str | None:
        item = {KEY: jti_key(jti), "uid": user_id, EXPIRES: int(keep_until), "at": _ms(), "k": "c"}
        free = Attr(KEY).not_exists() | Attr(EXPIRES).lte(int(time.time()))
        try:
            self.client.put_item(**self.table.request(Item=item, ReturnValuesOnConditionCheckFailure="ALL_OLD",
                                                      **ddb.expression(free)))
        except ddb.ClientError as e:
            if ddb.error_code(e) != ddb.CONDITION_FAILED:
                raise StoreError(f"dynamodb store: {e}") from e
            old: Any = e.response.get("Item")
            found = ddb.native(old) if old else self._get(jti_key(jti)) or {}
            return CONSUMED if found.get("k") == "c" else REVOKED
        except ddb.BotoCoreError as e:
            raise StoreError(f"dynamodb store: {e}") from e
        return None

    def revoke_session(self, user_id: str, session: str, keep_until: int) -> None:
        key = {KEY: session_key(session)}
        self._call("update_item", **self.table.request(
            Key=key, UpdateExpression="SET #r = if_not_exists(#r, :now), #u = :uid, #e = if_not_exists(#e, :keep) "
                                      "REMOVE #s",
            ExpressionAttributeNames={"#r": "revoked_at", "#u": "uid", "#e": EXPIRES, "#s": "suid"},
            ExpressionAttributeValues={":now": _ms(), ":uid": user_id, ":keep": int(keep_until)}))
        self._lengthen(key, keep_until)

    def _lengthen(self, key: dict[str, str], keep_until: int) -> None:
        """Set ``expires_at`` to ``keep_until`` unless it is later already."""
        extend = {"UpdateExpression": "SET #e = :keep", "ExpressionAttributeNames": {"#e": EXPIRES},
                  "ExpressionAttributeValues": {":keep": int(keep_until)}}
        try:
            self.client.update_item(**self.table.request(
                Key=key, **ddb.merge(extend, ddb.expression(Attr(EXPIRES).lt(int(keep_until))))))
        except ddb.ClientError as e:
            if ddb.error_code(e) != ddb.CONDITION_FAILED:
                raise StoreError(f"dynamodb store: {e}") from e
        except ddb.BotoCoreError as e:
            raise StoreError(f"dynamodb store: {e}") from e

    def save_session(self, record: SessionRecord) -> None:
        values = {"uid": record.user_id, "suid": record.user_id, "refreshed": str(record.refreshed_at),
                  "client": record.client, "ip": record.ip, EXPIRES: int(record.expires_at),
                  "sver": record.version}
        names = {f"#a{i}": name for i, name in enumerate(values)}
        sets = ", ".join(f"#a{i} = :a{i}" for i in range(len(values)))
        try:
            self.client.update_item(**self.table.request(
                Key={KEY: session_key(record.session_id)},
                UpdateExpression=f"SET {sets}, #c = if_not_exists(#c, :c)",
                ExpressionAttributeNames={**names, "#c": "created", "#r": "revoked_at"},
                ExpressionAttributeValues={**{f":a{i}": v for i, v in enumerate(values.values())},
                                           ":c": str(record.created_at)},
                ConditionExpression="attribute_not_exists(#r)"))
        except ddb.ClientError as e:
            if ddb.error_code(e) != ddb.CONDITION_FAILED:  # ended: never listed again
                raise StoreError(f"dynamodb store: {e}") from e
        except ddb.BotoCoreError as e:
            raise StoreError(f"dynamodb store: {e}") from e

    def sessions(self, user_id: str) -> list[SessionRecord]:
        params = {"IndexName": SESSIONS_INDEX, **ddb.expression(Key("suid").eq(user_id), key_condition=True)}
        records, now = [], time.time()
        while True:
            page = self._call("query", **self.table.request(**params))
            for item in map(ddb.native, page.get("Items", [])):
                if int(item.get(EXPIRES, 0)) > now and "revoked_at" not in item:
                    records.append(SessionRecord(
                        session_id=item[KEY][2:], user_id=user_id, created_at=float(item.get("created", 0)),
                        refreshed_at=float(item.get("refreshed", 0)), expires_at=int(item[EXPIRES]),
                        client=item.get("client", ""), ip=item.get("ip", ""), version=int(item.get("sver", 0))))
            if "LastEvaluatedKey" not in page:
                return records
            params["ExclusiveStartKey"] = ddb.native(page["LastEvaluatedKey"])

    def forget_session(self, user_id: str, session: str) -> None:
        try:  # an ended session's item is its revocation: it stays
            self.client.delete_item(**self.table.request(
                Key={KEY: session_key(session)}, **ddb.expression(Attr("revoked_at").not_exists())))
        except ddb.ClientError as e:
            if ddb.error_code(e) != ddb.CONDITION_FAILED:
                raise StoreError(f"dynamodb store: {e}") from e
        except ddb.BotoCoreError as e:
            raise StoreError(f"dynamodb store: {e}") from e

    def token_history(self, user_id: str, jti: str, session: str | None, version: int) -> TokenHistory:
        revoked = self._get(jti_key(jti)) or {}
        ended = (self._get(session_key(session)) if session else None) or {}
        user = self._get(user_key(user_id)) or {}
        bumps, current = list(user.get("bumped", [])), int(user.get(VERSION, 0))
        index = len(bumps) - current + version  # the bump that reached version + 1, newest last
        superseded = bumps[index] if current > version and 0 <= index < len(bumps) else None

        def seconds(value: Any) -> float | None:
            return None if value is None else int(value) / 1000

        return TokenHistory(revoked_at=seconds(revoked.get("at")), session_revoked_at=seconds(ended.get("revoked_at")),
                            superseded_at=seconds(superseded))

    # --- fencing ------------------------------------------------------------------

    def transaction_checks(self, user_id: str, jti: str, version: int, session: str | None,
                           endpoint: tuple[str | None, str | None]) -> list[dict[str, Any]] | None:
        """``ConditionCheck``s that fail the transaction when, at commit, the jti
        is revoked, the user's version moved, or the session was ended — for a
        data table on the store's own endpoint and region."""
        if endpoint != ddb.endpoint_of(self.client):
            return None
        now = int(time.time())
        same_version: ConditionBase = Attr(VERSION).eq(version)
        if version == 0:
            same_version = Attr(KEY).not_exists() | same_version
        checks = [self._condition_check(jti_key(jti), Attr(KEY).not_exists() | Attr(EXPIRES).lte(now)),
                  self._condition_check(user_key(user_id), same_version)]
        if session:
            open_session = Attr("revoked_at").not_exists() | Attr(EXPIRES).lte(now)
            checks.append(self._condition_check(session_key(session), open_session))
        return checks

    def explain_cancellation(self, reasons: Sequence[dict[str, Any]]) -> type[Exception] | None:
        for refusal, reason in zip((TokenRevoked, TokenVersionStale, SessionRevoked), reasons, strict=False):
            if reason.get("Code") == "ConditionalCheckFailed":
                return refusal
        return None

    def _condition_check(self, key: str, condition: ConditionBase) -> dict[str, Any]:
        return {"ConditionCheck": self.table.request(Key={KEY: key}, **ddb.expression(condition))}

    # --- plumbing -------------------------------------------------------------------

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self.client, operation)(**params)
        except ddb.ERRORS as e:
            raise StoreError(f"dynamodb store: {e}") from e

    def _get(self, key: str) -> dict[str, Any] | None:
        item = self._call("get_item", **self.table.request(Key={KEY: key}, ConsistentRead=True)).get("Item")
        return None if item is None else ddb.native(item)

    # --- operations -----------------------------------------------------------------

    def setup(self) -> str:
        return dynamodb_setup.setup(self, KEY, SESSIONS_INDEX, EXPIRES)

    def deploy_checks(self) -> list[Any]:
        return dynamodb_setup.deploy_checks(self)
