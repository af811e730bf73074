"""``ConditionalModelMixin``: a Django-model viewset whose writes are filtered
``UPDATE``/``DELETE`` statements (pk + owner [+ version]) — the affected-row
count decides the answer, never a read-then-save.

With ``DatabaseStore`` on the same database, each write's transaction first
locks the user's token-state row (shared) and rechecks the token under that
lock: a revocation either commits before the write starts (the write sees it
and is refused) or waits until the write has committed. With another store the
token is rechecked just before the write (a short residual window).

Overridable: ``get_queryset``, ``get_serializer_class``, ``perform_create``,
``perform_update`` and ``perform_destroy`` — call ``super()`` from them (they
take ``**save_kwargs`` for ``serializer.save``); ``before_write``. The filtered
``UPDATE`` does not send ``pre_save``/``post_save``; ``auto_now`` fields are
still set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.http import Http404
from rest_framework import mixins, status
from rest_framework.response import Response

from drf_toctou.exceptions import ConditionFailed, NotFound
from drf_toctou.mixins.base import ConditionalMixinBase, raise_for
from drf_toctou.mixins.etag import ANY, version_from_etag
from drf_toctou.state import TokenIdentity, call_store
from drf_toctou.stores import get_store


def field_values(instance: Any) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


class ConditionalModelMixin(
    ConditionalMixinBase,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
):
    # --- reads ----------------------------------------------------------------

    def list(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        owned = {self.get_owner_field(): self.token_identity().user_id}
        queryset = self.filter_queryset(self.get_queryset()).filter(**owned)
        page = self.paginate_queryset(queryset)
        if page is not None:
            return self.get_paginated_response(self.get_serializer(page, many=True).data)
        return Response(self.get_serializer(queryset, many=True).data)

    def get_object(self) -> Any:
        """DRF's lookup and object permissions, a coded 404, the ownership
        check of the mixin itself, and a snapshot for the write conditions."""
        with self.recheck_with_read() as identity:
            try:
                instance = super().get_object()
            except Http404 as e:
                raise NotFound() from e
        self.ensure_owner(instance, identity)
        self._snapshot = field_values(instance)
        return instance

    def retrieve(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        return self.with_etag(super().retrieve(request, *args, **kwargs), self._snapshot)

    # --- writes ---------------------------------------------------------------

    def create(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        headers = self.get_success_headers(serializer.data)
        response = Response(serializer.data, status=status.HTTP_201_CREATED, headers=headers)
        return self.with_etag(response, field_values(serializer.instance))

    def perform_create(self, serializer: Any, **save_kwargs: Any) -> None:
        self.before_write()
        with self.fenced_transaction() as identity:
            owner = self.owner_value(self.get_queryset().model, identity.user_id)
            serializer.save(**{**save_kwargs, self.get_owner_field(): owner})

    def owner_value(self, model: Any, user_id: str) -> Any:
        """The token's user id as the owner field's Python type (an int for the
        usual ``owner_id``), so the instance and its response are exact."""
        field = next(f for f in model._meta.concrete_fields if self.get_owner_field() in (f.name, f.attname))
        return getattr(field, "target_field", field).to_python(user_id)

    def update(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        response = super().update(request, *args, **kwargs)
        return self.with_etag(response, self._snapshot)

    def perform_update(self, serializer: Any, **save_kwargs: Any) -> None:
        instance = serializer.instance
        filters = self.write_conditions(instance)
        self.before_write()
        try:
            with self.fenced_transaction() as identity:
                instance.save = lambda *args, **kwargs: self.save_conditionally(instance, filters, identity)
                try:
                    serializer.save(**save_kwargs)
                finally:
                    del instance.save
        except ConditionFailed as e:
            raise_for(e.reason, self.request)
        self._snapshot = field_values(instance)

    def perform_destroy(self, instance: Any) -> None:
        filters = self.write_conditions(instance)
        model = type(instance)
        self.before_write()
        try:
            with self.fenced_transaction():
                _, per_model = self.get_queryset().filter(**filters).delete()
                if not per_model.get(model._meta.label):
                    self.diagnose(instance.pk, filters)
        except ConditionFailed as e:
            raise_for(e.reason, self.request)

    # --- the conditions -------------------------------------------------------

    def write_conditions(self, instance: Any) -> dict[str, Any]:
        """pk + owner, + the version the client saw (If-Match, else the one just
        read), or — without a version field — the whole state If-Match named."""
        tags = self.check_if_match(self.etag_of(self._snapshot))
        filters = {"pk": instance.pk, self.get_owner_field(): self.token_identity().user_id}
        if self.version_field:
            named = [version_from_etag(tag) for tag in tags or [] if tag != ANY]
            filters[self.version_field] = named[0] if named else self._snapshot[self.version_field]
        elif tags and ANY not in tags:
            filters.update(self._snapshot)
        return filters

    def save_conditionally(self, instance: Any, filters: dict[str, Any], identity: TokenIdentity) -> None:
        for field in instance._meta.concrete_fields:
            field.pre_save(instance, add=False)  # auto_now and friends
        changed = {k: v for k, v in field_values(instance).items() if v != self._snapshot.get(k)}
        if self.version_field:
            changed[self.version_field] = filters[self.version_field] + 1
            setattr(instance, self.version_field, changed[self.version_field])
        changed = changed or {self.get_owner_field(): identity.user_id}
        if not self.get_queryset().filter(**filters).update(**changed):
            self.diagnose(instance.pk, filters)

    def diagnose(self, pk: Any, filters: dict[str, Any]) -> None:
        """The write matched no row: say why (inside the same transaction)."""
        owner = self.get_owner_field()
        current = self.get_queryset().filter(pk=pk).values(*filters.keys() - {"pk"}).first()
        if current is None:
            raise ConditionFailed("not_found")
        if str(current[owner]) != str(filters[owner]):
            raise ConditionFailed("not_owner")
        raise ConditionFailed("precondition_failed" if self.if_match() else "write_conflict")

    @contextmanager
    def fenced_transaction(self) -> Iterator[TokenIdentity]:
        """A transaction in which the token is rechecked under the fence."""
        database = self.get_queryset().db
        store = get_store()
        with transaction.atomic(using=database):
            if store.fence == "lock" and getattr(store, "using", None) == database:
                call_store(store.lock_shared, self.token_identity().user_id)  # type: ignore[attr-defined]
            yield self.recheck_token()
