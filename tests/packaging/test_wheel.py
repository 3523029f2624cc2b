"""A wheel is the whole app: build it, install it (not editable) into a fresh virtual
environment, start it from another directory and fetch every kind of page.

The venv is made from the base interpreter without ``--system-site-packages`` (which would
show it the base interpreter's packages, not those of a venv pytest may be running in). A
``.pth`` file appends the running environment's site-packages directories after the venv's
own, so FastAPI & co. need no download, whether pytest runs from a venv or the system Python.
The lines of a ``.pth`` file are plain paths: the ``.pth`` files *inside* those directories
(the project's own editable install) are not processed, and the wheel's ``app`` comes first on
the path anyway; the test checks ``app`` is imported from the venv."""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.packaging.server import serving

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "app", "templates",
           "static")


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "backprop-lab"
    src.mkdir()
    for name in SOURCES:  # a clean copy: the build never writes into the checkout
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"),
         str(src)], tmp, env)
    wheels = list((tmp / "dist").glob("backprop_lab-*.whl"))
    assert len(wheels) == 1
    venv = tmp / "venv"
    base = getattr(sys, "_base_executable", sys.executable)  # the interpreter a venv was made from
    run([base, "-m", "venv", str(venv)], tmp, env)
    python = str(venv / "bin" / "python")
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                  tmp, env).strip()
    (Path(purelib) / "_running_env.pth").write_text("\n".join(running_site_dirs()) + "\n")
    run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheels[0])],
        tmp, env)
    elsewhere = tmp / "elsewhere"  # not the checkout, not the build copy
    elsewhere.mkdir()
    yield venv, {**env, "HOME": str(elsewhere)}


def running_site_dirs() -> list[str]:
    """Where the running interpreter finds its installed packages (a venv's or the system's)."""
    dirs = [*site.getsitepackages(), sysconfig.get_paths()["purelib"],
            sysconfig.get_paths()["platlib"]]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dict.fromkeys(dirs) if Path(d).is_dir()]


def test_the_installed_package_is_the_wheel(installed: tuple[Path, dict[str, str]]) -> None:
    venv, env = installed
    cwd = Path(env["HOME"])
    out = run([str(venv / "bin" / "python"), "-c",
               "import app, app.resources as r; print(app.__file__); print(r.TEMPLATES); "
               "print(r.STATIC)"], cwd, env)
    module, templates, static = out.split()
    site = str(venv / "lib")
    assert module.startswith(site) and templates.startswith(site) and static.startswith(site)
    assert (Path(templates) / "index.html").is_file()
    assert (Path(static) / "vendor" / "htmx-LICENSE").is_file()
    catalogue = Path(module).parent / "web" / "locales" / "ko" / "LC_MESSAGES" / "messages.po"
    assert catalogue.is_file()


def test_the_installed_app_serves_everything(installed: tuple[Path, dict[str, str]]) -> None:
    venv, env = installed
    cwd = Path(env["HOME"])
    with serving([str(venv / "bin" / "backprop-lab"), "--port", "0"], cwd, env) as base, \
            httpx.Client(base_url=base, timeout=20) as http:
        home = http.get("/")
        assert home.status_code == 200 and "<html" in home.text
        korean = http.get("/", params={"lang": "ko"})
        assert korean.status_code == 200
        assert len(re.findall(r"[\uac00-\ud7a3]", korean.text)) > 20  # Hangul: ko catalogue
        assert len(re.findall(r"[\uac00-\ud7a3]", home.text)) < 10  # English by default
        created = http.post("/api/v1/sessions", json={"preset": "seed-xor"})
        assert created.status_code == 201
        page = http.get(f"/s/{created.json()['id']}")
        assert page.status_code == 200
        assert "<svg" in page.text  # the layer diagram rendered from the packaged templates
        assets = re.findall(r'(?:src|href)="(/static/[^"?]+)', page.text)
        assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
        for asset in assets:
            assert http.get(asset).status_code == 200, asset
        assert http.get("/static/vendor/htmx-LICENSE").status_code == 200
        css = http.get("/static/css/app.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        docs = http.get("/docs")
        assert docs.status_code == 200
        for asset in re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', docs.text):
            assert http.get(asset).status_code == 200, asset
        assert http.head("/").status_code == 200
