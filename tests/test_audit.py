"""The endpoint audit (toctou_audit) and the start-up checks that walk the
URLconf: no false assurance. A view is "protected" only when no class before
ours can accept the token, when the recheck can run, and when its token views
issue tokens drf-toctou can revoke."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command

from drf_toctou.revocation import revoke_token, revoke_user_tokens
from tests.helpers import access_for, assert_refusal, bearer
from tests.testapp.models import Note


@pytest.fixture
def endpoints(db):
    out = StringIO()
    call_command("toctou_audit", "--format", "json", stdout=out)
    return {(e["path"], e["method"]): e for e in json.loads(out.getvalue())}


def test_naive_views_are_flagged_and_protected_ones_pass(endpoints):
    assert endpoints[("naive/notes/<int:pk>/", "PATCH")]["verdict"] == "TOCTOU-prone"
    assert endpoints[("naive/notes/<int:pk>/", "PATCH")]["severity"] == "error"
    assert endpoints[("notes/<int:pk>/", "PATCH")]["reasons"] == [
        "object writes are check-then-write, not conditional (S3-S6)"]
    assert endpoints[("v/notes/(?P<pk>[^/.]+)/", "PATCH")]["verdict"] == "protected"
    # A conditional mixin rechecks with every object read, even without TokenOwnershipPermission.
    assert endpoints[("a/notes/(?P<pk>[^/.]+)/", "GET")]["verdict"] == "protected"
    assert endpoints[("auth/token/", "POST")]["verdict"] == "not applicable"


def test_simplejwt_before_ours_is_not_revalidating(endpoints, store, users):
    found = endpoints[("jwt-first/notes/<int:pk>/", "GET")]
    assert found["revalidating"] is False and found["severity"] == "error"
    assert "JWTAuthentication accepts the bearer token" in found["reasons"][0]
    # why: the revoked token really is let in by that view
    note = Note.objects.create(owner=users[0], title="x")
    token = access_for(users[0])
    revoke_token(token)
    assert bearer(token).get(f"/jwt-first/notes/{note.pk}/").status_code == 200
    assert_refusal(bearer(token).get(f"/notes/{note.pk}/"), 401, "token_revoked")
    assert "drf_toctou.E008" in {m.id for m in run_checks()}


def test_an_or_with_a_permission_that_lets_everyone_in_is_flagged(endpoints, store, users):
    found = endpoints[("anyone-or-owner/notes/<int:pk>/", "PATCH")]
    assert found["object_recheck"] is False and found["severity"] == "error"
    assert any("IsAuthenticated | TokenOwnershipPermission" in r for r in found["reasons"])
    # why: bob writes alice's note through it
    note = Note.objects.create(owner=users[0], title="alice's")
    bobs = bearer(access_for(users[1]))
    assert bobs.patch(f"/anyone-or-owner/notes/{note.pk}/", {"title": "bob's"}, format="json").status_code == 200


def test_is_admin_or_owner_is_protected_with_a_note(endpoints):
    found = endpoints[("admin-or-owner/notes/<int:pk>/", "GET")]
    assert found["verdict"] == "protected" and found["object_recheck"] is True
    assert any(r.startswith("note: IsAdminUser | TokenOwnershipPermission") for r in found["reasons"])


def test_the_api_root_gets_the_same_verdict_with_a_format_suffix(endpoints):
    roots = {path: e for (path, method), e in endpoints.items() if path.startswith("dr/") and "notes" not in path}
    assert len(roots) == 2, roots
    assert len({(e["verdict"], e["severity"], tuple(e["reasons"])) for e in roots.values()}) == 1


def test_simplejwts_own_login_view_is_flagged_and_locks_users_out(endpoints, store, users, api):
    """The negative control of SIMPLE_JWT["TOKEN_OBTAIN_SERIALIZER"]: simplejwt's
    view mounted as is issues tokens without a version — after a bump, every
    new login is refused. The start-up check (E006) and the audit name it."""
    found = endpoints[("plain/token/", "POST")]
    assert found["severity"] == "error" and "TOKEN_OBTAIN_SERIALIZER" in found["reasons"][0]
    assert any(m.id == "drf_toctou.E006" and "plain/token/" in m.msg for m in run_checks())
    revoke_user_tokens(users[0])
    fresh = api.post("/plain/token/", {"username": "alice", "password": "alice-password"}, format="json").json()
    assert_refusal(bearer(fresh["access"]).get("/me/"), 401, "token_version_stale")  # locked out
    ours = api.post("/auth/token/", {"username": "alice", "password": "alice-password"}, format="json").json()
    assert bearer(ours["access"]).get("/me/").status_code == 200


def test_table_and_fail_on(db):
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("toctou_audit", "--fail-on", "error", stdout=out)
    assert "TOCTOU-prone" in out.getvalue() and "naive/notes" in out.getvalue()
    assert "token revalidated" in out.getvalue()  # columns say what they check


def test_drf_toctous_own_endpoints_are_not_flagged(endpoints):
    for path in ("auth/sessions/<str:session_id>/", "auth/sessions/others/", "auth/logout/", "auth/token/revoke/"):
        found = [e for (p, m), e in endpoints.items() if p == path]
        assert found and all(e["severity"] == "ok" for e in found), found


def test_an_or_on_a_conditional_viewset_is_a_note_not_an_error(db):
    from rest_framework.permissions import IsAuthenticated

    from drf_toctou.audit import judge
    from drf_toctou.permissions import TokenOwnershipPermission
    from tests.testapp.views import NoteViewSet

    class OrViewSet(NoteViewSet):
        permission_classes = [IsAuthenticated | TokenOwnershipPermission]

    endpoint = judge("x/<pk>/", "patch", OrViewSet.as_view({"patch": "partial_update"}), True)
    assert endpoint.severity == "ok" and any("still rechecks" in r for r in endpoint.reasons)


def test_an_or_that_lets_everyone_in_is_a_start_up_error(db):
    assert any(m.id == "drf_toctou.E009" and "anyone-or-owner" in m.msg for m in run_checks())
