"""``make compat``: simplejwt's own ``tests/test_authentication.py``, run against
``BearerRevalidatingAuthentication`` in place of ``JWTAuthentication``.

Two roles in one file:

* run as a script (``python scripts/compat.py [pytest args]``): finds the
  simplejwt version installed in this interpreter, downloads its sdist into
  ``.cache/simplejwt/`` once (``pip download --no-binary :all: --no-deps``),
  extracts its ``tests/`` package into a fresh directory and runs pytest there
  with this file loaded as a plugin (``-p compat``);
* as that pytest plugin: adds ``drf_toctou`` (with the default
  ``DatabaseStore``; pytest-django migrates the test database) to the settings
  simplejwt's ``tests/conftest.py`` configures, makes
  ``rest_framework_simplejwt.authentication.JWTAuthentication`` our class before
  the test module is imported — and again each time the tests ``reload()`` that
  module — and checks, test by test, that every ``JWTAuthentication`` the tests
  built was ours.

Tests that cannot pass because of a deliberate difference are listed in
``SKIPS`` by name, each with the reason (README, "simplejwt compatibility").
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Generator, Sequence
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

DIST = "djangorestframework-simplejwt"
TARGET = "rest_framework_simplejwt.authentication"
TEST_FILE = "tests/test_authentication.py"
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "simplejwt"

# simplejwt tests we skip, by "<Class>::<test>" (or "<test>" for a module-level
# test), each with the deliberate difference that makes it fail for us. An entry
# matching no test is an error, so the list cannot go stale silently.
SKIPS: dict[str, str] = {}


# --- the script ---------------------------------------------------------------


def installed_version() -> str:
    return metadata.version(DIST)


def sdist(version: str) -> Path:
    """The sdist of ``version`` in the cache, downloaded first if missing."""
    CACHE.mkdir(parents=True, exist_ok=True)
    found = cached_sdist(version)
    if found:
        print(f"compat: {DIST} {version} sdist from the cache: {found.relative_to(ROOT)}", flush=True)
        return found
    print(f"compat: downloading the {DIST} {version} sdist", flush=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps",
                        "--disable-pip-version-check", "-d", tmp, f"{DIST}=={version}"], check=True)
        for downloaded in Path(tmp).glob("*.tar.gz"):
            downloaded.replace(CACHE / downloaded.name)  # whole files only: a broken download leaves nothing
    found = cached_sdist(version)
    if not found:
        sys.exit(f"compat: pip downloaded no {DIST} {version} sdist")
    return found


def cached_sdist(version: str) -> Path | None:
    for prefix in ("djangorestframework_simplejwt", "djangorestframework-simplejwt"):
        path = CACHE / f"{prefix}-{version}.tar.gz"
        if path.is_file():
            return path
    return None


def extract_tests(archive: Path, version: str) -> Path:
    """``tests/`` of the sdist, and nothing else, in a fresh directory: the code
    under test is the installed simplejwt, never the sdist's copy of it."""
    run_dir = CACHE / f"run-{version}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        top = members[0].name.split("/")[0]
        pkg_info = tar.extractfile(f"{top}/PKG-INFO")
        if pkg_info is None or f"\nVersion: {version}\n" not in pkg_info.read().decode():
            sys.exit(f"compat: {archive.name} is not the sdist of {DIST} {version}")
        wanted = []
        for member in members:
            parts = member.name.split("/")
            if len(parts) > 2 and parts[1] == "tests" and (member.isfile() or member.isdir()):
                if ".." in parts or member.name.startswith("/"):
                    sys.exit(f"compat: refusing a path outside the sdist: {member.name}")
                member.name = "/".join(parts[1:])
                wanted.append(member)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(run_dir, members=wanted, filter="data")
        else:  # Python < 3.10.12: names checked above, and only files and directories
            tar.extractall(run_dir, members=wanted)  # noqa: S202
    if not (run_dir / TEST_FILE).is_file():
        sys.exit(f"compat: the {DIST} {version} sdist has no {TEST_FILE}")
    # pytest's own configuration for the run: ours, so neither drf-toctou's
    # pyproject.toml nor the sdist's options apply (pythonpath as simplejwt's pytest.ini).
    (run_dir / "pytest.ini").write_text("[pytest]\npythonpath = .\nxfail_strict = true\ntimeout = 300\n")
    return run_dir


def main(argv: Sequence[str]) -> int:
    started = time.monotonic()
    version = installed_version()
    run_dir = extract_tests(sdist(version), version)
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DJANGO_CONFIGURATION")}
    # Only this plugin's directory is added: drf_toctou comes from the venv, and
    # `tests` must be simplejwt's, never ours.
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent), *filter(None, [env.get("PYTHONPATH")])])
    command = [sys.executable, "-m", "pytest", "-c", "pytest.ini", "--rootdir", ".", "-p", "no:cacheprovider",
               "-p", "compat", "-v", "-rs", TEST_FILE, *argv]
    print(f"compat: {DIST} {version}: {TEST_FILE} with BearerRevalidatingAuthentication as JWTAuthentication "
          f"(in {run_dir.relative_to(ROOT)})", flush=True)
    code = subprocess.run(command, cwd=run_dir, env=env).returncode
    print(f"compat: {time.monotonic() - started:.1f}s", flush=True)
    return code


# --- the pytest plugin -------------------------------------------------------------

# The classes of the DRF authenticators built during the current test.
BUILT: list[type] = []
# nodeid -> the names of the JWTAuthentication-family classes the test built.
USED: dict[str, set[str]] = {}
# nodeids of the tests that built simplejwt's own JWTAuthentication.
BYPASSED: list[str] = []


