"""Sessions (refresh families): login, refresh (rotation) and the sessions/
listing, per store, for a user with 10 and with 1,000 sessions, next to
simplejwt's own login and refresh (rotation + blacklist after rotation);
their round trips counted on the wire (DynamoDB too, on moto: for function,
not speed); Redis memory per session.

Timed in process like bench/inprocess.py: each view called directly with a
request from APIRequestFactory, operations interleaved in shuffled order
within a block (one block per store and session count per round), a few timed
requests each after a warm-up one, the garbage collector off. Each login's
new session is forgotten (untimed) so the count stays put; refreshes follow
their family's rotations. Every response is checked: anything but 2xx makes
the measurement fail.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.harness import Harness
from bench.stats import Spread

COUNTS = (10, 1_000)
STORES = ("database", "redis")
REPEAT = 8  # timed requests per operation and block, after one warm-up request
AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PASSWORD = "bench"  # noqa: S105
OPERATIONS = ("login", "refresh", "sessions/")
BASELINES = {"login": "simplejwt login", "refresh": "simplejwt refresh (rotation + blacklist)"}
ROTATING = {"ROTATE_REFRESH_TOKENS": True, "BLACKLIST_AFTER_ROTATION": True}


@dataclass
class SessionBench:
    times: dict[tuple[str, int, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    ratios: dict[tuple[str, int, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    trips: list[tuple[str, str, int]] = field(default_factory=list)  # (store, operation, round trips)
    memory: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


class Family:
    """One user with ``count`` sessions, and one family of theirs that refreshes."""

    def __init__(self, harness: Harness, store: str, count: int, factory: Any) -> None:
        from django.contrib.auth import get_user_model

        self.harness, self.factory = harness, factory
        self.username = f"sessions-{store}-{count}"
        model = get_user_model()
        self.user = model.objects.filter(username=self.username).first() or \
            model.objects.create_user(self.username, password=PASSWORD)
        seed(str(self.user.pk), count)
        pair = self.call("/auth/token/", {"username": self.username, "password": PASSWORD})
        self.refresh, self.access = pair["refresh"], pair["access"]
        self.naive = self.call("/simplejwt/token/", {"username": self.username, "password": PASSWORD})["refresh"]

    def call(self, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
        from django.urls import resolve

        extra = {"HTTP_USER_AGENT": AGENT, "REMOTE_ADDR": "198.51.100.7"}
        if token:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        request = self.factory.post(path, body, format="json", **extra) if body is not None else \
            self.factory.get(path, **extra)
        match = resolve(path)
        response = match.func(request, *match.args, **match.kwargs)
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"{path}: {response.status_code} {getattr(response, 'data', '')}")
        return response.data

    def steps(self) -> dict[str, Callable[[], None]]:
        from drf_toctou.state import call_store
        from drf_toctou.stores import get_store
        from drf_toctou.tokens import user_id_of

        credentials = {"username": self.username, "password": PASSWORD}

        def login() -> Any:
            return self.call("/auth/token/", credentials)

        def forget(pair: Any) -> None:
            from rest_framework_simplejwt.tokens import UntypedToken

            call_store(get_store().forget_session, user_id_of(self.user), UntypedToken(pair["refresh"])["sid"])

        def refresh() -> Any:
            pair = self.call("/auth/token/refresh/", {"refresh": self.refresh})
            self.refresh, self.access = pair["refresh"], pair["access"]

        def naive_refresh() -> Any:
            self.naive = self.call("/simplejwt/token/refresh/", {"refresh": self.naive})["refresh"]

        return {"login": login, "refresh": refresh, "sessions/": lambda: self.call("/auth/sessions/", None, self.access),
                BASELINES["login"]: lambda: self.call("/simplejwt/token/", credentials),
                BASELINES["refresh"]: naive_refresh, "_forget": forget}


def seed(user_id: str, count: int) -> None:
    """``count`` sessions in the registry of ``user_id``, as logins leave them."""
    from drf_toctou.revocation import keep_until
    from drf_toctou.stores import get_store
    from drf_toctou.stores.base import SessionRecord

    store, now = get_store(), time.time()
    for _ in range(count - len(store.sessions(user_id))):
        store.save_session(SessionRecord(uuid.uuid4().hex, user_id, now, now, keep_until(now + 86400), AGENT,
                                         "198.51.100.7"))


@contextmanager
def rotating(harness: Harness, store: str):
    """Store ``store``, refresh tokens rotating (bench/settings.py)."""
    from django.conf import settings

    if not all(settings.SIMPLE_JWT.get(key) for key in ROTATING):
        raise RuntimeError(f"bench/settings.py must set {', '.join(ROTATING)} in SIMPLE_JWT")
    with harness.store(store):
        yield


def block(family: Family, result: SessionBench, store: str, count: int, shuffle: random.Random) -> None:
    steps = family.steps()
    forget = steps.pop("_forget")
    times: dict[str, list[float]] = defaultdict(list)
    order = list(steps)
    gc.collect()
    gc.disable()
    try:
        for cycle in range(1 + REPEAT):
            shuffle.shuffle(order)
            for name in order:
                started = time.perf_counter()
                answer = steps[name]()
                elapsed = time.perf_counter() - started
                if name == "login":
                    forget(answer)  # the count stays put (untimed)
                if cycle:
                    times[name].append(elapsed)
    finally:
        gc.enable()
    means = {name: statistics.fmean(values) for name, values in times.items()}
    for name in OPERATIONS:
        result.times[(store, count, name)].append(means[name])
        if name in BASELINES:
            result.ratios[(store, count, name)].append(means[name] / means[BASELINES[name]])
    for name in BASELINES.values():
        result.times[("simplejwt", count, name)].append(means[name])


STORE_METHODS = ("check", "send_check", "current_version", "revoke", "consume", "revoke_session", "save_session",
                 "sessions", "forget_session")


def store_trips(store: Any, action: Callable[[], Any]) -> int:
    """Round trips on the wire made by ``store``'s own methods while ``action``
    runs (the database store shares its connection with the view's queries:
    only its own statements count)."""
    import threading
    from unittest import mock

    from tests.helpers import store_round_trips

    trips, depth = [0], threading.local()

    def counted(real: Callable[..., Any]) -> Callable[..., Any]:
        def method(self_: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(depth, "inside", False):  # a store method calling another: counted once
                return real(self_, *args, **kwargs)
            depth.inside = True
            try:
                count, answer = store_round_trips(self_, lambda: real(self_, *args, **kwargs))
            finally:
                depth.inside = False
            trips[0] += count
            return answer

        return method

    kind = type(store)
    patches = [mock.patch.object(kind, name, counted(getattr(kind, name))) for name in STORE_METHODS]
    for patch in patches:
        patch.start()
    try:
        action()
    finally:
        for patch in patches:
            patch.stop()
    return trips[0]


def count_operations(family: Family, label: str, result: SessionBench) -> None:
    from drf_toctou.stores import get_store

    steps, backend = family.steps(), get_store()
    credentials = {"username": family.username, "password": PASSWORD}
    for name, action in (("login", lambda: family.call("/auth/token/", credentials)),
                         ("refresh (rotation)", steps["refresh"]), ("sessions/ (1,000 sessions)", steps["sessions/"]),
                         ("GET with an access token that carries its session",
                          lambda: family.call("/toctou/me/", None, family.access))):
        result.trips.append((label, name, store_trips(backend, action)))


def round_trips(harness: Harness, result: SessionBench) -> None:
    """Round trips on the wire of a login, a refresh, a listing (1,000
    sessions) and an authenticated request whose token carries a session."""
    from rest_framework.test import APIRequestFactory

    for store in STORES:
        with rotating(harness, store):
            count_operations(Family(harness, store, COUNTS[-1], APIRequestFactory()), store, result)


def dynamodb_round_trips(harness: Harness, result: SessionBench) -> None:
    """The same on moto (function, not speed)."""
    import os

    from moto import mock_aws
    from rest_framework.test import APIRequestFactory

    from drf_toctou.stores import get_store

    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(name, value)
    from django.test import override_settings

    with mock_aws(), override_settings(DRF_TOCTOU={"STORE": "drf_toctou.stores.dynamodb.DynamoDBStore",
                                                    "STORE_OPTIONS": {"table_name": "bench"}}):
        get_store().setup()
        count_operations(Family(harness, "dynamodb", COUNTS[-1], APIRequestFactory()), "dynamodb (moto)", result)


def redis_memory(harness: Harness, result: SessionBench, users: int = 2_000, many: int = 10_000) -> None:
    """Bytes of Redis memory: a session's registry entry (``users`` users with
    one session each, and one user with ``many``), an ended session's mark."""
    import redis

    from drf_toctou.stores.base import SessionRecord
    from drf_toctou.stores.redis import RedisStore

    store = RedisStore({"url": harness.redis.url})
    bulk = redis.Redis.from_url(harness.redis.url)
    now, keep = time.time(), int(time.time()) + 86400

    def used() -> int:
        return int(bulk.info("memory")["used_memory"])

    def record(user: str) -> SessionRecord:
        return SessionRecord(uuid.uuid4().hex, user, now, now, keep, AGENT, "198.51.100.7")

    bulk.flushall()
    before = used()
    for i in range(users):
        store.save_session(record(f"m{i}"))
    result.memory["registry entry, one session per user (hash + sorted set keys included)"] = (used() - before) / users
    before = used()
    for _ in range(many):
        store.save_session(record("many"))
    result.memory[f"registry entry, {many:,} sessions of one user"] = (used() - before) / many
    before = used()
    for i in range(users):
        store.revoke_session(f"e{i}", uuid.uuid4().hex, keep)
    result.memory["an ended session (its revocation mark)"] = (used() - before) / users
    before = used()
    for i in range(users):
        store.consume(f"c{i % 100}", uuid.uuid4().hex, keep)
    result.memory["a rotation (the used refresh token's mark, kept until its exp)"] = (used() - before) / users
    bulk.flushall()
    bulk.close()


