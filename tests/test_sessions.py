"""The refresh-family and session contract, run against every store
(DatabaseStore, RedisStore on a real redis-server, DynamoDBStore on moto):
consume (the rotation's compare-and-set), revoke_session (one operation, read
by the check in its one round trip), the session registry (save, list,
forget, expiry, bounded), and, above the stores, the session rules and
endpoints: versions, MAX_SESSIONS_PER_USER, sessions/, reuse detection and
its audit, the admin's sessions page."""

from __future__ import annotations

import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from drf_toctou.signals import session_ended, token_rejected
from drf_toctou.stores.base import CONSUMED, REVOKED, SessionRecord
from tests.helpers import assert_refusal, bearer, later, store_round_trips

pytestmark = pytest.mark.urls("tests.admin_urls")


def record(session: str, user_id: str = "1", *, created: float | None = None, expires_at: int | None = None,
           version: int = 0, client: str = "agent", ip: str = "10.0.0.1") -> SessionRecord:
    now = time.time() if created is None else created
    return SessionRecord(session_id=session, user_id=user_id, created_at=now, refreshed_at=now,
                         expires_at=later(600) if expires_at is None else expires_at, client=client, ip=ip,
                         version=version)


def listed(store, user_id: str = "1") -> set[str]:
    return {s.session_id for s in store.sessions(user_id)}


# --- consume: the rotation's compare-and-set ----------------------------------------


def test_consume_once_wins_then_reports_consumed(store):
    assert store.consume("1", "r1", later(60)) is None
    assert store.consume("1", "r1", later(60)) == CONSUMED
    assert store.consume("1", "r1", later(60)) == CONSUMED
    assert store.check("1", "r1").revoked is True  # a used refresh token is refused like a revoked one
    assert store.consume("1", "r2", later(60)) is None  # per jti


def test_consume_after_revoke_reports_revoked(store):
    store.revoke("1", "r1", later(60))
    assert store.consume("1", "r1", later(60)) == REVOKED
    assert store.consume("1", "r1", later(60)) == REVOKED  # and the revocation is not turned into a use


def test_revoke_after_consume_keeps_it_refused(store):
    assert store.consume("1", "r1", later(60)) is None
    store.revoke("1", "r1", later(60))
    assert store.check("1", "r1").revoked is True
    assert store.consume("1", "r1", later(60)) in (CONSUMED, REVOKED)


def test_consumption_past_its_keep_until_counts_as_absent(store):
    assert store.consume("1", "old", later(-5)) is None
    assert store.check("1", "old").revoked is False
    assert store.consume("1", "old", later(60)) is None  # taken over once
    assert store.consume("1", "old", later(60)) == CONSUMED


