"""Class polls as operations, for the JSON API and the pages alike: ask (checked against the
session under its lock, then kept in the poll store), answer (the poll store only: never the
session's lock), reveal (the door's ``reveal`` operation runs the steps: undoable, versioned)
and the views of a poll for the teacher and for a student. Poll events reach the session's
watchers through the hub (across workers with Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import secrets
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, cast

from app.config import Settings
from app.sessions import polls
from app.sessions.commands import Known, Reveal, State
from app.sessions.door import Door, Outcome
from app.sessions.events import CountEvent, PollEvent
from app.sessions.model import Session
from app.sessions.poll_store import PollNotFound, PollStore
from app.sessions.polls import (
    AnswerRecord,
    Kind,
    Poll,
    PollConflict,
    PollError,
    PublicPoll,
    Quantity,
    Receipt,
    StudentResult,
    TeacherPoll,
)
from app.sessions.store_base import SessionNotFound, StoreUnavailable

log = logging.getLogger("backprop_lab.polls")
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def default_prompt(q: Quantity) -> str:
    return "What will the loss be?" if q.field == "loss" else f"What will {q.label()} be?"


def check_token(token: object) -> str:
    if not isinstance(token, str) or not 8 <= len(token) <= 64 or not set(token) <= TOKEN_CHARS:
        raise PollError(("student",), "student must be a random token of 8 to 64 letters, "
                        "digits, '-' or '_' (the same for every answer from one browser)")
    return token


COUNT_INTERVAL = 0.1  # seconds: a class's burst of answers sends the count at most this often


class PollService:
    def __init__(self, door: Door, store: PollStore) -> None:
        self.door = door
        self.store = store
        self.settings: Settings = door.settings
        self._count_sent: dict[tuple[str, str], float] = {}  # (sid, poll) -> when, this worker
        self._count_due: dict[tuple[str, str], asyncio.Task[None]] = {}
        # What an answer is checked against (kind, choices): fixed for a poll's life, so
        # remembered per worker; whether it is still open is checked by the store's own write.
        self._kinds: OrderedDict[tuple[str, str], tuple[str, list[str]]] = OrderedDict()

    # --- the teacher ---------------------------------------------------------------------
    def _check_form(self, kind: object, choices: object, tolerance: object, prompt: object
                    ) -> tuple[Kind, list[str] | None, float, str | None]:
        st = self.settings
        # (a tuple, not a dict: a list or object from the JSON body is not hashable)
        known = [k for k in polls.KINDS if k == kind]
        if not known:
            raise PollError(("kind",), 'kind must be "number", "sign" or "choice"')
        if tolerance is None:
            tolerance = 0.01
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) \
                or not 0 <= tolerance <= 1:
            raise PollError(("tolerance",), "tolerance must be a relative tolerance from 0 to 1 "
                            "(0.01: within 1 % of the true value)")
        if prompt is not None and (not isinstance(prompt, str)
                                   or len(prompt) > st.poll_prompt_max_chars):
            raise PollError(("prompt",), f"prompt must be text of at most "
                            f"{st.poll_prompt_max_chars} characters (setting "
                            "poll_prompt_max_chars)")
        if choices is not None:
            if kind != "choice":
                raise PollError(("choices",), "only a choice poll has choices")
            if (not isinstance(choices, list) or not 2 <= len(choices) <= st.poll_max_choices
                    or not all(isinstance(c, str) and 0 < len(c.strip()) <= 40
                               for c in choices)
                    or len({c.strip() for c in choices}) != len(choices)):
                raise PollError(("choices",), f"choices must be 2 to {st.poll_max_choices} "
                                "different texts of 1 to 40 characters (setting "
                                "poll_max_choices)")
            choices = [c.strip() for c in choices]
        text = (prompt.strip() or None) if isinstance(prompt, str) and prompt else None
        return known[0], choices, float(tolerance), text

    async def create(self, sid: str, quantity: object, kind: object, choices: object = None,
                     tolerance: object = None, prompt: object = None) -> TeacherPoll:
        """A new open poll (PollError 422, PollConflict 409, SessionNotFound 404)."""
        kind, choices, tolerance, prompt = self._check_form(kind, choices, tolerance, prompt)
        if not isinstance(quantity, dict):
            raise PollError(("quantity",), 'quantity must be {"field": …, "layer": …, '
                            '"index": […]} or {"field": "loss"}')

        def check(s: Session, _: Outcome[Any]) -> tuple[Quantity, int, list[str] | None]:
            t = s.trainer
            q = polls.check_quantity(t, quantity, kind)
            if polls.computed(t, q):
                raise PollConflict(f"{q.label()} is already computed in the current pass (it "
                                   "is on screen): ask about a value the next steps compute")
            labels = choices
            if kind == "choice":
                n = polls.choice_count(t, q)
                labels = labels or [str(k + 1) for k in range(n)]
                if len(labels) != n:
                    raise PollError(("choices",), f"a choice poll on {q.field} names the {n} "
                                    f"entries of its row: give {n} choices (or none)")
            return q, t.iteration, labels

        q, iteration, labels = await self.door.apply(sid, State(), view=check)
        poll: Poll = {
            "poll_id": secrets.token_urlsafe(6), "quantity": q.to_dict(), "kind": kind,
            "choices": labels or [], "tolerance": tolerance,
            "prompt": prompt or default_prompt(q), "status": "open", "created": time.time(),
            "iteration": iteration,
        }
        await self.store.create(sid, poll)
        await self._publish(sid, {"type": "poll", "poll": self.public(poll, 0)})
        return self.teacher(poll, {})

    async def _poll(self, sid: str, pid: str) -> Poll:
        poll = await self.store.get(sid, pid) if len(pid) <= 32 else None
        if poll is None:
            raise PollNotFound(pid)
        return poll

    async def get(self, sid: str, pid: str) -> TeacherPoll:
        await self.door.apply(sid, State())  # 404 for an unknown session
        poll = await self._poll(sid, pid)
        return self.teacher(poll, await self.store.answers(sid, pid))

    async def all(self, sid: str) -> list[TeacherPoll]:
        await self.door.apply(sid, State())
        out = []
        for poll in await self.store.all(sid):
            out.append(self.teacher(poll, await self.store.answers(sid, poll["poll_id"])))
        return out

    async def panel(self, sid: str) -> tuple[list[Poll], int, TeacherPoll | None]:
        """For the teacher's page: every poll (with its tally once revealed), the open one's
        live count, and the latest poll in full (its histogram) when it is revealed."""
        found = await self.store.all(sid)
        count = 0
        latest = None
        if found:
            last = found[-1]
            if last["status"] != "revealed":
                count = await self.store.count(sid, last["poll_id"])
            else:
                latest = self.teacher(last, await self.store.answers(sid, last["poll_id"]))
        return found, count, latest

    async def reveal(self, sid: str, pid: str) -> TeacherPoll:
        """Close the poll, run the steps to its value (the door), keep the result."""
        poll = await self._poll(sid, pid)
        before = await self.store.close(sid, pid)
        if before != "open":
            raise PollConflict("this poll is revealed already" if before == "revealed"
                               else "this poll is being revealed")
        q = Quantity.of(poll["quantity"])
        try:
            found = await self.door.apply(sid, Reveal(q, int(poll["iteration"])))
        except BaseException:
            await self.store.reopen(sid, pid)  # nothing ran: answers may go on
            raise
        if isinstance(found, Known):
            found = found.found
        poll = {**poll, "truth": found.truth, "steps": found.steps, "status": "revealed",
                "revealed": time.time()}
        answers = await self.store.answers(sid, pid)
        # The final tally rides with the poll: the page lists polls without their answers.
        given = [rec["a"] for rec in answers.values()]
        poll["tally"] = {"answers": len(given),
                         "correct": sum(1 for a in given if polls.is_correct(poll, a))}
        await self.store.finish(sid, pid, poll)
        await self._publish(sid, {"type": "poll", "poll": self.public(poll, len(answers))})
        return self.teacher(poll, answers)

    async def csv(self, sid: str, pid: str) -> str:
        await self.door.apply(sid, State())
        poll = await self._poll(sid, pid)
        answers = await self.store.answers(sid, pid)
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\r\n")
        w.writerow(["poll", "quantity", "kind", "answer", "correct", "time"])
        label = Quantity.of(poll["quantity"]).label()
        for rec in sorted(answers.values(), key=lambda r: float(r["t"])):
            ok = polls.is_correct(poll, rec["a"])
            w.writerow([poll["poll_id"], label, poll["kind"], rec["a"],
                        "" if ok is None else str(ok).lower(),
                        datetime.fromtimestamp(float(rec["t"]), UTC).isoformat(
                            timespec="milliseconds")])
        return out.getvalue()

    # --- views -----------------------------------------------------------------------------
    def teacher(self, poll: Poll, answers: dict[str, AnswerRecord]) -> TeacherPoll:
        """The whole poll: its definition, its count and histogram, and once revealed the
        true value, the right answer and how many answers were within tolerance."""
        given = [rec["a"] for rec in answers.values()]
        out: TeacherPoll = {
            "poll_id": poll["poll_id"], "quantity": poll["quantity"], "kind": poll["kind"],
            "choices": poll["choices"], "tolerance": poll["tolerance"],
            "prompt": poll["prompt"], "status": poll["status"], "created": poll["created"],
            "answers": len(given), "histogram": polls.histogram(poll, given)}
        if poll["status"] == "revealed":
            correct = sum(1 for a in given if polls.is_correct(poll, a))
            out["truth"] = poll.get("truth")
            out["right_answer"] = polls.right_answer(poll)
            out["correct"] = correct
            out["share_correct"] = (correct / len(given)) if given else None
            out["steps"] = poll.get("steps", 0)
            out["revealed"] = poll.get("revealed")
        return out

    def public(self, poll: Poll, count: int) -> PublicPoll:
        """What a student sees: no truth before the reveal."""
        out: PublicPoll = {"poll_id": poll["poll_id"], "kind": poll["kind"],
                           "prompt": poll["prompt"], "choices": poll["choices"],
                           "tolerance": poll["tolerance"],
                           "status": "revealed" if poll["status"] == "revealed" else "open",
                           "answers": count}
        if poll["status"] == "revealed":
            out["truth"] = poll.get("truth")
            out["right_answer"] = polls.right_answer(poll)
        return out

    async def _publish(self, sid: str, event: PollEvent | CountEvent) -> None:
        try:
            await self.door.hub.publish_poll(sid, event)
        except StoreUnavailable:
            log.warning("could not publish a poll event")

    # --- students (through the watch link only) -------------------------------------------
    async def session_of(self, watch_id: str) -> str:
        """The session behind a live watch link, without taking its lock (404 otherwise)."""
        sid = await self.door.hub.resolve(watch_id) if len(watch_id) <= 64 else None
        if sid is None:
            raise SessionNotFound(watch_id)
        return sid

    async def current(self, sid: str) -> PublicPoll | None:
        """The open poll, else the latest one (a student's page shows it)."""
        found = await self.store.all(sid)
        if not found:
            return None
        poll = next((p for p in found if p["status"] != "revealed"), found[-1])
        return self.public(poll, await self.store.count(sid, poll["poll_id"]))

    async def answer(self, watch_id: str, pid: str, token: object, answer: object,
                     nickname: object = None) -> Receipt:
        sid = await self.session_of(watch_id)
        token = check_token(token)
        if nickname is not None and (not isinstance(nickname, str) or len(nickname) > 40):
            raise PollError(("nickname",), "nickname must be text of at most 40 characters")
        known = self._kinds.get((sid, pid))
        if known is None:
            poll = await self._poll(sid, pid)
            known = self._kinds[(sid, pid)] = (poll["kind"], list(poll["choices"]))
            while len(self._kinds) > 1024:
                self._kinds.popitem(last=False)
        value = polls.check_answer(known[0], known[1], answer)
        record: AnswerRecord = {"a": value, "t": time.time(),
                                "n": nickname if isinstance(nickname, str) and nickname else None}
        n = await self.store.answer(sid, pid, token, record)
        await self._publish_count(sid, pid, n)
        return {"poll_id": pid, "status": "open", "answer": value, "answers": n}

    async def close(self) -> None:
        """Drop the counts still waiting to be sent (the server is stopping)."""
        for task in list(self._count_due.values()):
            task.cancel()
        for task in list(self._count_due.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _publish_count(self, sid: str, pid: str, n: int) -> None:
        """The live count, at most once per COUNT_INTERVAL per poll from this worker: 200
        answers in two seconds are ~20 events, not 200 (the last one always goes out, read
        from the store when it is sent, so the teacher sees the final count)."""
        key = (sid, pid)
        if key in self._count_due:
            return  # a send is scheduled; it reads the newest count
        now = time.monotonic()
        wait = self._count_sent.get(key, 0.0) + COUNT_INTERVAL - now
        if wait <= 0:
            self._count_sent[key] = now
            if len(self._count_sent) > 10_000:  # forget polls quiet for a while
                old = [k for k, t in self._count_sent.items() if t < now - 60]
                for k in old:
                    del self._count_sent[k]
            await self._publish(sid, {"type": "answers", "poll_id": pid, "answers": n})
            return
        self._count_due[key] = asyncio.get_running_loop().create_task(
            self._count_later(sid, pid, wait))

    async def _count_later(self, sid: str, pid: str, wait: float) -> None:
        try:
            await asyncio.sleep(wait)
            n = await self.store.count(sid, pid)
            self._count_sent[(sid, pid)] = time.monotonic()
            await self._publish(sid, {"type": "answers", "poll_id": pid, "answers": n})
        except StoreUnavailable:
            log.warning("could not send a poll's count")
        finally:
            self._count_due.pop((sid, pid), None)

    async def result(self, watch_id: str, pid: str, token: object) -> StudentResult:
        """A student's own answer; after the reveal also the truth and whether it was right."""
        sid = await self.session_of(watch_id)
        token = check_token(token)
        poll = await self._poll(sid, pid)
        rec = await self.store.one(sid, pid, token)
        # (a cast: mypy wants every key of a TypedDict built with ** named, even one the
        # reply has only after the reveal)
        out = cast(StudentResult, {**self.public(poll, await self.store.count(sid, pid)),
                                   "answer": rec["a"] if rec else None})
        if poll["status"] == "revealed":
            out["correct"] = polls.is_correct(poll, rec["a"]) if rec else None
        return out
