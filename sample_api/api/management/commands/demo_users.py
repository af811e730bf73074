from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERS = {"alice": "alice-demo-password", "bob": "bob-demo-password"}


class Command(BaseCommand):
    help = "Create (or reset) the demo users alice and bob."

    def handle(self, *args, **options):
        from sample_api.api.setup import prepare

        prepare()  # the token-state table must exist: set_password bumps the version
        model = get_user_model()
        for username, password in USERS.items():
            user, _ = model.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_active = True
            user.save()
            self.stdout.write(f"{username}: id {user.pk}")
