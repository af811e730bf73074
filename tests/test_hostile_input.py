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


@pytest.mark.parametrize("exp", [10**17, 67768036191676800, 10**30, "tomorrow"], ids=["eoverflow", "hypothesis",
                                                                                     "huge", "string"])
@pytest.mark.parametrize("path,field", [("token/refresh/", "refresh"), ("token/verify/", "token"),
                                        ("token/revoke/", "token")])
def test_a_token_endpoint_refuses_an_exp_out_of_any_calendar(users, path, field, exp, settings):
    """An exp ``datetime.fromtimestamp`` can't represent (OSError EOVERFLOW on
    glibc, between ~6.8e16 and time_t's limit) in a posted token: a 4xx with
    a code, never a 500. token/revoke/ answers 200 for a token it can't parse
    (RFC 7009), never a 500 either."""
    from tests.hostile import claims, signed

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "EXCEPTION_HANDLER": "drf_toctou.exceptions.exception_handler"}
    alice, _ = users
    token = signed(claims(alice.pk, exp=exp, token_type="refresh" if field == "refresh" else "access"))
    response = APIClient().post(f"/auth/{path}", {field: token}, format="json")
    assert response.status_code in (200, 400, 401), (response.status_code, response.content[:300])
    if response.status_code != 200:
        assert response.json().get("code"), response.json()
