"""Never fail open: a store that can't answer within STORE_TIMEOUT is a 503.
Real redis-server processes are killed, stalled and restarted; moto's HTTP
server is stopped."""

from __future__ import annotations

import threading
import time

import pytest

from drf_toctou.stores import reset_store
from tests.conftest import use_store
from tests.helpers import access_for, assert_refusal, bearer
from tests.servers import MotoServer, RedisServer

TIMEOUT = 0.25
MARGIN = 0.35  # scheduling and Django overhead on a loaded 2-core machine


@pytest.fixture
def own_redis(settings, db):
    server = RedisServer().start()
    use_store(settings, "redis", url=server.url)
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STORE_TIMEOUT": TIMEOUT}
    yield server
    server.stop()
    reset_store()


def timed_get(client, path="/me/"):
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


def test_killed_redis_answers_503_quickly_then_recovers_after_restart(own_redis, users):
    client = bearer(access_for(users[0]))
    assert client.get("/me/").status_code == 200
    own_redis.kill()
    for _ in range(3):
        response, elapsed = timed_get(client)
        assert_refusal(response, 503, "token_state_unavailable")
        assert elapsed < TIMEOUT + MARGIN, elapsed
    own_redis.start()  # same port; Django is not restarted
    assert client.get("/me/").status_code == 200


def test_stalled_redis_answers_503_not_a_hang(own_redis, users):
    client = bearer(access_for(users[0]))
    assert client.get("/me/").status_code == 200
    staller = threading.Thread(target=lambda: own_redis.client().execute_command("DEBUG", "SLEEP", "2"))
    staller.start()
    time.sleep(0.1)
    response, elapsed = timed_get(client)
    assert_refusal(response, 503, "token_state_unavailable")
    assert elapsed < TIMEOUT + MARGIN, elapsed
    staller.join()
    assert client.get("/me/").status_code == 200


def test_revocation_fails_loudly_when_the_store_is_down(own_redis, users):
    client = bearer(access_for(users[0]))
    own_redis.kill()
    assert_refusal(client.post("/auth/logout/"), 503, "token_state_unavailable")


def test_on_store_error_allow_is_an_explicit_fail_open(own_redis, users, settings):
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "ON_STORE_ERROR": "allow"}
    client = bearer(access_for(users[0]))
    own_redis.kill()
    assert client.get("/me/").status_code == 200


def test_dynamodb_endpoint_down_answers_503(settings, users):
    server = MotoServer().start()
    try:
        use_store(settings, "dynamodb", table_name="toctou", endpoint_url=server.url, region_name="us-east-1")
        settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STORE_TIMEOUT": TIMEOUT}
        from drf_toctou.stores import get_store

        get_store().setup()
        client = bearer(access_for(users[0]))
        assert client.get("/me/").status_code == 200
    finally:
        server.stop()
    response, elapsed = timed_get(client)
    assert_refusal(response, 503, "token_state_unavailable")
    assert elapsed < TIMEOUT + MARGIN, elapsed
    reset_store()


def test_dynamodb_throttling_answers_503(store_kind, users, settings):
    if store_kind != "dynamodb":
        pytest.skip("DynamoDB only")
    from botocore.exceptions import ClientError

    from drf_toctou.stores import get_store

    def throttle(**kwargs):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                          "BatchGetItem")

    get_store().client.meta.events.register("before-call.dynamodb.BatchGetItem", throttle)
    assert_refusal(bearer(access_for(users[0])).get("/me/"), 503, "token_state_unavailable")
