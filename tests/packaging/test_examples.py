"""The README's walkthroughs cannot rot: the code blocks in README.md are the files in
examples/, byte for byte; running them against a live server prints exactly the output blocks
the README shows; and the Python example's one dependency is what the README's install
command installs."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.server import serving

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
EXAMPLES = {"examples/curl_session.sh": ["sh"], "examples/python_session.py": [sys.executable]}


def block(kind: str, name: str) -> str:
    """The fenced block right after ``<!-- kind: name -->`` in the README."""
    found = re.search(rf"<!-- {kind}: {re.escape(name)} -->\n```[a-z]*\n(.*?)```", README,
                      re.DOTALL)
    assert found, f"README.md has no {kind} block for {name}"
    return found[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving([sys.executable, "-m", "app", "--port", "0"], ROOT) as base:
        yield base


@pytest.mark.parametrize("name", EXAMPLES)
def test_readme_shows_the_example_files(name: str) -> None:
    assert block("example", name) == (ROOT / name).read_text()


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_print_what_the_readme_shows(server: str, name: str) -> None:
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


def test_the_readme_installs_the_python_examples_dependency() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(req.startswith("httpx") for req in extras["examples"])
    assert 'python3 -m pip install ".[examples]"' in README
    imports = re.findall(r"^import (\w+)", (ROOT / "examples/python_session.py").read_text(),
                         re.MULTILINE)
    assert set(imports) - set(sys.stdlib_module_names) == {"httpx"}
