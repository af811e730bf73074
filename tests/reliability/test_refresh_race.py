"""One winner per rotation, under real concurrency: 8 threads refresh the same
fresh refresh token at once against the sample API running under gunicorn
(2 processes × 8 threads), trial after trial, on each store — RedisStore on a
redis-server of its own, DynamoDBStore on DynamoDB Local, DatabaseStore on
PostgreSQL (when DATABASE_URL points at one), and DatabaseStore on the
sample's SQLite file (the embedded default). Exactly one 200 every trial, and
the family ended after it (the losers were reuses). The negative control is
simplejwt's own TokenRefreshView with BLACKLIST_AFTER_ROTATION, under the same
load on the same server: more than one winner."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from sample_api.server import PASSWORDS
from tests.reliability.conftest import scaled
from tests.reliability.refresh_race import THREADS, WORKERS, RaceResult, RaceServer, RefreshRace
from tests.servers import DynamoDBLocal, MotoServer, PostgresDatabase, RedisServer, dynamodb_local_jar

RACERS = 8
REFUSALS = {"401 token_reused", "401 token_revoked", "401 session_revoked"}
# The race is about the compare-and-set, not about the store's speed under a
# burst on a shared 2-core machine: a generous timeout keeps fail-closed 503s
# out of it (they would be counted as server errors).
ENV = {"TOCTOU_STORE_TIMEOUT": "2.0"}
SQLITE = {"DATABASE_URL": ""}  # the users on the sample's SQLite file, whatever this run's DATABASE_URL


@pytest.fixture(scope="module")
def moto_server():
    """Only for the sample's documents table, which it creates at start-up."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_race_server(moto_server):
    redis = RedisServer().start()
    server = RaceServer(0, {**ENV, **SQLITE, "TOCTOU_STORE": "redis", "REDIS_URL": redis.url,
                            "DYNAMODB_ENDPOINT_URL": moto_server.url}).start()
    yield server
    server.stop()
    redis.stop()


@pytest.fixture(scope="module")
def sqlite_race_server(moto_server):
    """The sample's embedded default: DatabaseStore on its SQLite file, shared
    by the two worker processes."""
    server = RaceServer(0, {**ENV, **SQLITE, "TOCTOU_STORE": "database",
                            "DYNAMODB_ENDPOINT_URL": moto_server.url}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dynamodb_local_race_server():
    if dynamodb_local_jar() is None:
        pytest.skip("DynamoDB Local missing (make dynamodb-local needs java and npm)")
    local = DynamoDBLocal().start()
    server = RaceServer(0, {**ENV, **SQLITE, "TOCTOU_STORE": "dynamodb", "DYNAMODB_ENDPOINT_URL": local.url,
                            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                            "AWS_DEFAULT_REGION": "us-east-1"}).start()
    yield server
    server.stop()
    local.stop()


@pytest.fixture(scope="module")
def postgres_race_server(moto_server):
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("needs DATABASE_URL pointing at PostgreSQL")
    database = PostgresDatabase(url).create()
    server = RaceServer(0, {**ENV, "TOCTOU_STORE": "database", "DATABASE_URL": database.url,
                            "DYNAMODB_ENDPOINT_URL": moto_server.url}).start()
    yield server
    server.stop()
    database.drop()


NAMES = {"redis": "RedisStore", "dynamodb_local": "DynamoDBStore on DynamoDB Local",
         "postgres": "DatabaseStore on PostgreSQL", "sqlite": "DatabaseStore on SQLite (the embedded default)"}


def race_row(report, store: str, protected: RaceResult, naive: RaceResult) -> None:
    spread = sorted(protected.spread_us)[len(protected.spread_us) // 2]
    report(f"refresh race: {NAMES[store]} ({RACERS} threads, gunicorn {WORKERS}×{THREADS})",
           cases=protected.trials,
           failures=protected.trials - protected.exactly_one + protected.server_errors,
           worst_latency=f"{protected.worst_latency * 1000:.0f} ms",
           naive=f"{naive.more_than_one} of {naive.trials} trials with more than one winner "
                 f"(up to {max(naive.winners)})",
           note=(f"refresh race, {NAMES[store]}: {protected.trials} trials of {RACERS} concurrent refreshes of one "
                 f"token: {protected.distribution()}; family ended after {protected.families_ended} of them; "
                 f"answers {dict(protected.codes)}; median spread of the {RACERS} sends {spread:.0f} µs; "
                 f"{protected.seconds:.0f} s. Control (simplejwt TokenRefreshView + BLACKLIST_AFTER_ROTATION, same "
                 f"server): {naive.distribution()}; answers {dict(naive.codes)}."))


@pytest.mark.parametrize("store", ["redis", "dynamodb_local", "postgres", "sqlite"])
def test_exactly_one_concurrent_refresh_wins(store, request, report):
    server = request.getfixturevalue(f"{store}_race_server")
    trials = scaled(8, 200)
    protected = RefreshRace(server.url, "protected", "alice", PASSWORDS["alice"], RACERS).run(trials)
    naive = RefreshRace(server.url, "naive", "bob", PASSWORDS["bob"], RACERS).run(scaled(6, 200))
    race_row(report, store, protected, naive)
    print(f"\n{store}: protected {protected.distribution()} {dict(protected.codes)}; "
          f"naive {naive.distribution()} {dict(naive.codes)}")
    assert protected.winners == Counter({1: trials}), protected.distribution()
    assert protected.server_errors == 0, protected.codes
    assert set(protected.codes) <= {"200", *REFUSALS}, protected.codes
    assert protected.families_ended == trials  # every loser was a reuse: the family is over
    assert naive.more_than_one > 0, naive.distribution()  # the negative control loses the race
