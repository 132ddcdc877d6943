"""A proxy in front of the daemon that loses answers: the network failing at the worst moment.

The plugin talks to it as to the daemon (a discovery file names its port, with the daemon's
token). Every request is forwarded to the daemon as it came (``spoil`` may first damage a
chosen body, so the real daemon refuses it with its own answer); for the requests ``drop``
chooses, the daemon's answer is read and then thrown away -- the connection closes with no
reply, exactly what a script sees when the network or its own process fails after the
daemon acted. What went through is logged, so a test can tell what the daemon answered that
the plugin never saw.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Exchange:
    method: str
    path: str
    body: Any
    status: int
    answer: Any
    dropped: bool


@dataclass
class LossyProxy:
    """``drop(method, path, body)`` says which answers to lose (it may count);
    ``spoil(method, path, body)`` returns a body to send instead (None: as it came)."""

    daemon_port: int
    drop: Callable[[str, str, Any], bool]
    log: list[Exchange] = field(default_factory=list)
    spoil: Callable[[str, str, Any], Any] | None = None

    def __post_init__(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else None
                if raw and proxy.spoil is not None:
                    spoilt = proxy.spoil(self.command, self.path, json.loads(raw))
                    raw = raw if spoilt is None else json.dumps(spoilt).encode()
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "content-length")}
                conn = http.client.HTTPConnection("127.0.0.1", proxy.daemon_port, timeout=60)
                conn.request(self.command, self.path, body=raw, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
                conn.close()
                body = json.loads(raw) if raw else None
                dropped = proxy.drop(self.command, self.path, body)
                try:
                    answer = json.loads(payload) if payload else None
                except ValueError:
                    answer = None
                proxy.log.append(Exchange(self.command, self.path, body, resp.status, answer,
                                          dropped))
                if dropped:
                    self.close_connection = True
                    return  # the daemon acted; its answer never arrives
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection",
                                           "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def never(method: str, path: str, body: Any) -> bool:
    """Lose no answer."""
    return False


def lose_first(path: str) -> Callable[[str, str, Any], bool]:
    """Lose the answer to the first real (not dry-run) POST to ``path``."""
    lost: list[bool] = []

    def drop(method: str, where: str, body: Any) -> bool:
        if method == "POST" and where == path and not (body or {}).get("dry_run") \
                and not lost:
            lost.append(True)
            return True
        return False
    return drop
