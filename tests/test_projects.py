"""Projects the way users write them, each in its own process (settings a
test can't switch at run time: the user model, SIMPLE_JWT's user id field,
simplejwt's own views with their serializers from settings, dj-rest-auth):
tests/projects/<name>/settings.py, urls.py and check_<name>.py. The projects
run at the same time, each in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = sorted(p.name for p in (ROOT / "tests" / "projects").iterdir() if (p / "settings.py").exists())


@pytest.fixture(scope="module")
def runs():
    """Every project's pytest, started at once: {name: (process, output file)}."""
    started = {}
    for project in PROJECTS:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": f"tests.projects.{project}.settings"}
        env.pop("DATABASE_URL", None)  # SQLite: the parent run holds the PostgreSQL test database
        output = tempfile.TemporaryFile(mode="w+")
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "python_files=check_*.py",
             "--ds", f"tests.projects.{project}.settings", "--no-migrations", f"tests/projects/{project}"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)
        started[project] = (process, output)
    yield started
    for process, output in started.values():
        if process.poll() is None:
            process.kill()
        output.close()


@pytest.mark.parametrize("project", PROJECTS)
def test_project(project, runs):
    process, output = runs[project]
    returncode = process.wait(timeout=300)
    output.seek(0)
    assert returncode == 0, output.read()[-8000:]
