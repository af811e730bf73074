"""L3 for DynamoDB: ConditionalDynamoMixin on moto, with every store. With
DynamoDBStore the token state is part of the write's transaction; with the
other stores it is rechecked just before the write (the residual window)."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

import boto3
import pytest
from botocore.client import BaseClient
from rest_framework.test import APIClient

from drf_toctou.permissions import TokenOwnershipPermission
from drf_toctou.revocation import revoke_token, revoke_user_tokens
from drf_toctou.stores import get_store
from tests.helpers import access_for, after_object_check, assert_refusal, bearer
from tests.testapp.views import NaiveDictOwnerPermission


def create_documents_table():
    boto3.client("dynamodb").create_table(
        TableName="documents",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                              {"AttributeName": "owner_id", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_owner", "KeySchema": [{"AttributeName": "owner_id", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
    )
    return boto3.resource("dynamodb").Table("documents")


@pytest.fixture
def table(moto, store_kind):
    return create_documents_table()


@pytest.fixture
def doc(table, users):
    item = {"id": "d1", "owner_id": str(users[0].pk), "title": "alice's", "version": 1}
    table.put_item(Item=item)
    return item


def stored(table, key="d1"):
    return table.get_item(Key={"id": key}, ConsistentRead=True).get("Item")


def test_create_owner_from_token_key_generated_by_the_server(table, users, doc):
    client = bearer(access_for(users[0]))
    made = client.post("/documents/", {"title": "t", "owner_id": str(users[1].pk)}, format="json")
    assert made.status_code == 201, made.json()
    body = made.json()
    assert len(body["id"]) == 32 and body["owner_id"] == str(users[0].pk) and made["ETag"] == '"v1"'
    # a key in the body is not the client's to choose: no oracle on other users' keys
    probe = bearer(access_for(users[1])).post("/documents/", {"id": "d1", "title": "t"}, format="json")
    assert probe.status_code == 201 and probe.json()["id"] != "d1"
    assert stored(table)["owner_id"] == str(users[0].pk)


def test_client_chosen_keys_are_opt_in_and_never_overwrite(table, users, doc):
    client = bearer(access_for(users[1]))
    given = client.post("/k/documents/", {"id": "mine", "title": "t"}, format="json")
    assert given.status_code == 201 and stored(table, "mine")["owner_id"] == str(users[1].pk)
    taken = client.post("/k/documents/", {"id": "d1", "title": "x"}, format="json")
    assert_refusal(taken, 409, "write_conflict")
    assert "already exists" in taken.json()["detail"] and "retry" not in taken.json()["detail"]
    none_match = client.post("/k/documents/", {"id": "d1", "title": "x"}, format="json", HTTP_IF_NONE_MATCH="*")
    assert_refusal(none_match, 412, "precondition_failed")
    assert "If-None-Match" in none_match.json()["detail"] and "If-Match failed" not in none_match.json()["detail"]
    assert stored(table)["owner_id"] == str(users[0].pk)


@pytest.mark.parametrize("field, value", [("ratio", 1e300), ("ratio", 1e-200), ("count", 10**40),
                                          ("count", -(10**39))])
def test_numbers_dynamodb_cannot_hold_are_a_400_naming_the_field(field, value, table, users, doc):
    client = bearer(access_for(users[0]))
    created = client.post("/documents/", {"title": "t", field: value}, format="json")
    assert created.status_code == 400 and field in created.json(), created.content
    updated = client.patch("/documents/d1/", {field: value}, format="json")
    assert updated.status_code == 400 and field in updated.json(), updated.content
    assert stored(table)["version"] == 1


@pytest.mark.parametrize("header, status", [('"hX", "v1"', 200), ('"v5", "v1"', 200), ('W/"v1", "x", "v1"', 200),
                                            ('"v\u00b2", "v1"', 200), ('W/"v1"', 412), ('"v1" junk', 412),
                                            ("*", 200), ('"v2"', 412)])
def test_if_match_lists_follow_rfc_9110(header, status, table, users, doc):
    header = header.encode().decode("unicode_escape")
    response = bearer(access_for(users[0])).patch("/documents/d1/", {"title": "x"}, format="json",
                                                  HTTP_IF_MATCH=header)
    assert response.status_code == status, (header, response.content)
    if status == 412:
        assert response.json()["code"] == "precondition_failed"


def test_an_item_without_its_version_attribute_is_updated_not_a_500(table, users):
    table.put_item(Item={"id": "old", "owner_id": str(users[0].pk), "title": "from before versions"})
    client = bearer(access_for(users[0]))
    etag = client.get("/documents/old/")["ETag"]
    response = client.patch("/documents/old/", {"title": "x"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200 and stored(table, "old")["version"] == 1 and response["ETag"] == '"v1"'


def test_list_only_the_callers_items_by_index_and_by_scan(table, users, doc):
    table.put_item(Item={"id": "d2", "owner_id": str(users[1].pk), "title": "bob's", "version": 1})
    client = bearer(access_for(users[0]))
    for path in ("/documents/", "/u/documents/"):
        assert [d["id"] for d in client.get(path).json()] == ["d1"]


def test_retrieve_update_with_etag_and_decimal_round_trip(table, users, doc):
    client = bearer(access_for(users[0]))
    got = client.get("/documents/d1/")
    assert got.status_code == 200 and got["ETag"] == '"v1"'
    patch = {"title": "new", "score": "12.3456", "ratio": 0.25}
    changed = client.patch("/documents/d1/", patch, format="json", HTTP_IF_MATCH='"v1"')
    assert changed.status_code == 200, changed.json()
    assert changed["ETag"] == '"v2"'
    assert changed.json()["score"] == "12.3456" and changed.json()["ratio"] == 0.25
    item = stored(table)
    assert item["score"] == Decimal("12.3456") and item["version"] == 2
    assert_refusal(client.patch("/documents/d1/", {"title": "late"}, format="json", HTTP_IF_MATCH='"v1"'),
                   412, "precondition_failed")
    assert stored(table)["title"] == "new"


def test_unversioned_if_match_is_a_condition_on_the_whole_item(table, users, doc):
    client = bearer(access_for(users[0]))
    etag = client.get("/u/documents/d1/")["ETag"]
    assert etag.startswith('"h')
    table.update_item(Key={"id": "d1"}, UpdateExpression="SET body = :b", ExpressionAttributeValues={":b": "theirs"})
    assert_refusal(client.patch("/u/documents/d1/", {"title": "x"}, format="json", HTTP_IF_MATCH=etag),
                   412, "precondition_failed")
    fresh = client.get("/u/documents/d1/")["ETag"]
    assert client.patch("/u/documents/d1/", {"title": "x"}, format="json", HTTP_IF_MATCH=fresh).status_code == 200


def test_foreign_and_missing_items_are_404(table, users, doc):
    client = bearer(access_for(users[1]))
    for response in (client.get("/documents/d1/"), client.patch("/documents/d1/", {"title": "x"}, format="json"),
                     client.delete("/documents/d1/"), client.get("/documents/nope/")):
        assert_refusal(response, 404, "not_found")
    assert stored(table)["title"] == "alice's"


def test_destroy(table, users, doc):
    client = bearer(access_for(users[0]))
    assert client.delete("/documents/d1/").status_code == 204
    assert stored(table) is None


# --- deterministic injections right after the point-of-use check ----------


def races(table, users):
    return {
        "S3_owner_changed": (lambda r, obj: table.update_item(Key={"id": "d1"}, UpdateExpression="SET owner_id = :o",
                                                         ExpressionAttributeValues={":o": str(users[1].pk)}),
                             404, "not_found"),
        "S4_deleted": (lambda r, obj: table.delete_item(Key={"id": "d1"}), 404, "not_found"),
        "S5_updated_by_another_client": (lambda r, obj: table.update_item(
            Key={"id": "d1"}, UpdateExpression="SET title = :t, version = :v",
            ExpressionAttributeValues={":t": "theirs", ":v": 2}), 409, "write_conflict"),
        "S1_revoked": (lambda r, obj: revoke_token(r.auth), 401, "token_revoked"),
        "S2_bumped": (lambda r, obj: revoke_user_tokens(r.auth["user_id"]), 401, "token_version_stale"),
    }


RACE_NAMES = ["S3_owner_changed", "S4_deleted", "S5_updated_by_another_client", "S1_revoked", "S2_bumped"]


@pytest.mark.parametrize("race", RACE_NAMES)
def test_change_after_object_check_makes_the_write_fail(race, table, users, doc):
    action, status, code = races(table, users)[race]
    with after_object_check(TokenOwnershipPermission, action):
        response = bearer(access_for(users[0])).patch("/documents/d1/", {"title": "mine"}, format="json")
    assert_refusal(response, status, code)
    item = stored(table)
    assert item is None or item["title"] != "mine"  # S4: not re-created by an upsert


@pytest.mark.parametrize("race", RACE_NAMES)
def test_negative_control_naive_update_item_loses_the_same_race(race, table, users, doc):
    action, *_ = races(table, users)[race]
    with after_object_check(NaiveDictOwnerPermission, action):
        response = bearer(access_for(users[0])).patch("/naive/documents/d1/", {"title": "mine"}, format="json")
    assert response.status_code == 200
    assert stored(table)["title"] == "mine"  # S4: UpdateItem re-created the deleted item


# --- S6: revoked inside the very call that carries the write ----------------


@contextmanager
def revoke_just_before(operations, token):
    original = BaseClient._make_api_call
    fired = []

    def call(self, operation_name, api_params):
        if operation_name in operations and not fired:
            fired.append(operation_name)
            revoke_token(token)
        return original(self, operation_name, api_params)

    with mock.patch.object(BaseClient, "_make_api_call", call):
        yield fired


def test_s6_revocation_inside_the_write_call(table, users, doc, store_kind):
    token = access_for(users[0])
    with revoke_just_before({"TransactWriteItems", "UpdateItem"}, token) as fired:
        response = bearer(token).patch("/documents/d1/", {"title": "mine"}, format="json")
    assert fired
    if store_kind == "dynamodb":
        # Fenced: the revocation is a ConditionCheck of the same transaction.
        assert_refusal(response, 401, "token_revoked")
        assert stored(table)["title"] == "alice's"
    else:
        # The residual window of the Redis/Database stores with DynamoDB data,
        # as the README states: a revocation landing after the final recheck
        # and before the UpdateItem does not stop that one write.
        assert response.status_code == 200
        assert stored(table)["title"] == "mine"
    assert_refusal(bearer(token).get("/documents/d1/"), 401, "token_revoked")


def test_the_fenced_write_is_one_transaction_with_the_token_checks(table, users, doc, store_kind):
    if store_kind != "dynamodb":
        pytest.skip("DynamoDBStore only")
    calls = []
    original = BaseClient._make_api_call

    def spy(self, operation_name, api_params):
        calls.append((operation_name, api_params))
        return original(self, operation_name, api_params)

    with mock.patch.object(BaseClient, "_make_api_call", spy):
        bearer(access_for(users[0])).patch("/documents/d1/", {"title": "mine"}, format="json")
    writes = [params for name, params in calls if name == "TransactWriteItems"]
    assert len(writes) == 1 and [name for name, _ in calls].count("UpdateItem") == 0
    kinds = [next(iter(entry)) for entry in writes[0]["TransactItems"]]
    assert kinds == ["Update", "ConditionCheck", "ConditionCheck"]
    assert get_store().table_name in {entry["ConditionCheck"]["TableName"] for entry in writes[0]["TransactItems"][1:]}


@pytest.mark.parametrize("method, path", [("get", "/open/documents/"), ("get", "/open/documents/d1/"),
                                          ("post", "/open/documents/"), ("patch", "/open/documents/d1/"),
                                          ("delete", "/open/documents/d1/")])
@pytest.mark.parametrize("caller", ["nobody", "another authentication class"])
def test_the_mixin_acts_only_for_a_checked_token(method, path, caller, table, users, doc):
    client = APIClient()
    if caller != "nobody":
        client.force_authenticate(users[0])
    response = getattr(client, method)(path, {"title": "x"}, format="json")
    if caller == "nobody":
        assert_refusal(response, 401, "not_authenticated")
    else:
        assert_refusal(response, 403, "token_auth_required")
    assert stored(table)["title"] == doc["title"]
