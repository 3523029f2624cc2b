"""The ``backprop-lab`` command (also ``python -m app``): serve the app with uvicorn."""

from __future__ import annotations

import argparse
import os
import socket
import sys

from app.config import get_settings

DESCRIPTION = ("Serve Backprop Lab (the web pages and the REST API under /api/v1) with uvicorn. "
               "The same as `python -m app`.")


def worker_sockets() -> None:
    """With --workers N uvicorn binds one listening socket for every worker. Bind it with
    SO_REUSEPORT instead (Linux), so that each worker listens on a socket of its own beside it
    and the kernel shares new connections evenly (app/fair_accept.py); and with protocol
    IPPROTO_TCP, or asyncio never sets TCP_NODELAY on the connections it accepts and every
    keep-alive request after the first waits ~40 ms for a delayed ACK (Kludex/uvicorn#3149).
    Elsewhere only the latter."""
    from uvicorn.config import Config

    from app.fair_accept import REUSE_PORT, reuse_port_socket

    original = Config.bind_socket
    if getattr(original, "worker_sockets", False):
        return

    def bind_socket(self: Config) -> socket.socket:
        sock = original(self)  # bound (and announced), never listened on
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return sock
        if REUSE_PORT is not None:
            address = sock.getsockname()  # the port --port 0 picked, too
            sock.close()
            sock = reuse_port_socket(sock.family, address)
        elif sock.proto == 0:
            sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP,
                                 fileno=sock.detach())
        sock.set_inheritable(True)
        return sock

    bind_socket.worker_sockets = True  # type: ignore[attr-defined]
    Config.bind_socket = bind_socket  # type: ignore[method-assign]


def print_lan(host: str, port: int) -> None:
    """The addresses students can open, and a QR code of the first, on the terminal."""
    import segno

    from app.lan import base_urls, loopback_only

    if port == 0:
        print("backprop-lab --lan: pick a fixed --port so students get a stable address.")
        return
    urls = [] if loopback_only(host) else base_urls(host, port)
    if not urls:
        print("backprop-lab --lan: found no network address on this machine: students cannot "
              "reach it (is it connected to the class's network?).")
        return
    print("Backprop Lab for a class: students on this network open")
    for url in urls:
        print(f"  {url}/")
    print("(share a session's watch link from its page: Share with the class)")
    segno.make(urls[0] + "/", error="m").terminal(compact=True)
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="backprop-lab", description=DESCRIPTION,
        epilog="Every limit is also a setting: BACKPROP_LAB_<NAME> environment variables (see "
        "docs/deployment.md, Limits). API documentation: /docs and /redoc on the running server.")
    parser.add_argument("--host", default=None, help="address to bind (127.0.0.1; with --lan "
                        "0.0.0.0)")
    parser.add_argument("--lan", action="store_true",
                        help="for a class: listen on every network interface and print the "
                        "addresses (and a QR code) students on this network can open")
    parser.add_argument("--port", type=int, default=8000, help="port (8000; 0 picks a free one)")
    parser.add_argument("--reload", action="store_true", help="restart on code changes")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes (> 1 needs --store redis://…)")
    parser.add_argument("--store", default=None,
                        help="'memory' (default) or redis://host:port/db; "
                        "sets BACKPROP_LAB_STORE")
    parser.add_argument("--forwarded-allow-ips", default=None, metavar="IPS",
                        help="behind a reverse proxy: the proxy addresses whose "
                        "X-Forwarded-For is trusted for the client address (per-client limits); "
                        "uvicorn's proxy-headers handling. Default: none, the TCP peer counts")
    args = parser.parse_args(argv)
    host = args.host or ("0.0.0.0" if args.lan else "127.0.0.1")
    if args.store is not None:
        os.environ["BACKPROP_LAB_STORE"] = args.store
        get_settings.cache_clear()
    settings = get_settings()
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.workers > 1 and settings.store == "memory":
        print("backprop-lab: --workers > 1 needs a shared store: with the in-memory store each "
              "worker would hold its own sessions and requests would miss them. Use "
              "--store redis://127.0.0.1:6379/0 (or BACKPROP_LAB_STORE).", file=sys.stderr)
        return 2
    if args.workers > 1 and "BACKPROP_LAB_PARALLEL_OPERATIONS" not in os.environ:
        # One operation at a time per core: two workers on two cores each running two ticks
        # at once took turns at the cores (60 students on Redis: p99 330 ms, 183 ms this way).
        os.environ["BACKPROP_LAB_PARALLEL_OPERATIONS"] = str(
            max(1, (os.cpu_count() or 1) // args.workers))
        get_settings.cache_clear()
    # The app's watch links (lan_urls) follow the address it listens on; workers inherit it.
    os.environ["BACKPROP_LAB_LISTEN_HOST"] = host
    get_settings.cache_clear()
    if args.lan:
        print_lan(host, args.port)
    import uvicorn

    if args.workers > 1:
        worker_sockets()
    from app.server_protocol import HeaderTimeoutH11Protocol

    uvicorn.run("app.main:app", host=host, port=args.port, reload=args.reload,
                # Request line and headers within header_read_timeout s (slow-header clients).
                http=HeaderTimeoutH11Protocol,
                workers=None if args.reload else args.workers,
                log_level=settings.log_level,
                proxy_headers=args.forwarded_allow_ips is not None,
                forwarded_allow_ips=args.forwarded_allow_ips,
                # Slow clients: idle keep-alive connections close after timeout_keep_alive s;
                # the request line and headers are capped in bytes (bodies: app/main.py).
                timeout_keep_alive=settings.timeout_keep_alive,
                h11_max_incomplete_event_size=settings.h11_max_incomplete_event_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
