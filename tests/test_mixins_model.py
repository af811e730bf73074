"""L3 for the ORM: ConditionalModelMixin's filtered UPDATE/DELETE, ETags, and
deterministic injections right after the point-of-use check, each with the
naive twin losing the same race."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.authentication import JWTAuthentication

from drf_toctou.permissions import TokenOwnershipPermission
from drf_toctou.revocation import revoke_token, revoke_user_tokens
from tests.helpers import access_for, after_authentication, after_object_check, assert_refusal, bearer, recording_sends
from tests.testapp.models import Note
from tests.testapp.views import NaiveOwnerPermission


@pytest.fixture
def note(users):
    return Note.objects.create(owner=users[0], title="alice's")


def test_list_shows_only_the_callers_notes(store, users, note):
    Note.objects.create(owner=users[1], title="bob's")
    response = bearer(access_for(users[0])).get("/v/notes/")
    assert [n["title"] for n in response.json()] == ["alice's"]


def test_create_sets_the_owner_from_the_token_never_the_body(store, users):
    alice, bob = users
    response = bearer(access_for(alice)).post("/v/notes/", {"title": "t", "owner": bob.pk}, format="json")
    assert response.status_code == 201
    assert Note.objects.get(pk=response.json()["id"]).owner_id == alice.pk
    assert response.json()["owner"] == alice.pk  # the owner's type, not the claim's string
    assert response["ETag"] == '"v1"'


def test_update_bumps_version_and_etag(store, users, note):
    client = bearer(access_for(users[0]))
    got = client.get(f"/v/notes/{note.pk}/")
    assert got["ETag"] == '"v1"'
    changed = client.patch(f"/v/notes/{note.pk}/", {"title": "new"}, format="json", HTTP_IF_MATCH='"v1"')
    assert changed.status_code == 200 and changed["ETag"] == '"v2"' and changed.json()["version"] == 2
    stale = client.patch(f"/v/notes/{note.pk}/", {"title": "late"}, format="json", HTTP_IF_MATCH='"v1"')
    assert_refusal(stale, 412, "precondition_failed")
    assert client.put(f"/v/notes/{note.pk}/", {"title": "any"}, format="json", HTTP_IF_MATCH="*").status_code == 200
    note.refresh_from_db()
    assert (note.title, note.version) == ("any", 3)


def test_unversioned_etag_is_a_content_hash_enforced_by_the_write(store, users, note):
    client = bearer(access_for(users[0]))
    etag = client.get(f"/u/notes/{note.pk}/")["ETag"]
    assert etag.startswith('"h')
    Note.objects.filter(pk=note.pk).update(body="changed elsewhere")
    assert_refusal(client.patch(f"/u/notes/{note.pk}/", {"title": "x"}, format="json", HTTP_IF_MATCH=etag),
                   412, "precondition_failed")
    fresh = client.get(f"/u/notes/{note.pk}/")["ETag"]
    assert client.patch(f"/u/notes/{note.pk}/", {"title": "x"}, format="json", HTTP_IF_MATCH=fresh).status_code == 200


def test_foreign_notes_are_404_for_every_action(store, users, note):
    client = bearer(access_for(users[1]))
    for response in (client.get(f"/v/notes/{note.pk}/"),
                     client.patch(f"/v/notes/{note.pk}/", {"title": "x"}, format="json"),
                     client.delete(f"/v/notes/{note.pk}/"),
                     client.get("/v/notes/999999/")):
        assert_refusal(response, 404, "not_found")
    assert Note.objects.filter(pk=note.pk, title="alice's").exists()


def test_destroy(store, users, note):
    client = bearer(access_for(users[0]))
    assert_refusal(client.delete(f"/v/notes/{note.pk}/", HTTP_IF_MATCH='"v9"'), 412, "precondition_failed")
    assert client.delete(f"/v/notes/{note.pk}/").status_code == 204
    assert not Note.objects.filter(pk=note.pk).exists()


# --- deterministic injections right after the point-of-use check ----------


def transfer(users):
    return lambda request, obj: Note.objects.filter(pk=obj.pk).update(owner=users[1])


def delete(users):
    return lambda request, obj: Note.objects.filter(pk=obj.pk).delete()


def other_client_updates(users):
    return lambda request, obj: Note.objects.filter(pk=obj.pk).update(title="theirs", version=obj.version + 1)


RACES = {
    "S3_owner_changed": (transfer, 404, "not_found", lambda n: n.owner_id),
    "S4_deleted": (delete, 404, "not_found", None),
    "S5_updated_by_another_client": (other_client_updates, 409, "write_conflict", lambda n: n.title),
}


@pytest.mark.parametrize("race", list(RACES))
def test_change_after_object_check_makes_the_write_fail(race, store, users, note):
    make, status, code, _ = RACES[race]
    with after_object_check(TokenOwnershipPermission, make(users)):
        response = bearer(access_for(users[0])).patch(f"/v/notes/{note.pk}/", {"title": "mine"}, format="json")
    assert_refusal(response, status, code)
    assert not Note.objects.filter(pk=note.pk, title="mine").exists()


@pytest.mark.parametrize("race", list(RACES))
def test_negative_control_naive_save_loses_the_same_race(race, store, users, note):
    make, *_ = RACES[race]
    with after_object_check(NaiveOwnerPermission, make(users)):
        response = bearer(access_for(users[0])).patch(f"/naive/notes/{note.pk}/", {"title": "mine"}, format="json")
    assert response.status_code == 200
    # S3: written onto bob's note; S4: the deleted note re-created; S5: their update lost.
    assert Note.objects.filter(pk=note.pk, title="mine").exists()


TOKEN_KILLS = {
    "S1_revoked": (lambda request, obj: revoke_token(request.auth), "token_revoked"),
    "S2_bumped": (lambda request, obj: revoke_user_tokens(request.auth["user_id"]), "token_version_stale"),
}


@pytest.mark.parametrize("kill", list(TOKEN_KILLS))
def test_token_killed_after_object_check_refuses_the_write(kill, store, users, note):
    action, code = TOKEN_KILLS[kill]
    with after_object_check(TokenOwnershipPermission, action):
        response = bearer(access_for(users[0])).patch(f"/v/notes/{note.pk}/", {"title": "mine"}, format="json")
    assert_refusal(response, 401, code)
    assert not Note.objects.filter(pk=note.pk, title="mine").exists()


@pytest.mark.parametrize("kill", list(TOKEN_KILLS))
def test_negative_control_naive_writes_with_a_dead_token(kill, store, users, note):
    action, _ = TOKEN_KILLS[kill]
    with after_object_check(NaiveOwnerPermission, action):
        response = bearer(access_for(users[0])).patch(f"/naive/notes/{note.pk}/", {"title": "mine"}, format="json")
    assert response.status_code == 200
    assert Note.objects.filter(pk=note.pk, title="mine").exists()


# --- the recheck travels with the object's read -------------------------------


def test_the_recheck_is_sent_before_the_objects_read_and_read_after_it(redis_server, settings, users, note,
                                                                       monkeypatch):
    """With a store that sends ahead (Redis), the recheck travels while the
    object's row is read."""
    from drf_toctou.stores import get_store
    from tests.conftest import use_store

    use_store(settings, "redis", url=redis_server.url)
    store = get_store()
    events: list[str] = []

    def noting_note_reads(execute, sql, params, many, context):
        if sql.startswith("SELECT") and Note._meta.db_table in sql:
            events.append("note read")
        return execute(sql, params, many, context)

    with recording_sends(store, events), connection.execute_wrapper(noting_note_reads):
        assert bearer(access_for(users[0])).get(f"/v/notes/{note.pk}/").status_code == 200
    assert events == ["check sent", "answer read",  # authentication (the user's row read in between)
                      "check sent", "note read", "answer read"]  # the recheck, with the object's read


