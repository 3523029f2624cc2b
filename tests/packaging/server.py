"""Start a server command on port 0 in a subprocess, learn its port from uvicorn's log line,
and stop it afterwards (never left running)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PORT_LINE = re.compile(rb"Uvicorn running on http://127\.0\.0\.1:(\d+)")


@contextmanager
def serving(command: list[str], cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 30.0) -> Iterator[str]:
    """Run ``command`` (which must take ``--port 0``); yields the base URL."""
    log = cwd / f"server-{os.getpid()}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            found = PORT_LINE.search(log.read_bytes())
            if found:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text(errors='replace')}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{int(found[1])}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: uvicorn and any workers
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        log.unlink(missing_ok=True)