def test_concurrent_consumes_have_exactly_one_winner(transactional_db, store, store_kind):
    if store_kind == "dynamodb":
        pytest.skip("moto is not concurrency-safe: tests/reliability/test_refresh_race.py runs DynamoDB Local")
    if store_kind == "database" and connection.vendor == "sqlite":
        pytest.skip("in-memory SQLite is not shared between threads here")
    for trial in range(10):
        barrier, answers = threading.Barrier(8), []

        def refresh(jti=f"hot-{trial}"):
            barrier.wait()
            try:
                answers.append(store.consume("1", jti, later(60)))
            finally:
                connections.close_all()  # this thread's own database connection

        threads = [threading.Thread(target=refresh) for _ in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert answers.count(None) == 1, answers
        assert answers.count(CONSUMED) == 7, answers


# --- revoke_session: one operation, read by the one-round-trip check ---------------------


def test_revoke_session_refuses_that_session_only(store):
    store.revoke_session("1", "s1", later(600))
    assert store.check("1", "any-jti", "s1").session_revoked is True
    assert store.check("1", "any-jti", "s2").session_revoked is False
    assert store.check("1", "any-jti").session_revoked is False
    assert store.check("1", "any-jti", "s1").revoked is False  # the jti itself is not revoked
    store.revoke_session("1", "s1", later(600))  # idempotent
    assert store.check("1", "other", "s1").session_revoked is True


def test_an_ended_session_past_its_keep_until_counts_as_absent(store):
    store.revoke_session("1", "s1", later(-5))
    assert store.check("1", "j", "s1").session_revoked is False


def test_revoke_session_never_shortens_how_long_it_stays_ended(store):
    store.revoke_session("1", "s1", later(600))
    store.revoke_session("1", "s1", later(-5))
    assert store.check("1", "j", "s1").session_revoked is True


def test_check_with_a_session_is_one_round_trip(store):
    store.revoke("1", "j", later(60))
    store.bump_version("1")
    store.revoke_session("1", "s1", later(600))
    trips, state = store_round_trips(store, lambda: store.check("1", "j", "s1"))
    assert trips == 1
    assert (state.revoked, state.version, state.session_revoked) == (True, 1, True)


def test_ending_a_family_costs_the_same_whatever_it_issued(store, store_kind):
    """One store operation whatever the number of tokens the family issued:
    its cost does not grow with its rotations, and every token is refused."""
    store.revoke_session("1", "warm-up", later(600))  # Redis loads its script once
    jtis = [f"big-{i}" for i in range(50)]
    for jti in jtis:
        assert store.consume("1", jti, later(600)) is None
    store.save_session(record("small"))
    store.save_session(record("big"))
    small = store_round_trips(store, lambda: store.revoke_session("1", "small", later(600)))[0]
    big = store_round_trips(store, lambda: store.revoke_session("1", "big", later(600)))[0]
    assert small == big
    if store_kind in ("redis", "redis_sentinel"):
        assert big == 1  # one script (on the cluster, the script and its WAIT travel in one pipeline)
    assert all(store.check("1", f"access-{i}", "big").session_revoked for i in range(50))


# --- the registry ---------------------------------------------------------------------


def test_registry_saves_lists_updates_and_forgets(store):
    first = record("s1", created=1_700_000_000.5, client="Firefox", ip="192.0.2.1", version=0)
    store.save_session(first)
    store.save_session(record("s2"))
    store.save_session(record("t1", user_id="2"))
    assert listed(store) == {"s1", "s2"}
    assert listed(store, "2") == {"t1"}
    (got,) = [s for s in store.sessions("1") if s.session_id == "s1"]
    assert (got.user_id, got.created_at, got.client, got.ip, got.version) == ("1", 1_700_000_000.5, "Firefox",
                                                                              "192.0.2.1", 0)
    assert got.expires_at == first.expires_at
    # a rotation updates the entry; its creation time stays
    store.save_session(SessionRecord("s1", "1", created_at=1_800_000_000.0, refreshed_at=1_700_000_100.25,
                                     expires_at=later(900), client="Firefox 2", ip="192.0.2.2"))
    (got,) = [s for s in store.sessions("1") if s.session_id == "s1"]
    assert (got.created_at, got.refreshed_at, got.client, got.ip) == (1_700_000_000.5, 1_700_000_100.25,
                                                                       "Firefox 2", "192.0.2.2")
    store.forget_session("1", "s1")
    assert listed(store) == {"s2"}
    store.forget_session("1", "never-there")  # idempotent


def test_registry_entries_expire_with_the_family(store):
    store.save_session(record("gone", expires_at=later(-5)))
    store.save_session(record("live"))
    assert listed(store) == {"live"}


def test_an_ended_session_is_never_listed_again(store):
    store.save_session(record("s1"))
    store.revoke_session("1", "s1", later(600))
    assert listed(store) == set()
    store.save_session(record("s1"))  # a rotation that lost the race with the end
    assert listed(store) == set()
    store.forget_session("1", "s1")  # forgetting an ended session keeps its revocation
    assert store.check("1", "j", "s1").session_revoked is True
    store.save_session(record("s1"))
    assert listed(store) == set()


def test_the_registry_is_bounded(store, store_kind):
    """Nothing of a session outlives its family: every key, row or item
    carries its expiry and goes by itself (Redis TTL, DynamoDB TTL attribute,
    DatabaseStore purge)."""
    store.save_session(record("s1", expires_at=later(100)))
    store.save_session(record("s2", expires_at=later(200)))
    store.revoke_session("1", "s3", later(300))
    if store_kind.startswith("redis"):
        keys = (store.client.keys("*") if store_kind != "redis_cluster"  # KEYS answers one node of a cluster
                else [store.key("1", "s"), store.key("1", "z"), store.session_key("1", "s3")])
        assert keys
        ttls = [store.client.ttl(key) for key in keys]
        assert all(0 < ttl <= 300 for ttl in ttls), dict(zip(keys, ttls, strict=True))
        assert max(store.client.ttl(store.key("1", kind)) for kind in "sz") <= 200
    elif store_kind == "database":
        assert store.purge_expired(now=later(400)) == 3
        assert listed(store) == set()
    else:
        items = store.client.scan(TableName=store.table_name)["Items"]
        assert items and all(int(item["expires_at"]["N"]) <= later(300) for item in items)


# --- the session rules, above the stores --------------------------------------------------


def login(api, username="alice", agent="agent", address="203.0.113.7"):
    response = api.post("/auth/token/", {"username": username, "password": f"{username}-password"}, format="json",
                        HTTP_USER_AGENT=agent, REMOTE_ADDR=address)
    assert response.status_code == 200, response.content
    return response.json()


def sid(token: str) -> str:
    from rest_framework_simplejwt.tokens import UntypedToken

    return UntypedToken(token)["sid"]


@pytest.fixture
def rotating(settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ROTATE_REFRESH_TOKENS": True}


def refresh(api, token):
    return api.post("/auth/token/refresh/", {"refresh": token}, format="json")


def test_sessions_lists_newest_first_marks_the_current_one(store, users, api):
    first = login(api, agent="A" * 500)
    time.sleep(0.01)
    second = login(api, agent="second", address="198.51.100.9")
    login(api, "bob")
    body = bearer(first["access"]).get("/auth/sessions/").json()
    assert [s["id"] for s in body] == [sid(second["refresh"]), sid(first["refresh"])]
    assert [s["current"] for s in body] == [False, True]
    assert body[1]["client"] == "A" * 200  # truncated
    assert body[0]["ip"] == "198.51.100.9"
    assert set(body[0]) == {"id", "created", "last_refreshed", "client", "ip", "current"}


@pytest.mark.parametrize("mode", ["hash", "none"])
def test_sessions_keep_a_hash_of_the_address_or_none(store, users, api, settings, mode):
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "SESSION_CLIENT_IP": mode}
    tokens = login(api, address="198.51.100.9")
    ip = bearer(tokens["access"]).get("/auth/sessions/").json()[0]["ip"]
    assert "198.51.100.9" not in ip
    assert (len(ip) == 16) if mode == "hash" else (ip == "")


def test_rotation_keeps_the_session_and_updates_last_refreshed(store, users, api, rotating):
    tokens = login(api)
    before = bearer(tokens["access"]).get("/auth/sessions/").json()[0]
    time.sleep(0.01)
    rotated = refresh(api, tokens["refresh"]).json()
    assert sid(rotated["refresh"]) == sid(rotated["access"]) == sid(tokens["refresh"])
    (after,) = bearer(rotated["access"]).get("/auth/sessions/").json()
    assert after["id"] == before["id"] and after["created"] == before["created"] and after["current"]
    assert after["last_refreshed"] > before["last_refreshed"]


def test_a_refresh_costs_the_same_whatever_the_number_of_sessions(store, users, api, rotating):
    """A rotation writes the registry entry without reading the registry: its
    cost does not grow with the user's sessions (1,000 sessions made every
    refresh list them all: +11 ms on Redis, +19 ms on SQLite, a paginated
    query on DynamoDB)."""
    from unittest import mock

    for _ in range(3):
        login(api)
    tokens = login(api, agent="old agent")
    with mock.patch.object(type(store), "sessions", side_effect=AssertionError("the registry was read")):
        rotated = refresh(api, tokens["refresh"])
    assert rotated.status_code == 200, rotated.content
    (entry,) = [s for s in bearer(rotated.json()["access"]).get("/auth/sessions/").json() if s["current"]]
    assert entry["client"] == ""  # the client and address of the latest refresh (this one sent no User-Agent)


def test_ending_a_session_ends_its_tokens_on_the_next_request(store, users, api, rotating):
    mine, other = login(api), login(api)
    rotated = refresh(api, other["refresh"]).json()
    response = bearer(mine["access"]).delete(f"/auth/sessions/{sid(other['refresh'])}/")
    assert response.status_code == 204
    for access in (other["access"], rotated["access"]):  # every access token the family issued
        assert_refusal(bearer(access).get("/me/"), 401, "session_revoked")
    assert_refusal(refresh(api, rotated["refresh"]), 401, "session_revoked")
    assert bearer(mine["access"]).get("/me/").status_code == 200
    assert [s["id"] for s in bearer(mine["access"]).get("/auth/sessions/").json()] == [sid(mine["refresh"])]


def test_another_users_session_id_answers_404(store, users, api):
    mine, bobs = login(api), login(api, "bob")
    for session in (sid(bobs["refresh"]), "no-such-session"):
        assert_refusal(bearer(mine["access"]).delete(f"/auth/sessions/{session}/"), 404, "not_found")
    assert bearer(bobs["access"]).get("/me/").status_code == 200
    assert len(bearer(bobs["access"]).get("/auth/sessions/").json()) == 1


def test_end_every_other_session(store, users, api):
    sessions = [login(api) for _ in range(3)]
    bobs = login(api, "bob")
    current = sessions[1]
    assert bearer(current["access"]).delete("/auth/sessions/others/").status_code == 204
    for other in (sessions[0], sessions[2]):
        assert_refusal(bearer(other["access"]).get("/me/"), 401, "session_revoked")
    assert bearer(current["access"]).get("/me/").status_code == 200
    assert bearer(bobs["access"]).get("/me/").status_code == 200
    assert [s["id"] for s in bearer(current["access"]).get("/auth/sessions/").json()] == [sid(current["refresh"])]


def test_logout_with_the_refresh_token_ends_its_session(store, users, api):
    mine, other = login(api), login(api)
    assert bearer(mine["access"]).post("/auth/logout/", {"refresh": mine["refresh"]}, format="json").status_code == 204
    assert_refusal(refresh(api, mine["refresh"]), 401, "token_revoked")
    assert [s["id"] for s in bearer(other["access"]).get("/auth/sessions/").json()] == [sid(other["refresh"])]


def test_a_version_bump_hides_every_earlier_session(store, users, api):
    old = login(api)
    assert bearer(login(api)["access"]).post("/auth/logout-all/").status_code == 204
    assert_refusal(bearer(old["access"]).get("/auth/sessions/"), 401, "token_version_stale")
    new = login(api)
    assert [s["id"] for s in bearer(new["access"]).get("/auth/sessions/").json()] == [sid(new["refresh"])]
    # a bump that bypasses logout-all (a password change) hides them as well
    alice = users[0]
    alice.set_password("alice-password")
    alice.save()
    assert bearer(login(api)["access"]).get("/auth/sessions/").json()[0]["current"] is True
    assert len(bearer(login(api)["access"]).get("/auth/sessions/").json()) == 2


def test_max_sessions_ends_the_oldest(store, users, api, settings):
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "MAX_SESSIONS_PER_USER": 2}
    ended = []
    session_ended.connect(receiver := lambda **kw: ended.append((kw["session_id"], kw["reason"])), weak=False)
    try:
        first, second = login(api), login(api)
        login(api, "bob")
        third = login(api)
    finally:
        session_ended.disconnect(receiver)
    assert ended == [(sid(first["refresh"]), "limit")]
    assert_refusal(bearer(first["access"]).get("/me/"), 401, "session_revoked")
    assert_refusal(refresh(api, first["refresh"]), 401, "session_revoked")
    ids = [s["id"] for s in bearer(third["access"]).get("/auth/sessions/").json()]
    assert ids == [sid(third["refresh"]), sid(second["refresh"])]
    assert bearer(second["access"]).get("/me/").status_code == 200


