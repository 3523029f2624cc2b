"""Build hook: ship the top-level templates/ and static/ inside the ``app`` package of the
wheel (the app looks for them there first; see app/resources.py). Everything else about the
project is in pyproject.toml."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
ASSETS = ("templates", "static")


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install serves them from the checkout
        for name in ASSETS:
            self.copy_tree(str(ROOT / name), str(Path(self.build_lib) / "app" / name))


setup(cmdclass={"build_py": BuildPyWithAssets})
