"""Writer stamps: who wrote a DynamoDB item, and with what token.

With ``stamp_writes = True`` on a ``ConditionalDynamoMixin`` viewset, every
create and update writes, in the same conditional write, one map attribute
``toctou_writer`` (``STAMP_ATTRIBUTE``, reserved)::

    uid   the token's user id                 ver   the token's version (ver claim)
    sid   its session (sid claim), if any     at    server time of the write, epoch ms
    op    the view action ("create", "update", "partial_update", "transfer", ...)
    jh    sha256(jti)[:16], the same handle as in drf_toctou's refusal logs
    n     a random nonce: no two writes share a stamp
    x     the jti, sealed (AES-SIV under SECRET_KEY) with all of the above and
          the item's key as associated data

The token itself is never stored. ``x`` lets the Streams watcher, which runs
with the project's settings, ask the token-state store about the very jti that
wrote; it also authenticates the stamp: a stamp made up, altered or copied
onto another item does not open.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from drf_toctou.refusals import jti_hash
from drf_toctou.sealing import seal, unseal

STAMP_ATTRIBUTE = "toctou_writer"
PURPOSE = "writer-stamp"


class StampInvalid(Exception):
    """A stamp that is not one drf-toctou wrote for this item (made up,
    altered, copied from another item, or sealed under a retired key)."""


@dataclass(frozen=True)
class WriterStamp:
    """An opened stamp: who wrote, with what token, when."""

    user_id: str
    jti: str
    version: int
    session: str | None
    written_at: float  # epoch seconds, the writing server's clock
    operation: str
    nonce: str

    @property
    def jti_hash(self) -> str:
        return jti_hash(self.jti) or ""

    def public(self) -> dict[str, Any]:
        """What a finding may show of the writer: never the jti."""
        return {"user_id": self.user_id, "jti_hash": self.jti_hash, "version": self.version,
                "session": self.session, "written_at": self.written_at, "operation": self.operation}


def _text(value: Any) -> str:
    """A stamp field as sealed: numbers read back from DynamoDB as Decimals."""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(int(value))
    return "" if value is None else str(value)


def _associated(key: str, fields: dict[str, Any]) -> tuple[str, ...]:
    names = ("uid", "ver", "sid", "at", "op", "n", "jh")
    return ("v1", str(key), *(_text(fields.get(name)) for name in names))


def make_stamp(identity: Any, key: str, operation: str, now: float | None = None) -> dict[str, Any]:
    """The stamp of a write of item ``key`` by the token ``identity`` (a
    ``TokenIdentity``), as the map attribute to store."""
    fields: dict[str, Any] = {"uid": identity.user_id, "ver": identity.version,
                              "at": int((time.time() if now is None else now) * 1000), "op": operation,
                              "n": secrets.token_hex(8), "jh": jti_hash(identity.jti)}
    if identity.session:
        fields["sid"] = identity.session
    sealed = seal(PURPOSE, identity.jti.encode(), *_associated(key, fields))
    fields["x"] = base64.urlsafe_b64encode(sealed).decode().rstrip("=")
    return fields


def open_stamp(value: Any, key: str) -> WriterStamp:
    """The stamp stored on item ``key``; ``StampInvalid`` unless drf-toctou
    wrote it for that item."""
    if not isinstance(value, dict) or not isinstance(value.get("x"), str):
        raise StampInvalid("not a writer stamp")
    try:
        sealed = base64.urlsafe_b64decode(value["x"] + "=" * (-len(value["x"]) % 4))
    except (binascii.Error, ValueError) as e:
        raise StampInvalid("the seal is not base64") from e
    try:
        jti = unseal(PURPOSE, sealed, *_associated(key, value))
    except (ArithmeticError, ValueError) as e:  # a number field that is not a number
        raise StampInvalid("a stamp field is malformed") from e
    if jti is None:
        raise StampInvalid("the seal does not open for this item and these fields")
    try:
        return WriterStamp(user_id=str(value["uid"]), jti=jti.decode(), version=int(value["ver"]),
                           session=value.get("sid"), written_at=int(value["at"]) / 1000,
                           operation=str(value["op"]), nonce=str(value["n"]))
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as e:
        raise StampInvalid("a stamp field is missing or malformed") from e
