"""``check --deploy`` on DynamoDB global tables (drf_toctou.W010).

Neither moto nor DynamoDB Local reports replicas, so DescribeTable's answer is
stubbed (botocore's Stubber checks it against the service model, the fields
``Replicas``, ``MultiRegionConsistency`` and ``GlobalTableWitnesses``
included): a table replicated with multi-Region eventual consistency (MREC,
the default) is W010; a single-Region table, or one with multi-Region strong
consistency (MRSC), is not.
"""

from __future__ import annotations

import pytest
from botocore.stub import Stubber
from django.core.checks import run_checks

from drf_toctou.stores import get_store
from tests.conftest import close_store, use_store

TABLE = "toctou-global"


@pytest.fixture
def described(settings):
    """``described(table)``: the deploy checks' findings when DescribeTable
    answers ``table`` (TTL on)."""
    use_store(settings, "dynamodb", table_name=TABLE, region_name="eu-west-1")
    client = get_store().client

    def findings(table: dict) -> list:
        with Stubber(client) as stub:
            stub.add_response("describe_time_to_live",
                              {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}},
                              {"TableName": TABLE})
            stub.add_response("describe_table", {"Table": {"TableName": TABLE, "TableStatus": "ACTIVE", **table}},
                              {"TableName": TABLE})
            found = [m for m in run_checks(include_deployment_checks=True) if m.id.startswith("drf_toctou.W0")]
            stub.assert_no_pending_responses()
        return found

    yield findings
    close_store()


def replica(region: str) -> dict:
    return {"RegionName": region, "ReplicaStatus": "ACTIVE"}


def test_a_single_region_table_is_not_w010(described):
    assert not described({})


@pytest.mark.parametrize("consistency", [{}, {"MultiRegionConsistency": "EVENTUAL"}], ids=["default", "eventual"])
def test_a_global_table_with_eventual_consistency_is_w010(described, consistency):
    found = described({"GlobalTableVersion": "2019.11.21", "Replicas": [replica("eu-west-1"), replica("us-east-1")],
                       **consistency})
    assert [m.id for m in found] == ["drf_toctou.W010"]
    assert "eu-west-1, us-east-1" in found[0].msg and "MRSC" in found[0].hint


def test_a_global_table_with_strong_consistency_is_not_w010(described):
    assert not described({"GlobalTableVersion": "2019.11.21", "MultiRegionConsistency": "STRONG",
                          "Replicas": [replica("us-east-1"), replica("us-east-2")],
                          "GlobalTableWitnesses": [{"RegionName": "us-west-2", "WitnessStatus": "ACTIVE"}]})
