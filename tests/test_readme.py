"""Every Python example of the README runs, with the names it assumes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils.module_loading import import_string

from tests.helpers import access_for, assert_refusal, bearer

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
PRELUDE = """
from datetime import timedelta
from django.urls import include, path
from rest_framework import generics
from drf_toctou.permissions import TokenOwnershipPermission
from tests.testapp.models import Note
from tests.testapp.views import NoteSerializer
"""


def run(block: str, **names) -> dict:
    namespace = dict(names)
    exec(compile(PRELUDE + block, "README.md", "exec"), namespace)  # noqa: S102
    return namespace


def block_with(text: str) -> str:
    return next(block for block in BLOCKS if text in block)


def dynamo_names() -> dict:
    from rest_framework import viewsets

    from drf_toctou.mixins import ConditionalDynamoMixin
    from tests.testapp.views import DocumentSerializer

    return {"ConditionalDynamoMixin": ConditionalDynamoMixin, "viewsets": viewsets,
            "DocumentSerializer": DocumentSerializer}


def test_stamped_view_example(db):
    view = run(block_with("stamp_writes = True"), **dynamo_names())["DocumentViewSet"]
    assert view.stamp_writes is True and view.transfer_actions == ("transfer",)


def test_stream_finding_receiver_example():
    from types import SimpleNamespace

    from drf_toctou.signals import stream_finding

    alerts = []
    names = run(block_with("@receiver(stream_finding)"), alert=alerts.append)
    try:
        finding = SimpleNamespace(severity="high", as_json=lambda: "{}")
        stream_finding.send(sender=None, finding=finding)
        stream_finding.send(sender=None, finding=SimpleNamespace(severity="low", as_json=lambda: "{}"))
    finally:
        stream_finding.disconnect(names["page_someone"])
    assert alerts == ["{}"]


def test_rule_of_your_own_example():
    from types import SimpleNamespace

    rule = run(block_with("class NoEmptyTitles"))["NoEmptyTitles"]()
    assert rule.judge(SimpleNamespace(new={"title": ""}), None) == "a document without a title"
    assert rule.judge(SimpleNamespace(new={"title": "x"}), None) is None


def test_reference_codec_example(db):
    from drf_toctou.references import SealedReferenceCodec

    view = run(block_with("reference_codec = "), **dynamo_names())["DocumentViewSet"]
    assert isinstance(view.reference_codec, SealedReferenceCodec) and view.reference_scope == "documents"


def test_every_python_block_is_exercised_below():
    anchors = ["DRF_TOCTOU = {", "REST_AUTH = {", "revoke_token(token)", "class MemoryStore", "class NoteDetail",
               "class NoteViewSet", "owner_index = ", "@receiver(token_rejected)", "stamp_writes = True",
               "@receiver(stream_finding)", "class NoEmptyTitles", "reference_codec = ", '"near_cache": {']
    assert len(BLOCKS) == len(anchors)
    assert all(any(anchor in block for block in BLOCKS) for anchor in anchors)


def test_settings_example_names_importable_classes():
    names = run(block_with("DRF_TOCTOU = {"))
    serializers = [value for key, value in names["SIMPLE_JWT"].items() if key.endswith("_SERIALIZER")]
    for dotted in names["REST_FRAMEWORK"]["DEFAULT_AUTHENTICATION_CLASSES"] + [
            names["REST_FRAMEWORK"]["EXCEPTION_HANDLER"], names["DRF_TOCTOU"]["STORE"],
            *names["SIMPLE_JWT"]["AUTH_TOKEN_CLASSES"], *serializers]:
        assert import_string(dotted)
    assert len(serializers) == 4
    assert names["urlpatterns"][0].pattern.describe().startswith("'api/auth/'")


def test_dj_rest_auth_example_names_importable_classes():
    import drf_toctou.contrib.dj_rest_auth

    names = run(block_with("REST_AUTH = {"), include=lambda module: module, drf_toctou=drf_toctou)
    assert import_string(names["REST_AUTH"]["JWT_TOKEN_CLAIMS_SERIALIZER"])
    assert names["urlpatterns"][0].callback.view_class is drf_toctou.contrib.dj_rest_auth.TokenRefreshView


def test_the_store_of_your_own_passes_the_contract(settings, users, api):
    """The README's in-memory store, configured as a class, through the whole chain."""
    from django.contrib.auth import get_user_model

    store_class = run(block_with("class MemoryStore"))["MemoryStore"]
    settings.DRF_TOCTOU = {"STORE": store_class}
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ROTATE_REFRESH_TOKENS": True}
    pair = api.post("/auth/token/", {"username": "alice", "password": "alice-password"}, format="json").json()
    assert bearer(pair["access"]).get("/me/").status_code == 200
    assert len(bearer(pair["access"]).get("/auth/sessions/").json()) == 1
    first = api.post("/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json")
    assert first.status_code == 200
    assert_refusal(api.post("/auth/token/refresh/", {"refresh": pair["refresh"]}, format="json"), 401, "token_reused")
    assert_refusal(bearer(first.json()["access"]).get("/me/"), 401, "session_revoked")
    other = access_for(users[0])
    assert bearer(other).post("/auth/logout/").status_code == 204
    assert_refusal(bearer(other).get("/me/"), 401, "token_revoked")
    fresh = access_for(users[0])
    get_user_model().objects.get(pk=users[0].pk).set_password("changed")
    user = get_user_model().objects.get(pk=users[0].pk)
    user.set_password("changed")
    user.save()
    assert_refusal(bearer(fresh).get("/me/"), 401, "token_version_stale")


def test_revocation_example(store, users):
    token = access_for(users[0])
    names = run(block_with("revoke_token(token)"), token=token, user=users[1])
    assert names["new_version"] == 1
    assert_refusal(bearer(token).get("/me/"), 401, "token_revoked")


@pytest.mark.parametrize("anchor", ["class NoteDetail", "class NoteViewSet", "class ReadOnlyNoteViewSet",
                                    "owner_index = "])
def test_view_examples_define_working_views(anchor, db):
    """The README's class lines build (no MRO error) and route what they promise."""
    names = run(block_with(anchor))
    view = names["DocumentViewSet" if anchor == "owner_index = " else anchor.split()[1]]
    if anchor == "class NoteDetail":
        assert callable(view.as_view())
        return
    from rest_framework.routers import SimpleRouter

    router = SimpleRouter()
    router.register("x", view, basename="x")
    routed = {method for url in router.urls for method in getattr(url.callback, "actions", {})}
    expected = {"get"} if "ReadOnly" in anchor else {"get", "post", "put", "patch", "delete"}
    assert routed == expected


def test_observability_example_receives_refusals(store, users, capsys):
    from drf_toctou.signals import token_rejected

    names = run(block_with("@receiver(token_rejected)"))
    try:
        bearer("garbage").get("/me/")
        assert "refused token_not_valid for user None on /me/" in capsys.readouterr().out
    finally:
        token_rejected.disconnect(names["record_refusal"])


def test_near_cache_example_builds_a_store():
    from drf_toctou.stores.redis import RedisStore

    settings = run(block_with('"near_cache": {'))["DRF_TOCTOU"]
    assert import_string(settings["STORE"]) is RedisStore
    store = RedisStore(settings["STORE_OPTIONS"])  # connects only when first used
    assert store._near_options == {"max_entries": 100_000, "max_staleness": 0.005,
                                   "purposes": frozenset({"authentication", "read"})}
