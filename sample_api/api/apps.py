from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "sample_api.api"
    label = "sample_api"
    default_auto_field = "django.db.models.BigAutoField"
