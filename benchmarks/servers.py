"""Start and stop the real thing for the benchmarks: `python -m app` (uvicorn, N workers) and a
throw-away redis-server, each on a free loopback port, as child processes of their own."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so the context managers below stop their servers."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the process group this module started
        proc.wait(5)


@contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server without persistence; yields its URL (database 0)."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        try:
            import redis

            deadline = time.monotonic() + 10
            while True:
                try:
                    with redis.Redis(port=port, socket_timeout=1) as r:
                        r.ping()
                    break
                except redis.RedisError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            stop(proc, signal.SIGTERM)


@contextmanager
def app_server(store: str = "memory", workers: int = 1, root: Path = ROOT, **settings: str
               ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m app --workers N --store …` on a free port; yields (base URL, process).
    ``root``: the checkout to run (another one to compare against, under the same load)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_LAB_")}
    env["BACKPROP_LAB_LOG_LEVEL"] = "warning"
    env["BACKPROP_LAB_CREATE_RATE_LIMIT"] = "0"  # load generators create sessions in floods
    env.update({f"BACKPROP_LAB_{k.upper()}": v for k, v in settings.items()})
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--port", str(port), "--workers", str(workers),
         "--store", store], cwd=root, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited with {proc.returncode}")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the app did not start") from None
                time.sleep(0.1)
        time.sleep(0.5 if workers > 1 else 0)  # let every worker finish starting
        yield base, proc
    finally:
        stop(proc)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of the live processes of a process group (Linux /proc): the app
    and its workers, which app_server starts in a session of their own."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp; utime, stime follow at 11, 12
            total += int(fields[11]) + int(fields[12])
    return total / tick
