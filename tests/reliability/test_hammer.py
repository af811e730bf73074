"""Concurrent races on real engines, through the real HTTP stack: fenced
combinations must show 0 writes committed after their token's revocation was
acknowledged; the naive twins under the same hammer must show violations."""

from __future__ import annotations

import os

import pytest

from sample_api.server import Server
from tests.reliability.conftest import scaled
from tests.reliability.hammer import Hammer
from tests.servers import DynamoDBLocal, PostgresDatabase, dynamodb_local_jar

WRITERS = 8
USERS = [(f"hammer{i}", f"hammer-password-{i}") for i in range(WRITERS)]


CREATE_USERS = ("from django.contrib.auth import get_user_model as g; U=g()\n"
                + "".join(f"U.objects.filter(username={n!r}).exists() or U.objects.create_user({n!r}, password={p!r})\n"
                          for n, p in USERS))


@pytest.fixture(scope="module")
def postgres_server():
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("needs DATABASE_URL pointing at PostgreSQL")
    database = PostgresDatabase(url).create()
    server = Server(0, {"DATABASE_URL": database.url, "TOCTOU_STORE": "database"}, CREATE_USERS).start()
    yield server
    server.stop()
    database.drop()


@pytest.fixture(scope="module")
def dynamodb_local_server():
    if dynamodb_local_jar() is None:
        pytest.skip("DynamoDB Local missing (make dynamodb-local needs java and npm)")
    local = DynamoDBLocal().start()
    server = Server(0, {"DYNAMODB_ENDPOINT_URL": local.url, "TOCTOU_STORE": "dynamodb", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}, CREATE_USERS).start()
    yield server
    server.stop()
    local.stop()


def hammer_row(report, name, fenced, naive):
    report(name, cases=fenced.writes + fenced.refused + fenced.unavailable,
           failures=fenced.violations + fenced.server_errors,
           worst_latency=f"{fenced.worst_latency * 1000:.0f} ms",
           naive=f"{naive.violations} violations in {naive.writes} writes",
           note=(f"{name}: {fenced.writes} writes committed, {fenced.refused} refused, {fenced.revocations} "
                 f"revocations acknowledged, {fenced.violations} writes committed after their revocation, "
                 f"{fenced.server_errors} server errors, {fenced.unavailable} fail-closed 503s (store slower than "
                 f"STORE_TIMEOUT under load), {fenced.seconds:.0f} s; naive twin: {naive.violations} "
                 f"violations among {naive.writes} writes and {naive.revocations} revocations."))


@pytest.mark.parametrize("engine", ["postgres", "dynamodb_local"])
def test_fenced_writes_never_commit_after_revocation(engine, request, report):
    server = request.getfixturevalue(f"{engine}_server")
    resource = "notes" if engine == "postgres" else "documents"
    total = scaled(160, 10_000)
    fenced = Hammer(server.url, resource, "protected", USERS, total).run()
    naive = Hammer(server.url, resource, "naive", USERS, scaled(80, 2_000)).run()
    name = {"postgres": "hammer: ORM + DatabaseStore on PostgreSQL",
            "dynamodb_local": "hammer: DynamoDB + DynamoDBStore on DynamoDB Local"}[engine]
    hammer_row(report, name, fenced, naive)
    assert fenced.revocations > 0
    assert fenced.violations == 0
    assert fenced.server_errors == 0, fenced.error_samples
    assert fenced.writes + fenced.refused + fenced.unavailable >= total
    assert naive.violations > 0  # the negative control loses the race