@pytest.mark.parametrize("path", ["/a/notes/{pk}/", "/v/notes/{pk}/"])
def test_a_token_revoked_after_authentication_is_refused_at_the_read(path, store, users, note):
    """With or without TokenOwnershipPermission: the mixin's own recheck."""
    with after_authentication(lambda user, token: revoke_token(token)):
        response = bearer(access_for(users[0])).get(path.format(pk=note.pk))
    assert_refusal(response, 401, "token_revoked")


def test_negative_control_the_naive_read_serves_a_dead_token(store, users, note):
    killed = []
    with after_authentication(lambda user, token: killed.append(revoke_token(token)), JWTAuthentication):
        response = bearer(access_for(users[0])).get(f"/naive/notes/{note.pk}/")
    assert killed and response.status_code == 200


def test_a_refusal_of_the_token_wins_over_a_missing_object(store, users):
    with after_authentication(lambda user, token: revoke_token(token)):
        response = bearer(access_for(users[0])).get("/v/notes/987654/")
    assert_refusal(response, 401, "token_revoked")
    assert_refusal(bearer(access_for(users[0])).get("/v/notes/987654/"), 404, "not_found")


@pytest.mark.parametrize("method, path", [("get", "/open/notes/"), ("get", "/open/notes/{pk}/"),
                                          ("post", "/open/notes/"), ("patch", "/open/notes/{pk}/"),
                                          ("delete", "/open/notes/{pk}/")])
