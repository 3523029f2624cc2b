"""The API walkthroughs cannot rot: the code blocks in docs/api-tour.md are the files in
examples/, byte for byte; running them against a live server prints exactly the output blocks
the tour shows; the Python example's one dependency is what the tour's install command
installs; and the README's short taste of the API runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.server import serving

ROOT = Path(__file__).resolve().parents[2]
TOUR = (ROOT / "docs" / "api-tour.md").read_text()
README = (ROOT / "README.md").read_text()
EXAMPLES = {"examples/curl_session.sh": ["sh"], "examples/python_session.py": [sys.executable]}


def block(kind: str, name: str) -> str:
    """The fenced block right after ``<!-- kind: name -->`` in the tour."""
    found = re.search(rf"<!-- {kind}: {re.escape(name)} -->\n```[a-z]*\n(.*?)```", TOUR,
                      re.DOTALL)
    assert found, f"docs/api-tour.md has no {kind} block for {name}"
    return found[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving([sys.executable, "-m", "app", "--port", "0"], ROOT) as base:
        yield base


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_tour_shows_the_example_files(name: str) -> None:
    assert block("example", name) == (ROOT / name).read_text()


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_print_what_the_tour_shows(server: str, name: str) -> None:
    proc = subprocess.run([*EXAMPLES[name], name, server], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == block("output", name)


def test_curl_example_replies_stay_small() -> None:
    script = (ROOT / "examples/curl_session.sh").read_text()
    calls = re.findall(r'curl -sf[^|\n]*"\$API/sessions[^"]*"', script)
    assert len(calls) == 9
    for call in calls:
        if "gradcheck" in call or "DELETE" in call:
            continue
        assert "history=1" in call and "samples=0" in call, call


def test_the_tour_installs_the_python_examples_dependency() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(req.startswith("httpx") for req in extras["examples"])
    assert 'python3 -m pip install ".[examples]"' in TOUR
    imports = re.findall(r"^import (\w+)", (ROOT / "examples/python_session.py").read_text(),
                         re.MULTILINE)
    assert set(imports) - set(sys.stdlib_module_names) == {"httpx"}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readmes_taste_of_the_api_runs(server: str, tmp_path: Path) -> None:
    found = re.search(r"## A taste of the API\n\n```sh\n(.*?)```", README, re.DOTALL)
    assert found, "README.md has no API taste"
    script = found[1]
    assert len(script.splitlines()) <= 12
    script = script.replace("API=http://127.0.0.1:8000/api/v1", f"API={server}/api/v1")
    proc = subprocess.run(["sh", "-e", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lesson = json.loads((tmp_path / "lesson.json").read_text())
    assert lesson["config"]["preset"] == "seed-xor" and lesson["config"]["kernel"] == "numpy"
    # forward, step, 1000 epochs, then one undone: the train is what undo took back
    assert lesson["epoch"] == 0 and lesson["history"] == []
