"""Never fail open: a store that can't answer within STORE_TIMEOUT is a 503,
quickly, with no 2xx while it is down, and recovery without restarting Django.
Real redis-server processes are killed, stalled, flooded and restarted; moto's
HTTP server is stopped; a black-hole TCP listener never answers; a database
alias points at a closed port."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from botocore.exceptions import ClientError

from drf_toctou.stores import get_store, reset_store
from drf_toctou.tokens import VersionedAccessToken
from tests.conftest import use_store
from tests.helpers import access_for, assert_refusal, bearer
from tests.reliability.conftest import scaled
from tests.servers import MotoServer, RedisServer, free_port

TIMEOUT = 0.25
LIMIT = TIMEOUT + 0.1  # the promise: 503 within STORE_TIMEOUT + 100 ms


def timed_get(client, path="/me/"):
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


def refusals(client, count: int) -> tuple[list[int], float]:
    """``count`` requests: their statuses and the worst latency seen."""
    statuses, worst = [], 0.0
    for _ in range(count):
        response, elapsed = timed_get(client)
        statuses.append(response.status_code)
        if response.status_code == 503:
            assert response.json()["code"] == "token_state_unavailable"
        worst = max(worst, elapsed)
    return statuses, worst


def unchecked_token(user) -> VersionedAccessToken:
    """A valid access token made without asking any store."""
    token = VersionedAccessToken()
    token["user_id"], token["ver"] = str(user.pk if user else 1), 0
    return token


def record(report, name, statuses, worst, note=""):
    failures = sum(status != 503 for status in statuses) + (worst > LIMIT)
    report(name, cases=len(statuses), failures=failures, worst_latency=f"{worst * 1000:.0f} ms",
           note=f"{name}: {note}" if note else "")
    assert all(status == 503 for status in statuses), statuses
    assert worst < LIMIT, worst


def take_every_connection_slot(port: int) -> list[socket.socket]:
    """Open connections until Redis refuses one."""
    hogs: list[socket.socket] = []
    while True:
        hog = socket.create_connection(("127.0.0.1", port))
        hog.sendall(b"PING\r\n")
        if not hog.recv(100).startswith(b"+PONG"):
            hog.close()
            return hogs
        hogs.append(hog)


@pytest.fixture
def own_redis(settings, db):
    server = RedisServer().start()
    use_store(settings, "redis", url=server.url)
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STORE_TIMEOUT": TIMEOUT}
    yield server
    server.stop()
    reset_store()


def test_killed_redis_answers_503_quickly_then_recovers_after_restart(own_redis, users, report):
    client = bearer(access_for(users[0]))
    assert client.get("/me/").status_code == 200
    own_redis.kill()
    statuses, worst = refusals(client, scaled(5, 50))
    own_redis.start()  # same port; Django is not restarted
    recovered = client.get("/me/").status_code
    record(report, "Redis killed", statuses, worst, f"recovered after restart: {recovered == 200}")
    assert recovered == 200


def test_stalled_redis_answers_503_not_a_hang(own_redis, users, report):
    client = bearer(access_for(users[0]))
    assert client.get("/me/").status_code == 200
    stall = 2 if scaled(0, 1) == 0 else 5
    staller = threading.Thread(target=lambda: own_redis.client().execute_command("DEBUG", "SLEEP", str(stall)))
    staller.start()
    time.sleep(0.1)
    statuses, worst = refusals(client, int((stall - 0.5) / (TIMEOUT + 0.02)))
    staller.join()
    recovered = client.get("/me/").status_code
    record(report, f"Redis stalled (DEBUG SLEEP {stall})", statuses, worst, f"recovered: {recovered == 200}")
    assert recovered == 200


def test_flooded_redis_answers_503_then_recovers(settings, db, users, report):
    server = RedisServer(None, "--maxclients", "8").start()
    hogs = []
    try:
        use_store(settings, "redis", url=server.url)
        settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STORE_TIMEOUT": TIMEOUT}
        client = bearer(unchecked_token(users[0]))
        hogs = take_every_connection_slot(server.port)  # before the store ever connects
        statuses, worst = refusals(client, scaled(5, 50))
        for hog in hogs:
            hog.close()
        time.sleep(0.2)
        recovered = client.get("/me/").status_code
        record(report, "Redis flooded (maxclients reached)", statuses, worst,
               f"recovered after the flood: {recovered == 200}")
        assert recovered == 200
    finally:
        for hog in hogs:
            hog.close()
        server.stop()
        reset_store()


def test_revocation_fails_loudly_when_the_store_is_down(own_redis, users):
    client = bearer(access_for(users[0]))
    own_redis.kill()
    assert_refusal(client.post("/auth/logout/"), 503, "token_state_unavailable")


def test_on_store_error_allow_is_an_explicit_fail_open(own_redis, users, settings):
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "ON_STORE_ERROR": "allow"}
    client = bearer(access_for(users[0]))
    own_redis.kill()
    assert client.get("/me/").status_code == 200


def test_dynamodb_endpoint_down_answers_503(settings, users, report):
    server = MotoServer().start()
    try:
        use_store(settings, "dynamodb", table_name="toctou", endpoint_url=server.url, region_name="us-east-1")
        settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STORE_TIMEOUT": TIMEOUT}
        get_store().setup()
        client = bearer(access_for(users[0]))
        assert client.get("/me/").status_code == 200
    finally:
        server.stop()
    statuses, worst = refusals(client, scaled(5, 50))
    reset_store()
    record(report, "DynamoDB endpoint down (moto server stopped)", statuses, worst)


def test_dynamodb_black_hole_answers_503_within_the_timeout(settings, users, report):
    """A listener that accepts and never answers: botocore's read timeout is
    STORE_TIMEOUT and retries are off, so a request can't hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", free_port()))
    listener.listen(128)
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        use_store(settings, "dynamodb", table_name="toctou", endpoint_url=url, region_name="us-east-1")
        settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STORE_TIMEOUT": TIMEOUT}
        get_store()  # a running process has its store (and client) built already
        statuses, worst = refusals(bearer(unchecked_token(users[0])), scaled(3, 20))
    finally:
        listener.close()
        reset_store()
    record(report, "DynamoDB black hole (accepts, never answers)", statuses, worst)


def test_dynamodb_throttling_answers_503(store_kind, users, report):
    if store_kind != "dynamodb":
        pytest.skip("DynamoDB only")

    def throttle(**kwargs):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                          "BatchGetItem")

    get_store().client.meta.events.register("before-call.dynamodb.BatchGetItem", throttle)
    statuses, worst = refusals(bearer(access_for(users[0])), scaled(5, 50))
    get_store().client.meta.events.unregister("before-call.dynamodb.BatchGetItem", throttle)
    record(report, "DynamoDB throttled (ProvisionedThroughputExceededException)", statuses, worst)


def test_database_store_unavailable_answers_503(settings, django_db_blocker, report):
    """The DatabaseStore on a database alias whose server is down (a closed
    port): no test transaction wraps this alias, so the failure is real."""
    use_store(settings, "database", using="unreachable")
    with django_db_blocker.unblock():
        statuses, worst = refusals(bearer(unchecked_token(None)), scaled(3, 20))
    reset_store()
    record(report, "Database store: database unreachable", statuses, worst)
