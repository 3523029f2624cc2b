"""uvicorn's HTTP/1.1 protocol (h11) with a deadline for a request's line and headers.

uvicorn times out idle keep-alive connections, but not a client that sends its headers a
byte at a time, nor a connection that sends nothing at all: issue #23 held 50 such
connections for 32 s and more. Here every request's line and headers must arrive within
``header_read_timeout`` seconds of the connection opening (or of the first byte of a
keep-alive connection's next request); then the connection is closed. Bodies have their own
deadline (body_read_timeout, app/main.py). ``backprop-lab`` (app/cli.py) serves with it.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from app.config import get_settings


class HeaderTimeoutH11Protocol(H11Protocol):
    # Seconds; None: the header_read_timeout setting (read in each worker process).
    timeout: float | None = None

    def __init__(self, config: Config, server_state: ServerState,
                 app_state: dict[str, object], _loop: asyncio.AbstractEventLoop | None = None
                 ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        fixed = type(self).timeout
        self.header_timeout: float = (fixed if fixed is not None
                                      else get_settings().header_read_timeout)
        self.header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm()  # a request line / headers in progress: its deadline runs
        else:
            self._disarm()  # the headers are in (the body has its own deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self.header_timer is None:
            self.header_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _expired(self) -> None:
        self.header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            # Not even a request line and headers in time: no reply is owed; close.
            self.transport.close()
