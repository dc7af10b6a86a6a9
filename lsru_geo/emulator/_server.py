"""The emulator's HTTP plumbing: requests, responses, routing, faults, a clock and a request log.

Service modules (``_m2m``, ``_espa``, ``_files``) register handlers under a path prefix; a handler takes a
:class:`Request` and returns a :class:`Response`. Nothing here knows about USGS semantics, except that a
fault can ask a service to answer with its own error shape (:attr:`Fault.code`).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

JSON_TYPE = "application/json"


class Clock:
    """UTC time that tests can move forward: ``now()`` is the real time plus an offset.

    ``speed`` multiplies the passage of real time (a demo can make an hour of ESPA processing pass in
    seconds); ``advance`` jumps ahead.
    """

    def __init__(self, speed: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._start_real = time.time()
        self._offset = 0.0
        self._speed = speed

    @property
    def speed(self) -> float:
        """Emulated seconds per real second."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        with self._lock:  # rebase, so that changing the speed never makes the clock jump
            now = time.time()
            self._offset += (now - self._start_real) * (self._speed - value)
            self._speed = value

    def timestamp(self) -> float:
        """Seconds since the epoch, emulated."""
        with self._lock:
            elapsed = time.time() - self._start_real
            return self._start_real + elapsed * self._speed + self._offset

    def now(self) -> dt.datetime:
        """The emulated time as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self.timestamp(), dt.timezone.utc)

    def advance(self, seconds: float = 0.0, *, hours: float = 0.0, days: float = 0.0) -> None:
        """Move the clock forward."""
        with self._lock:
            self._offset += seconds + 3600.0 * hours + 86400.0 * days


MAX_DEPTH = 100  # request bodies nested deeper are malformed


class NestedTooDeep(ValueError):
    """A JSON request body nested more than :data:`MAX_DEPTH` levels."""


def nested_deeper(value: object, limit: int) -> bool:
    """Whether a parsed JSON document nests arrays and objects more than ``limit`` levels deep (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


@dataclass
class Request:
    """One HTTP request as the handlers see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client: str
    service: str = ""
    endpoint: str = ""

    def json(self) -> object:
        """The body parsed as JSON; ``None`` when empty.

        Raises ``ValueError`` on malformed JSON, and :class:`NestedTooDeep` (a ``ValueError``) for a document
        nested more than :data:`MAX_DEPTH` levels, which the handlers, walking bodies recursively, cannot take.
        """
        if not self.body.strip():
            return None
        try:
            value = json.loads(self.body)
        except RecursionError:  # deeper than the parser itself goes
            raise NestedTooDeep(f"Request body is nested deeper than {MAX_DEPTH} levels") from None
        if nested_deeper(value, MAX_DEPTH):
            raise NestedTooDeep(f"Request body is nested deeper than {MAX_DEPTH} levels")
        return value

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header, case-insensitively."""
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    """What a handler answers.

    ``body`` is bytes, or ``stream``, a callable that writes the body to the socket (used by the file host
    for large files, ranges and throttling) together with ``length`` for ``Content-Length``.
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Callable[[Callable[[bytes], None]], None] | None = None
    length: int | None = None
    code: str | None = None  # the service's own error code (M2M errorCode), kept in the log

    @classmethod
    def json(cls, payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """A JSON response (slashes escaped as ``\\/``, as USGS does)."""
        body = json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()
        return cls(status=status, body=body, headers={"Content-Type": JSON_TYPE, **(headers or {})})


@dataclass
class Fault:
    """A fault to inject into matching requests.

    Attributes
    ----------
    service : str
        ``"m2m"``, ``"espa"``, ``"download"`` or ``"*"``.
    endpoint : str
        Glob on the endpoint name (M2M ``scene-search``, ESPA ``order``, file name for downloads).
    kind : str
        ``"status"`` (answer ``status`` with an optional ``Retry-After``), ``"drop"`` (close the connection
        before answering, or after ``after_bytes`` of the body), ``"delay"`` (do the work, then hold the answer
        ``seconds``),
        ``"code"`` (the service answers its own error ``code``, e.g. M2M ``RATE_LIMIT_USER``),
        ``"slow"`` (M2M: hold the request ``seconds`` while it counts as in flight),
        ``"bandwidth"`` (cap the body at ``bytes_per_second``), ``"wrong_md5"`` (serve a wrong checksum),
        ``"ignore_range"`` (answer 200 with the whole file to a Range request), ``"redirect"`` (answer
        ``status``, a 3xx, with ``Location: location``).
    times : int or None
        How many matching requests it hits; ``None`` for all of them.
    rate : float
        Probability of hitting a matching request (drawn from the emulator's seeded generator).
    """

    service: str
    endpoint: str = "*"
    kind: str = "status"
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0
    after_bytes: int | None = None
    code: str | None = None
    message: str | None = None
    bytes_per_second: float | None = None
    location: str | None = None
    times: int | None = 1
    rate: float = 1.0

    @property
    def label(self) -> str:
        """A short name of what it does: the code, ``HTTP 503``, ``drop``, ``drop mid-body``, ``delay``..."""
        if self.kind == "code":
            return str(self.code)
        if self.kind == "status":
            return f"HTTP {self.status}"
        if self.kind == "drop" and self.after_bytes is not None:
            return "drop mid-body"
        return self.kind

    def matches(self, service: str, endpoint: str) -> bool:
        return self.service in ("*", service) and fnmatch.fnmatchcase(endpoint, self.endpoint)


class Faults:
    """The set of active faults, drawn from a seeded random generator so that chaos runs repeat."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._random = random.Random(seed)
        self.injected: list[tuple[str, str, str]] = []  # (service, endpoint, fault label) of each hit

    def add(self, service: str, endpoint: str = "*", kind: str = "status", **options: object) -> Fault:
        """Add a fault; see :class:`Fault` for the options. Returns it (``times`` counts down)."""
        fault = Fault(service=service, endpoint=endpoint, kind=kind, **options)  # type: ignore[arg-type]
        with self._lock:
            self._rules.append(fault)
        return fault

    def reseed(self, seed: int) -> None:
        """Restart the random generator from ``seed``."""
        with self._lock:
            self._random = random.Random(seed)

    def clear(self) -> None:
        """Remove every fault and forget what was injected."""
        with self._lock:
            self._rules.clear()
            self.injected.clear()

    def take(self, service: str, endpoint: str, kinds: Iterable[str]) -> Fault | None:
        """The first active fault of one of ``kinds`` for this request, consuming one of its ``times``."""
        kinds = set(kinds)
        with self._lock:
            for fault in self._rules:
                if fault.kind not in kinds or not fault.matches(service, endpoint):
                    continue
                if fault.times is not None and fault.times <= 0:
                    continue
                if fault.rate < 1.0 and self._random.random() >= fault.rate:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                self.injected.append((service, endpoint, fault.label))
                return fault
        return None


@dataclass
class LogEntry:
    """One served request.

    ``host`` is the ``Host`` header the client sent and ``credentials`` the kinds of credentials that came
    with it (``"basic"`` for an ``Authorization`` header, ``"token"`` for an M2M ``X-Auth-Token``), never their
    values; ``code`` is the service's own error code (M2M ``errorCode``) when it answered one.
    """

    time: float
    service: str
    endpoint: str
    method: str
    status: int
    bytes_sent: int
    fault: str | None = None
    host: str = ""
    credentials: tuple[str, ...] = ()
    code: str | None = None


class RequestLog:
    """Thread-safe list of :class:`LogEntry`, for tests that count what the server did."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[LogEntry] = []

    def add(self, entry: LogEntry) -> None:
        with self._lock:
            self.entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def select(self, service: str | None = None, endpoint: str | None = None) -> list[LogEntry]:
        """Entries of one service and/or endpoint glob."""
        with self._lock:
            return [
                e
                for e in self.entries
                if (service is None or e.service == service)
                and (endpoint is None or fnmatch.fnmatchcase(e.endpoint, endpoint))
            ]

    def bytes_sent(self, service: str | None = None, endpoint: str | None = None) -> int:
        """Body bytes sent by matching requests."""
        return sum(e.bytes_sent for e in self.select(service, endpoint))


class DroppedConnection(Exception):
    """Raised inside a handler or stream to close the socket without a complete answer."""


Handler = Callable[[Request], Response]


@dataclass
class Route:
    prefix: str
    service: str
    handler: Handler
    endpoint_of: Callable[[str], str]


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threaded HTTP/1.1 server dispatching to the registered routes (longest prefix first)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], clock: Clock, faults: Faults, log: RequestLog) -> None:
        super().__init__(address, _RequestHandler)
        self.routes: list[Route] = []
        self.clock = clock
        self.faults = faults
        self.log = log

    def route(
        self, prefix: str, service: str, handler: Handler, endpoint_of: Callable[[str], str] | None = None
    ) -> None:
        """Send requests whose path starts with ``prefix`` to ``handler``.

        ``endpoint_of`` names the endpoint from the rest of the path (for faults and the log); by default the
        first path segment after the prefix.
        """
        self.routes.append(Route(prefix, service, handler, endpoint_of or (lambda rest: rest.strip("/").split("/")[0])))
        self.routes.sort(key=lambda r: len(r.prefix), reverse=True)

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client hung up (a timeout, or a pooled connection closed): nothing to report
        super().handle_error(request, client_address)

    def find(self, path: str) -> Route | None:
        for route in self.routes:
            if path.startswith(route.prefix) or path + "/" == route.prefix:
                return route
        return None


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorHTTPServer
    server_version = "Apache"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:  # the RequestLog keeps what matters
        pass

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client=self.client_address[0],
        )
        route = self.server.find(path)
        if route is None:
            self._answer(request, Response.json({"errors": [f"{path} not found on the server"]}, 404), None)
            return
        request.service = route.service
        request.endpoint = route.endpoint_of(path[len(route.prefix) :])
        faults = self.server.faults
        fault = faults.take(route.service, request.endpoint, ("delay", "status", "drop", "redirect"))
        # a slow answer: the work is done, then the answer is held (a client that gave up never learns the outcome)
        delay = 0.0
        if fault is not None and fault.kind == "delay":
            delay = fault.seconds
            fault = faults.take(route.service, request.endpoint, ("status", "drop", "redirect"))
        if fault is not None and (fault.kind in ("status", "redirect") or fault.after_bytes is None):
            time.sleep(delay)  # an answer that does no work
        if fault is not None and fault.kind == "redirect":
            headers = {"Location": fault.location or "/", "Content-Type": "text/plain"}
            self._answer(request, Response(fault.status, b"Moved", headers), fault.kind)
            return
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            body = (fault.message or f"emulated HTTP {fault.status}").encode()
            self._answer(request, Response(fault.status, body, {"Content-Type": "text/plain", **headers}), fault.kind)
            return
        if fault is not None and fault.kind == "drop" and fault.after_bytes is None:
            self._drop(request, "drop")
            return
        try:
            response = route.handler(request)
        except DroppedConnection:
            self._drop(request, "drop")
            return
        if fault is not None and fault.kind == "drop":
            time.sleep(delay)
            self._answer(request, response, "drop", cut_after=fault.after_bytes)
            return
        time.sleep(delay)
        self._answer(request, response, "delay" if delay else None)

    def _entry(self, request: Request, status: int, fault: str | None, code: str | None = None) -> LogEntry:
        credentials = tuple(
            kind
            for kind, header in (("basic", "authorization"), ("token", "x-auth-token"))
            if header in request.headers
        )
        host = request.headers.get("host", "")
        return LogEntry(
            time.time(), request.service, request.endpoint, request.method, status, 0, fault, host, credentials, code
        )

    def _drop(self, request: Request, why: str, entry: LogEntry | None = None) -> None:
        # logged before the socket closes, so a client that saw the drop always finds it in the log
        if entry is None:
            self.server.log.add(self._entry(request, 0, why))
        else:
            entry.fault = why
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _answer(self, request: Request, response: Response, fault: str | None, cut_after: int | None = None) -> None:
        # the entry is logged before anything is sent and counts bytes before writing them, so a client that has
        # read an answer always finds it in the log
        length = response.length if response.stream is not None else len(response.body)
        if cut_after is not None:
            # a mid-body drop always cuts: before the last byte of a body shorter than asked; nothing to cut in an
            # empty body or a HEAD answer, where the fault does not happen
            cut_after = min(cut_after, length - 1) if length and request.method != "HEAD" else None
            fault = fault if cut_after is not None else None
        entry = self._entry(request, response.status, fault, response.code)
        self.server.log.add(entry)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store, no-cache, must-revalidate")
        self.end_headers()
        if request.method == "HEAD":
            return

        def write(chunk: bytes) -> None:
            if cut_after is not None and entry.bytes_sent + len(chunk) > cut_after:
                chunk = chunk[: max(0, cut_after - entry.bytes_sent)]
                entry.bytes_sent += len(chunk)
                self.wfile.write(chunk)
                raise DroppedConnection
            entry.bytes_sent += len(chunk)
            self.wfile.write(chunk)

        try:
            if response.stream is not None:
                response.stream(write)
            else:
                for start in range(0, len(response.body), 1 << 20):
                    write(response.body[start : start + (1 << 20)])
            self.wfile.flush()
        except DroppedConnection:
            self.wfile.flush()
            self._drop(request, fault or "drop", entry)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _dispatch
