"""`backprop-lab --workers N`: refused on the memory store; on Redis, two real uvicorn worker
processes serve one session between them, continuing it exactly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from app.cli import main, worker_sockets
from app.config import get_settings
from tests.redis_fixture import free_port

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_LAB_")}
    return {**env, **extra}


def test_workers_on_the_memory_store_are_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKPROP_LAB_STORE", "memory")  # restored after the test
    get_settings.cache_clear()
    try:
        assert main(["--workers", "3", "--store", "memory"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "--workers > 1 needs a shared store" in err and "redis://" in err


def test_the_command_refuses_workers_without_redis_and_exits_2() -> None:
    r = subprocess.run([sys.executable, "-m", "app", "--workers", "2", "--port", "0"],
                       cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "needs a shared store" in r.stderr and "--store redis://" in r.stderr
    assert "Uvicorn running" not in r.stderr  # nothing was started


def test_zero_workers_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--workers", "0"])
    assert info.value.code == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_worker_sockets_get_tcp_nodelay(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's --workers listener had protocol 0, so asyncio left Nagle on (a ~40 ms delayed
    ACK per keep-alive request); the fix gives the listener, and so every accepted connection,
    IPPROTO_TCP, on which asyncio sets TCP_NODELAY."""
    from uvicorn.config import Config

    monkeypatch.setattr(Config, "bind_socket", Config.bind_socket)  # restored after the test
    worker_sockets()
    worker_sockets()  # idempotent
    listener = Config(app="app.main:app", host="127.0.0.1", port=0).bind_socket()
    with listener:
        assert listener.proto == socket.IPPROTO_TCP
        listener.listen()
        with socket.create_connection(listener.getsockname()[:2]):
            conn, _ = listener.accept()
            with conn:
                assert conn.proto == socket.IPPROTO_TCP


