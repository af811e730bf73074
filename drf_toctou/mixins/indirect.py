"""Indirect object references for the conditional mixins (opt-in)::

    class DocumentViewSet(ConditionalDynamoMixin, viewsets.GenericViewSet):
        reference_codec = SealedReferenceCodec()
        reference_scope = "documents"   # keeps references stable if the class is renamed

URLs and bodies then carry the caller's reference instead of the key: the
serializer's key field shows ``reference_of(key)`` (an opaque string in the
OpenAPI schema), the URL's lookup is decoded for the caller, and content-hash
ETags hash the reference, not the key. A reference that does not decode for
the caller — another user's, tampered, truncated, a raw key — is looked up
like a missing object (one read of a key that can't answer) and answers the
same 404, so neither the answer nor its timing tells them apart.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from drf_toctou.references import ReferenceCodec, ReferenceField, ReferencingListSerializer


@lru_cache(maxsize=256)
def referencing(serializer_class: Any, key_field: str) -> Any:
    """``serializer_class`` with its ``key_field`` shown as a reference, and
    lists that ask for their references at once."""
    base_meta = getattr(serializer_class, "Meta", object)

    class Referenced(serializer_class):
        class Meta(base_meta):  # type: ignore[misc,valid-type]
            list_serializer_class = ReferencingListSerializer

        def get_fields(self) -> Any:
            fields = super().get_fields()
            if key_field in fields:
                fields[key_field] = ReferenceField(source=fields[key_field].source)
            return fields

    Referenced.__name__ = Referenced.__qualname__ = f"Referenced{serializer_class.__name__}"
    Referenced.__module__ = serializer_class.__module__
    return Referenced


class IndirectReferences:
    """The reference side of ``ConditionalMixinBase``; inert unless the view
    sets ``reference_codec`` (a ``ReferenceCodec`` instance or class)."""

    reference_codec: ReferenceCodec | type[ReferenceCodec] | None = None
    #: Binds references to this view; default: the view class's dotted path.
    reference_scope: str | None = None
    _reference_refused = False

    def get_reference_codec(self) -> ReferenceCodec | None:
        codec = self.reference_codec
        return codec() if isinstance(codec, type) else codec

    def get_reference_scope(self) -> str:
        return self.reference_scope or f"{type(self).__module__}.{type(self).__qualname__}"

    def reference_key_field(self) -> str:
        """The name of the key, as an attribute of the objects and a field of
        the serializer (each mixin says)."""
        raise NotImplementedError

    # --- out: keys become references ------------------------------------------

    def reference_of(self, key: str) -> str:
        """The caller's reference to ``key`` (the key itself without a codec)."""
        codec = self.get_reference_codec()
        if codec is None:
            return key
        known = self.__dict__.setdefault("_references", {})
        if key not in known:
            known[key] = codec.encode(self._caller().user_id, key, self.get_reference_scope())
        return str(known[key])

    def prefetch_references(self, objects: Any) -> None:
        """Mint the references of a page of objects at once."""
        codec = self.get_reference_codec()
        if codec is None:
            return
        name = self.reference_key_field()
        keys = [str(o.get(name) if isinstance(o, dict) else getattr(o, name, None)) for o in objects]
        known = self.__dict__.setdefault("_references", {})
        known.update(codec.encode_many(self._caller().user_id, keys, self.get_reference_scope()))

    def referencing_serializer(self, serializer_class: Any) -> Any:
        if self.get_reference_codec() is None:
            return serializer_class
        return referencing(serializer_class, self.reference_key_field())

    def etag_content(self, content: dict[str, Any]) -> dict[str, Any]:
        """What a content-hash ETag hashes: the stored attributes, the key
        replaced by the caller's reference."""
        name = self.reference_key_field() if self.get_reference_codec() is not None else None
        if name is None or name not in content:
            return content
        return {**content, name: self.reference_of(str(content[name]))}

    # --- in: a reference becomes a key -----------------------------------------

    def key_from_url(self, presented: str) -> str | None:
        """The key the URL's ``presented`` reference stands for, for the
        caller; None — and every later read answers 404 — when it stands for
        nothing of theirs. Without a codec, ``presented`` is the key."""
        codec = self.get_reference_codec()
        if codec is None:
            return presented
        key = codec.decode(self._caller().user_id, presented, self.get_reference_scope())
        self._reference_refused = key is None
        return key

    def _caller(self) -> Any:
        raise NotImplementedError
