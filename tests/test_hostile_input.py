"""Hostile bearer inputs: always a 401 JSON refusal with a code, never a 500,
never accepted — for every store."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.hostile import CASES, KEY_HEADER_CASES

ALL = CASES + KEY_HEADER_CASES


def test_corpus_is_large_enough():
    assert len(ALL) >= 50


@pytest.mark.parametrize("name,build,status,codes", ALL, ids=[c[0] for c in ALL])
def test_hostile_input_is_refused_with_a_code(name, build, status, codes, users, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "EXCEPTION_HANDLER": "drf_toctou.exceptions.exception_handler"}
    alice, _ = users
    response = APIClient().get("/me/", HTTP_AUTHORIZATION=build(alice.pk))
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = response.json()
    assert body.get("code") in codes, body
    assert isinstance(body.get("detail"), str)


@pytest.mark.parametrize("name,build,status,codes", CASES[:40], ids=[c[0] for c in CASES[:40]])
def test_hostile_input_without_exception_handler(name, build, status, codes, users):
    """Without the optional handler, everything but DRF's own not_authenticated
    still carries its code."""
    alice, _ = users
    response = APIClient().get("/me/", HTTP_AUTHORIZATION=build(alice.pk))
    assert response.status_code == status
    if codes != {"not_authenticated"}:
        assert response.json()["code"] in codes
