"""The store contract, run against every store (DatabaseStore on the test DB,
RedisStore on a real redis-server, DynamoDBStore on moto)."""

from __future__ import annotations

import threading

import pytest

from drf_toctou.stores.base import TokenState
from tests.helpers import later, store_round_trips


def test_unknown_user_has_version_zero_and_nothing_revoked(store):
    assert store.check("nobody", "some-jti") == TokenState(revoked=False, version=0)
    assert store.current_version("nobody") == 0


def test_revoke_marks_only_that_jti(store):
    store.revoke("1", "jti-a", later(60))
    assert store.check("1", "jti-a").revoked is True
    assert store.check("1", "jti-b").revoked is False
    assert store.check("2", "jti-c").revoked is False


def test_revoke_is_idempotent(store):
    store.revoke("1", "jti-a", later(60))
    store.revoke("1", "jti-a", later(60))
    assert store.check("1", "jti-a") == TokenState(revoked=True, version=0)


def test_expired_revocation_counts_as_absent(store):
    store.revoke("1", "old-jti", later(-5))
    assert store.check("1", "old-jti").revoked is False


def test_bump_version_increments_per_user(store):
    assert store.bump_version("1") == 1
    assert store.bump_version("1") == 2
    assert store.current_version("1") == 2
    assert store.current_version("2") == 0
    assert store.check("1", "x") == TokenState(revoked=False, version=2)


def test_user_ids_with_braces_and_unicode(store):
    for user_id in ("{7}", "a}b{c", "ü-ñ", "user:1:j:x"):
        store.revoke(user_id, "j1", later(60))
        assert store.bump_version(user_id) == 1
        assert store.check(user_id, "j1") == TokenState(revoked=True, version=1)


@pytest.fixture(params=["database", "redis", "dynamodb_local"])
def concurrent_store(request, settings, redis_server):
    """Every store, on an engine safe under concurrent clients: SQLite *files*
    (threads share them), a real redis-server, DynamoDB Local (not moto)."""
    from drf_toctou.stores import get_store, reset_store
    from tests.conftest import use_store

    if request.param == "database":
        request.getfixturevalue("transactional_db")
        use_store(settings, "database", using="filedb")
    elif request.param == "redis":
        redis_server.client().flushall()
        use_store(settings, "redis", url=redis_server.url)
    else:
        local = request.getfixturevalue("dynamodb_local")
        use_store(settings, "dynamodb", table_name="bumps", endpoint_url=local.url, region_name="us-east-1",
                  max_attempts=3)
        settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STORE_TIMEOUT": 5}
        get_store().setup()
    yield get_store()
    reset_store()


@pytest.mark.django_db(transaction=True, databases=["default", "filedb"])
def test_concurrent_bumps_are_atomic(concurrent_store):
    errors, seen = [], []

    def bump():
        try:
            for _ in range(10):
                seen.append(concurrent_store.bump_version("hot"))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    assert concurrent_store.current_version("hot") == 40
    assert sorted(seen) == list(range(1, 41))  # every bump got its own version: none lost, none shared


def test_setup_is_idempotent_and_leaves_a_working_store(store):
    first, second = store.setup(), store.setup()
    assert isinstance(first, str) and isinstance(second, str)
    store.revoke("1", "jti-after-setup", later(60))
    assert store.check("1", "jti-after-setup").revoked is True


# --- one round trip per check, counted ------------------------------------


def test_check_is_one_round_trip(store):
    store.revoke("1", "j", later(60))
    store.bump_version("1")
    assert store_round_trips(store, lambda: store.check("1", "j"))[0] == 1


def test_a_second_revocation_keeps_the_first_time_and_never_shortens(store):
    store.revoke("1", "jti-t", later(60))
    first = store.token_history("1", "jti-t", None, 0).revoked_at
    __import__("time").sleep(0.01)
    store.revoke("1", "jti-t", later(30))  # shorter: ignored
    store.revoke("1", "jti-t", later(120))  # longer: kept
    assert store.token_history("1", "jti-t", None, 0).revoked_at == first
    assert store.check("1", "jti-t").revoked is True
