"""API fuzzing: schemathesis against the sample API's own OpenAPI schema,
authenticated, through the real server: no server errors, no response that
violates its documented schema."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sample_api.play_demo import Demo
from sample_api.server import Server
from tests.reliability.conftest import scaled


def test_schemathesis_finds_no_server_error_and_no_schema_violation(report, tmp_path):
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.skip("schemathesis is not installed (it is in the test extra)")
    server = Server(0).start()
    try:
        token = Demo(server.url, 0).login("alice")
        command = [binary, "run", f"{server.url}/api/schema/", "-H", f"Authorization: Bearer {token}",
                   "--checks", "not_a_server_error,response_schema_conformance",
                   "--max-examples", str(scaled(2, 25)), "--seed", "1", "--request-timeout", "10",
                   # make test: generated requests only; make reliability adds the coverage
                   # phase (every boundary value of every parameter) and stateful sequences
                   *(["--phases", "examples,fuzzing"] if scaled(1, 0) else []),
                   # logging out would revoke the fuzzer's own token mid-run
                   "--exclude-path-regex", "logout"]
        run = subprocess.run(command, capture_output=True, text=True, timeout=1500, cwd=tmp_path)
    finally:
        server.stop()
    generated = re.search(r"(\d+) generated", run.stdout)
    cases = int(generated.group(1)) if generated else 0
    failures = re.search(r"(\d+) unique failure", run.stdout)
    report("schemathesis on the sample API (authenticated)", cases=cases,
           failures=int(failures.group(1)) if failures else 0,
           note=f"schemathesis: {cases} generated cases, checks not_a_server_error and response_schema_conformance")
    assert run.returncode == 0, run.stdout[-4000:]
    assert cases > 0
