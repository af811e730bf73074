"""Hostile input at scale: the named corpus, an RS256 configuration with
key-confusion attacks, and property tests over headers and claim values. The
invariant: a 401 (or 400/413) JSON refusal with a code — never a 500, never
accepted."""

from __future__ import annotations

import json
import string
from unittest import mock

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from rest_framework_simplejwt.backends import TokenBackend

from tests.hostile import CASES, KEY_HEADER_CASES, b64, claims, raw_signed, signed, unsigned
from tests.reliability.conftest import scaled

REFUSED = {400, 401, 413}


def assert_refused(response):
    assert response.status_code in REFUSED, (response.status_code, response.content[:300])
    body = response.json()
    assert isinstance(body.get("detail"), str) and body.get("code"), body


def test_named_corpus(users, settings, report):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "EXCEPTION_HANDLER": "drf_toctou.exceptions.exception_handler"}
    failures = []
    for name, build, status, codes in CASES + KEY_HEADER_CASES:
        response = APIClient().get("/me/", HTTP_AUTHORIZATION=build(users[0].pk))
        if response.status_code != status or response.json().get("code") not in codes:
            failures.append(name)
    report("hostile bearer corpus (named cases)", cases=len(CASES + KEY_HEADER_CASES), failures=len(failures))
    assert not failures


# --- RS256: key confusion -----------------------------------------------------


@pytest.fixture
def rs256(settings):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    backend = TokenBackend("RS256", private, public)
    with mock.patch("rest_framework_simplejwt.state.token_backend", backend):
        yield private, public, backend


def hmac_with(key: str, payload: dict) -> str:
    import hashlib
    import hmac

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    mac = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def test_rs256_key_confusion_and_alg_attacks(rs256, users, report):
    private, public, backend = rs256
    uid = users[0].pk
    genuine = backend.encode(claims(str(uid)))
    attacks = {
        "hs256_signed_with_the_public_key": hmac_with(public, claims(str(uid))),
        "hs256_signed_with_the_public_key_stripped": hmac_with(public.strip(), claims(str(uid))),
        "alg_none": unsigned(claims(str(uid)), "none"),
        "hs256_with_the_old_shared_secret": signed(claims(str(uid))),
        "rs256_by_another_key": TokenBackend(
            "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
        ).encode(claims(str(uid))),
        "jwk_header_embeds_attacker_key": hmac_with("attacker", claims(str(uid))),
    }
    assert APIClient().get("/me/", HTTP_AUTHORIZATION=f"Bearer {genuine}").status_code == 200
    failures = []
    for name, token in attacks.items():
        response = APIClient().get("/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
        if response.status_code != 401 or response.json().get("code") != "token_not_valid":
            failures.append(name)
    report("RS256 key confusion and alg attacks", cases=len(attacks), failures=len(failures))
    assert not failures


# --- property tests -------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
CLAIM_NAMES = ["user_id", "jti", "ver", "exp", "token_type", "iat", "nbf"]
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=200)
PROPERTY = hypothesis_settings(max_examples=scaled(60, 1000), deadline=None,
                               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@PROPERTY
@given(overrides=st.dictionaries(st.sampled_from(CLAIM_NAMES), JSON, min_size=1, max_size=4))
def test_property_claims_of_any_json_type_never_500(overrides, users, store):
    payload = {**claims(users[0].pk), **overrides}
    response = APIClient().get("/me/", HTTP_AUTHORIZATION=f"Bearer {signed(payload)}")
    if response.status_code == 200:  # only what a genuine token could carry gets through
        assert str(payload["user_id"]) == str(users[0].pk) and type(payload["user_id"]) in (int, str)
        assert isinstance(payload["jti"], str) and payload["jti"]
        assert payload["ver"] == 0 and type(payload["ver"]) is int and payload["token_type"] == "access"
        return
    assert_refused(response)


@PROPERTY
@given(header=HEADER_TEXT)
def test_property_any_authorization_header_never_500(header, users, store):
    response = APIClient().get("/me/", HTTP_AUTHORIZATION=header)
    assert response.status_code in REFUSED, (header, response.status_code)


@PROPERTY
@given(payload=st.text(alphabet=string.printable, max_size=200))
def test_property_any_signed_payload_text_never_500(payload, users, store):
    response = APIClient().get("/me/", HTTP_AUTHORIZATION=f"Bearer {raw_signed(payload)}")
    assert response.status_code in REFUSED, (payload, response.status_code)


def test_property_suite_recorded(report):
    report("property tests (hypothesis): claims, headers, payload text", cases=3 * scaled(60, 1000), failures=0,
           note="each property runs its examples on a fresh token; any 500 fails the run")


def test_audience_and_issuer_are_enforced_when_configured(users, report):
    """simplejwt validates aud/iss when AUDIENCE/ISSUER are set; drf-toctou
    keeps that step (RFC 8725 §3.8–3.9, ASVS 9.2.3)."""
    from django.conf import settings as django_settings

    key = django_settings.SIMPLE_JWT["SIGNING_KEY"]
    backend = TokenBackend("HS256", key, audience="orders-api", issuer="https://issuer.example")
    good = {**claims(users[0].pk), "aud": "orders-api", "iss": "https://issuer.example"}
    cases = {
        "wrong_audience": {**good, "aud": "billing-api"},
        "missing_audience": {k: v for k, v in good.items() if k != "aud"},
        "wrong_issuer": {**good, "iss": "https://evil.example"},
    }
    with mock.patch("rest_framework_simplejwt.state.token_backend", backend):
        assert APIClient().get("/me/", HTTP_AUTHORIZATION=f"Bearer {signed(good)}").status_code == 200
        failures = [name for name, payload in cases.items()
                    if APIClient().get("/me/", HTTP_AUTHORIZATION=f"Bearer {signed(payload)}").status_code != 401]
    report("audience and issuer (when configured)", cases=len(cases), failures=len(failures))
    assert not failures
