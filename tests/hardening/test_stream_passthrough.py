"""A stream (Play's frames: text/event-stream, gzipped by its route) goes through every
middleware (HEAD-as-GET, security headers, the CSRF guard, GZip, the error layers) message by
message: each body message arrives as sent, when sent, not re-encoded, not buffered; only
the start gets the security headers."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator

import pytest
from fastapi.responses import StreamingResponse
from starlette.types import Message

from app.config import Settings
from app.main import CSP, create_app

CHUNKS = 5


def make_chunks(gzipped: bool) -> list[bytes]:
    events = [f"event: frame\ndata: {'x' * 3000} {i}\n\n".encode() for i in range(CHUNKS)]
    if not gzipped:
        return events
    z = zlib.compressobj(1, zlib.DEFLATED, 31)
    return [z.compress(e) + z.flush(zlib.Z_SYNC_FLUSH) for e in events]


@pytest.mark.parametrize("gzipped", [True, False])
def test_a_stream_passes_every_middleware_untouched(gzipped: bool) -> None:
    app = create_app(Settings(create_rate_limit=0))
    chunks = make_chunks(gzipped)
    sent: list[int] = []  # how many chunks the route had produced at each delivery
    made = 0

    async def events() -> AsyncIterator[bytes]:
        nonlocal made
        for c in chunks:
            made += 1
            yield c

    @app.get("/test-stream")
    async def stream() -> StreamingResponse:
        headers = {"Content-Encoding": "gzip"} if gzipped else {}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    out: list[Message] = []

    async def run() -> None:
        asked = False
        gone = asyncio.Event()

        async def receive() -> Message:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            out.append(message)
            if message["type"] == "http.response.body":
                sent.append(made)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": "/test-stream",
                 "raw_path": b"/test-stream", "query_string": b"", "root_path": "",
                 "headers": [(b"host", b"testserver"), (b"accept-encoding", b"gzip")],
                 "client": ("127.0.0.1", 1), "server": ("testserver", 80), "app": app}
        await app(scope, receive, send)
        gone.set()

    asyncio.run(run())
    start, *bodies = out
    headers = dict(start["headers"])
    assert headers[b"content-security-policy"] == CSP.encode()
    assert headers[b"x-frame-options"] == b"DENY"
    assert headers.get(b"content-encoding") == (b"gzip" if gzipped else None)
    assert b"vary" not in headers  # GZip left it alone: it neither compressed nor vetted it
    body = [m["body"] for m in bodies if m["body"]]
    assert body == chunks  # the very bytes, one message each
    assert sent[:CHUNKS] == list(range(1, CHUNKS + 1))  # each delivered before the next is made
