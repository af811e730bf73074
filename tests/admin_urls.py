"""The tests' URLconf plus Django's admin (its pages: the sessions page)."""

from django.contrib import admin
from django.urls import path

from tests.urls import urlpatterns as api_patterns

urlpatterns = [path("admin/", admin.site.urls), *api_patterns]
