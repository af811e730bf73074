"""``ConditionalModelMixin``: the conditions of a Django-model viewset's reads
and writes. Put it in front of the DRF class that gives the actions::

    class NoteViewSet(ConditionalModelMixin, viewsets.ModelViewSet): ...          # all actions
    class NoteViewSet(ConditionalModelMixin, viewsets.ReadOnlyModelViewSet): ...  # list, retrieve
    class NoteViewSet(ConditionalModelMixin, mixins.ListModelMixin,
                      mixins.UpdateModelMixin, viewsets.GenericViewSet): ...       # any subset

The mixin adds no action of its own; it changes DRF's hooks: collection
requests see only the caller's rows (``filter_queryset``), ``get_object``
rechecks the token with the object's read and checks the owner, and
``perform_create`` / ``perform_update`` / ``perform_destroy`` write with
filtered statements — ``UPDATE … WHERE pk=… AND owner=… [AND version=…]`` —
whose affected-row count decides, never a read-then-save.

With ``DatabaseStore`` on the database the write goes to, each write's
transaction first locks the user's token-state row (shared) and rechecks the
token under that lock: a revocation either commits before the write starts
(the write sees it and is refused) or waits until the write has committed.
With another store, or another database, the token is rechecked just before
the write (a short residual window; system check W012 says so).

Hooks: DRF's (``get_queryset``, ``get_serializer_class``, ``perform_*`` —
call ``super()``; they take ``**save_kwargs`` for ``serializer.save``), and
``owner_field`` / ``get_owner_field()``, ``version_field``, ``before_write()``,
``reference_codec`` (opaque per-user references: ``drf_toctou.mixins.indirect``).
The filtered ``UPDATE`` does not send ``pre_save``/``post_save``;
``auto_now`` fields are still set.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions as drf_exceptions

from drf_toctou.exceptions import ConditionFailed, NotFound
from drf_toctou.mixins.base import ConditionalMixinBase, expected_state, why_write_failed
from drf_toctou.mixins.etag import IfMatch
from drf_toctou.ownership import model_owner_field, owner_value
from drf_toctou.state import TokenIdentity, call_store
from drf_toctou.stores import get_store


def field_values(instance: Any) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def write_alias(queryset: Any) -> str:
    """The database a write through ``queryset`` goes to: the alias it was
    given (``using()``), else the router's ``db_for_write`` — never the read
    replica a router picks for reads."""
    return str(queryset.select_for_update().db)  # a clone marked for writing; nothing runs


@contextmanager
def save_redirected(instance: Any, save: Callable[[], None]) -> Iterator[None]:
    """While inside, ``instance.save(...)`` runs ``save()`` instead: the
    serializer (and its own ``update()``) still sets the fields, and the write
    itself becomes the filtered ``UPDATE``."""
    instance.save = lambda *args, **kwargs: save()
    try:
        yield
    finally:
        del instance.save


class ConditionalModelMixin(ConditionalMixinBase):
    # --- reads ----------------------------------------------------------------

    def filter_queryset(self, queryset: Any) -> Any:
        """DRF's filters; a collection request (no lookup in the URL) sees only
        the caller's rows."""
        queryset = super().filter_queryset(queryset)
        if self._reference_refused:
            queryset = queryset.filter(pk__isnull=True)  # the lookup still runs, and finds nothing
        if (self.lookup_url_kwarg or self.lookup_field) in self.kwargs:
            return queryset
        return queryset.filter(**{self._owner_column(queryset.model): self._caller().user_id})

    def get_object(self) -> Any:
        """DRF's lookup and object permissions, with the token rechecked in the
        same breath as the object's read; then the mixin's own owner check."""
        self._resolve_reference()
        with self._recheck_with_read() as identity:
            try:
                instance = super().get_object()
            except Http404 as e:
                raise NotFound() from e
        self._ensure_owner(instance, self._owner_column(type(instance)), identity)
        self.object_etag = self._etag_of(field_values(instance))
        return instance

    # --- writes ---------------------------------------------------------------

    def perform_create(self, serializer: Any, **save_kwargs: Any) -> None:
        model = self.get_queryset().model
        column = self._owner_column(model)
        self.before_write()
        with self._fenced(model) as (identity, _):
            serializer.save(**{**save_kwargs, column: owner_value(model, column, identity.user_id)})
        self.object_etag = self._etag_of(field_values(serializer.instance))

    def perform_update(self, serializer: Any, **save_kwargs: Any) -> None:
        instance = serializer.instance
        snapshot = field_values(instance)  # as get_object read it: the serializer has not saved yet
        column = self._owner_column(type(instance))
        if_match = self._if_match(self._etag_of(snapshot))
        expected = expected_state(snapshot, self._caller().user_id, column, self.version_field, if_match)
        self.before_write()
        field = instance._meta.get_field(column)
        transfer = bool({field.name, column} & set(save_kwargs))  # code may move the owner; a body never
        with self._fenced(type(instance)) as (_, alias):
            def save() -> None:
                self._update_row(instance, snapshot, expected, alias, if_match, transfer)

            with save_redirected(instance, save):
                serializer.save(**save_kwargs)
        self.object_etag = self._etag_of(field_values(instance))

    def perform_destroy(self, instance: Any) -> None:
        snapshot = field_values(instance)
        column = self._owner_column(type(instance))
        if_match = self._if_match(self._etag_of(snapshot))
        expected = expected_state(snapshot, self._caller().user_id, column, self.version_field, if_match)
        self.before_write()
        with self._fenced(type(instance)) as (_, alias):
            _, deleted = self.get_queryset().using(alias).filter(pk=instance.pk, **expected).delete()
            if not deleted.get(instance._meta.label):
                raise ConditionFailed(self._why(instance.pk, expected, alias, if_match))

    # --- indirect references (reference_codec) -----------------------------------------

    def get_serializer_class(self) -> Any:
        return self.referencing_serializer(super().get_serializer_class())

    def reference_key_field(self) -> str:
        model = self.get_queryset().model
        return str(model._meta.pk.name if self.lookup_field == "pk" else self.lookup_field)

    def _resolve_reference(self) -> None:
        """With a codec, the URL's reference becomes the key; one refused
        becomes a key of the right type, looked up as usual and never found."""
        name = self.lookup_url_kwarg or self.lookup_field
        if self.get_reference_codec() is None or name not in self.kwargs or self.__dict__.get("_resolved"):
            return
        self._resolved = True  # get_object may run twice: decode once
        key = self.key_from_url(str(self.kwargs[name]))
        self.kwargs[name] = self._unfindable_key() if key is None else key

    def _unfindable_key(self) -> str:
        model = self.get_queryset().model
        field = model._meta.pk if self.lookup_field == "pk" else model._meta.get_field(self.lookup_field)
        for candidate in ("0", str(uuid.UUID(int=0))):
            try:
                field.to_python(candidate)
                return candidate
            except ValidationError:
                continue
        return "0"

    # --- internals --------------------------------------------------------------

    def _owner_column(self, model: Any = None) -> str:
        return model_owner_field(model or self.get_queryset().model, self.get_owner_field())

    def _update_row(self, instance: Any, snapshot: dict[str, Any], expected: dict[str, Any], alias: str,
                    if_match: IfMatch, transfer: bool = False) -> None:
        for field in instance._meta.concrete_fields:
            field.pre_save(instance, add=False)  # auto_now and friends
        changed = {k: v for k, v in field_values(instance).items() if v != snapshot.get(k)}
        owner = self._owner_column(type(instance))
        if owner in changed and not transfer:  # a serializer left the owner writable
            name = instance._meta.get_field(owner).name
            message = _("The owner is changed by the server's own code, not by a request.")
            raise drf_exceptions.ValidationError({name: [message]})
        if self.version_field:
            changed[self.version_field] = expected[self.version_field] + 1
            setattr(instance, self.version_field, changed[self.version_field])
        changed = changed or {owner: expected[owner]}  # nothing changed: the write still proves its conditions
        if not self.get_queryset().using(alias).filter(pk=instance.pk, **expected).update(**changed):
            raise ConditionFailed(self._why(instance.pk, expected, alias, if_match))

    def _why(self, pk: Any, expected: dict[str, Any], alias: str, if_match: IfMatch) -> type[Exception]:
        """The write matched no row: read why, inside the same transaction."""
        queryset = self.get_queryset().using(alias)
        current = queryset.filter(pk=pk).values(*expected).first()
        return why_write_failed(current, self._owner_column(queryset.model), self._caller().user_id, if_match)

    @contextmanager
    def _fenced(self, model: Any) -> Iterator[tuple[TokenIdentity, str]]:
        """A transaction on the database the write goes to, in which the token
        is rechecked under the store's fence (a lock on the user's token state)
        when the store has one for that database."""
        alias = write_alias(self.get_queryset())
        lock = get_store().write_fence(alias)
        try:
            with transaction.atomic(using=alias):
                if lock is not None:
                    call_store(lock, self._caller().user_id)
                yield self._recheck_token(), alias
        except ConditionFailed as e:
            self._refuse(e.refusal)
