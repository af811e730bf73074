"""WSGI entry point (runserver and gunicorn import it): starts the embedded
services the settings ask for, and creates the tables when missing."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sample_api.settings")
application = get_wsgi_application()

from sample_api.api.setup import prepare  # noqa: E402

prepare()
