"""The one decision, and how a store's failure is told: a 503 for the caller,
and for the operator the underlying exception (type and message, never the
token) on logger drf_toctou at ERROR, once per cause per interval."""

from __future__ import annotations

import logging

import pytest

from drf_toctou import state
from drf_toctou.tokens import VersionedAccessToken
from tests.helpers import access_for, assert_refusal, bearer


@pytest.fixture(autouse=True)
def fresh_log_memory():
    state._last_logged.clear()


def test_a_misconfigured_store_is_logged_once_with_its_cause(settings, caplog, django_db_blocker):
    settings.DRF_TOCTOU = {"STORE": "drf_toctou.stores.database.DatabaseStore",
                           "STORE_OPTIONS": {"using": "unreachable"}}  # a typo'd alias: nothing listens there
    token = VersionedAccessToken()  # by hand: issuing asks the store too
    token["user_id"] = 1
    with caplog.at_level(logging.ERROR, logger="drf_toctou"), django_db_blocker.unblock():
        for _ in range(3):
            assert_refusal(bearer(token).get("/me/"), 503, "token_state_unavailable")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "drf_toctou"]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "OperationalError" in errors[0].getMessage() and "9" in errors[0].getMessage()
    assert str(token) not in caplog.text and token["jti"] not in caplog.text


def test_the_same_cause_is_logged_again_after_the_interval(settings, users, caplog, monkeypatch):
    settings.DRF_TOCTOU = {**settings.DRF_TOCTOU, "STORE_ERROR_LOG_INTERVAL": 0}
    from drf_toctou.exceptions import StoreError

    with caplog.at_level(logging.ERROR, logger="drf_toctou"):
        for _ in range(2):
            try:
                raise StoreError("down") from ConnectionRefusedError("refused")
            except StoreError as e:
                state.store_failed(e)
    assert sum(r.levelno == logging.ERROR for r in caplog.records) == 2


def test_store_up_answers_normally(store, users):
    assert bearer(access_for(users[0])).get("/me/").status_code == 200
