from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from tests.projects.uuid_users.models import Account

admin.site.register(Account, UserAdmin)  # registered by an app listed after drf_toctou
