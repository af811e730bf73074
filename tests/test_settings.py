"""DRF_TOCTOU: read lazily, reloaded, validated (a typo is an error, never a
silent default), and the plugin refusing to run half-installed."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from drf_toctou.settings import toctou_settings
from drf_toctou.stores import get_store, reset_store
from tests.helpers import access_for, bearer


def test_settings_are_read_lazily_and_reloaded(settings):
    assert toctou_settings.STORE_TIMEOUT == 0.25
    settings.DRF_TOCTOU = {"STORE_TIMEOUT": 1.5}
    assert toctou_settings.STORE_TIMEOUT == 1.5
    assert toctou_settings.OWNER_FIELD == "owner_id"


def test_unknown_setting_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        toctou_settings.NOPE


def test_store_is_memoised_and_rebuilt_on_setting_change(settings):
    first = get_store()
    assert get_store() is first
    settings.DRF_TOCTOU = {"STORE": "drf_toctou.stores.database.DatabaseStore", "STORE_OPTIONS": {"using": "default"}}
    assert get_store() is not first


def test_an_unknown_key_is_an_error_naming_the_closest_one(settings, db):
    settings.DRF_TOCTOU = {"STORE_OPTION": {"url": "redis://127.0.0.1:1/0"}}
    errors = [m for m in run_checks() if m.id == "drf_toctou.E004"]
    assert errors and "'STORE_OPTION' (did you mean 'STORE_OPTIONS'?)" in errors[0].msg
    with pytest.raises(ImproperlyConfigured, match="STORE_OPTIONS"):
        toctou_settings.STORE_TIMEOUT  # noqa: B018  (never a silent default)


def test_an_unknown_store_option_is_an_error_naming_the_closest_one(settings, db):
    settings.DRF_TOCTOU = {"STORE": "drf_toctou.stores.redis.RedisStore", "STORE_OPTIONS": {"URL": "redis://x"}}
    errors = [m for m in run_checks() if m.id == "drf_toctou.E001"]
    assert errors and "'URL' (did you mean 'url'?)" in errors[0].msg


def test_a_redis_store_without_an_address_is_an_error_not_a_default(settings, db):
    settings.DRF_TOCTOU = {"STORE": "drf_toctou.stores.redis.RedisStore"}
    errors = [m for m in run_checks() if m.id == "drf_toctou.E001"]
    assert errors and "never guesses an address" in errors[0].msg


def test_missing_from_installed_apps_fails_loudly_at_first_use(settings, users):
    token = access_for(users[0])
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "drf_toctou"]
    reset_store()
    with pytest.raises(ImproperlyConfigured, match="add 'drf_toctou' to INSTALLED_APPS"):
        bearer(token).get("/me/")


@pytest.mark.parametrize("key, value", [("REVOCATION_GRACE", -400), ("REVOCATION_GRACE", "60"),
                                        ("MAX_TOKEN_BYTES", "8192"), ("STORE_TIMEOUT", "0.25"),
                                        ("STORE_TIMEOUT", 0), ("MAX_SESSIONS_PER_USER", 0),
                                        ("STORE_OPTIONS", "redis://127.0.0.1:6379/0"),
                                        ("HIDE_FORBIDDEN_AS_NOT_FOUND", "yes")])
def test_a_value_of_the_wrong_type_or_range_is_an_error(key, value, settings, db):
    settings.DRF_TOCTOU = {key: value}
    errors = [m for m in run_checks() if m.id == "drf_toctou.E003"]
    assert errors and key in errors[0].msg, [m.msg for m in run_checks() if m.id.startswith("drf_toctou")]
    with pytest.raises(ImproperlyConfigured, match=key):
        getattr(toctou_settings, key)


@pytest.mark.parametrize("options, message", [({"url": "redis//127.0.0.1:6390/0"}, "must start with redis://"),
                                              ({"url": "127.0.0.1:6390"}, "must start with redis://")])
def test_a_redis_url_without_its_scheme_is_a_start_up_error(options, message, settings, db):
    settings.DRF_TOCTOU = {"STORE": "drf_toctou.stores.redis.RedisStore", "STORE_OPTIONS": options}
    errors = [m for m in run_checks() if m.id == "drf_toctou.E001"]
    assert errors and message in errors[0].msg


def test_a_database_store_on_an_unknown_alias_is_a_start_up_error(settings, db):
    settings.DRF_TOCTOU = {"STORE_OPTIONS": {"using": "other"}}
    errors = [m for m in run_checks() if m.id == "drf_toctou.E001"]
    assert errors and "'other'" in errors[0].msg


@pytest.mark.parametrize("drf_toctou", [
    {"STORE": "drf_toctou.stores.redis.RedisStore",
     "STORE_OPTIONS": {"url": "redis://127.0.0.1:1/0", "near_cache": {"max_entrys": 10}}},
    {"STORE_TIMEUT": 1},
    {"STORE_TIMEOUT": "soon"},
], ids=["store_option", "setting_name", "setting_type"])
def test_a_wsgi_server_refuses_to_start_on_a_typo(drf_toctou, tmp_path):
    """gunicorn runs no system checks: without a refusal at start-up, a typo
    would be a 500 at the first request of every worker."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "typo_settings.py").write_text(f"from tests.settings import *  # noqa\nDRF_TOCTOU = {drf_toctou!r}\n")
    root = Path(__file__).resolve().parent.parent
    run = subprocess.run([sys.executable, "-c", "from django.core.wsgi import get_wsgi_application; "
                          "get_wsgi_application()"], capture_output=True, text=True, timeout=60, cwd=root,
                         env={**os.environ, "DJANGO_SETTINGS_MODULE": "typo_settings",
                              "PYTHONPATH": f"{tmp_path}:{root}"})
    assert run.returncode != 0
    assert "drf-toctou refuses to start" in run.stderr and "drf_toctou.E00" in run.stderr, run.stderr[-2000:]
