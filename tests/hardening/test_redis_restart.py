"""Issue #8, defect 8: after a Redis restart the first request on each stale pooled
connection used to fail with 503. The client now retries once on a fresh connection, so once
Redis is back no request fails — with the data kept (AOF) or lost."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import API
from tests.redis_fixture import free_port

pytestmark = pytest.mark.redis


class OwnRedis:
    """A redis-server of this test alone (the shared one must not restart under others)."""

    def __init__(self, directory: Path, persist: bool) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed")
        self.exe, self.directory, self.persist = exe, directory, persist
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.persist else "no", "--appendfsync", "always",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with redis.Redis(port=self.port, socket_timeout=1) as r:
                    if r.ping():
                        return
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(params=[True, False], ids=["aof", "no-persistence"])
def own_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path, persist=request.param)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_restart_costs_no_request(own_redis: OwnRedis) -> None:
    url = f"redis://127.0.0.1:{own_redis.port}/0"
    with TestClient(create_app(Settings(store=url))) as client:
        sids = [client.post(f"{API}/sessions", json={"preset": "seed-xor"}).json()["id"]
                for _ in range(3)]
        for sid in sids:  # several pooled connections in use
            assert client.post(f"{API}/sessions/{sid}/step").status_code == 200
        own_redis.stop()
        own_redis.start()  # same port; with AOF the sessions are back
        codes = [client.get(f"{API}/sessions/{sid}").status_code for sid in sids]
        if own_redis.persist:
            assert codes == [200, 200, 200]
            assert client.post(f"{API}/sessions/{sids[0]}/step").status_code == 200
        else:
            assert codes == [404, 404, 404]  # gone with the data, but answered
        assert client.post(f"{API}/sessions", json={}).status_code == 201
        assert client.get("/healthz").json()["status"] == "ok"
