"""System checks of settings, tokens and the store (manage.py check [--deploy])."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from drf_toctou.stores import get_store


def ids(messages):
    return {m.id for m in messages}


def test_clean_configuration_passes_checks(db):
    assert not ids(run_checks()) & {"drf_toctou.E001", "drf_toctou.E002", "drf_toctou.E003", "drf_toctou.W001"}


@override_settings(DRF_TOCTOU={"STORE": "no.such.Store"})
def test_unimportable_store_is_E001():
    assert "drf_toctou.E001" in ids(run_checks())


@override_settings(DRF_TOCTOU={"ON_STORE_ERROR": "allow"})
def test_fail_open_is_W001():
    assert "drf_toctou.W001" in ids(run_checks())


@override_settings(DRF_TOCTOU={"ON_STORE_ERROR": "maybe"})
def test_unknown_on_store_error_is_E003():
    assert "drf_toctou.E003" in ids(run_checks())


def test_disabled_jti_claim_is_E002(settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "JTI_CLAIM": None}
    assert "drf_toctou.E002" in ids(run_checks())


def test_unversioned_token_classes_are_W002(settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "AUTH_TOKEN_CLASSES": ("rest_framework_simplejwt.tokens.AccessToken",)}
    assert "drf_toctou.W002" in ids(run_checks())


def test_long_access_tokens_are_W003(settings):
    from datetime import timedelta

    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(hours=1)}
    assert "drf_toctou.W003" in ids(run_checks())


def test_token_permission_without_revalidating_authentication_is_W004(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication"]}
    assert "drf_toctou.W004" in ids(run_checks())


def test_deploy_check_redis_that_can_evict_revocations_is_W005(settings, db):
    from tests.conftest import use_store
    from tests.servers import RedisServer

    server = RedisServer(None, "--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru").start()
    try:
        use_store(settings, "redis", url=server.url)
        assert "drf_toctou.W005" in ids(run_checks(include_deployment_checks=True))
        server.client().config_set("maxmemory-policy", "noeviction")
        assert "drf_toctou.W005" not in ids(run_checks(include_deployment_checks=True))
    finally:
        server.stop()


def test_deploy_check_dynamodb_table_without_ttl_is_W006(store_kind, settings):
    if store_kind != "dynamodb":
        pytest.skip("DynamoDB only")
    store = get_store()
    assert "drf_toctou.W006" not in ids(run_checks(include_deployment_checks=True))
    store.client.update_time_to_live(TableName=store.table_name,
                                     TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"})
    assert "drf_toctou.W006" in ids(run_checks(include_deployment_checks=True))


def deploy_ids(settings, server):
    from tests.conftest import use_store

    use_store(settings, "redis", url=server.url)
    return ids(run_checks(include_deployment_checks=True))


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-ttl", "allkeys-lru"])
def test_deploy_check_any_evicting_policy_is_W005(policy, settings, db):
    from tests.servers import RedisServer

    server = RedisServer(None, "--maxmemory", "64mb", "--maxmemory-policy", policy).start()
    try:
        assert "drf_toctou.W005" in deploy_ids(settings, server)  # revocation keys carry an expiry
    finally:
        server.stop()


def test_deploy_check_a_redis_that_forgets_is_W008(settings, db):
    from tests.servers import RedisServer

    server = RedisServer().start()  # the tests' servers keep nothing: --save "" --appendonly no
    try:
        assert "drf_toctou.W008" in deploy_ids(settings, server)
        server.client().config_set("appendonly", "yes")
        assert "drf_toctou.W008" not in deploy_ids(settings, server)
    finally:
        server.stop()


def test_a_conditional_viewset_without_actions_is_W011(db):
    from rest_framework import viewsets

    from drf_toctou.mixins import ConditionalModelMixin

    class Empty(ConditionalModelMixin, viewsets.GenericViewSet):
        pass

    assert any(m.id == "drf_toctou.W011" and "Empty" in m.msg for m in run_checks())
