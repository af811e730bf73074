"""Projects the way users write them, each in its own process (settings a
test can't switch at run time: the user model, SIMPLE_JWT's user id field,
simplejwt's own views with their serializers from settings, dj-rest-auth):
tests/projects/<name>/settings.py, urls.py and check_<name>.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = sorted(p.name for p in (ROOT / "tests" / "projects").iterdir() if (p / "settings.py").exists())


@pytest.mark.parametrize("project", PROJECTS)
def test_project(project):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": f"tests.projects.{project}.settings"}
    env.pop("DATABASE_URL", None)  # SQLite: the parent run holds the PostgreSQL test database
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "python_files=check_*.py",
         "--ds", f"tests.projects.{project}.settings", "--no-migrations", f"tests/projects/{project}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
