"""`backprop-lab --lan`: the addresses students can reach, the watch reply's lan_urls (empty
on loopback), the share panel (the network link in the QR, or a note saying only this computer
can open it), and the command's output."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest

from app import cli, lan

S = "/api/v1/sessions"


def test_machine_addresses_are_never_loopback() -> None:
    for ip in lan.machine_addresses():
        addr = ipaddress.ip_address(ip)
        assert not addr.is_loopback and not addr.is_link_local and not addr.is_unspecified


@pytest.mark.parametrize(("host", "local"), [("127.0.0.1", True), ("localhost", True),
                                             ("::1", True), ("0.0.0.0", False),
                                             ("10.1.2.3", False)])
def test_loopback_only(host: str, local: bool) -> None:
    assert lan.loopback_only(host) is local


def test_lan_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lan, "machine_addresses", lambda: ["192.168.1.20", "10.0.0.5"])
    assert lan.lan_urls("0.0.0.0", 8000, "/w/abc") == [
        "http://192.168.1.20:8000/w/abc", "http://10.0.0.5:8000/w/abc"]
    assert lan.lan_urls("127.0.0.1", 8000, "/w/abc") == []
    assert lan.lan_urls("10.9.9.9", 81, "/w/abc") == ["http://10.9.9.9:81/w/abc"]
    assert lan.lan_urls("fd00::7", 81, "/w/abc") == ["http://[fd00::7]:81/w/abc"]


def test_the_watch_reply_and_the_share_panel(make_client: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lan, "machine_addresses", lambda: ["192.168.1.20"])
    local = make_client()  # listens on 127.0.0.1 by default
    sid = local.post(S, json={"preset": "xor-bias"}).json()["id"]
    link = local.post(f"{S}/{sid}/watch").json()
    assert link["lan_urls"] == []
    page = local.get(f"/s/{sid}").text
    assert 'id="share-local-only"' in page and "backprop-lab --lan" in page
    room = make_client(listen_host="0.0.0.0")
    sid = room.post(S, json={"preset": "xor-bias"}).json()["id"]
    link = room.post(f"{S}/{sid}/watch").json()
    # TestClient's server port is 80: the URL carries the port the request came in on.
    assert link["lan_urls"] == [f"http://192.168.1.20:80/w/{link['watch_id']}"]
    page = room.get(f"/s/{sid}").text
    assert 'id="share-local-only"' not in page
    m = re.search(r'id="watch-link" href="([^"]+)"', page)
    assert m and m.group(1) == link["lan_urls"][0]
    assert 'id="qr-full"' in page


def test_the_command_prints_addresses_and_a_qr(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lan, "machine_addresses", lambda: ["192.168.1.20"])
    cli.print_lan("0.0.0.0", 8000)
    out = capsys.readouterr().out
    assert "http://192.168.1.20:8000/" in out and "█" in out  # segno's terminal QR
    cli.print_lan("127.0.0.1", 8000)
    assert "found no network address" in capsys.readouterr().out


def test_lan_sets_the_host_and_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from app.config import get_settings

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.update(k))
    monkeypatch.setattr(cli, "print_lan", lambda host, port: seen.update(printed=(host, port)))
    monkeypatch.setenv("BACKPROP_LAB_LISTEN_HOST", "x")  # restored after the test
    monkeypatch.setenv("BACKPROP_LAB_STORE", "memory")
    try:
        assert cli.main(["--lan", "--port", "8123"]) == 0
        assert get_settings().listen_host == "0.0.0.0"
    finally:
        get_settings.cache_clear()
    assert seen["host"] == "0.0.0.0" and seen["printed"] == ("0.0.0.0", 8123)
