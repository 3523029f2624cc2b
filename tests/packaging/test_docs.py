"""docs/api.md is the complete contract, inside the repository: it names every endpoint, every
field of the config and the state, and every setting; nothing points outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from app.api import schemas
from app.config import Settings
from app.main import create_app
from app.sessions.config import SessionConfig

ROOT = Path(__file__).resolve().parents[2]
API_MD = (ROOT / "docs" / "api.md").read_text()


def test_nothing_refers_outside_the_repository() -> None:
    proc = subprocess.run(["grep", "-rn", "-e", "shared/", "-e", "API.md §", "README.md", "docs",
                           "app"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout  # grep: 1 = no match
    readme = (ROOT / "README.md").read_text()
    assert "](docs/api.md)" in readme


def test_every_endpoint_is_documented() -> None:
    spec = create_app().openapi()
    for path, operations in spec["paths"].items():
        short = path.removeprefix("/api/v1").replace("{session_id}", "{id}")
        for method, op in operations.items():
            assert f"`{method.upper()} {short}`" in API_MD, (method, short)
            assert f"(`{op['operationId']}`)" in API_MD, op["operationId"]


def test_every_field_and_setting_is_documented() -> None:
    for name in SessionConfig.model_fields:
        assert f"| `{name}` |" in API_MD, name
    for name in schemas.SessionState.__annotations__:  # (a TypedDict: app/sessions/state.py)
        assert f"| `{name}` |" in API_MD, name
    for name in ("ran", "stopped", "epsilon", "max_rel_error", "format", "epoch_loss_sum"):
        assert f"`{name}`" in API_MD, name
    for name in Settings.model_fields:
        if name in ("store", "log_level"):
            continue  # deployment, not API limits (README: Redis, logging)
        assert re.search(rf"`{name}`", API_MD), name
    for code in (200, 201, 204, 400, 404, 405, 409, 413, 422, 503):
        assert f"| {code} |" in API_MD, code
