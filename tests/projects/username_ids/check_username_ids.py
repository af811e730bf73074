"""USER_ID_FIELD = "username": ownership compared in the username space, a
re-registered username never inheriting the old account's tokens, and an
owner field in another space refused at start-up."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.test import override_settings

from drf_toctou.tokens import VersionedAccessToken
from tests.helpers import assert_refusal, bearer
from tests.projects.username_ids.models import Memo


def test_tokens_carry_the_username(store, users):
    assert VersionedAccessToken.for_user(users[0])["user_id"] == "alice"


def test_owner_is_the_username_and_foreign_memos_are_404(store, users):
    alice, bob = users
    created = bearer(VersionedAccessToken.for_user(alice)).post("/memos/", {"title": "a"}, format="json")
    assert created.status_code == 201 and created.json()["owner"] == "alice"
    memo = Memo.objects.get(pk=created.json()["id"])
    assert_refusal(bearer(VersionedAccessToken.for_user(bob)).patch(f"/memos/{memo.pk}/", {"title": "x"},
                                                                    format="json"), 404, "not_found")
    assert [m["title"] for m in bearer(VersionedAccessToken.for_user(bob)).get("/memos/").json()] == []


def test_a_user_named_like_another_users_id_owns_nothing_of_theirs(store, users):
    alice, _ = users
    numbered = get_user_model().objects.create_user(str(alice.pk), password="x")  # a user named "1"
    memo = Memo.objects.create(owner=alice, title="alice's")
    response = bearer(VersionedAccessToken.for_user(numbered)).patch(f"/memos/{memo.pk}/", {"title": "x"},
                                                                     format="json")
    assert_refusal(response, 404, "not_found")


def test_a_re_registered_username_never_inherits_the_deleted_users_tokens(store, users):
    alice, _ = users
    old = VersionedAccessToken.for_user(alice)
    assert bearer(old).get("/memos/").status_code == 200
    alice.delete()
    get_user_model().objects.create_user("alice", password="another")
    assert_refusal(bearer(old).get("/memos/"), 401, "token_version_stale")


def test_an_owner_field_in_the_pk_space_is_a_start_up_error(db):
    with override_settings(ROOT_URLCONF="tests.urls"):  # tests.testapp's notes: ForeignKey to the pk
        errors = [m for m in run_checks() if m.id == "drf_toctou.E005"]
    assert errors and any("NoteViewSet" in m.msg and "to_field='username'" in m.msg for m in errors)
    assert not [m for m in run_checks() if m.id == "drf_toctou.E005"]  # this project's own views are fine


def test_a_renamed_user_leaves_no_token_to_whoever_takes_the_old_name(store, users):
    alice, _ = users
    old = VersionedAccessToken.for_user(alice)
    alice.username = "alice-renamed"
    alice.save()
    get_user_model().objects.create_user("alice", password="another")
    assert_refusal(bearer(old).get("/memos/"), 401, "token_version_stale")
    assert bearer(VersionedAccessToken.for_user(alice)).get("/memos/").status_code == 200
