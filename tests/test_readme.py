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


def test_every_python_block_is_exercised_below():
    anchors = ["DRF_TOCTOU = {", "revoke_token(token)", "class NoteDetail", "class NoteViewSet",
               "class DocumentViewSet", "@receiver(token_rejected)"]
    assert len(BLOCKS) == len(anchors)
    assert all(any(anchor in block for block in BLOCKS) for anchor in anchors)


def test_settings_example_names_importable_classes():
    names = run(block_with("DRF_TOCTOU = {"))
    for dotted in names["REST_FRAMEWORK"]["DEFAULT_AUTHENTICATION_CLASSES"] + [
            names["REST_FRAMEWORK"]["EXCEPTION_HANDLER"], names["DRF_TOCTOU"]["STORE"],
            *names["SIMPLE_JWT"]["AUTH_TOKEN_CLASSES"]]:
        assert import_string(dotted)
    assert names["urlpatterns"][0].pattern.describe().startswith("'api/auth/'")


def test_revocation_example(store, users):
    token = access_for(users[0])
    names = run(block_with("revoke_token(token)"), token=token, user=users[1])
    assert names["new_version"] == 1
    assert_refusal(bearer(token).get("/me/"), 401, "token_revoked")


@pytest.mark.parametrize("anchor", ["class NoteDetail", "class NoteViewSet", "class DocumentViewSet"])
def test_view_examples_define_working_views(anchor, db):
    names = run(block_with(anchor))
    view = names[anchor.split()[1]]
    actions = {"get": "retrieve", "patch": "partial_update"} if "ViewSet" in anchor else None
    assert callable(view.as_view(actions) if actions else view.as_view())


def test_observability_example_receives_refusals(store, users, capsys):
    from drf_toctou.signals import token_rejected

    names = run(block_with("@receiver(token_rejected)"))
    try:
        bearer("garbage").get("/me/")
        assert "refused token_not_valid for user None on /me/" in capsys.readouterr().out
    finally:
        token_rejected.disconnect(names["record_refusal"])
