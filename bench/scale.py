"""Counted round trips per check; check cost with 0 / MID / BIG revocations
stored; Redis memory per revoked token; the DatabaseStore purge."""

from __future__ import annotations

import os
import statistics
import time
import uuid

from bench.configs import Config
from bench.harness import Harness

ROUND_TRIP_STORES = ("database", "redis", "redis-unix")


def round_trips(harness: Harness) -> list[tuple[str, int, int]]:
    """Round trips on the wire made by the store during a GET /me (the
    authentication) and during a detail GET (authentication + recheck)."""
    from rest_framework.test import APIClient

    from drf_toctou.stores import get_store

    rows = []
    for name in ROUND_TRIP_STORES:
        with harness.store(name):
            header = harness.mint(Config("round trips", "", "versioned", name))
            client, store = APIClient(HTTP_AUTHORIZATION=header), get_store()
            counts = []
            for path in ("/toctou/me/", f"/toctou/notes/{harness.note.pk}/"):
                count, response = store_calls(store, lambda p=path, c=client: c.get(p))
                assert response.status_code == 200, (name, path, response.status_code)
                counts.append(count)
            rows.append((name, counts[0], counts[1] - counts[0]))
    return rows


def store_calls(store, action) -> tuple[int, object]:
    """Wire round trips of the store's own checks only (the database store
    shares its connection with the view's queries), and the action's result."""
    from unittest import mock

    from tests.helpers import check_method, store_round_trips

    trips = []
    name = check_method(store)  # every check goes through it
    real = getattr(type(store), name)

    def counted(self_, user_id, jti, session=None):
        count, answer = store_round_trips(self_, lambda: real(self_, user_id, jti, session))
        trips.append(count)
        return answer

    with mock.patch.object(type(store), name, counted):
        result = action()
    return sum(trips), result


def dynamodb_round_trips(harness: Harness) -> tuple[str, int, int]:
    """DynamoDBStore on moto: for function (one BatchGetItem per check), not speed."""
    from moto import mock_aws
    from rest_framework.test import APIClient

    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(name, value)
    from django.test import override_settings

    from drf_toctou.stores import get_store
    from tests.helpers import store_round_trips

    with mock_aws(), override_settings(DRF_TOCTOU={"STORE": "drf_toctou.stores.dynamodb.DynamoDBStore",
                                                    "STORE_OPTIONS": {"table_name": "bench"}}):
        store = get_store()
        store.setup()
        client = APIClient(HTTP_AUTHORIZATION=harness.mint(Config("round trips", "", "versioned")))
        counts = []
        for path in ("/toctou/me/", f"/toctou/notes/{harness.note.pk}/"):
            count, response = store_round_trips(store, lambda p=path, c=client: c.get(p))
            assert response.status_code == 200, (path, response.status_code)
            counts.append(count)
    return "dynamodb (moto)", counts[0], counts[1] - counts[0]


def check_cost(store, count: int = 2000) -> float:
    blocks = []
    for _ in range(5):
        started = time.perf_counter()
        for i in range(count // 5):
            store.check("1", f"probe-{i}")
        blocks.append((time.perf_counter() - started) / (count // 5))
    return statistics.median(blocks)


def redis_scale(harness: Harness, mid: int, big: int) -> tuple[list[tuple[int, float]], float]:
    import redis

    from drf_toctou.stores.redis import RedisStore

    store = RedisStore({"url": harness.redis.url})
    bulk = redis.Redis.from_url(harness.redis.url)  # no STORE_TIMEOUT for loading a million keys
    bulk.flushall()
    exat = int(time.time()) + 86400
    rows, filled = [(0, check_cost(store))], 0
    before = int(bulk.info("memory")["used_memory"])
    per_token = 0.0
    for target in (mid, big):
        pipe = bulk.pipeline(transaction=False)
        for i in range(filled, target):
            pipe.set(store.jti_key(str(i % 5_000), uuid.uuid4().hex), b"r1764000000000", exat=exat)
            if i % 10_000 == 9_999:
                pipe.execute()
        pipe.execute()
        if target == mid:
            per_token = (int(bulk.info("memory")["used_memory"]) - before) / mid
        filled = target
        rows.append((target, check_cost(store)))
    bulk.flushall()
    bulk.close()
    return rows, per_token


def database_scale(mid: int, big: int) -> tuple[list[tuple[int, float]], float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from drf_toctou.models import RevokedToken
    from drf_toctou.stores.database import DatabaseStore

    store = DatabaseStore({})
    RevokedToken.objects.all().delete()
    rows, filled, past = [(0, check_cost(store))], 0, int(time.time()) - 60
    for target in (mid, big):
        for start in range(filled, target, 20_000):
            RevokedToken.objects.bulk_create(
                [RevokedToken(jti=f"{i:032x}", user_id=str(i % 50_000), expires_at=past)
                 for i in range(start, min(start + 20_000, target))])
        filled = target
        rows.append((target, check_cost(store)))
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        deleted = store.purge_expired()
        purge_seconds = time.perf_counter() - started
    deletes = sum(q["sql"].startswith("DELETE") for q in queries.captured_queries)
    assert deleted == big
    return rows, purge_seconds, deletes
