from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DrfToctouConfig(AppConfig):
    name = "drf_toctou"
    verbose_name = _("drf-toctou token state")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save, pre_save

        from drf_toctou import checks, signals

        user_model = get_user_model()
        pre_save.connect(signals.note_deactivation, sender=user_model, dispatch_uid="drf_toctou.deactivation")
        post_save.connect(signals.revoke_after_save, sender=user_model, dispatch_uid="drf_toctou.revoke")
        checks.register()
        try:
            import drf_spectacular  # noqa: F401
        except ImportError:
            return
        import drf_toctou.contrib.spectacular  # noqa: F401  (registers the extensions)
