"""schemathesis against the app's own schema (tests/api/schemathesis_suite.py), in a process of
its own without pytest-xdist: under xdist workers its generated per-operation tests collapsed
into one that passed whatever they found (a planted failing check went unnoticed), while in one
process each operation is a test and fails as it should."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUITE = "tests/api/schemathesis_suite.py"


def test_the_schemathesis_suite_passes_in_one_process() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", SUITE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    tail = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    # Every operation ran as its own test (not one collapsed item): 30+ passed, none failed.
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary, tail
    assert int(summary.split(" passed")[0].split()[-1]) >= 30, tail
