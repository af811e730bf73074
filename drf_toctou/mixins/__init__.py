"""Viewset mixins whose writes carry their own conditions (L3).

``ConditionalDynamoMixin`` is imported on first use, so the ORM mixin works
without boto3 installed.
"""

from typing import Any

from drf_toctou.mixins.model import ConditionalModelMixin

__all__ = ["ConditionalDynamoMixin", "ConditionalModelMixin"]


def __getattr__(name: str) -> Any:
    if name == "ConditionalDynamoMixin":
        from drf_toctou.mixins.dynamo import ConditionalDynamoMixin

        return ConditionalDynamoMixin
    raise AttributeError(name)
