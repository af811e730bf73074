"""Writer stamps and the Streams watcher on moto's Streams API: stamps ride
in the conditional write itself; positive controls (a revoked token's
stamp, a non-owner, a delete-then-put, an unstamped write, a version
regression) are each found exactly once — across restarts at any point —
and a workload through the mixins is found clean. The reader follows
closing shards on a scripted stream; the Lambda handler shares the rules."""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager

import boto3
import pytest
from django.core.management import CommandError, call_command

from drf_toctou.mixins.dynamo import table_spec
from drf_toctou.revocation import revoke_token, revoke_user_tokens
from drf_toctou.signals import stream_finding
from drf_toctou.stamps import STAMP_ATTRIBUTE, StampInvalid, make_stamp, open_stamp
from drf_toctou.state import token_identity
from drf_toctou.streams.checkpoints import CheckpointTable, MemoryCheckpoints
from drf_toctou.streams.watcher import Watcher
from tests.helpers import access_for, bearer
from tests.testapp.indirect_views import STAMPED_TABLE, StampedDocumentViewSet

pytestmark = pytest.mark.django_db


@pytest.fixture
def streams_moto(moto, monkeypatch, settings):
    # moto answers the regional endpoint; botocore would pick the account-based one
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STREAM_CLOCK_MARGIN": 0.05}
    table_spec(StampedDocumentViewSet())[1]()
    return boto3.resource("dynamodb").Table(STAMPED_TABLE)


@contextmanager
def collected():
    found = []

    def receive(sender, finding, **kwargs):
        found.append(finding)

    stream_finding.connect(receive)
    try:
        yield found
    finally:
        stream_finding.disconnect(receive)


def run_watcher(limit=None, checkpoints=None):
    with collected() as found:
        tally = Watcher(STAMPED_TABLE, checkpoints=checkpoints).run(once=True, limit=limit)
    return found, tally


def create(client, title="t"):
    made = client.post("/s/documents/", {"title": title}, format="json")
    assert made.status_code == 201, made.json()
    return made.json()["id"]


# --- stamps -------------------------------------------------------------------------


def test_every_write_carries_an_opened_stamp_of_its_token(streams_moto, users):
    token = access_for(users[0])
    client = bearer(token)
    key = create(client)
    assert STAMP_ATTRIBUTE not in client.get(f"/s/documents/{key}/").json()
    stamp = open_stamp(streams_moto.get_item(Key={"id": key})["Item"][STAMP_ATTRIBUTE], key)
    identity = token_identity(token)
    assert (stamp.user_id, stamp.jti, stamp.version, stamp.operation) == (
        identity.user_id, identity.jti, identity.version, "create")
    assert client.patch(f"/s/documents/{key}/", {"title": "u"}, format="json").status_code == 200
    item = streams_moto.get_item(Key={"id": key})["Item"]
    assert open_stamp(item[STAMP_ATTRIBUTE], key).operation == "partial_update"
    assert str(token) not in str(item) and identity.jti not in str(item)


def test_a_stamp_opens_only_on_its_item_and_unaltered(streams_moto, users):
    identity = token_identity(access_for(users[0]))
    stamp = make_stamp(identity, "k1", "update")
    assert open_stamp(stamp, "k1").jti == identity.jti
    for value, key in [(stamp, "k2"), ({**stamp, "uid": "999"}, "k1"), ({**stamp, "op": "transfer"}, "k1"),
                       ({**stamp, "at": stamp["at"] + 1}, "k1"), ({**stamp, "x": "AAAA"}, "k1"), ("x", "k1"),
                       ({**stamp, "ver": "NaN"}, "k1")]:
        with pytest.raises(StampInvalid):
            open_stamp(value, key)


@pytest.mark.parametrize("store_kind", ["database", "dynamodb"], indirect=True)
def test_the_stamp_rides_in_the_same_conditional_write(streams_moto, users, store_kind):
    client = bearer(access_for(users[0]))
    key = create(client)
    from drf_toctou.mixins.dynamo import data_table

    calls = []
    events = data_table(STAMPED_TABLE).client.meta.events

    def count(**kwargs):
        calls.append(kwargs["model"].name)

    events.register("before-call.dynamodb", count)
    try:
        assert client.patch(f"/s/documents/{key}/", {"title": "u"}, format="json").status_code == 200
    finally:
        events.unregister("before-call.dynamodb", count)
    writes = [c for c in calls if c in ("UpdateItem", "TransactWriteItems", "PutItem")]
    assert writes == (["TransactWriteItems"] if store_kind == "dynamodb" else ["UpdateItem"])
    assert calls.count("GetItem") == 1  # the object's read: nothing else