def test_without_a_token_the_mixin_answers_401_not_a_500(method, path, store, users, note):
    response = getattr(APIClient(), method)(path.format(pk=note.pk), {"title": "x"}, format="json")
    assert_refusal(response, 401, "not_authenticated")
    assert Note.objects.get(pk=note.pk).title == "alice's"


@pytest.mark.parametrize("method, path", [("get", "/open/notes/"), ("get", "/open/notes/{pk}/"),
                                          ("post", "/open/notes/"), ("patch", "/open/notes/{pk}/")])
def test_another_authentication_class_is_refused_by_the_mixin(method, path, store, users, note):
    client = APIClient()
    client.force_authenticate(users[0])  # another authentication class: request.user set, no checked token
    response = getattr(client, method)(path.format(pk=note.pk), {"title": "x"}, format="json")
    assert_refusal(response, 403, "token_auth_required")
    assert Note.objects.get(pk=note.pk).title == "alice's"


@pytest.mark.parametrize("header, status", [('"hX", "v1"', 200), ('"v5", "v1"', 200), ('W/"v1", "x", "v1"', 200),
                                            ('"v\\u00b2", "v1"', 200), ('W/"v1"', 412), ('"v1" junk', 412),
                                            ("*", 200), ('"v2"', 412)])
def test_if_match_lists_follow_rfc_9110(header, status, store, users, note):
    header = header.encode().decode("unicode_escape")
    response = bearer(access_for(users[0])).patch(f"/v/notes/{note.pk}/", {"title": "x"}, format="json",
                                                  HTTP_IF_MATCH=header)
    assert response.status_code == status, (header, response.content)
    if status == 412:
        assert response.json()["code"] == "precondition_failed"


def test_in_front_of_a_read_only_viewset_it_stays_read_only(store, users, note):
    alice, bob = bearer(access_for(users[0])), bearer(access_for(users[1]))
    assert [n["title"] for n in alice.get("/ro/notes/").json()] == ["alice's"]
    assert alice.get(f"/ro/notes/{note.pk}/")["ETag"].startswith('"h')  # no version_field: a content hash
    assert_refusal(bob.get(f"/ro/notes/{note.pk}/"), 404, "not_found")
    assert alice.post("/ro/notes/", {"title": "x"}, format="json").status_code == 405
    assert alice.patch(f"/ro/notes/{note.pk}/", {"title": "x"}, format="json").status_code == 405


def test_drfs_mixins_in_any_order(store, users, note):
    alice = bearer(access_for(users[0]))
    assert [n["title"] for n in alice.get("/picked/notes/").json()] == ["alice's"]
    assert alice.patch(f"/picked/notes/{note.pk}/", {"title": "x"}, format="json").status_code == 200
    assert alice.post("/picked/notes/", {"title": "x"}, format="json").status_code == 405  # no CreateModelMixin


def test_if_none_match_answers_304_on_reads_and_412_on_writes(store, users, note):
    alice = bearer(access_for(users[0]))
    etag = alice.get(f"/v/notes/{note.pk}/")["ETag"]
    unchanged = alice.get(f"/v/notes/{note.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304 and unchanged["ETag"] == etag and not unchanged.content
    assert alice.get(f"/v/notes/{note.pk}/", HTTP_IF_NONE_MATCH='"v9"').status_code == 200
    for header in ("*", etag, f'W/{etag}'):
        refused = alice.patch(f"/v/notes/{note.pk}/", {"title": "x"}, format="json", HTTP_IF_NONE_MATCH=header)
        assert_refusal(refused, 412, "precondition_failed")
        assert "If-None-Match" in refused.json()["detail"]  # not "If-Match failed": the client sent none
    assert Note.objects.get(pk=note.pk).title == "alice's"


def test_a_writable_owner_in_the_serializer_cannot_give_the_object_away(store, users, note):
    response = bearer(access_for(users[0])).patch(f"/writable-owner/notes/{note.pk}/", {"owner": users[1].pk},
                                                  format="json")
    assert response.status_code == 400 and "owner" in response.json()
    assert Note.objects.get(pk=note.pk).owner_id == users[0].pk