def ours() -> type:
    from drf_toctou.authentication import BearerRevalidatingAuthentication

    return BearerRevalidatingAuthentication


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Runs before simplejwt's conftest: its ``settings.configure(...)`` call
    gets drf_toctou and its store added, nothing else."""
    from django.conf import LazySettings

    configure = LazySettings.configure

    def configure_with_drf_toctou(self: LazySettings, *args: Any, **options: Any) -> None:
        LazySettings.configure = configure  # type: ignore[method-assign]
        apps = tuple(options.get("INSTALLED_APPS", ()))
        options["INSTALLED_APPS"] = apps if "drf_toctou" in apps else (*apps, "drf_toctou")
        options.setdefault("DRF_TOCTOU", {"STORE": "drf_toctou.stores.database.DatabaseStore"})
        configure(self, *args, **options)

    LazySettings.configure = configure_with_drf_toctou  # type: ignore[method-assign]


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """After every conftest's ``pytest_configure`` (django is set up): check the
    settings, then substitute our class, before any test module is imported."""
    from django.conf import settings

    if not settings.configured or "drf_toctou" not in settings.INSTALLED_APPS:
        raise pytest.UsageError("compat: simplejwt's test settings were not configured through settings.configure(); "
                                "scripts/compat.py must learn how this simplejwt version sets them up")
    import rest_framework_simplejwt.authentication as module

    record_authenticators()
    substitute(module)
    sys.meta_path.insert(0, ResubstitutingFinder())


def record_authenticators() -> None:
    """Record the class of every DRF authenticator built, through DRF's
    ``BaseAuthentication`` (simplejwt's ``__init__`` calls up to it): the tests
    reload simplejwt's module, never DRF's, so the record is independent of the
    substitution it checks."""
    from rest_framework.authentication import BaseAuthentication

    init: Callable[..., None] = BaseAuthentication.__init__

    def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
        BUILT.append(type(self))
        init(self, *args, **kwargs)

    BaseAuthentication.__init__ = recording_init  # type: ignore[method-assign]


def substitute(module: ModuleType) -> None:
    module.JWTAuthentication = ours()  # type: ignore[attr-defined]


class ResubstitutingFinder(importlib.abc.MetaPathFinder):
    """simplejwt's tests ``reload()`` the authentication module, which would
    bind its own ``JWTAuthentication`` again: every (re)load of that module
    substitutes ours right after the module's code ran."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != TARGET:
            return None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None:
                        spec.loader = ResubstitutingLoader(spec.loader)
                    return spec
        return None


class ResubstitutingLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        substitute(module)

    def __getattr__(self, name: str) -> Any:  # get_source etc., for tracebacks
        return getattr(self.loader, name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    names = {item.nodeid.split("::", 1)[1]: item for item in items if item.nodeid.startswith(TEST_FILE + "::")}
    unknown = sorted(set(SKIPS) - set(names))
    if unknown:
        raise pytest.UsageError(f"compat: SKIPS names tests that do not exist: {unknown}")
    for name, reason in SKIPS.items():
        names[name].add_marker(pytest.mark.skip(reason=f"{name}: deliberate difference: {reason}"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """The collected ``tests`` must be simplejwt's (drf-toctou has a ``tests``
    package too, on sys.path through its editable install)."""
    tests = sys.modules.get("tests")
    if tests is None or Path(tests.__file__ or "").resolve().parent != session.config.rootpath / "tests":
        raise pytest.UsageError(f"compat: the tests package collected is not simplejwt's: {tests}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """The proof: a test that built simplejwt's own ``JWTAuthentication``
    instead of ours fails, and so does one after which simplejwt's module no
    longer hands out ours."""
    BUILT.clear()
    result = yield
    mine = ours()
    built = [cls for cls in BUILT if is_jwt_authentication(cls)]
    bypassed = [cls for cls in built if cls.__name__ == "JWTAuthentication" and cls is not mine]
    if bypassed:
        BYPASSED.append(item.nodeid)
        raise AssertionError(f"compat: the test built simplejwt's own {bypassed[0]}, not {mine}")
    if sys.modules[TARGET].JWTAuthentication is not mine:
        raise AssertionError(f"compat: after the test, {TARGET}.JWTAuthentication is not {mine} any more")
    if built:
        USED[item.nodeid] = {cls.__qualname__ for cls in built}
    return result


def is_jwt_authentication(cls: type) -> bool:
    """``cls`` is simplejwt's ``JWTAuthentication`` (any loaded copy) or a subclass."""
    return any(base.__name__ == "JWTAuthentication" and base.__module__ == TARGET for base in cls.__mro__)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    mine = ours().__qualname__
    with_ours = [n for n, built in USED.items() if mine in built]
    others = {n.split("::", 1)[1]: ", ".join(sorted(built)) for n, built in USED.items() if mine not in built}
    terminalreporter.write_sep("-", "compat: the class under test")
    terminalreporter.write_line(f"{len(with_ours)} test(s) built {ours().__module__}.{mine} as simplejwt's "
                                f"JWTAuthentication; {len(BYPASSED)} built simplejwt's own JWTAuthentication.")
    for name, built in others.items():
        terminalreporter.write_line(f"{name} tests another simplejwt class (not substituted): {built}")
    if not with_ours:
        terminalreporter.write_line("compat: no test exercised our class: this run is not a pass.", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == 0 and not any(ours().__qualname__ in built for built in USED.values()):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