@pytest.fixture
def two_workers(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`python -m app --workers 2 --store <redis>` on a free loopback port; stopped after."""
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--workers", "2", "--port", str(port),
         "--store", redis_url],
        # The workers train on the kernel the in-process reference below uses (bit for bit).
        cwd=ROOT, env=clean_env(BACKPROP_LAB_LOG_LEVEL="warning",
                                BACKPROP_LAB_KERNEL=os.environ["BACKPROP_LAB_KERNEL"]),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, redis_url
    finally:
        proc.send_signal(signal.SIGINT)  # uvicorn's supervisor stops its workers
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this fixture started
            proc.wait(5)
        log.close()


@pytest.mark.redis
def test_two_workers_serve_one_session_exactly(two_workers: tuple[str, str]) -> None:
    base, redis_url = two_workers
    # No keep-alive: every request is a new connection, which the workers accept in turn.
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=base + "/api/v1", limits=limits, timeout=10) as http:
        r = http.post("/sessions", json={"preset": "spiral"})
        assert r.status_code == 201
        sid = r.json()["id"]
        states: list[dict[str, Any]] = []
        for i in range(60):
            r = (http.post(f"/sessions/{sid}/train", json={"epochs": 2}) if i % 10 == 9
                 else http.post(f"/sessions/{sid}/step"))
            assert r.status_code == 200, r.text
            states.append(r.json())
        health = httpx.get(base + "/healthz").json()
    assert health["store"] == "redis" and health["sessions"] == 1
    # Both worker processes are connected to the shared store.
    with redis.Redis.from_url(redis_url) as r:
        names = {c["name"] for c in r.client_list() if c["name"].startswith("backprop-lab:")}
    assert len(names) == 2
    # The same requests on one in-process memory-store app give the same numbers.
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    with TestClient(create_app(Settings(store="memory"))) as local:
        ref = local.post("/api/v1/sessions", json={"preset": "spiral"}).json()["id"]
        for i, state in enumerate(states):
            want = (local.post(f"/api/v1/sessions/{ref}/train", json={"epochs": 2}) if i % 10 == 9
                    else local.post(f"/api/v1/sessions/{ref}/step")).json()
            assert {**state, "id": None} == {**want, "id": None}, f"request {i}"
    assert states[-1]["epoch"] >= 12


def _tcp_sockets(port: int, state: str) -> list[str]:
    """The inodes of the TCP sockets on the local ``port`` in ``state`` (Linux /proc/net/tcp:
    "0A" listening, "01" established)."""
    rows = (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
    return [f[9] for f in rows if f[3] == state and int(f[1].split(":")[1], 16) == port]


def _listening(port: int) -> int:
    return len(_tcp_sockets(port, "0A"))


def _connections_by_process(port: int) -> dict[int, int]:
    """Established TCP connections on the local ``port``, counted per process holding them
    (their sockets' owners from /proc/<pid>/fd)."""
    inodes = {f"socket:[{inode}]" for inode in _tcp_sockets(port, "01")}
    counts: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            held = sum(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir())
        except OSError:
            continue  # gone, or not ours to read
        if held:
            counts[int(proc.name)] = held
    return counts


@pytest.mark.redis
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT sharing: Linux")
def test_a_burst_of_connections_is_shared_between_the_workers(
        two_workers: tuple[str, str]) -> None:
    """A class opening its pages at once: 40 connections made before any is accepted. With
    one shared listening socket the first worker to wake took them all (asyncio accepts
    everything pending); each worker now listens on its own SO_REUSEPORT socket and the kernel
    spreads them (app/fair_accept.py)."""
    base, _ = two_workers
    port = int(base.rsplit(":", 1)[1])
    deadline = time.monotonic() + 30
    while _listening(port) < 2:  # the second worker may still be starting
        assert time.monotonic() < deadline, "the second worker did not start listening"
        time.sleep(0.05)
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
    try:
        for s in socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for s in socks:
            assert s.recv(65536).startswith(b"HTTP/1.1 200")  # each one answered, kept open
        counts = _connections_by_process(port)
        listening = _listening(port)
    finally:
        for s in socks:
            s.close()
    assert sum(counts.values()) == 40, counts
    assert len(counts) == 2 and min(counts.values()) >= 8, counts
    assert listening == 2  # a socket of each worker's (the supervisor's is never listened on)


def test_a_turn_of_the_loop_accepts_at_most_accept_batch_connections() -> None:
    """share_accepts: one readiness of the listening socket accepts ``batch`` connections
    and leaves the others queued in the kernel for whichever worker turns its loop next."""
    import asyncio

    from app.fair_accept import share_accepts

    loop = asyncio.new_event_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    clients = [socket.create_connection(listener.getsockname()) for _ in range(5)]
    try:
        assert share_accepts(loop, 2) and share_accepts(loop, 2)  # (once is enough)
        accepted: list[asyncio.BaseTransport] = []

        class Accepted(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted.append(transport)

        loop._accept_connection(Accepted, listener, backlog=100)  # type: ignore[attr-defined]
        loop.run_until_complete(asyncio.sleep(0.05))
        assert len(accepted) == 2
        for transport in accepted:
            transport.close()
        loop.run_until_complete(asyncio.sleep(0))
        left = 0
        while True:
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                break
            conn.close()
            left += 1
        assert left == 3
    finally:
        for c in clients:
            c.close()
        listener.close()
        loop.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT sharing: Linux")
@pytest.mark.parametrize("own_fails", [False, True])
def test_a_worker_listens_on_its_own_socket_or_else_the_shared_one(
        monkeypatch: pytest.MonkeyPatch, own_fails: bool) -> None:
    """listen_on_own_socket: a server asked to serve the supervisor's port (SO_REUSEPORT, not
    listening) gets a new socket bound to the same address; if that cannot be had, it serves
    the shared one (a worker never fails to start for it)."""
    import asyncio

    from app import fair_accept

    shared = fair_accept.reuse_port_socket(socket.AF_INET, ("127.0.0.1", 0))
    assert fair_accept.is_shared_port(shared)
    if own_fails:
        def refuse(family: int, address: Any) -> socket.socket:
            raise OSError("refused")
        monkeypatch.setattr(fair_accept, "reuse_port_socket", refuse)
    loop = asyncio.new_event_loop()
    try:
        fair_accept.listen_on_own_socket(loop)
        fair_accept.listen_on_own_socket(loop)  # (once is enough)
        server = loop.run_until_complete(loop.create_server(asyncio.Protocol, sock=shared))
        (served,) = server.sockets
        assert served.getsockname() == shared.getsockname()
        assert (served.fileno() == shared.fileno()) is own_fails
        assert not fair_accept.is_shared_port(served)  # listening now
        server.close()
        loop.run_until_complete(server.wait_closed())
    finally:
        shared.close()
        loop.close()
