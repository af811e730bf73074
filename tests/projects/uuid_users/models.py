import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class Account(AbstractUser):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        app_label = "uuid_users"

    def __str__(self):
        return str(self.pk)


class Doc(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, to_field="uuid", on_delete=models.CASCADE)
    title = models.CharField(max_length=100)

    class Meta:
        app_label = "uuid_users"

    def __str__(self):
        return str(self.pk)
