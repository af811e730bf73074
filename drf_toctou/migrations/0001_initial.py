from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="TokenVersion",
            fields=[
                ("user_id", models.CharField(max_length=255, primary_key=True, serialize=False, verbose_name="user id")),
                ("version", models.BigIntegerField(default=0, verbose_name="version")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
            ],
            options={"verbose_name": "token version", "verbose_name_plural": "token versions"},
        ),
        migrations.CreateModel(
            name="RevokedToken",
            fields=[
                ("jti", models.CharField(max_length=255, primary_key=True, serialize=False, verbose_name="jti")),
                ("user_id", models.CharField(db_index=True, max_length=255, verbose_name="user id")),
                ("expires_at", models.BigIntegerField(db_index=True, verbose_name="expires at (epoch seconds)")),
                ("revoked_at", models.DateTimeField(auto_now_add=True, verbose_name="revoked at")),
            ],
            options={"verbose_name": "revoked token", "verbose_name_plural": "revoked tokens"},
        ),
    ]
