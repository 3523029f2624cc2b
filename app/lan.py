"""The addresses students can reach: this machine's non-loopback network addresses, and the
absolute watch URLs on them when the server listens on every interface (`backprop-lab --lan`).
Kept apart from the rest (no web or API imports) so that both the JSON API and the pages, and
whatever decides the public base URL, can use it."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import sys
from typing import Any

ALL_INTERFACES = ("0.0.0.0", "::", "")
SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address


def _usable(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return False
    return not (addr.is_loopback or addr.is_link_local or addr.is_unspecified
                or addr.is_multicast)


def _interfaces_linux() -> list[str]:
    """Every interface's IPv4 address (Linux ioctl; nothing elsewhere)."""
    if not sys.platform.startswith("linux"):
        return []
    import fcntl

    out = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                packed = fcntl.ioctl(s.fileno(), SIOCGIFADDR,
                                     struct.pack("256s", name[:15].encode()))
                out.append(socket.inet_ntoa(packed[20:24]))
    return out


def _default_route() -> list[str]:
    """The address the default route leaves from (a UDP connect sends no packet)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: never answered, only routed
        return [s.getsockname()[0]]
    return []


def _host_names() -> list[str]:
    with contextlib.suppress(OSError):
        return [str(info[4][0]) for info in socket.getaddrinfo(
            socket.gethostname(), None, socket.AF_INET, socket.SOCK_STREAM)]
    return []


def machine_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses, the default route's first."""
    seen: dict[str, None] = {}
    for ip in _default_route() + _interfaces_linux() + _host_names():
        if _usable(ip):
            seen[ip] = None
    return list(seen)


def loopback_only(listen_host: str) -> bool:
    """Whether a server bound to ``listen_host`` is reachable from this machine only."""
    if listen_host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(listen_host).is_loopback
    except ValueError:
        return False


def base_urls(listen_host: str, port: int) -> list[str]:
    """http://address:port for each address students can reach: every machine address when
    listening on all interfaces, the one address when bound to one, none on loopback."""
    if loopback_only(listen_host):
        return []
    hosts = machine_addresses() if listen_host in ALL_INTERFACES else [listen_host]
    out = []
    for h in hosts:
        shown = f"[{h}]" if ":" in h else h
        out.append(f"http://{shown}:{port}")
    return out


def lan_urls(listen_host: str, port: int, path: str) -> list[str]:
    """Absolute URLs of ``path`` on the addresses students can reach (empty on loopback)."""
    return [base + path for base in base_urls(listen_host, port)]


def server_port(request: Any) -> int:
    """The port the request came in on (the listening socket's), 80 when unknown."""
    server = request.scope.get("server")
    return int(server[1]) if server and server[1] else 80
