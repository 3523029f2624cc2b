"""Big request bodies (imports, up to max_import_bytes) parsed without stalling the server.

A worker thread is not enough: ``json.loads`` and pydantic's validation are C and Rust calls
that keep Python's GIL for their whole run (an invalid 8 MB import: ~6 s on a loaded machine),
so the event loop cannot answer anyone meanwhile (issue #23: 12 clients sending invalid 11 MB
imports made the teacher's step take 11.8 s). A body of ``import_precheck_bytes`` or more is
therefore first checked in a separate process (one, so a flood queues there, not here); only a
document that passes that check is parsed here (in a thread), as it will become a session.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import multiprocessing
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.api.errors import parse_body
from app.jsontypes import JSON, JSONObject

M = TypeVar("M", bound=BaseModel)
_pool: ProcessPoolExecutor | None = None


def _pool_now() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn: a fresh interpreter (forking a process with threads is unsafe).
        _pool = ProcessPoolExecutor(max_workers=1,
                                    mp_context=multiprocessing.get_context("spawn"))
    return _pool


class _Repeated(ValueError):
    pass


def _no_repeats(pairs: list[tuple[str, JSON]]) -> JSONObject:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Repeated
    return out


def _check(module: str, name: str, body: bytes) -> list[Mapping[str, object]] | None:
    """In the child: the 422 errors of ``body`` as that model, None when it is valid."""
    model = getattr(importlib.import_module(module), name)
    try:
        json.loads(body, object_pairs_hook=_no_repeats)
    except _Repeated:
        return [{"loc": ("body",), "type": "value_error",
                 "msg": "a JSON object repeats a key: give each key once"}]
    except (ValueError, RecursionError):
        pass  # parse_body says what is wrong
    try:
        parse_body(model, body)
    except RequestValidationError as e:
        return list(e.errors())
    return None


async def parse_big(model: type[M], body: bytes, precheck_bytes: int) -> M:
    """``body`` as ``model`` (RequestValidationError, a 422, when it is not)."""
    if precheck_bytes and len(body) >= precheck_bytes:
        try:
            errors = await asyncio.get_running_loop().run_in_executor(
                _pool_now(), _check, model.__module__, model.__qualname__, body)
        except BrokenProcessPool:
            # The checking process died (killed, out of memory): start a new one next time,
            # and parse this body here as a last resort rather than answer 500.
            shutdown()
            errors = None
        if errors is not None:
            raise RequestValidationError(errors)
    return await run_in_threadpool(parse_body, model, body)


def shutdown() -> None:
    """Stop the checking process (the app's shutdown)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
