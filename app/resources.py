"""Where the templates and static files live.

The repository keeps ``templates/`` and ``static/`` at its top level; building a wheel copies
them into the package (setup.py), so an installed app finds them next to this file, and a
checkout (or an editable install) finds them one directory up."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    inside = PACKAGE / name
    return inside if inside.is_dir() else PACKAGE.parent / name


TEMPLATES = _find("templates")
STATIC = _find("static")
