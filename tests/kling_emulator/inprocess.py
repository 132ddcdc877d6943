"""An aiohttp connector to applications in this process: Kling's transport seam in tests.

``KlingClient(connector=lambda: AppConnector(emulator.servers))`` sends every request to
the emulator's aiohttp server through a socket pair -- real HTTP/1.1 bytes, aiohttp's own
parser on both sides, but no port, no listening socket and nothing another process could
reach. Requests for a host the table does not hold fail as a refused connection would.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.client_proto import ResponseHandler


class AppConnector(aiohttp.BaseConnector):
    def __init__(self, servers: Mapping[str, web.Server], **kw: Any) -> None:
        super().__init__(**kw)
        self._servers = dict(servers)
        self.opened = 0  # connections made (tests: the seam was used)

    async def _create_connection(self, req: Any, traces: Any, timeout: Any) -> ResponseHandler:
        where = f"{req.url.host}:{req.url.port}"
        server = self._servers.get(where)
        if server is None:
            raise aiohttp.ClientConnectionError(f"nothing serves {where} in this process")
        ours, theirs = socket.socketpair()
        await self._loop.connect_accepted_socket(server, theirs)
        _, proto = await self._loop.create_connection(self._factory, sock=ours)
        self.opened += 1
        return proto
