"""The near cache over TLS (``rediss://``, redis-server's own TLS port and a
certificate made here): the tracking connection is opened by redis-py like
the store's (certificates, verification), then read by the near cache
directly, where a TLS socket may hold decrypted bytes that ``poll`` does not
see (``Tracking.pending``). A burst of 500 revocations, pipelined: none of
their tokens is served as "good" from max_staleness after the
acknowledgement; the control, with the invalidations ignored, serves them."""

from __future__ import annotations

import datetime
import ipaddress
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from drf_toctou.stores.base import AUTHENTICATION, TokenState
from drf_toctou.stores.near_cache import NearCache
from drf_toctou.stores.redis import RedisStore
from tests.servers import RedisServer, free_port
from tests.topology import wait_until

GOOD = TokenState(revoked=False, version=0)
TOKENS = 500
BOUND = 0.005


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256()))
    cert, key_file = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert, key_file


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    port = free_port()
    server = RedisServer(None, "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                         "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no").start()
    yield f"rediss://127.0.0.1:{port}/0", {"ssl_ca_certs": str(cert)}, server
    server.stop()


def jti(n: int) -> str:
    return f"{n:032x}"


def answer_while_fresh(store: RedisStore, token: str) -> TokenState | None:
    """The cache's answer for ``token``, asked again when the first came while
    the cache was not proven fresh (a check descheduled past max_staleness on
    a loaded machine): None then means the entry is gone."""
    answer = store.cached_check("u1", token, None, AUTHENTICATION)
    if answer is None and not store._near.stats()["fresh"]:
        wait_until(lambda: store._near.stats()["fresh"], 5, "proven fresh again")
        answer = store.cached_check("u1", token, None, AUTHENTICATION)
    return answer


@pytest.mark.parametrize("control", [False, True], ids=["tls", "negative_control_invalidations_ignored"])
def test_a_burst_of_revocations_over_tls_is_never_served_past_the_bound(tls_server, settings, monkeypatch,
                                                                        control):
    url, tls, server = tls_server
    settings.DRF_TOCTOU = {"STORE_TIMEOUT": 0.5}
    server.client().flushall()
    if control:
        monkeypatch.setattr(NearCache, "_invalidated", lambda self, keys: None)
    store = RedisStore({"url": url, "client_kwargs": tls, "near_cache": {"max_staleness": BOUND}})
    writer = RedisStore({"url": url, "client_kwargs": tls})
    try:
        store.check("u1", jti(0))
        wait_until(lambda: store._near.stats()["fresh"], 5, "tracking subscribed over TLS")
        for n in range(TOKENS):
            wait_until(lambda n=n: store.check("u1", jti(n)) and store.cached_check("u1", jti(n), None, AUTHENTICATION),
                       5, "answer cached")
        pipe = writer.client.pipeline(transaction=False)
        for n in range(TOKENS):
            pipe.set(writer.jti_key("u1", jti(n)), b"r", ex=60)
        pipe.execute()
        acknowledged = time.monotonic()
        time.sleep(BOUND)
        served_good, late = 0, time.monotonic() - acknowledged
        for n in range(TOKENS):
            if answer_while_fresh(store, jti(n)) == GOOD:
                served_good += 1
        if control:
            assert served_good > TOKENS // 2, served_good  # the invalidations were the only thing in the way
        else:
            assert served_good == 0, f"{served_good} revoked tokens served as good {late * 1000:.1f} ms after"
            assert all(store.check("u1", jti(n)).revoked for n in range(TOKENS))
    finally:
        store.close()
        writer.close()
