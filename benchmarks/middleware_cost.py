"""Per-chunk CPU of the middleware stack on a stream, as Play's frames go out.

    python3 -m benchmarks.middleware_cost [--chunks 20000] [--runs 7]

The app (app/main.py's create_app) with one extra route streaming tiny gzip-labelled
text/event-stream chunks, called as ASGI in process: once through the whole middleware stack,
once through FastAPI's own layers only (no user middleware). Prints the process time per
chunk, median of the runs: the difference is what the user middlewares cost a chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse
from starlette.types import ASGIApp, Message

from app.config import Settings
from app.main import create_app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    app = create_app(Settings(create_rate_limit=0))

    async def events() -> AsyncIterator[bytes]:
        for _ in range(args.chunks):
            yield b"data: x\n\n"

    @app.get("/bench-stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Content-Encoding": "gzip"})

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/bench-stream",
             "raw_path": b"/bench-stream", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"x"), (b"accept-encoding", b"gzip")],
             "client": ("127.0.0.1", 1), "server": ("x", 80), "app": app}

    async def run(target: ASGIApp) -> float:
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
            return None

        t = time.process_time()
        await target(dict(scope), receive, send)
        gone.set()
        return (time.process_time() - t) / args.chunks * 1e6

    async def measure() -> None:
        full = app.build_middleware_stack()
        user = app.user_middleware
        app.user_middleware = []
        bare = app.build_middleware_stack()  # FastAPI's own: errors, exceptions, exit stack
        app.user_middleware = user
        times: dict[str, list[float]] = {"whole stack": [], "FastAPI's layers only": []}
        for _ in range(args.runs):
            times["whole stack"].append(await run(full))
            times["FastAPI's layers only"].append(await run(bare))
        for name, t in times.items():
            print(f"{name}: {statistics.median(t):.2f} µs per chunk "
                  f"(median of {args.runs}; {min(t):.2f}–{max(t):.2f})")

    asyncio.run(measure())


if __name__ == "__main__":
    main()