def test_stamped_views_get_a_stream_from_toctou_setup(streams_moto):
    table = boto3.client("dynamodb").describe_table(TableName=STAMPED_TABLE)["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


# --- positive controls ---------------------------------------------------------------


def play_controls(table, users):
    """The writes the fence should have stopped, each made around the API;
    returns {rule: key} of what must be found."""
    alice, bob = users
    alice_token, bob_token = access_for(alice), access_for(bob)
    client = bearer(alice_token)
    keys = [create(client, f"doc-{i}") for i in range(6)]
    # 1. a holder of a revoked token writes with the stamping code, without the fence
    revoke_token(alice_token)
    time.sleep(0.1)
    dead = token_identity(alice_token)
    table.update_item(Key={"id": keys[0]}, UpdateExpression="SET title = :t, version = :v, #s = :s",
                      ExpressionAttributeNames={"#s": STAMP_ATTRIBUTE},
                      ExpressionAttributeValues={":t": "revoked", ":v": 2,
                                                 ":s": make_stamp(dead, keys[0], "partial_update")})
    # 2. bob (a live token) writes alice's document
    table.update_item(Key={"id": keys[1]}, UpdateExpression="SET title = :t, version = :v, #s = :s",
                      ExpressionAttributeNames={"#s": STAMP_ATTRIBUTE},
                      ExpressionAttributeValues={":t": "bob's now", ":v": 2,
                                                 ":s": make_stamp(token_identity(bob_token), keys[1], "update")})
    # 3. delete (through the API), then put again around it
    fresh = bearer(access_for(alice))
    assert fresh.delete(f"/s/documents/{keys[2]}/").status_code == 204
    table.put_item(Item={"id": keys[2], "owner_id": str(alice.pk), "title": "back", "version": 1})
    # 4. an unstamped write (the old stamp stays in place)
    table.update_item(Key={"id": keys[3]}, UpdateExpression="SET title = :t, version = :v",
                      ExpressionAttributeValues={":t": "around", ":v": 2})
    # 5. the version goes back, by a writer with a good stamp
    table.update_item(Key={"id": keys[4]}, UpdateExpression="SET version = :v, #s = :s",
                      ExpressionAttributeNames={"#s": STAMP_ATTRIBUTE},
                      ExpressionAttributeValues={":v": 0, ":s": make_stamp(token_identity(access_for(alice)),
                                                                           keys[4], "update")})
    # 6. an action that changes the owner without being declared a transfer
    assert fresh.post(f"/s/documents/{keys[5]}/grab/", {"to": bob.pk}, format="json").status_code == 200
    return {("written_after_revocation", keys[0]), ("non_owner_write", keys[1]), ("resurrection", keys[2]),
            ("unstamped_write", keys[2]), ("unstamped_write", keys[3]), ("version_regression", keys[4]),
            ("non_owner_write", keys[5])}


def test_positive_controls_are_each_found_once(streams_moto, users):
    expected = play_controls(streams_moto, users)
    found, tally = run_watcher()
    assert sorted((f.rule, f.key) for f in found) == sorted(expected)
    revoked = next(f for f in found if f.rule == "written_after_revocation")
    assert revoked.severity == "high" and "revoked" in revoked.detail and revoked.writer["user_id"] == str(users[0].pk)
    assert "jti" not in revoked.writer and len(revoked.writer["jti_hash"]) == 16
    assert run_watcher()[0] == []  # judged once: the checkpoints hold
    assert tally.by_rule["unstamped_write"] == 2 and tally.at_least("high") == 5


def test_a_restart_anywhere_neither_misses_nor_repeats(streams_moto, users):
    expected = play_controls(streams_moto, users)
    total = run_watcher(checkpoints=MemoryCheckpoints())[1].records
    for cut in range(1, total):
        checkpoints = MemoryCheckpoints()  # the checkpoints and tombstones of one watcher, restarted once
        first, tally = run_watcher(limit=cut, checkpoints=checkpoints)
        assert tally.records == cut
        rest, _ = run_watcher(checkpoints=checkpoints)
        ids = [f.id for f in first + rest]
        assert len(ids) == len(set(ids)), cut
        assert sorted((f.rule, f.key) for f in first + rest) == sorted(expected), cut


def test_negative_control_a_workload_through_the_mixins_is_clean(streams_moto, users):
    alice, bob = bearer(access_for(users[0])), bearer(access_for(users[1]))
    keys = [create(alice, f"n{i}") for i in range(4)] + [create(bob, "b")]
    for round_ in range(3):
        for key in keys[:4]:
            got = alice.get(f"/s/documents/{key}/")
            assert alice.patch(f"/s/documents/{key}/", {"title": f"r{round_}"}, format="json",
                               HTTP_IF_MATCH=got["ETag"]).status_code == 200
    assert alice.put(f"/s/documents/{keys[0]}/", {"title": "put"}, format="json").status_code == 200
    assert alice.post(f"/s/documents/{keys[1]}/transfer/", {"to": users[1].pk}, format="json").status_code == 200
    assert bob.patch(f"/s/documents/{keys[1]}/", {"title": "mine now"}, format="json").status_code == 200
    assert alice.delete(f"/s/documents/{keys[2]}/").status_code == 204
    revoke_user_tokens(users[0])  # later writes are refused: nothing to find
    assert alice.patch(f"/s/documents/{keys[3]}/", {"title": "late"}, format="json").status_code == 401
    found, tally = run_watcher()
    assert tally.records == 5 + 12 + 4 and found == []


def test_rules_can_be_switched_off_and_added(streams_moto, users, settings):
    play_controls(streams_moto, users)
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STREAM_RULES": [
        "drf_toctou.streams.rules.Resurrection", "tests.test_streams.TitleSaysAround"]}
    found, _ = run_watcher()
    assert sorted((f.rule, f.severity) for f in found) == [("resurrection", "medium"), ("title_says_around", "low")]


