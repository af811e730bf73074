"""Ownership compares like with like: the owner's id with the token's user id
claim, in the same value space — never a model instance's str(), which is a
username."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured

from drf_toctou.ownership import is_owner, model_owner_field
from tests.helpers import access_for, assert_refusal, bearer
from tests.testapp.models import Note


def test_ids_of_every_type_compare_and_objects_never_do(users):
    alice, _ = users
    assert is_owner({"owner_id": "1"}, "owner_id", "1")
    assert is_owner({"owner_id": 1}, "owner_id", "1")
    key = uuid.uuid4()
    assert is_owner({"owner": key}, "owner", str(key))
    assert not is_owner({}, "owner_id", "1")
    assert not is_owner({"owner_id": True}, "owner_id", "True")
    note = Note(owner=alice, title="x")
    assert is_owner(note, "owner_id", str(alice.pk))
    assert not is_owner(note, "owner", "alice")  # the user object's str() is its username: never compared


def test_the_foreign_key_resolves_to_its_column(db):
    assert model_owner_field(Note, "owner") == "owner_id"
    assert model_owner_field(Note, "owner_id") == "owner_id"


@pytest.mark.parametrize("name, message", [("title", "can't hold the user ids"), ("nope", "has no owner field")])
def test_a_field_outside_the_user_id_space_is_refused(name, message, db):
    with pytest.raises(ImproperlyConfigured, match=message):
        model_owner_field(Note, name)


def test_a_user_named_like_another_users_id_owns_nothing_of_theirs(store, users):
    """owner_field = "owner" (the ForeignKey): a user whose username is alice's
    id must not pass for alice."""
    alice, _ = users
    note = Note.objects.create(owner=alice, title="alice's")
    impostor = get_user_model().objects.create_user(str(alice.pk), password="x")
    assert_refusal(bearer(access_for(impostor)).get(f"/owner-object/notes/{note.pk}/"), 404, "not_found")
    assert bearer(access_for(alice)).get(f"/owner-object/notes/{note.pk}/").status_code == 200
