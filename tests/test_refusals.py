"""Every refusal is logged on logger drf_toctou (reason, user id, jti hash —
never the token) and sent as the token_rejected signal."""

from __future__ import annotations

import logging

import pytest

from drf_toctou.refusals import jti_hash
from drf_toctou.revocation import revoke_token
from drf_toctou.signals import token_rejected
from tests.helpers import access_for, bearer
from tests.testapp.models import Note


@pytest.fixture
def rejections():
    seen = []

    def receiver(sender, request, reason, user_id, **kwargs):
        seen.append((reason, user_id, request.path))

    token_rejected.connect(receiver)
    yield seen
    token_rejected.disconnect(receiver)


def test_revoked_token_is_logged_and_signalled_without_the_token(store, users, rejections, caplog):
    token = access_for(users[0])
    revoke_token(token)
    with caplog.at_level(logging.WARNING, logger="drf_toctou"):
        bearer(token).get("/me/")
    assert rejections == [("token_revoked", str(users[0].pk), "/me/")]
    record = next(r for r in caplog.records if r.name == "drf_toctou")
    assert record.reason == "token_revoked" and record.jti_hash == jti_hash(token["jti"])
    assert str(token) not in caplog.text and token["jti"] not in caplog.text


def test_invalid_token_and_not_owner_are_signalled(store, users, rejections):
    bearer("not-a-token").get("/me/")
    note = Note.objects.create(owner=users[0], title="x")
    bearer(access_for(users[1])).get(f"/v/notes/{note.pk}/")
    assert [reason for reason, *_ in rejections] == ["token_not_valid", "not_owner"]
    assert rejections[1][1] == str(users[1].pk)


def test_a_failing_receiver_never_turns_a_refusal_into_a_500(store, users):
    def broken(**kwargs):
        raise RuntimeError("audit sink down")

    token_rejected.connect(broken)
    try:
        assert bearer("not-a-token").get("/me/").status_code == 401
    finally:
        token_rejected.disconnect(broken)