from drf_toctou.streams import LOW, Rule  # noqa: E402


class TitleSaysAround(Rule):
    name, severity = "title_says_around", LOW

    def judge(self, change, context):
        return "a title says so" if (change.new or {}).get("title") == "around" else None


# --- the command and the Lambda handler ---------------------------------------------------


def test_command_once_and_fail_on(streams_moto, users, caplog):
    play_controls(streams_moto, users)
    with caplog.at_level("INFO", logger="drf_toctou.streams"), pytest.raises(CommandError) as failed:
        call_command("toctou_watch", "--table", STAMPED_TABLE, "--once", "--fail-on", "high")
    assert failed.value.returncode == 1 and "5 finding(s)" in str(failed.value)
    lines = [r.getMessage() for r in caplog.records if r.name == "drf_toctou.streams"]
    assert len(lines) == 7 and all(line.startswith('{"detail"') for line in lines)
    call_command("toctou_watch", "--table", STAMPED_TABLE, "--once", "--fail-on", "low")  # nothing new


def test_command_refuses_a_table_without_stream(streams_moto):
    from tests.test_mixins_dynamo import create_documents_table

    create_documents_table()
    with pytest.raises(CommandError, match="has no stream") as failed:
        call_command("toctou_watch", "--table", "documents", "--once")
    assert failed.value.returncode == 2


def stream_records(table_name):
    client = boto3.client("dynamodb")
    arn = client.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return [{**r, "eventSourceARN": arn} for r in records]


def test_lambda_handler_shares_the_rules(streams_moto, users):
    from drf_toctou.streams import aws_lambda, lambda_handler

    aws_lambda._judge = None
    expected = play_controls(streams_moto, users)
    with collected() as found:
        assert lambda_handler({"Records": stream_records(STAMPED_TABLE)}, None) == {"batchItemFailures": []}
    assert sorted((f.rule, f.key) for f in found) == sorted(expected)


