from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DrfToctouConfig(AppConfig):
    name = "drf_toctou"
    verbose_name = _("drf-toctou token state")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_init, pre_delete, pre_save

        from drf_toctou import checks, credentials, url_checks

        user_model = get_user_model()
        post_init.connect(credentials.remember_loaded, sender=user_model, dispatch_uid="drf_toctou.loaded")
        pre_save.connect(credentials.revoke_before_save, sender=user_model, dispatch_uid="drf_toctou.revoke")
        pre_delete.connect(credentials.revoke_before_delete, sender=user_model, dispatch_uid="drf_toctou.delete")
        checks.register()
        url_checks.register()
        checks.refuse_to_start()
        self.protect_admin()
        try:
            import drf_spectacular  # noqa: F401
        except ImportError:
            return
        import drf_toctou.contrib.spectacular  # noqa: F401  (registers the extensions)

    def protect_admin(self) -> None:
        """Add drf-toctou's actions and clean store errors to the user admin —
        now, and again at the first request, for a user admin registered by an
        app listed after this one."""
        from django.apps import apps

        if not apps.is_installed("django.contrib.admin"):
            return
        from django.core.signals import request_started

        from drf_toctou.admin import protect_user_admin

        protect_user_admin()

        def once(**kwargs: object) -> None:
            request_started.disconnect(once, dispatch_uid="drf_toctou.protect_admin")
            protect_user_admin()

        request_started.connect(once, dispatch_uid="drf_toctou.protect_admin", weak=False)
