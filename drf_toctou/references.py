"""Reference codecs: the opaque, per-user reference a client sees in place of
an object's key (an indirect object reference), and the way back.

A codec answers ``encode(user_id, key, scope)`` with a URL-safe string and
``decode(user_id, reference, scope)`` with the key — or ``None`` for anything
that is not a reference minted for this user and scope: another user's, a
tampered or truncated one, a raw key. ``scope`` names the view (its
``reference_scope``). References are deterministic per (user, key, scope), so
clients can cache and compare them.

- ``SealedReferenceCodec`` (the default to reach for): the key encrypted and
  authenticated with the user id (AES-SIV under a key derived from
  ``SECRET_KEY`` and the scope). Nothing is stored; ``SECRET_KEY_FALLBACKS``
  keeps old references working through a key rotation. Anyone holding
  ``SECRET_KEY`` can read keys out of references.
- ``MappedReferenceCodec``: random references stored per user (the
  ``drf_toctou.Reference`` table). A reference says nothing about its key,
  even to someone holding ``SECRET_KEY``; it costs a query per lookup and a
  row per (user, object) ever shown.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Iterable
from typing import Any

from rest_framework import serializers

from drf_toctou.sealing import seal, unseal

MAX_REFERENCE_LENGTH = 1400
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


class ReferenceCodec:
    """The contract of a codec; instances are shared by every request."""

    def encode(self, user_id: str, key: str, scope: str) -> str:
        """The reference of ``key`` for ``user_id`` in ``scope``."""
        raise NotImplementedError

    def decode(self, user_id: str, reference: str, scope: str) -> str | None:
        """The key ``reference`` stands for, if it was minted for ``user_id``
        in ``scope``; else None. Never raises on any input."""
        raise NotImplementedError

    def encode_many(self, user_id: str, keys: Iterable[str], scope: str) -> dict[str, str]:
        """``{key: reference}`` for a page of objects (a codec may batch)."""
        return {key: self.encode(user_id, key, scope) for key in keys}


def well_formed(reference: Any) -> bool:
    return isinstance(reference, str) and 0 < len(reference) <= MAX_REFERENCE_LENGTH and \
        _URL_SAFE.fullmatch(reference) is not None


class SealedReferenceCodec(ReferenceCodec):
    """The key, sealed (encrypted and authenticated) for the user and scope."""

    def encode(self, user_id: str, key: str, scope: str) -> str:
        sealed = seal(f"reference:{scope}", key.encode(), str(user_id))
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def decode(self, user_id: str, reference: str, scope: str) -> str | None:
        if not well_formed(reference):
            return None
        try:
            sealed = base64.urlsafe_b64decode(reference + "=" * (-len(reference) % 4))
            key = unseal(f"reference:{scope}", sealed, str(user_id))
            return None if key is None else key.decode()
        except (binascii.Error, ValueError):
            return None


def _sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class MappedReferenceCodec(ReferenceCodec):
    """Random references (128 bits), stored per user and scope on database
    ``using``; the first ``encode`` of a (user, key) creates its row."""

    def __init__(self, using: str = "default") -> None:
        self.using = using

    def _rows(self) -> Any:
        from drf_toctou.models import Reference

        return Reference.objects.using(self.using)

    def encode(self, user_id: str, key: str, scope: str) -> str:
        return self.encode_many(user_id, [key], scope)[key]

    def encode_many(self, user_id: str, keys: Iterable[str], scope: str) -> dict[str, str]:
        from drf_toctou.models import Reference

        hashes = {_sha256(key): key for key in keys}
        mine = self._rows().filter(scope=scope, user_id=str(user_id))
        found = dict(mine.filter(key_hash__in=list(hashes)).values_list("key_hash", "reference"))
        missing = [digest for digest in hashes if digest not in found]
        if missing:  # concurrent requests may create the same rows: the first one wins
            self._rows().bulk_create([Reference(scope=scope, user_id=str(user_id), key=hashes[digest], key_hash=digest,
                                                reference=secrets.token_urlsafe(16)) for digest in missing],
                                     ignore_conflicts=True)
            found.update(mine.filter(key_hash__in=missing).values_list("key_hash", "reference"))
        return {hashes[digest]: reference for digest, reference in found.items()}

    def decode(self, user_id: str, reference: str, scope: str) -> str | None:
        if not well_formed(reference):
            reference = ""  # still one query: the same timing as a reference that maps to nothing
        rows = self._rows().filter(scope=scope, user_id=str(user_id), reference=reference)
        key = rows.values_list("key", flat=True).first()
        return None if key is None else str(key)


class ReferenceField(serializers.CharField):
    """An object's key as the caller's reference (read-only): the view's
    ``reference_of(key)`` turns the value into what the client sees."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        kwargs.setdefault("help_text", "An opaque reference to the object, valid for the caller only.")
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        return str(self.context["view"].reference_of(str(value)))


class ReferencingListSerializer(serializers.ListSerializer):
    """Asks the view for a page's references at once (one query with
    ``MappedReferenceCodec``), then serialises as usual."""

    def to_representation(self, data: Any) -> Any:
        view = self.context.get("view")
        items = data.all() if hasattr(data, "all") else data
        if view is not None:
            view.prefetch_references(items)
        return super().to_representation(items)
