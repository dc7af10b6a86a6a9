"""The ESPA download host: completed products under ``/orders/<orderid>/<file>`` (``espa-api.md`` 1.2, 4.1-4.2).

Like the real host it needs no authentication and serves ``GET`` and ``HEAD`` with ``Content-Length``,
``Accept-Ranges: bytes``, ``Last-Modified`` and an ``ETag``, and answers ``Range: bytes=N-``, ``bytes=N-M``
and ``bytes=-N`` with ``206 Partial Content`` (``416`` with ``Content-Range: bytes */<size>`` when the range
starts past the end). ``If-Range`` is honoured, so a client resuming a file that has since changed gets the new
file whole. Unknown paths answer ``404`` with a short ``text/plain`` body, as a plain web server does (the
download host is not the JSON API). Bodies are streamed from disk in chunks (1 MiB, smaller when paced), so
files of any size work.

Faults (``emulator.faults.add("download", <file name glob>, kind, ...)``), besides the server's generic
``status``, ``drop`` (``after_bytes`` counts bytes of this response's body) and ``delay``:

``bandwidth``
    Caps each connection at ``bytes_per_second``; every request is paced on its own, so N parallel
    downloads get N times the cap, as behind a per-connection limiter.
``wrong_md5``
    A ``.md5`` file is served with a different (well-formed) digest; matched against the ``.md5`` file name,
    or the name of the tarball it describes.
``ignore_range``
    A ``Range`` request is answered ``200`` with the whole file, like a server without range support.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ._server import Request, Response

CHUNK = 1 << 20  # uncapped: few large writes, so the host is not what limits a benchmark
PACED_CHUNK = 64 * 1024
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")
_TYPES = {
    ".gz": "application/x-gzip",
    ".tgz": "application/x-gzip",
    ".md5": "text/plain",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".json": "application/json",
    ".tif": "image/tiff",
    ".xml": "application/xml",
}


@dataclass
class _Entry:
    """One published file; ``source`` is resolved to ``path`` on the first request."""

    source: Path | Callable[[], Path]
    path: Path | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def resolve(self) -> Path:
        # products are generated on demand: the first GET/HEAD builds the file, concurrent first requests
        # wait for that one build instead of starting their own
        if self.path is None:
            with self.lock:
                if self.path is None:
                    source = self.source
                    self.path = Path(source() if callable(source) else source)
        return self.path


class FileHost:
    """Serves published files under ``/orders/``.

    Parameters
    ----------
    emulator : Emulator
        The owning emulator (its ``url`` and ``faults``).
    """

    PREFIX = "/orders/"

    def __init__(self, emulator) -> None:
        self.emulator = emulator
        self._lock = threading.Lock()
        self._files: dict[str, _Entry] = {}

    def endpoint_of(self, rest: str) -> str:
        """Name the endpoint of a request (for faults and the log): the file name."""
        return rest.rsplit("/", 1)[-1]

    def publish(self, url_path: str, source: Path | str | Callable[[], Path]) -> str:
        """Make a file downloadable at ``<emulator url>/<url_path>``.

        Parameters
        ----------
        url_path : str
            Path under the host, ``orders/<orderid>/<name>`` (a leading slash is ignored).
        source : Path or callable
            The file, or a function returning it, called once on the first request for it.

        Returns
        -------
        str
            The absolute download URL.
        """
        key = url_path.lstrip("/")
        if not ("/" + key).startswith(self.PREFIX):
            raise ValueError(f"download paths live under {self.PREFIX!r}, got {url_path!r}")
        with self._lock:
            self._files[key] = _Entry(source if callable(source) else Path(source))
        return f"{self.emulator.url}/{key}"

    def unpublish(self, url_path: str) -> None:
        """Withdraw a file (a purged order): requests for it answer 404 afterwards."""
        with self._lock:
            self._files.pop(url_path.lstrip("/"), None)

    def local_path(self, url: str) -> Path | None:
        """The file on disk behind a download URL (built if not yet), or ``None`` when it is not published."""
        key = urlsplit(url).path.lstrip("/")
        with self._lock:
            entry = self._files.get(key)
        return entry.resolve() if entry is not None else None

    def reset(self) -> None:
        """Forget every published file (the files on disk are left alone)."""
        with self._lock:
            self._files.clear()

    def handle(self, request: Request) -> Response:
        """Answer a GET or HEAD for a published file."""
        if request.method not in ("GET", "HEAD"):
            return Response(405, b"405 Method Not Allowed\n", {"Content-Type": "text/plain", "Allow": "GET, HEAD"})
        with self._lock:
            entry = self._files.get(request.path.lstrip("/"))
        if entry is None:
            return _not_found(request.path)
        try:
            path = entry.resolve()
        except Exception as error:  # a failed build is not cached: the next request tries again
            return Response(500, f"500 product generation failed: {error}\n".encode(), {"Content-Type": "text/plain"})
        try:
            handle = open(path, "rb")  # closed by the stream, or below
        except FileNotFoundError:
            return _not_found(request.path)
        try:
            stat = os.fstat(handle.fileno())  # of the open file, so headers and body agree if it is replaced
            size = stat.st_size
            headers = {
                "Content-Type": _TYPES.get(Path(path).suffix, "application/octet-stream"),
                "Accept-Ranges": "bytes",
                "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True),
                "ETag": f'"{size:x}-{stat.st_mtime_ns:x}"',
            }
            if request.endpoint.endswith(".md5") and request.method == "GET":
                fault = self._fault(request, ("wrong_md5",))
                if fault is not None:  # small file: served from memory
                    body = _wrong_md5(handle.read())
                    handle.close()
                    return Response(200, body, headers)
            span = _requested_span(request, size, headers)
            if isinstance(span, Response):
                handle.close()
                return span
            if span is not None and request.method == "GET" and self._fault(request, ("ignore_range",)) is not None:
                span = None
            start, end = span if span is not None else (0, size)
            if span is not None:
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
            if request.method == "HEAD":
                handle.close()
                return Response(206 if span else 200, b"", headers, stream=lambda write: None, length=end - start)
            fault = self._fault(request, ("bandwidth",))
            rate = fault.bytes_per_second if fault is not None else None
            return Response(
                206 if span else 200, b"", headers, stream=_streamer(handle, start, end, rate), length=end - start
            )
        except BaseException:
            handle.close()
            raise

    def _fault(self, request: Request, kinds: tuple[str, ...]):
        faults = self.emulator.faults
        fault = faults.take("download", request.endpoint, kinds)
        if fault is None and request.endpoint.endswith(".md5") and "wrong_md5" in kinds:
            fault = faults.take("download", request.endpoint[: -len(".md5")] + ".tar.gz", kinds)
        return fault


def _not_found(path: str) -> Response:
    return Response(404, f"404 Not Found: {path}\n".encode(), {"Content-Type": "text/plain"})


def _requested_span(request: Request, size: int, headers: dict[str, str]) -> tuple[int, int] | Response | None:
    """Return the byte span ``[start, end)`` a ``Range`` header asks for; ``None`` for the whole file, or a 416.

    Malformed and multi-range headers are ignored (the whole file is sent), as RFC 9110 allows.
    """
    value = request.header("range")
    if value is None:
        return None
    if_range = request.header("if-range")
    if if_range is not None and if_range not in (headers["ETag"], headers["Last-Modified"]):
        return None  # the client's copy is of another version: it gets the current file whole
    match = _RANGE.match(value)
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":  # suffix range: the last N bytes
        length = int(last)
        if length == 0:
            return _unsatisfiable(size, headers)
        return max(0, size - length), size
    start = int(first)
    end = size if last == "" else min(size, int(last) + 1)
    if last != "" and int(last) < start:
        return None  # syntactically invalid: ignored
    if start >= size:
        return _unsatisfiable(size, headers)
    return start, end


def _unsatisfiable(size: int, headers: dict[str, str]) -> Response:
    extra = {k: v for k, v in headers.items() if k != "Content-Type"}
    return Response(416, b"", {**extra, "Content-Type": "text/plain", "Content-Range": f"bytes */{size}"})


def _streamer(handle, start: int, end: int, rate: float | None) -> Callable[[Callable[[bytes], None]], None]:
    """Return a stream callback sending ``[start, end)`` of an open file, paced at ``rate`` bytes/s if given."""
    # small chunks under a cap keep the pace smooth: about 20 writes a second
    chunk_size = CHUNK if rate is None else max(1024, min(PACED_CHUNK, int(rate / 20)))

    def stream(write: Callable[[bytes], None]) -> None:
        with handle:
            handle.seek(start)
            remaining = end - start
            sent = 0
            began = time.monotonic()
            while remaining > 0:
                chunk = handle.read(min(chunk_size, remaining))
                if not chunk:  # the file shrank under us: stop short, the client sees a short body
                    return
                write(chunk)
                remaining -= len(chunk)
                sent += len(chunk)
                if rate is not None:
                    ahead = began + sent / rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)

    return stream


def _wrong_md5(text: bytes) -> bytes:
    """Return the same ``"<md5> <name>"`` line with another well-formed digest."""
    digest, _, rest = text.decode("ascii", "replace").partition(" ")
    other = hashlib.md5(digest.encode() + b"wrong").hexdigest()
    return f"{other} {rest}".encode() if rest else other.encode()