def test_lambda_handler_hands_back_what_it_could_not_judge(streams_moto, users):
    from drf_toctou.exceptions import StoreError
    from drf_toctou.streams import aws_lambda, lambda_handler

    aws_lambda._judge = None
    play_controls(streams_moto, users)
    records = stream_records(STAMPED_TABLE)
    from drf_toctou.stores import get_store

    def down(*args):
        raise StoreError("down")

    store = get_store()
    original = type(store).token_history
    type(store).token_history = down
    try:
        answer = lambda_handler({"Records": records}, None)
    finally:
        type(store).token_history = original
    assert answer == {"batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]}


def test_checkpoints_in_their_table(streams_moto, users):
    play_controls(streams_moto, users)
    table = CheckpointTable(boto3.client("dynamodb"), "other_checkpoints")
    assert table.ensure() == ["created", "TTL on 'expires_at'"]
    first, _ = run_watcher(limit=5, checkpoints=table)
    rest, _ = run_watcher(checkpoints=table)
    assert len(first + rest) == 7
    assert run_watcher(checkpoints=MemoryCheckpoints())[0]  # another checkpoint store starts over


def test_the_request_path_never_imports_the_watcher():
    code = ("import django, sys; django.setup(); import tests.urls, drf_toctou.mixins.dynamo, drf_toctou.views; "
            "from django.test import Client; Client().get('/me/'); "
            "sys.exit(any(m.startswith('drf_toctou.streams') for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], env={"DJANGO_SETTINGS_MODULE": "tests.settings",
                                                             "PATH": "/usr/bin:/bin"}, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


# --- the reader on a stream whose shards close and split ----------------------------------


class ScriptedStream:
    """A ``dynamodbstreams`` client over scripted shards {id: (parent, closed,
    [keys])}: describe_stream pages two shards at a time, get_records hands
    out two records at a time, a closed shard's last page has no next iterator."""

    def __init__(self, shards):
        an_hour_ago = time.time() - 3600
        self.shards = {sid: [parent, closed, [self.record(sid, i, k, an_hour_ago) for i, k in enumerate(keys)]]
                       for sid, (parent, closed, keys) in shards.items()}
        self.trimmed_before: dict[str, int] = {}
        self.expire_next = False

    @staticmethod
    def record(shard, index, key, at):
        return {"eventName": "INSERT", "dynamodb": {"Keys": {"id": {"S": key}}, "NewImage": {"id": {"S": key}},
                                                    "SequenceNumber": f"{shard}-{index:04d}",
                                                    "ApproximateCreationDateTime": at}}

    def append(self, shard, key):
        records = self.shards[shard][2]
        records.append(self.record(shard, len(records), key, time.time()))

    def describe_stream(self, StreamArn, ExclusiveStartShardId=None):
        ids = sorted(self.shards)
        start = ids.index(ExclusiveStartShardId) + 1 if ExclusiveStartShardId else 0
        page = ids[start:start + 2]
        shards = [{"ShardId": sid, **({"ParentShardId": self.shards[sid][0]} if self.shards[sid][0] else {}),
                   "SequenceNumberRange": {"StartingSequenceNumber": "0",
                                           **({"EndingSequenceNumber": "9"} if self.shards[sid][1] else {})}}
                  for sid in page]
        more = {"LastEvaluatedShardId": page[-1]} if start + 2 < len(ids) else {}
        return {"StreamDescription": {"Shards": shards, **more}}

    def get_shard_iterator(self, StreamArn, ShardId, ShardIteratorType, SequenceNumber=None):
        records = self.shards[ShardId][2]
        position = {"TRIM_HORIZON": self.trimmed_before.get(ShardId, 0), "LATEST": len(records)}.get(
            ShardIteratorType)
        if ShardIteratorType == "AFTER_SEQUENCE_NUMBER":
            position = int(SequenceNumber.rsplit("-", 1)[1]) + 1
        return {"ShardIterator": f"{ShardId}@{position}"}

    def get_records(self, ShardIterator, Limit):
        from botocore.exceptions import ClientError

        shard, position = ShardIterator.rsplit("@", 1)
        position = int(position)
        if self.expire_next or position < self.trimmed_before.get(shard, 0):
            code = "ExpiredIteratorException" if self.expire_next else "TrimmedDataAccessException"
            self.expire_next = False
            raise ClientError({"Error": {"Code": code}}, "GetRecords")
        _, closed, records = self.shards[shard]
        page = records[position:position + 2]
        end = position + len(page)
        done = closed and end >= len(records)
        return {"Records": page, **({} if done else {"NextShardIterator": f"{shard}@{end}"})}


def read_all(stream, checkpoints, start="TRIM_HORIZON", gaps=None):
    import threading

    from drf_toctou.streams.reader import StreamReader

    seen = []
    reader = StreamReader(stream, "arn:aws:dynamodb:r:1:table/t/stream/x", checkpoints, start,
                          on_gap=(gaps.append if gaps is not None else None))
    while reader.read(lambda record: seen.append(record["dynamodb"]["Keys"]["id"]["S"]) or False,
                      threading.Event()):
        pass
    return seen


def test_the_reader_follows_closing_shards_parents_first():
    stream = ScriptedStream({"a-parent": (None, True, ["p1", "p2", "p3"]),
                             "b-left": ("a-parent", True, ["l1", "l2", "l3"]),
                             "c-right": ("a-parent", False, ["r1"]),
                             "d-left-child": ("b-left", False, ["lc1", "lc2"])})
    checkpoints = MemoryCheckpoints()
    seen = read_all(stream, checkpoints)
    assert sorted(seen) == sorted(["p1", "p2", "p3", "l1", "l2", "l3", "r1", "lc1", "lc2"])
    assert seen[:3] == ["p1", "p2", "p3"] and seen.index("l3") < seen.index("lc1")
    assert read_all(stream, checkpoints) == []  # a restart: nothing again
    stream.append("c-right", "r2"), stream.append("d-left-child", "lc3")
    assert sorted(read_all(stream, checkpoints)) == ["lc3", "r2"]
    closed = {sid for (_, sid), point in checkpoints.points.items() if point.closed}
    assert closed == {"a-parent", "b-left"}


def test_the_reader_from_latest_skips_history_and_closed_shards():
    stream = ScriptedStream({"a-parent": (None, True, ["p1"]), "b-open": ("a-parent", False, ["o1", "o2"])})
    checkpoints = MemoryCheckpoints()
    assert read_all(stream, checkpoints, start="LATEST") == []
    stream.append("b-open", "o3")  # arrives while the watcher is restarted, before it judged anything
    assert read_all(stream, checkpoints, start="LATEST") == ["o3"]  # the checkpoint wins over --from
    stream.append("b-open", "o4")
    assert read_all(stream, checkpoints) == ["o4"]


def test_the_reader_reports_a_gap_and_survives_an_expired_iterator():
    stream = ScriptedStream({"a": (None, False, ["k1", "k2", "k3", "k4"])})
    checkpoints, gaps = MemoryCheckpoints(), []
    assert read_all(stream, checkpoints) == ["k1", "k2", "k3", "k4"]
    stream.expire_next = True
    stream.append("a", "k5")
    assert read_all(stream, checkpoints) == ["k5"]
    for key in ("k6", "k7", "k8"):
        stream.append("a", key)
    stream.trimmed_before["a"] = 6  # the watcher was away longer than the stream keeps records
    assert read_all(stream, checkpoints, gaps=gaps) == ["k7", "k8"] and gaps == ["a"]


def test_deletions_by_ttl_leave_no_tombstone():
    from drf_toctou.streams.changes import Change, WatchedTable
    from drf_toctou.streams.context import Context, MemoryTombstones
    from drf_toctou.streams.judge import Judge

    tombstones = MemoryTombstones()
    judge = Judge(Context(tombstones, clock_margin=0, resurrection_window=60), rules=[])
    removal = {"eventName": "REMOVE", "dynamodb": {"Keys": {"id": {"S": "k"}}, "SequenceNumber": "1",
                                                  "ApproximateCreationDateTime": time.time()}}
    for identity in ({"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"},  # boto3's shape
                     {"type": "Service", "principalId": "dynamodb.amazonaws.com"}):  # Lambda's
        judge.judge(Change.from_record({**removal, "userIdentity": identity}, WatchedTable("t")))
    assert tombstones.removed == {}
    judge.judge(Change.from_record(removal, WatchedTable("t")))
    assert ("t", "k") in tombstones.removed
