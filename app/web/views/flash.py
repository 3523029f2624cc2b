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
from app.sessions.runs import Chunk
from app.web.infra.page_errors import N_

PHASES = {"forward": N_("forward"), "backward": N_("backward"), "update": N_("update")}


class Kind(StrEnum):
    CURSOR = "cursor"  # that step is not next; ``phase`` is
    NOTHING = "nothing"  # nothing to undo or redo (``direction``)
    TRAINED = "trained"  # ``ran`` epochs, ``stopped`` early ("time_budget", "diverged") or not
    # A long run (app/sessions/runs.py): ``ran`` of its ``total`` epochs are done.
    RUNNING = "running"  # going on by itself (the page's script asks for the next chunks)
    CANCELLED = "cancelled"  # cancelled; what it trained stays
    GONE = "gone"  # a chunk of a run that had already ended


@dataclass(frozen=True)
class Flash:
    kind: Kind
    phase: str = ""
    direction: str = ""
    ran: int = 0
    stopped: str = ""
    remaining: int = 0  # a long run's epochs still to go (TRAINED: press Continue)
    total: int = 0  # a long run's epochs asked for

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
        if name in ("run", "cancel") and err is None:
            c = outcome.result
            if not isinstance(c, Chunk):
                return cls(Kind.GONE) if name == "run" else None
            if name == "cancel":
                return cls(Kind.CANCELLED, ran=c.done, total=c.run.total)
            # The last chunk speaks for the whole run; an earlier one (a press without
            # JavaScript) for itself, and says how many remain.
            return cls(Kind.TRAINED, ran=c.done if c.finished else c.ran,
                       stopped=c.stopped or "", remaining=c.remaining, total=c.run.total)
        return None

    @classmethod
    def running(cls, c: Chunk) -> Flash:
        """A run the page goes on with by itself."""
        return cls(Kind.RUNNING, ran=c.done, total=c.run.total)

    def query(self) -> str:
        """The ``?msg=`` value: kind and parameters, colon-separated."""
        if self.kind is Kind.CURSOR:
            return f"cursor:{self.phase}"
        if self.kind is Kind.NOTHING:
            return f"nothing:{self.direction}"
        if self.kind is Kind.TRAINED:
            more = f":{self.remaining}:{self.total}" if self.remaining else ""
            return f"trained:{self.ran}:{self.stopped}{more}"
        return f"{self.kind}:{self.ran}:{self.total}"

    @classmethod
    def parse(cls, value: str | None) -> Flash | None:
        """A ``?msg=`` value back as a Flash; anything unknown is no message."""
        kind, _sep, rest = (value or "").partition(":")
        if kind == Kind.CURSOR and rest in PHASES:
            return cls(Kind.CURSOR, phase=rest)
        if kind == Kind.NOTHING:
            return cls(Kind.NOTHING, direction="undo" if rest == "undo" else "redo")
        if kind == Kind.TRAINED:
            ran, stopped, remaining, total = [*rest.split(":"), "", "", ""][:4]
            if not _is_count(ran):  # a count it cannot read is no message, as an unknown kind
                return None
            return cls(Kind.TRAINED, ran=_count(ran),
                       stopped=stopped if stopped in ("time_budget", "diverged") else "",
                       remaining=_count(remaining), total=_count(total))
        if kind in (Kind.RUNNING, Kind.CANCELLED, Kind.GONE):
            ran, _sep, total = rest.partition(":")
            return cls(Kind(kind), ran=_count(ran), total=_count(total))
        return None

    def text(self, _: Callable[[str], str], ngettext: Callable[[str, str, int], str]) -> str:
        """The message as one sentence, translated."""
        if self.kind is Kind.CURSOR:
            return _("That step is not next: the next step is “{phase}”.").format(
                phase=_(PHASES.get(self.phase, self.phase)))
        if self.kind is Kind.NOTHING:
            return _("Nothing to undo.") if self.direction == "undo" else _("Nothing to redo.")
        if self.kind is Kind.RUNNING:
            return _("Training {total} epochs; the page goes on by itself. Press Cancel or "
                     "Escape to stop and keep what is trained.").format(total=f"{self.total:,}")
        if self.kind is Kind.CANCELLED:
            return ngettext("Cancelled: the {n} epoch trained so far is kept ({total} asked).",
                            "Cancelled: the {n} epochs trained so far are kept ({total} asked).",
                            self.ran).format(n=f"{self.ran:,}", total=f"{self.total:,}")
        if self.kind is Kind.GONE:
            return _("That training run has already ended.")
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
        text = text.format(n=self.ran)
        if self.remaining and self.stopped == "time_budget":
            text += " " + ngettext(
                "{n} epoch of {total} remains: press Continue.",
                "{n} epochs of {total} remain: press Continue.", self.remaining).format(
                    n=f"{self.remaining:,}", total=f"{self.total:,}")
        return text


def _is_count(text: str) -> bool:
    # ASCII digits only ('²' passes isdigit() and fails int()), a bounded count
    return text.isascii() and text.isdigit() and len(text) < 16


def _count(text: str) -> int:
    return int(text) if _is_count(text) else 0
