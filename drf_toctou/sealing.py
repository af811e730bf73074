"""Sealed values: deterministic authenticated encryption (AES-SIV, RFC 5297)
under keys derived from ``SECRET_KEY``, for the writer stamps and the
indirect references.

A value sealed for a ``purpose`` with some ``context`` (strings the reader
must know: a user id, an item key) opens only for that same purpose and
context; anything else — another user's reference, a tampered or truncated
one, a forged stamp — opens to ``None``. Sealing is deterministic: the same
value, purpose and context always give the same bytes, so clients can cache
and compare references.

Keys come from ``SECRET_KEY`` through Django's ``salted_hmac`` (one key per
purpose); values sealed under a key of ``SECRET_KEY_FALLBACKS`` still open,
so a key rotation follows Django's usual procedure. Needs the
``cryptography`` package (``pip install drf-toctou[references]``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac


def _aes_siv() -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESSIV
    except ImportError as e:
        raise ImproperlyConfigured(
            "Writer stamps and indirect references need the cryptography package: "
            "pip install 'drf-toctou[references]' (or [streams]).") from e
    return AESSIV


@lru_cache(maxsize=256)
def _cipher(purpose: str, secret: str) -> Any:
    """AES-256-SIV keyed for ``purpose`` (64 bytes: SIV's MAC and CTR keys)."""
    key = salted_hmac(f"drf_toctou.sealing:{purpose}", "key", secret=secret, algorithm="sha512").digest()
    return _aes_siv()(key)


def _secrets() -> list[str]:
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def _context(context: tuple[str, ...]) -> list[bytes]:
    return [part.encode() for part in context]


def seal(purpose: str, value: bytes, *context: str) -> bytes:
    """``value`` encrypted and authenticated with ``context``, under the
    current ``SECRET_KEY``: 16 bytes longer than ``value``."""
    return bytes(_cipher(purpose, settings.SECRET_KEY).encrypt(value, _context(context)))


def unseal(purpose: str, sealed: bytes, *context: str) -> bytes | None:
    """The value ``seal(purpose, value, *context)`` produced — under
    ``SECRET_KEY`` or one of ``SECRET_KEY_FALLBACKS`` — else None."""
    from cryptography.exceptions import InvalidTag

    if len(sealed) <= 16:
        return None
    for secret in _secrets():
        try:
            return bytes(_cipher(purpose, secret).decrypt(sealed, _context(context)))
        except InvalidTag:
            continue
    return None
