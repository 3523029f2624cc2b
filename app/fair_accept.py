"""Share new connections fairly between the workers of ``--workers N``.

uvicorn's workers all listen on one socket, and asyncio accepts every pending connection
(up to the listen backlog) each time its loop sees that socket readable. When a class opens
its pages at once, the first worker to wake takes nearly all of them, and a Play stream stays
on the connection that opened it for as long as it plays: measured with 60 students on Redis
and 2 workers, one worker used 17 s of CPU in 17 s while the other used 3.7 s
(docs/performance.md, "Two workers, one socket"). Accepting at most ``accept_batch``
connections per turn of the loop leaves the rest to the other workers' loops, which are
woken for the same socket; a busy worker turns its loop more slowly and so takes fewer.

This wraps asyncio's selector loop's ``_accept_connection`` on one loop object (a private
method, with the same signature from Python 3.8 to 3.13); on a loop without it (uvloop) it
does nothing and says so.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any

log = logging.getLogger("backprop_lab")


def share_accepts(loop: asyncio.AbstractEventLoop, batch: int) -> bool:
    """Accept at most ``batch`` pending connections per turn of ``loop`` (before its servers
    start). Returns whether the loop could be told so."""
    accept = getattr(loop, "_accept_connection", None)
    if accept is None:
        log.info("this event loop accepts connections its own way: accept_batch unused")
        return False
    if getattr(accept, "batch", None) is not None:
        return True  # already shared

    def _accept_connection(protocol_factory: Any, sock: Any, sslcontext: Any = None,
                           server: Any = None, backlog: int = 100, *args: Any,
                           **kwargs: Any) -> Any:
        # ``backlog`` is only how many accept() calls this turn makes (the socket's listen
        # queue was set when serving started): the kernel keeps the others queued.
        return accept(protocol_factory, sock, sslcontext, server, min(backlog, batch),
                      *args, **kwargs)

    _accept_connection.batch = batch  # type: ignore[attr-defined]
    loop._accept_connection = _accept_connection  # type: ignore[attr-defined]
    return True


# --- one listening socket per worker (Linux) ---------------------------------------------
# Accepting one connection per turn still leaves a race between idle workers that one of them
# tends to win. With SO_REUSEPORT each worker listens on its own socket bound to the same
# address, and the kernel spreads new connections evenly over them (by a hash of the peer's
# address and port). The supervisor binds the port (so --port 0 still picks one) but never
# listens on it; each worker opens its own socket beside it as it starts serving.

REUSE_PORT = getattr(socket, "SO_REUSEPORT", None) if sys.platform.startswith("linux") else None


def reuse_port_socket(family: int, address: Any) -> socket.socket:
    """A TCP socket bound to ``address`` with SO_REUSEADDR and SO_REUSEPORT (protocol
    IPPROTO_TCP, so asyncio sets TCP_NODELAY on the connections it accepts)."""
    assert REUSE_PORT is not None
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, REUSE_PORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def is_shared_port(sock: Any) -> bool:
    """A socket the supervisor bound for its workers: SO_REUSEPORT, not listening yet."""
    if REUSE_PORT is None or not isinstance(sock, socket.socket):
        return False
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, REUSE_PORT)) and not sock.getsockopt(
            socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError:
        return False


def listen_on_own_socket(loop: asyncio.AbstractEventLoop) -> None:
    """In a worker, before uvicorn starts serving: a server created on the supervisor's shared
    port listens on a new socket of this worker's, bound to the same address."""
    create = loop.create_server
    if getattr(create, "own_socket", False):
        return

    async def create_server(*args: Any, **kwargs: Any) -> asyncio.Server:
        sock = kwargs.get("sock")
        if sock is not None and is_shared_port(sock):
            try:
                own = reuse_port_socket(sock.family, sock.getsockname())
            except OSError as e:  # serve the shared socket, as uvicorn would
                log.warning("could not open this worker's own listening socket (%s): "
                            "connections are accepted from the shared one", e)
            else:
                own.set_inheritable(False)
                kwargs["sock"] = own
        return await create(*args, **kwargs)

    create_server.own_socket = True  # type: ignore[attr-defined]
    loop.create_server = create_server  # type: ignore[method-assign]
