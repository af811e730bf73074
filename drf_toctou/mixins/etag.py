"""Strong ETags and ``If-Match`` / ``If-None-Match`` parsing (RFC 9110 §8.8.3,
§13.1). An ETag is the object's version when it has a version field, else a
stable hash of its stored content."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

ANY = "*"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, default=_plain, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def make_etag(content: dict[str, Any], version_field: str | None) -> str:
    """The quoted strong ETag of ``content`` (a dict of stored attributes)."""
    if version_field and content.get(version_field) is not None:
        return f'"v{_plain(content[version_field])}"'
    return f'"h{content_hash(content)}"'


def version_from_etag(etag: str) -> int | None:
    """The version a ``"v<N>"`` ETag names, or None for any other tag."""
    inner = etag[2:-1] if etag.startswith('"v') and etag.endswith('"') else ""
    return int(inner) if inner.isdigit() and len(inner) < 19 else None


def parse_tags(header: str | None) -> list[str] | None:
    """The entity tags of an ``If-Match``-style header: None when absent,
    ``["*"]`` for any; weak tags are dropped (If-Match compares strongly)."""
    if header is None:
        return None
    if header.strip() == ANY:
        return [ANY]
    tags = [tag.strip() for tag in header.split(",")]
    return [tag for tag in tags if tag.startswith('"') and tag.endswith('"') and len(tag) >= 2]
