"""A project whose tokens identify users by username (SIMPLE_JWT USER_ID_FIELD)."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, SIMPLE_JWT

INSTALLED_APPS = [*INSTALLED_APPS, "tests.projects.username_ids"]
ROOT_URLCONF = "tests.projects.username_ids.urls"
SIMPLE_JWT = {**SIMPLE_JWT, "USER_ID_FIELD": "username"}
