"""Flash messages are data: made from an operation's outcome, carried through a redirect's
?msg= and back unchanged, rendered as a sentence in the page's language."""

from __future__ import annotations

from typing import Any

import pytest

from app.nn.stepper import CursorError
from app.sessions.door import NothingToUndo, Outcome
from app.web.infra import i18n
from app.web.views.flash import Flash, Kind

FLASHES = [Flash(Kind.CURSOR, phase="backward"), Flash(Kind.NOTHING, direction="undo"),
           Flash(Kind.NOTHING, direction="redo"), Flash(Kind.TRAINED, ran=1),
           Flash(Kind.TRAINED, ran=25, stopped="time_budget"),
           Flash(Kind.TRAINED, ran=3, stopped="diverged")]


def outcome(result: Any = None, error: Exception | None = None) -> Outcome[Any]:
    return Outcome(result=result, error=error, before=None)


@pytest.mark.parametrize("flash", FLASHES, ids=lambda f: f.query())
def test_a_flash_survives_the_redirect(flash: Flash) -> None:
    assert Flash.parse(flash.query()) == flash


def test_a_flash_is_made_from_the_outcome() -> None:
    assert Flash.of("update", outcome(error=CursorError("update", "forward"))) == Flash(
        Kind.CURSOR, phase="forward")
    assert Flash.of("undo", outcome(error=NothingToUndo("undo"))) == Flash(
        Kind.NOTHING, direction="undo")
    assert Flash.of("train", outcome((25, None))) == Flash(Kind.TRAINED, ran=25)
    assert Flash.of("train", outcome((2, "diverged"))) == Flash(Kind.TRAINED, ran=2,
                                                                stopped="diverged")
    assert Flash.of("forward", outcome()) is None
    assert Flash.of("patch", outcome(error=ValueError("no"))) is None


def test_the_sentence_is_translated() -> None:
    en = (i18n.gettext_for("en"), i18n.ngettext_for("en"))
    ko = (i18n.gettext_for("ko"), i18n.ngettext_for("ko"))
    assert Flash(Kind.TRAINED, ran=1).text(*en) == "Trained 1 epoch."
    assert Flash(Kind.TRAINED, ran=25).text(*en) == "Trained 25 epochs."
    assert Flash(Kind.CURSOR, phase="forward").text(*en) == (
        "That step is not next: the next step is “forward”.")
    assert Flash(Kind.NOTHING, direction="redo").text(*en) == "Nothing to redo."
    for flash in FLASHES:
        assert flash.text(*ko) != flash.text(*en)


@pytest.mark.parametrize("value", [None, "", "invalid", "cursor:sideways", "cursor",
                                   "<script>"])
def test_anything_else_in_msg_is_no_message(value: str | None) -> None:
    assert Flash.parse(value) is None