def test_max_sessions_can_refuse_instead(store, users, api, settings):
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "MAX_SESSIONS_PER_USER": 2, "ON_MAX_SESSIONS": "refuse"}
    first, second = login(api), login(api)
    response = api.post("/auth/token/", {"username": "alice", "password": "alice-password"}, format="json")
    assert_refusal(response, 403, "too_many_sessions")
    assert bearer(first["access"]).get("/me/").status_code == 200
    assert len(bearer(second["access"]).get("/auth/sessions/").json()) == 2
    assert bearer(first["access"]).delete(f"/auth/sessions/{sid(second['refresh'])}/").status_code == 204
    login(api)  # room again


# --- reuse detection ---------------------------------------------------------------------


def test_a_replayed_refresh_token_ends_the_family_and_is_audited(store, users, api, rotating):
    refusals, ended = [], []
    token_rejected.connect(on_reject := lambda **kw: refusals.append((kw["reason"], kw["user_id"])), weak=False)
    session_ended.connect(on_end := lambda **kw: ended.append((kw["session_id"], kw["reason"])), weak=False)
    try:
        tokens = login(api)
        rotated = refresh(api, tokens["refresh"]).json()
        assert_refusal(refresh(api, tokens["refresh"]), 401, "token_reused")
    finally:
        token_rejected.disconnect(on_reject)
        session_ended.disconnect(on_end)
    assert refusals == [("token_reused", str(users[0].pk))]
    assert ended == [(sid(tokens["refresh"]), "reuse_detected")]
    assert_refusal(refresh(api, rotated["refresh"]), 401, "session_revoked")
    assert_refusal(bearer(rotated["access"]).get("/me/"), 401, "session_revoked")
    assert bearer(login(api)["access"]).get("/auth/sessions/").json()[0]["current"] is True


