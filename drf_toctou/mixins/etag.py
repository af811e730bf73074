"""Strong ETags and ``If-Match`` parsing (RFC 9110 §8.8.3, §13.1.1).

An ETag is the object's version (``"v<N>"``) when it has a version field, else
a stable hash of its stored content (``"h<hex>"``). ``If-Match`` passes when
it is ``*`` (the object exists) or lists the current ETag as a strong tag;
weak tags never match. A field that is not a valid list of entity tags
matches nothing (412), never a 500.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any

ANY = "*"
#: None (no If-Match), ANY, or the strong entity tags listed (quotes included).
IfMatch = Any

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text
_ENTITY_TAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


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


def parse_if_match(header: str | None) -> IfMatch:
    """None when absent; ``ANY`` for ``*``; else the list of strong tags named
    (weak ones dropped: If-Match compares strongly). A malformed field gives an
    empty list, which matches no ETag."""
    return _entity_tags(header, weak=False)


def parse_if_none_match(header: str | None) -> IfMatch:
    """None when absent; ``ANY`` for ``*``; else the entity tags listed,
    weak ones included without their ``W/`` (If-None-Match compares weakly).
    A malformed field gives an empty list."""
    return _entity_tags(header, weak=True)


def _entity_tags(header: str | None, weak: bool) -> IfMatch:
    """The opaque tags of an If-Match/If-None-Match field (RFC 9110 §8.8.3),
    weak ones kept only when ``weak``; [] for a malformed field."""
    if header is None:
        return None
    if header.strip() == ANY:
        return ANY
    tags, position, text = [], 0, header.strip()
    while position < len(text):
        match = _ENTITY_TAG.match(text, position)
        if match is None or match.end() == position:
            return []
        if weak or not match.group(1):
            tags.append(match.group(2))
        position = match.end()
    return tags


def if_none_match_any(header: str | None) -> bool:
    """Whether ``If-None-Match`` is ``*`` (create only if absent)."""
    return (header or "").strip() == ANY
