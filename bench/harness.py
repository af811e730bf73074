"""The benchmark's environment: its own redis-server (TCP on a free port and a
unix socket; never the machine's Redis), Django on a throw-away SQLite file,
the benchmark user and note, and fresh credentials on demand."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("BENCH_DB", str(Path(tempfile.mkdtemp(prefix="toctou-bench-")) / "bench.sqlite3"))

from bench.configs import STORES, Config  # noqa: E402


class Harness:
    def __init__(self) -> None:
        from tests.servers import RedisServer

        self.sock = Path(tempfile.mkdtemp(prefix="toctou-redis-")) / "redis.sock"
        self.redis = RedisServer(None, "--unixsocket", str(self.sock), "--unixsocketperm", "700").start()
        self.urls = {"redis_tcp": self.redis.url, "redis_unix": f"unix://{self.sock}"}
        # The settings' default store is then this Redis too, whatever the settings file says.
        dotted, options = self.store_setting("redis")
        os.environ["BENCH_STORE"], os.environ["BENCH_STORE_OPTIONS"] = dotted, json.dumps(options)
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from tests.testapp.models import Note

        call_command("migrate", verbosity=0)
        self.user = get_user_model().objects.create_user("bench", password="bench")
        self.note = Note.objects.create(owner=self.user, title="bench")

    def store_setting(self, name: str) -> tuple[str, dict]:
        dotted, options = STORES[name]
        return dotted, {key: value.format(**self.urls) if isinstance(value, str) else value
                        for key, value in options.items()}

    def store(self, name: str | None):
        """A context in which drf-toctou uses store ``name`` (None: unchanged)."""
        if name is None:
            return nullcontext()
        from django.test import override_settings

        dotted, options = self.store_setting(name)
        return override_settings(DRF_TOCTOU={"STORE": dotted, "STORE_OPTIONS": options})

    def path(self, config: Config) -> str:
        return config.path.format(note=self.note.pk)

    def mint(self, config: Config) -> str:
        """A fresh Authorization header for ``config``: minted right before its
        block or run, so that no measurement outlives its token. Call it inside
        ``self.store(config.store)`` (VersionedAccessToken reads the user's
        version from that store)."""
        if config.token == "jwt":
            from rest_framework_simplejwt.tokens import AccessToken

            return f"Bearer {AccessToken.for_user(self.user)}"
        if config.token == "versioned":
            from drf_toctou.tokens import VersionedAccessToken

            return f"Bearer {VersionedAccessToken.for_user(self.user)}"
        if config.token == "knox":
            from knox.models import AuthToken

            return f"Token {AuthToken.objects.create(self.user)[1]}"
        raise ValueError(f"unknown token kind {config.token!r} in {config.label!r}")

    def stop(self) -> None:
        self.redis.stop()
