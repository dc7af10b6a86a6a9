"""Servers that misbehave on purpose, for the attacks of ``test_hostile.py`` (test fixtures, not library code).

* :class:`TrickleServer` answers every request by dribbling bytes: the body, or even the headers, one byte per
  ``interval`` seconds, or falls silent after the headers. Read timeouts never fire against it.
* :class:`CaptureServer` records each raw request line as it arrived on the socket and answers fixed JSON.
* :class:`RewritingProxy` forwards to the emulator and lets a test rewrite any answer (names, pagers, headers).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import requests


class _Server:
    """A loopback TCP server running ``handle(connection)`` in a thread per connection."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.closed = threading.Event()
        self.requests: list[str] = []  # raw request lines, as received
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    data = connection.recv(65536)
                    if not data:
                        return
                    head += data
                self.requests.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
                self.handle(connection, head)
            except OSError:
                pass  # the client hung up: what a stalled transfer should end in

    def handle(self, connection: socket.socket, head: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.closed.set()
        self.listener.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TrickleServer(_Server):
    """Answers ``200`` with a 1 MB ``Content-Length`` and then sends the body one byte per ``interval``.

    ``mode="headers"`` dribbles the status line and headers themselves; ``mode="silent"`` sends the headers and
    then nothing at all. Each connection gives up after ``limit`` seconds, so no thread outlives a test for long.
    """

    def __init__(self, mode: str = "body", interval: float = 0.2, limit: float = 30.0) -> None:
        self.mode, self.interval, self.limit = mode, interval, limit
        super().__init__()

    def handle(self, connection: socket.socket, head: bytes) -> None:
        headers = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
        started = time.monotonic()
        if self.mode == "headers":
            for byte in headers:
                if self.closed.is_set() or time.monotonic() - started > self.limit:
                    return
                connection.sendall(bytes([byte]))
                time.sleep(self.interval)
            return
        connection.sendall(headers)
        while not self.closed.is_set() and time.monotonic() - started < self.limit:
            if self.mode == "body":
                connection.sendall(b" ")
            time.sleep(self.interval)


class CaptureServer(_Server):
    """Records raw request lines (``self.requests``) and answers ``answer`` as JSON to every request."""

    def __init__(self, answer: object) -> None:
        self.answer = json.dumps(answer).encode()
        super().__init__()

    def handle(self, connection: socket.socket, head: bytes) -> None:
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(self.answer)}\r\n\r\n".encode()
            + self.answer
        )


@dataclass
class Exchange:
    """One request through the proxy and the answer it got (after rewriting)."""

    method: str
    path: str
    headers: dict
    status: int
    body: bytes


Rewrite = Callable[[Exchange], Exchange]


@dataclass
class RewritingProxy:
    """An HTTP proxy in front of ``upstream`` whose ``rewrite`` may change any answer before it is sent."""

    upstream: str
    rewrite: Rewrite = lambda exchange: exchange
    log: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = requests.request(
                    self.command, proxy.upstream + self.path, headers=headers, data=body, allow_redirects=False
                )
                passed = {
                    k: v
                    for k, v in answer.headers.items()
                    if k.lower()
                    in ("content-type", "etag", "last-modified", "content-range", "accept-ranges", "retry-after")
                }
                exchange = proxy.rewrite(Exchange(self.command, self.path, passed, answer.status_code, answer.content))
                proxy.log.append(Exchange(self.command, self.path, dict(self.headers), exchange.status, exchange.body))
                self.send_response(exchange.status)
                for key, value in exchange.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(exchange.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(exchange.body)

            do_GET = do_POST = do_PUT = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self, emulator_env: dict) -> dict:
        """The emulator's ``LSRU_*`` variables with its host replaced by this proxy."""
        host = urlsplit(self.upstream).netloc
        return {k: v.replace(host, urlsplit(self.url).netloc) for k, v in emulator_env.items()}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
