"""A project with its own user model whose tokens identify users by a UUID
field (not the primary key), and ForeignKey(..., to_field="uuid") owners."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, SIMPLE_JWT

INSTALLED_APPS = [*INSTALLED_APPS, "tests.projects.uuid_users"]
AUTH_USER_MODEL = "uuid_users.Account"
ROOT_URLCONF = "tests.projects.uuid_users.urls"
SIMPLE_JWT = {**SIMPLE_JWT, "USER_ID_FIELD": "uuid"}
