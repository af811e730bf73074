from django.conf import settings
from django.db import models


class Memo(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, to_field="username", on_delete=models.CASCADE)
    title = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        app_label = "username_ids"

    def __str__(self):
        return str(self.pk)