def test_a_revoked_refresh_token_is_token_revoked_not_a_reuse(store, users, api, rotating):
    """A refresh token revoked by itself (revoke_token, not a logout) is
    refused as revoked: no reuse, so its session is not ended."""
    from drf_toctou.revocation import revoke_token

    tokens, other = login(api), login(api)
    revoke_token(other["refresh"])
    assert_refusal(refresh(api, other["refresh"]), 401, "token_revoked")
    assert bearer(other["access"]).get("/me/").status_code == 200
    listed_ids = [s["id"] for s in bearer(tokens["access"]).get("/auth/sessions/").json()]
    assert sid(other["refresh"]) in listed_ids


# --- the admin's sessions page, on every store --------------------------------------------


def test_admin_lists_and_ends_a_users_sessions(store, users, api):
    alice = users[0]
    first, second = login(api, agent="laptop"), login(api, agent="phone")
    admin_user = get_user_model().objects.create_superuser("root", password="root-password")
    client = Client()
    client.force_login(admin_user)
    page = reverse("admin:auth_user_toctou_sessions", args=[alice.pk])
    body = client.get(page).content.decode()
    assert sid(first["refresh"]) in body and sid(second["refresh"]) in body and "laptop" in body
    assert client.post(page, {"session": sid(first["refresh"])}).status_code == 302
    assert_refusal(bearer(first["access"]).get("/me/"), 401, "session_revoked")
    assert bearer(second["access"]).get("/me/").status_code == 200
    assert sid(first["refresh"]) not in client.get(page).content.decode()
    client.post(page, {"session": "__all__"})
    assert_refusal(bearer(second["access"]).get("/me/"), 401, "session_revoked")
    assert "No live session" in client.get(page).content.decode()
