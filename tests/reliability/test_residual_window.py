"""The residual window of the unfenced combinations (RedisStore with ORM or
DynamoDB data), measured: the time from the last token recheck returning to the
write having committed. A revocation acknowledged inside it does not stop that
one write (README, "The residual window")."""

from __future__ import annotations

import statistics
import time
from unittest import mock

import pytest
from django.db import transaction

from drf_toctou.mixins.base import ConditionalMixinBase
from drf_toctou.mixins.dynamo import DataTable
from tests.conftest import use_store
from tests.helpers import access_for, bearer
from tests.reliability.conftest import scaled
from tests.testapp.models import Note


@pytest.fixture
def redis_store(settings, db, redis_server):
    redis_server.client().flushall()
    use_store(settings, "redis", url=redis_server.url)


def measure(write_path, client, count, committed_hook):
    gaps: list[float] = []
    marks: dict[str, float] = {}
    original = ConditionalMixinBase.recheck_token

    def recheck(self):
        identity = original(self)
        marks["rechecked"] = time.perf_counter()
        return identity

    def committed():
        gaps.append((time.perf_counter() - marks["rechecked"]) * 1e6)

    with mock.patch.object(ConditionalMixinBase, "recheck_token", recheck), committed_hook(committed):
        for sequence in range(count):
            assert client.patch(write_path, {"title": f"t{sequence}"}, format="json").status_code == 200
    return gaps


def summary(gaps):
    ordered = sorted(gaps)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.0f} µs, p99 {p99:.0f} µs, max {ordered[-1]:.0f} µs"


def orm_commit_hook(callback):
    from drf_toctou.mixins.model import ConditionalModelMixin

    real = ConditionalModelMixin.save_conditionally

    def save(self, *args, **kwargs):
        real(self, *args, **kwargs)
        transaction.on_commit(callback)

    return mock.patch.object(ConditionalModelMixin, "save_conditionally", save)


def dynamo_commit_hook(callback):
    real = DataTable.call

    def call(self, operation, **params):
        answer = real(self, operation, **params)
        if operation == "update_item":
            callback()
        return answer

    return mock.patch.object(DataTable, "call", call)


def test_residual_window_redis_store_with_orm_data(transactional_db, redis_store, users, report):
    note = Note.objects.create(owner=users[0], title="t")
    gaps = measure(f"/v/notes/{note.pk}/", bearer(access_for(users[0])), scaled(100, 2000), orm_commit_hook)
    report("residual window: RedisStore + ORM data", cases=len(gaps), failures=0, worst_latency="—",
           note=f"RedisStore + ORM: last recheck → commit: {summary(gaps)}")
    assert len(gaps) == scaled(100, 2000)


def test_residual_window_redis_store_with_dynamodb_data(redis_store, moto, users, report):
    from tests.test_mixins_dynamo import create_documents_table

    table = create_documents_table()
    table.put_item(Item={"id": "d1", "owner_id": str(users[0].pk), "title": "t", "version": 1})
    gaps = measure("/documents/d1/", bearer(access_for(users[0])), scaled(100, 1000), dynamo_commit_hook)
    report("residual window: RedisStore + DynamoDB data (moto)", cases=len(gaps), failures=0, worst_latency="—",
           note=f"RedisStore + DynamoDB (moto in-process): last recheck → UpdateItem answered: {summary(gaps)}")
    assert len(gaps) == scaled(100, 1000)
