"""A client generated from /openapi.json by openapi-python-client (the usual generator), used
unedited, walks the lesson against a live server: create, forward ×2, backward ×2, update,
train, gradcheck, export, import. The generator must print no warning."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.nn.test_lesson_xor import lesson_xor
from tests.packaging.server import serving

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = shutil.which("openapi-python-client")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving([sys.executable, "-m", "app", "--port", "0"], ROOT,
                 timeout=30) as base:
        yield base


@pytest.fixture(scope="module")
def lab(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if GENERATOR is None:
        pytest.fail("openapi-python-client is missing: it is in the test extra")
    tmp = tmp_path_factory.mktemp("client")
    spec = tmp / "openapi.json"
    spec.write_text(httpx.get(f"{server}/openapi.json").text)
    proc = subprocess.run([GENERATOR, "generate", "--path", str(spec), "--meta", "none",
                           "--output-path", str(tmp / "lab_client")], cwd=tmp,
                          capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "warning" not in output.lower() and "error" not in output.lower(), output
    sys.path.insert(0, str(tmp))
    try:
        yield importlib.import_module("lab_client")
    finally:
        sys.path.remove(str(tmp))
        for name in [m for m in sys.modules if m == "lab_client" or m.startswith("lab_client.")]:
            del sys.modules[name]


def test_operation_names_read_like_code(lab: Any) -> None:
    from lab_client.api.stepping import backward, forward, step, train, update  # noqa: F401

    names = {p.stem for p in Path(lab.__file__).parent.glob("api/*/*.py")} - {"__init__"}
    assert names == {"create_session", "get_session", "patch_session", "delete_session",
                     "put_weights", "reset", "export_session", "import_session", "forward",
                     "backward", "update", "step", "train", "gradcheck", "list_presets",
                     "list_datasets", "healthz", "undo", "redo", "watch", "unwatch",
                     "watch_state", "watch_events", "setup_link", "add_point",
                     # class polls (app/api/polls.py)
                     "create_poll", "list_polls", "get_poll", "reveal_poll", "poll_csv",
                     "answer_poll", "student_result"}


def test_generated_client_walks_the_lesson(lab: Any, server: str) -> None:
    from lab_client import Client

    with Client(base_url=server, raise_on_unexpected_status=True) as client:
        walk(client, server)


def walk(client: Any, server: str) -> None:
    from lab_client.api.checks import gradcheck
    from lab_client.api.sessions import create_session, export_session, import_session
    from lab_client.api.stepping import backward, forward, train, update
    from lab_client.models import ExportDocument, SessionConfig, Through, TrainRequest

    reference = lesson_xor()
    s = create_session.sync(client=client, body=SessionConfig(preset="seed-xor"))
    sid = s.id
    np.random.seed(1)
    assert s.layers[0].w == np.random.rand(2, 4).tolist()

    s = forward.sync(sid, client=client)  # no body: one layer
    assert (s.cursor.next_, s.cursor.layer) == ("forward", 2)
    s = forward.sync(sid, client=client, body=Through())  # an empty body: the same
    assert s.cursor.next_ == "backward"
    assert s.metrics.mse == reference["losses"][0]  # the lesson's Epoch 0, bit for bit
    s = backward.sync(sid, client=client)
    assert (s.cursor.next_, s.cursor.layer) == ("backward", 1)
    s = backward.sync(sid, client=client)
    s = update.sync(sid, client=client)
    assert s.epoch == 1 and s.history[0].loss / 2 == reference["losses"][0]

    done = 1
    while done < 10_000:  # the time budget may stop a call early on a slow machine
        t = train.sync(sid, client=client, body=TrainRequest(epochs=10_000 - done))
        assert t.stopped != "diverged" and t.ran >= 1
        done += t.ran
    assert t.epoch == 10_000
    assert [layer.w for layer in t.layers] == [reference["W0"].tolist(),
                                               reference["W1"].tolist()]
    check = gradcheck.sync(sid, client=client)
    assert check.max_rel_error < 1e-6

    doc = export_session.sync(sid, client=client)
    copy = import_session.sync(client=client, body=ExportDocument.from_dict(doc.to_dict()))
    assert copy.id != sid and copy.epoch == 10_000
    assert [layer.w for layer in copy.layers] == [layer.w for layer in t.layers]
    # Everything the client parsed is what the server sent.
    raw = httpx.get(f"{server}/api/v1/sessions/{sid}").json()
    assert json.loads(json.dumps(raw["layers"][0]["W"])) == t.layers[0].w
