"""The one-line message a toolbar operation leaves on the session page ("Trained 25 epochs.",
"That step is not next: …"), as data: what happened and its numbers, turned into a sentence in
the page's language when it is rendered. After a form post (no htmx) it rides the redirect in
``?msg=`` (``query`` / ``parse``), so the page that follows still says it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.nn.stepper import CursorError
from app.sessions.door import NothingToUndo, Outcome
from app.web.page_errors import N_

PHASES = {"forward": N_("forward"), "backward": N_("backward"), "update": N_("update")}


class Kind(StrEnum):
    CURSOR = "cursor"  # that step is not next; ``phase`` is
    NOTHING = "nothing"  # nothing to undo or redo (``direction``)
    TRAINED = "trained"  # ``ran`` epochs, ``stopped`` early ("time_budget", "diverged") or not


@dataclass(frozen=True)
class Flash:
    kind: Kind
    phase: str = ""
    direction: str = ""
    ran: int = 0
    stopped: str = ""

    @classmethod
    def of(cls, name: str, outcome: Outcome[Any]) -> Flash | None:
        """What operation ``name`` has to say, from its outcome (None: nothing)."""
        err = outcome.error
        if isinstance(err, CursorError):
            return cls(Kind.CURSOR, phase=err.phase)
        if isinstance(err, NothingToUndo):
            return cls(Kind.NOTHING, direction=err.direction)
        if name == "train" and err is None:
            ran, stopped = outcome.result
            return cls(Kind.TRAINED, ran=ran, stopped=stopped or "")
        return None

    def query(self) -> str:
        """The ``?msg=`` value: kind and parameters, colon-separated."""
        if self.kind is Kind.CURSOR:
            return f"cursor:{self.phase}"
        if self.kind is Kind.NOTHING:
            return f"nothing:{self.direction}"
        return f"trained:{self.ran}:{self.stopped}"

    @classmethod
    def parse(cls, value: str | None) -> Flash | None:
        """A ``?msg=`` value back as a Flash; anything unknown is no message."""
        kind, _sep, rest = (value or "").partition(":")
        if kind == Kind.CURSOR and rest in PHASES:
            return cls(Kind.CURSOR, phase=rest)
        if kind == Kind.NOTHING:
            return cls(Kind.NOTHING, direction="undo" if rest == "undo" else "redo")
        if kind == Kind.TRAINED:
            ran, _sep, stopped = rest.partition(":")
            # ASCII digits only ('²' passes isdigit() and fails int()), a bounded count:
            # anything else is no message, as an unknown kind is
            if not (ran.isascii() and ran.isdigit() and len(ran) <= 12):
                return None
            return cls(Kind.TRAINED, ran=int(ran), stopped=stopped)
        return None

    def text(self, _: Callable[[str], str], ngettext: Callable[[str, str, int], str]) -> str:
        """The message as one sentence, translated."""
        if self.kind is Kind.CURSOR:
            return _("That step is not next: the next step is “{phase}”.").format(
                phase=_(PHASES.get(self.phase, self.phase)))
        if self.kind is Kind.NOTHING:
            return _("Nothing to undo.") if self.direction == "undo" else _("Nothing to redo.")
        if self.stopped == "time_budget":
            text = ngettext(
                "Trained {n} epoch, then stopped: the time budget of one call was reached.",
                "Trained {n} epochs, then stopped: the time budget of one call was reached.",
                self.ran)
        elif self.stopped == "diverged":
            text = ngettext(
                "Trained {n} epoch. The next step would diverge, so training stopped.",
                "Trained {n} epochs. The next step would diverge, so training stopped.",
                self.ran)
        else:
            text = ngettext("Trained {n} epoch.", "Trained {n} epochs.", self.ran)
        return text.format(n=self.ran)
