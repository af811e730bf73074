"""A custom user model with USER_ID_FIELD = "uuid" and owners declared as
ForeignKey(..., to_field="uuid"): the whole chain works in the UUID space."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import override_settings

from drf_toctou.tokens import VersionedAccessToken
from tests.helpers import assert_refusal, bearer
from tests.projects.uuid_users.models import Doc


def test_tokens_carry_the_uuid(store, users):
    assert VersionedAccessToken.for_user(users[0])["user_id"] == str(users[0].uuid)


def test_create_list_and_foreign_docs(store, users):
    alice, bob = users
    created = bearer(VersionedAccessToken.for_user(alice)).post("/docs/", {"title": "a"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["owner"] == str(alice.uuid)
    doc = Doc.objects.get(pk=created.json()["id"])
    assert doc.owner_id == alice.uuid
    bobs = bearer(VersionedAccessToken.for_user(bob))
    assert bobs.get("/docs/").json() == []
    assert_refusal(bobs.patch(f"/docs/{doc.pk}/", {"title": "x"}, format="json"), 404, "not_found")
    alices = bearer(VersionedAccessToken.for_user(alice))
    assert alices.patch(f"/docs/{doc.pk}/", {"title": "b"}, format="json").status_code == 200


def test_password_change_and_revoke_command_by_uuid(store, users):
    alice, bob = users
    token = VersionedAccessToken.for_user(alice)
    alice.set_password("changed")
    alice.save()
    assert_refusal(bearer(token).get("/docs/"), 401, "token_version_stale")
    bobs = VersionedAccessToken.for_user(bob)
    out = StringIO()
    call_command("toctou_revoke", "--user-id", str(bob.uuid), stdout=out)
    assert str(bob.uuid) in out.getvalue()
    assert_refusal(bearer(bobs).get("/docs/"), 401, "token_version_stale")


def test_owner_fields_resolve_in_the_uuid_space(db):
    assert not [m for m in run_checks() if m.id == "drf_toctou.E005"]
    with override_settings(ROOT_URLCONF="tests.urls"):  # tests.testapp's notes point at the primary key
        assert [m for m in run_checks() if m.id == "drf_toctou.E005"]


def test_a_user_admin_registered_after_drf_toctou_is_protected_too(db):
    from django.contrib import admin

    from drf_toctou.admin import revoke_all_tokens, show_sessions
    from tests.projects.uuid_users.models import Account

    user_admin = admin.site._registry[Account]
    assert revoke_all_tokens in user_admin.actions and show_sessions in user_admin.actions


@pytest.mark.parametrize("spelling", [str.upper, lambda value: value.replace("-", ""), str])
def test_revoke_user_tokens_takes_any_spelling_of_the_uuid(spelling, store, users):
    from drf_toctou.revocation import revoke_user_tokens

    token = VersionedAccessToken.for_user(users[0])
    revoke_user_tokens(spelling(str(users[0].uuid)))
    assert_refusal(bearer(token).get("/docs/"), 401, "token_version_stale")
