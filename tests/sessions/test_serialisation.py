"""Session.to_bytes / from_bytes: exact (a session serialised after every operation ends where
one that never left memory does, bit for bit), deterministic, and never pickle."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.nn.stepper import CursorError
from app.sessions import service
from app.sessions.config import ConfigError
from app.sessions.model import Session
from app.sessions.state import session_state
from tests.sessions.conftest import new_session

SETTINGS = Settings()
PRESETS = ["seed-xor", "xor-bias", "worked-example", "circle", "spiral", "gauss-softmax",
           "plane-regression"]

Op = Callable[[Session], Any]
OPS: dict[str, Op] = {
    "step": service.step,
    "forward": lambda s: service.forward(s),
    "forward_all": lambda s: service.forward(s, True),
    "backward": lambda s: service.backward(s),
    "backward_all": lambda s: service.backward(s, True),
    "update": service.update,
    "train1": lambda s: service.train(s, 1, SETTINGS),
    "train7": lambda s: service.train(s, 7, SETTINGS),
    "lr": lambda s: service.patch(s, {"learning_rate": 0.37}, SETTINGS),
    "batch": lambda s: service.patch(s, {"batch_size": 3}, SETTINGS),
    "full_batch": lambda s: service.patch(s, {"batch_size": None}, SETTINGS),
    "l2": lambda s: service.patch(s, {"regularization": {"kind": "l2", "rate": 0.01}}, SETTINGS),
    "focus": lambda s: service.patch(s, {"focus": 1}, SETTINGS),
    "reset": lambda s: service.reset(s, None, SETTINGS),
}


def apply(op: Op, s: Session) -> str:
    try:
        op(s)
    except CursorError as e:
        return f"409 {e}"
    except ConfigError as e:  # e.g. a focus beyond a 1-sample dataset
        return f"422 {e}"
    return "ok"


def roundtrip(s: Session) -> Session:
    return Session.from_bytes(s.to_bytes(), SETTINGS)


@settings(max_examples=30, deadline=None)
@given(preset=st.sampled_from(PRESETS),
       ops=st.lists(st.sampled_from(sorted(OPS)), min_size=1, max_size=25))
def test_serialising_after_every_operation_changes_nothing(preset: str, ops: list[str]) -> None:
    stayed = new_session(SETTINGS, preset=preset)
    moved = roundtrip(stayed)
    for name in ops:
        assert apply(OPS[name], moved) == apply(OPS[name], stayed), name
        moved = roundtrip(moved)
        assert session_state(moved, samples="all") == session_state(stayed, samples="all"), name
    moved.last_used = stayed.last_used
    assert moved.to_bytes() == stayed.to_bytes()


def test_a_moved_session_trains_on_bit_for_bit() -> None:
    stayed = new_session(SETTINGS, preset="spiral")
    for _ in range(5):
        service.step(stayed)
    moved = roundtrip(stayed)
    for s in (stayed, moved):
        service.train(s, 25, SETTINGS)
        for _ in range(3):
            service.step(s)
    for a, b in zip(stayed.trainer.net.W + (stayed.trainer.net.b or []),
                    moved.trainer.net.W + (moved.trainer.net.b or []), strict=True):
        assert a.dtype == np.float64 and np.array_equal(a, b)
    assert stayed.trainer.history.loss == moved.trainer.history.loss
    assert stayed.trainer.epoch == moved.trainer.epoch == 25


def test_serialisation_is_deterministic() -> None:
    a = new_session(SETTINGS, preset="circle")
    service.train(a, 3, SETTINGS)
    assert a.to_bytes() == a.to_bytes() == roundtrip(a).to_bytes()


def _npz(**arrays: Any) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_from_bytes_never_unpickles() -> None:
    header = np.frombuffer(json.dumps({"format": "backprop-lab-session/1"}).encode(), np.uint8)
    evil = _npz(header=header, W0=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        Session.from_bytes(evil, SETTINGS)


def test_from_bytes_refuses_other_data() -> None:
    header = np.frombuffer(json.dumps({"format": "something-else"}).encode(), np.uint8)
    with pytest.raises(ValueError, match="not a Backprop Lab session"):
        Session.from_bytes(_npz(header=header), SETTINGS)
    with pytest.raises(ValueError, match="not a Backprop Lab session"):
        Session.from_bytes(b"\x00garbage" * 10, SETTINGS)


def _container(index: object, body: bytes = b"") -> bytes:
    head = json.dumps(index).encode()
    return b"BPLSNAP1" + len(head).to_bytes(4, "little") + head + body


@pytest.mark.parametrize("blob", [
    b"BPLSNAP1",  # truncated
    _container({"W0": ["|O", [1], 0]}, b"\0" * 8),  # objects: never
    _container({"W0": ["<f8", [4], 0]}, b"\0" * 8),  # more than the bytes hold
    _container({"W0": ["<f8", [1], -8]}, b"\0" * 8),
    _container({"W0": ["<f8", [-1], 0]}, b"\0" * 8),
    _container({"W0": ["<U4", [1], 0]}, b"\0" * 16),  # text: not a number
    _container({"W0": ["nonsense", [1], 0]}, b"\0" * 8),
    _container(["not", "an", "index"]),
    b"BPLSNAP1" + (10**6).to_bytes(4, "little") + b"{}",
    b"BPLSNAP1\x02\x00\x00\x00\xff\xfe",
])
def test_a_damaged_or_hostile_container_is_refused(blob: bytes) -> None:
    with pytest.raises(ValueError, match="not a Backprop Lab session"):
        Session.from_bytes(blob, SETTINGS)


@pytest.mark.parametrize("preset", PRESETS)
def test_bytes_saved_as_an_npz_before_the_container_still_load(preset: str) -> None:
    """Stores written before the container (np.savez's zip) are read as they were."""
    from app.sessions.snapshot import _unpack

    s = new_session(SETTINGS, preset=preset)
    service.train(s, 3, SETTINGS)
    service.step(s)
    raw = s.to_bytes()
    assert raw.startswith(b"BPLSNAP1")
    old = _npz(**_unpack(raw))
    assert old.startswith(b"PK")
    for blob in (raw, old):
        back = Session.from_bytes(blob, SETTINGS)
        assert back.to_bytes() == raw
        assert session_state(back) == session_state(s)
