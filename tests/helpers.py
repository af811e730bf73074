from __future__ import annotations

import contextlib
import time
from contextlib import contextmanager
from unittest import mock

from rest_framework.test import APIClient

from drf_toctou.tokens import VersionedAccessToken, VersionedRefreshToken


def bearer(token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def access_for(user) -> VersionedAccessToken:
    return VersionedAccessToken.for_user(user)


def pair_for(user) -> tuple[VersionedAccessToken, VersionedRefreshToken]:
    refresh = VersionedRefreshToken.for_user(user)
    return refresh.access_token, refresh


def assert_refusal(response, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, getattr(response, "data", response.content))
    body = response.json()
    assert body["code"] == code, body
    assert "detail" in body, body


def later(seconds: int) -> int:
    return int(time.time()) + seconds


@contextmanager
def after_object_check(permission_class, action):
    """Run ``action(request, obj)`` right after ``permission_class`` allowed the
    object: the deterministic injection point of the race tests."""
    original = permission_class.has_object_permission

    def checked(self, request, view, obj):
        allowed = original(self, request, view, obj)
        if allowed:
            action(request, obj)
        return allowed

    with mock.patch.object(permission_class, "has_object_permission", checked):
        yield


# What redis-py sends once when it opens a connection, not per check.
CONNECTION_SETUP = {"HELLO", "AUTH", "CLIENT", "SELECT", "READONLY"}


class RedisWire:
    """The socket writes redis-py makes while the block runs, as the port each
    went to (``writes``). A command sent alone is one write; a pipeline — on
    one node — is one write of all its commands, whose replies are then read
    in one go: one write is one round trip. What a connection sends when it
    opens (``CONNECTION_SETUP``) is not counted."""

    def __init__(self) -> None:
        self.writes: list[int | None] = []
        self._setup = 0

    def __enter__(self) -> RedisWire:
        import redis.connection

        cls = redis.connection.AbstractConnection
        real_send, real_packed = cls.send_command, cls.send_packed_command

        def send(connection, *args, **kwargs):
            setup = str(args[0]).upper() in CONNECTION_SETUP
            self._setup += setup
            try:
                return real_send(connection, *args, **kwargs)
            finally:
                self._setup -= setup

        def packed(connection, *args, **kwargs):
            if not self._setup:
                self.writes.append(getattr(connection, "port", None))
            return real_packed(connection, *args, **kwargs)

        self._patches = [mock.patch.object(cls, "send_command", send),
                         mock.patch.object(cls, "send_packed_command", packed)]
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc) -> None:
        for patch in reversed(self._patches):
            patch.stop()


def store_round_trips(store, action):
    """(round trips ``store`` made on the wire while ``action`` ran, its result):
    SQL statements on the store's database, socket writes of its Redis client
    (``RedisWire``), or calls of its DynamoDB client."""
    if hasattr(store, "using"):
        from django.db import connections
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connections[store.using]) as queries:
            result = action()
        return len(queries), result
    if hasattr(store.client, "execute_command"):
        with RedisWire() as wire:
            result = action()
        return len(wire.writes), result
    calls: list = []
    events = store.client.meta.events
    def handler(**kwargs):
        calls.append(kwargs["model"].name)

    events.register("before-call.dynamodb", handler)
    try:
        result = action()
    finally:
        events.unregister("before-call.dynamodb", handler)
    return len(calls), result


def check_method(store) -> str:
    """The store method every token check goes through: the sent-ahead one
    for stores that split the round trip, else ``check``."""
    return "send_check" if store.sends_ahead else "check"


@contextmanager
def spying_checks(store, on_check=None):
    """Record every token check of ``store`` (its jti); ``on_check(jti)`` runs
    as each check is asked (sent, for stores that send ahead)."""
    calls: list[str] = []
    name = check_method(store)
    original = getattr(type(store), name)

    def spy(self, user_id, jti, session=None):
        calls.append(jti)
        if on_check is not None:
            on_check(jti)
        return original(self, user_id, jti, session)

    with mock.patch.object(type(store), name, spy):
        yield calls


@contextmanager
def store_down(store):
    """Every check and every other operation of ``store`` fails like a dead store."""
    from drf_toctou.exceptions import StoreError

    def down(*args, **kwargs):
        raise StoreError("down")

    names = ["check", "send_check", "revoke", "bump_version", "current_version", "consume", "revoke_session",
             "save_session", "sessions", "forget_session"]
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(mock.patch.object(type(store), name, down))
        yield


@contextmanager
def after_authentication(action, authentication=None):
    """Run ``action(user, token)`` right after ``authentication`` (default: ours)
    accepted a token: the injection point of the S1/S2 race tests."""
    if authentication is None:
        from drf_toctou.authentication import BearerRevalidatingAuthentication as authentication
    original = authentication.authenticate

    def authenticated(self, request):
        result = original(self, request)
        if result is not None:
            action(*result)
        return result

    with mock.patch.object(authentication, "authenticate", authenticated):
        yield


@contextmanager
def recording_sends(store, events):
    """For a store that sends ahead: note "check sent" as each check's question
    is written and "answer read" as its answer is read."""
    send_check = type(store).send_check

    def sending(self, user_id, jti, session=None):
        answer = send_check(self, user_id, jti, session)
        events.append("check sent")
        return lambda: events.append("answer read") or answer()

    with mock.patch.object(type(store), "send_check", sending):
        yield
