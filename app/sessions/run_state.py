"""The state of a long training run kept on the session (app/sessions/runs.py runs it); its
own module so the session model can hold it without importing the operations."""

from __future__ import annotations

from dataclasses import dataclass

from typing_extensions import TypedDict


class RunDocument(TypedDict):
    """A run as the session's stored header keeps it."""

    id: str
    total: int
    target: int
    start_epoch: int
    started: float


@dataclass(frozen=True)
class Run:
    id: str  # chosen by the page for its first chunk; later chunks name it
    total: int  # the epochs asked for
    target: int  # the epoch at which the run is done
    start_epoch: int
    started: float  # wall-clock seconds of its first chunk (epochs per second, time left)

    def done(self, epoch: int) -> int:
        return max(0, min(self.total, epoch - self.start_epoch))

    def to_dict(self) -> RunDocument:
        return {"id": self.id, "total": self.total, "target": self.target,
                "start_epoch": self.start_epoch, "started": self.started}

    @classmethod
    def from_dict(cls, d: RunDocument | None) -> Run | None:
        if not d:
            return None
        return cls(str(d["id"]), int(d["total"]), int(d["target"]), int(d["start_epoch"]),
                   float(d["started"]))