def measure(harness: Harness, rounds: int, progress: Callable[[str], None] = print) -> SessionBench:
    from rest_framework.test import APIRequestFactory

    result, factory, shuffle = SessionBench(), APIRequestFactory(), random.Random(1)
    families = {}
    for store in STORES:
        with rotating(harness, store):
            for count in COUNTS:
                families[(store, count)] = Family(harness, store, count, factory)
    try:
        for number in range(1 + rounds):  # the first round warms up
            for (store, count), family in families.items():
                with rotating(harness, store):
                    scratch = SessionBench()
                    block(family, scratch if number == 0 else result, store, count, shuffle)
            progress(f"  sessions round {number}/{rounds}")
        round_trips(harness, result)
        dynamodb_round_trips(harness, result)
        redis_memory(harness, result)
    except RuntimeError as e:
        result.failed["sessions"] = f"FAILED: {e}"
    return result


def section(result: SessionBench, rounds: int) -> list[str]:
    from bench.report import table

    lines = ["## Sessions: login, refresh, sessions/ listing", "",
             f"{rounds} rounds; a round is one block per store and session count, each block {REPEAT} timed requests "
             "of every operation after a warm-up one, interleaved in shuffled order. Login and refresh ratios are "
             "to simplejwt's own view in the same block (its refresh: rotation + blacklist after rotation). A "
             "login's new session is forgotten after it, so the user keeps the same number of sessions.", ""]
    if result.failed:
        return lines + [f"- {label}: {why}" for label, why in result.failed.items()] + [""]
    rows = []
    for store in ("simplejwt", *STORES):
        for count in COUNTS:
            names = BASELINES.values() if store == "simplejwt" else OPERATIONS
            for name in names:
                values = result.times.get((store, count, name))
                if not values:
                    continue
                ratio = result.ratios.get((store, count, name))
                rows.append([store, f"{count:,}", name, Spread.of(values).fmt(1e3, 3),
                             Spread.of(ratio).fmt(unit="×") if ratio else "—"])
    lines += table(["store", "sessions of the user", "operation", "ms/request", "ratio to simplejwt"], rows) + [""]
    lines += ["Round trips on the wire (a user with 1,000 sessions; DynamoDB on moto):", ""]
    lines += table(["store", "operation", "round trips"], [[s, o, n] for s, o, n in result.trips]) + [""]
    lines += ["Redis memory:", ""]
    lines += table(["what", "bytes"], [[what, f"{size:.0f}"] for what, size in result.memory.items()]) + [""]
    return lines

