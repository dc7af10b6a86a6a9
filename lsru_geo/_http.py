"""The one place lsru_geo talks HTTP: sessions, timeouts, deadlines, stall detection and the retry policy.

Each client hands :meth:`HttpClient.call` a ``parse`` function that turns a response into data or raises a
typed :class:`~lsru_geo.exceptions.ApiError`. What is retried, how often and after how long is decided by one
:class:`RetryPolicy`, used by API calls and by the download engine alike: dropped connections, stalls, rate
limits and HTTP 429/502/503/504 are retried with exponential backoff and full jitter, honouring
``Retry-After``; anything else is raised at once.

Nothing from outside may keep a caller waiting for ever (:class:`TransferLimits`): a body that moves fewer
than ``LSRU_MIN_BYTES_PER_S`` bytes per second (default 1024) over ``LSRU_STALL_SECONDS`` (default 60) is a
stall, and every API call has an overall deadline (``LSRU_DEADLINE_SECONDS``, default 1800 s, retries
included); a download's deadline covers the wait for its headers, its body being bounded by the stall rule.
Read timeouts alone cannot do this: a server that sends one byte every half second never lets one fire. A
monitor thread shuts down the socket of a request that broke either rule, which ends the blocked read in the
caller's thread; the caller then raises :class:`~lsru_geo.exceptions.TransportError` saying why.

Requests are logged at DEBUG by method, URL and status only: headers and bodies, which carry credentials,
never are. A redirect to another origin drops every credential header (requests itself drops only
``Authorization``).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import requests
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions

from ._hints import connection_failed
from ._version import __version__
from .exceptions import (
    ApiError,
    AuthenticationError,
    ConfigError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StallError,
    TransportError,
)

log = logging.getLogger("lsru_geo.http")

USER_AGENT = f"lsru_geo/{__version__} (+https://pypi.org/project/lsru-geo/) python-requests/{requests.__version__}"
# 500 is left out: both services answer it for a request that fails on their side the same way each time
# (ESPA's "System experienced an exception", M2M's unhandled errors); gateways and overload say 502/503/504
RETRY_STATUSES = frozenset({429, 502, 503, 504})
CONNECTION_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
# errors of a body read straight from urllib3's response (the download engine reads it that way)
BODY_ERRORS = (OSError, urllib3.exceptions.HTTPError, *CONNECTION_ERRORS)
# headers that carry credentials; each is removed when a redirect leaves the origin it was meant for
CREDENTIAL_HEADERS = ("Authorization", "X-Auth-Token")
CHUNK_SIZE = 1 << 20
T = TypeVar("T")


# -- retry policy ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """What is retried, how often and how long to wait: the one rule of API calls and downloads.

    Attributes
    ----------
    attempts : int
        Total tries, the first included.
    base, cap : float
        Backoff before retry ``n`` (from 0) is uniform in ``[0, min(cap, base * 2**n)]`` ("full jitter"),
        and never shorter than a ``Retry-After`` the service sent (itself capped at ``max_retry_after``).
    max_retry_after : float
        Longest wait honoured from a ``Retry-After`` header; a longer one is raised instead of waited out.
    statuses : frozenset of int
        HTTP statuses worth another try (429, 502, 503, 504).
    """

    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 900.0
    statuses: frozenset[int] = RETRY_STATUSES

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number ``attempt`` (0-based)."""
        backoff = random.uniform(0, min(self.cap, self.base * 2**attempt))
        return max(backoff, retry_after or 0.0)

    def retryable(self, error: BaseException) -> bool:
        """Whether ``error`` is worth another try.

        A dropped or stalled connection, a rate limit (HTTP 429 or a service's rate-limit code), or one of
        :attr:`statuses`.
        """
        if isinstance(error, (TransportError, RateLimitError)):
            return True
        return isinstance(error, ApiError) and error.status in self.statuses

    def run(
        self,
        what: str,
        attempt: Callable[[], T],
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[BaseException], None] | None = None,
        progress: Callable[[], int] | None = None,
        deadline_at: float | None = None,
    ) -> T:
        """Call ``attempt`` until it returns, retrying the errors :meth:`retryable` allows.

        Parameters
        ----------
        what : str
            Named in log lines.
        attempt : callable
            One try; raises :class:`ApiError` or :class:`TransportError` on failure.
        sleep : callable
            Waits between tries (a download's sleep ends early when it is cancelled).
        on_retry : callable, optional
            Called with the error before each retry; it may raise to stop retrying.
        progress : callable, optional
            Bytes kept so far (a download's part file): a try that moved it forward starts a fresh count.
        deadline_at : float, optional
            ``time.monotonic()`` past which no retry is started.

        Raises
        ------
        ApiError or TransportError
            The last error, once it is not retryable, the tries are used up, the service asks to wait longer
            than ``max_retry_after`` or the deadline would pass. ``error.attempts`` tells how many tries were made.
        """
        failures = 0
        best = progress() if progress is not None else 0
        while True:
            try:
                return attempt()
            except (ApiError, TransportError) as error:
                error.attempts = failures + 1  # type: ignore[union-attr]
                if not self.retryable(error):
                    raise
                if progress is not None and progress() > best and not isinstance(error, StallError):
                    # it moved forward: a fresh set of tries (a trickle that stalled does not count)
                    best, failures = progress(), 0
                wait = getattr(error, "retry_after", None)
                if failures >= self.attempts - 1 or (wait is not None and wait > self.max_retry_after):
                    raise
                delay = self.delay(failures, wait)
                if deadline_at is not None and time.monotonic() + delay >= deadline_at:
                    raise
                if on_retry is not None:
                    on_retry(error)
                log.info("%s: %s; retry %d/%d in %.2fs", what, error, failures + 1, self.attempts - 1, delay)
                sleep(delay)
                failures += 1


def is_retryable(error: BaseException) -> bool:
    """Whether the default :class:`RetryPolicy` retries ``error``."""
    return RetryPolicy().retryable(error)


# -- stalls and deadlines -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferLimits:
    """How slow a transfer may be, and how long an API call may take.

    Attributes
    ----------
    min_bytes_per_s : float
        A body moving fewer bytes per second than this over ``stall_seconds`` is a stall
        (``LSRU_MIN_BYTES_PER_S``, default 1024).
    stall_seconds : float
        The window of that rule (``LSRU_STALL_SECONDS``, default 60); also the longest silence of a body.
    deadline : float or None
        Seconds an API call may take, retries included (``LSRU_DEADLINE_SECONDS``, default 1800); for a
        download, the wait for its response headers. ``None``: no deadline.
    """

    min_bytes_per_s: float = 1024.0
    stall_seconds: float = 60.0
    deadline: float | None = 1800.0

    @classmethod
    def from_env(cls) -> TransferLimits:
        """Return the defaults, overridden by the ``LSRU_*`` variables named in the attributes."""
        values: dict[str, float | None] = {}
        for field_name, variable in _LIMIT_VARIABLES.items():
            text = os.environ.get(variable, "").strip()
            if not text:
                continue
            try:
                value = float(text)
            except ValueError:
                value = -1.0
            if not value > 0 or value == float("inf"):  # NaN fails too
                raise ConfigError(f"{variable} must be a positive number of {_LIMIT_UNITS[field_name]}, got {text!r}")
            values[field_name] = value
        return replace(cls(), **values)


_LIMIT_VARIABLES = {
    "min_bytes_per_s": "LSRU_MIN_BYTES_PER_S",
    "stall_seconds": "LSRU_STALL_SECONDS",
    "deadline": "LSRU_DEADLINE_SECONDS",
}
_LIMIT_UNITS = {"min_bytes_per_s": "bytes per second", "stall_seconds": "seconds", "deadline": "seconds"}


class _Watch:
    """The deadline and stall rule of one request, checked by :class:`_Monitor` from another thread."""

    def __init__(self, what: str, limits: TransferLimits, deadline_at: float | None) -> None:
        self.what = what
        self.limits = limits
        self.deadline_at = deadline_at
        self.reason: str | None = None
        self.received = 0
        self._sock: socket.socket | None = None
        self._body_since: float | None = None
        self._samples: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock
            if self.reason is not None:
                self._shutdown()

    def start_body(self, *, deadline: bool) -> None:
        """Start the stall rule, the headers being in (and keep the deadline only if ``deadline``)."""
        now = time.monotonic()
        with self._lock:
            self._body_since = now
            self._samples.append((now, self.received))
            if not deadline:
                self.deadline_at = None

    def add(self, nbytes: int) -> None:
        self.received += nbytes  # one writer (the request's thread); the monitor only reads it

    def detach(self) -> None:
        with self._lock:
            self._sock = None

    def check(self, now: float) -> None:
        with self._lock:
            if self.reason is not None:
                return
            if self.deadline_at is not None and now >= self.deadline_at:
                self.reason = f"{self.what}: no complete answer within the deadline of {self.limits.deadline:g} s"
            elif self._body_since is not None:
                window = self.limits.stall_seconds
                self._samples.append((now, self.received))
                while len(self._samples) > 1 and self._samples[1][0] <= now - window:
                    self._samples.popleft()
                since, then = self._samples[0]
                if now - since >= window and self.received - then < self.limits.min_bytes_per_s * window:
                    self.reason = (
                        f"{self.what}: stalled: {self.received - then:,} bytes in the last {now - since:.3g} s "
                        f"(less than {self.limits.min_bytes_per_s:g} bytes/s over {window:g} s)"
                    )
            if self.reason is not None:
                log.info("%s", self.reason)
                self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)  # the blocked recv in the request's thread returns
            except OSError:
                pass


class _Monitor:
    """One daemon thread checking every watched request a few times a second (idle when there are none)."""

    TICK = 0.1

    def __init__(self) -> None:
        self._watches: set[_Watch] = set()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, watch: _Watch) -> None:
        with self._wake:
            self._watches.add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lsru-http-monitor", daemon=True)
                self._thread.start()
            self._wake.notify()

    def remove(self, watch: _Watch) -> None:
        watch.detach()
        with self._wake:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._watches:
                    self._wake.wait()
                watches = list(self._watches)
            now = time.monotonic()
            for watch in watches:
                watch.check(now)
            time.sleep(self.TICK)


_MONITOR = _Monitor()
_current = threading.local()  # the watch of the request this thread is sending, for the connection hook


class _WatchedConnection(urllib3.connection.HTTPConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.attach(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedTLSConnection(urllib3.connection.HTTPSConnection):
    getresponse = _WatchedConnection.getresponse


class _WatchedPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedTLSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _WatchedTLSConnection


class _Adapter(requests.adapters.HTTPAdapter):
    """An adapter whose connections let the monitor end a request blocked on its socket."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:  # SOCKS managers keep their own pools (stalls still end in-thread)
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


_WATCHED_POOLS = {"http": _WatchedPool, "https": _WatchedTLSPool}


# -- errors ---------------------------------------------------------------------------------------------------


def status_error(status: int, message: str, *, service: str, url: str, retry_after: float | None = None) -> ApiError:
    """Return the typed exception for an HTTP error status, shared by every service's answer parser."""
    fields = {"service": service, "status": status, "url": url}
    if status == 429:
        return RateLimitError(message, retry_after=retry_after, **fields)
    if status in (401, 403):
        return AuthenticationError(message, **fields)
    if status in (404, 410):
        return NotFoundError(message, **fields)
    if status >= 500:
        return ServerError(message, **fields)
    return ApiError(message, **fields)


def retry_after_seconds(response: requests.Response) -> float | None:
    """Parse a ``Retry-After`` header given in seconds; ``None`` when absent or an HTTP date."""
    value = response.headers.get("Retry-After")
    try:
        seconds = max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is None or seconds == seconds else None  # NaN


class _Session(requests.Session):
    """A session that never forwards a credential header to another origin across a redirect."""

    def __init__(self) -> None:
        super().__init__()
        self.mount("http://", _Adapter())
        self.mount("https://", _Adapter())

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        if self.should_strip_auth(response.request.url, prepared_request.url):
            for name in CREDENTIAL_HEADERS:
                prepared_request.headers.pop(name, None)
        super().rebuild_auth(prepared_request, response)


# -- the client -----------------------------------------------------------------------------------------------


class HttpClient:
    """A session with timeouts, deadlines, stall detection, a User-Agent and retries, shared by one client.

    Parameters
    ----------
    service : str
        Name used in errors and logs (``"m2m"``, ``"espa"``, ``"download"``).
    timeout : float or (float, float), optional
        Connect and read timeouts in seconds (the read timeout bounds a silent wait for headers; a silent body
        is a stall sooner); :attr:`DEFAULT_TIMEOUT` by default.
    retry : RetryPolicy, optional
        :attr:`DEFAULT_RETRY` by default.
    auth : tuple or requests auth object, optional
        Sent with every request of this session (ESPA basic auth).
    limits : TransferLimits, optional
        Stall rule and deadline; by default :meth:`TransferLimits.from_env`, read at each request.
    """

    DEFAULT_TIMEOUT: tuple[float, float] = (15, 300)
    DEFAULT_RETRY = RetryPolicy()

    def __init__(
        self,
        service: str,
        *,
        timeout: float | tuple[float, float] | None = None,
        retry: RetryPolicy | None = None,
        auth: Any = None,
        limits: TransferLimits | None = None,
    ) -> None:
        self.service = service
        self.timeout = timeout if timeout is not None else self.DEFAULT_TIMEOUT
        self.retry = retry or self.DEFAULT_RETRY
        self.limits = limits
        self.session = _Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.auth = auth
        self.sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:
        return f"HttpClient(service={self.service!r}, timeout={self.timeout!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    def limits_for(self, limits: TransferLimits | None = None) -> TransferLimits:
        """Return the limits of one request: ``limits``, else the client's, else the environment's."""
        return limits or self.limits or TransferLimits.from_env()

    def send(
        self,
        method: str,
        url: str,
        *,
        stream: bool = False,
        body_deadline: bool | None = None,
        limits: TransferLimits | None = None,
        deadline_at: float | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request, no retries, under the stall rule and deadline.

        Without ``stream`` the body is read here and the response returned complete. With ``stream`` the
        deadline covers the wait for headers, the body is read with :func:`body_chunks`, and the response
        must be closed (``with response:``); ``body_deadline=True`` keeps the deadline on the body too (a small
        file). ``deadline_at`` (``time.monotonic()``) replaces the deadline of ``limits``. Connection failures,
        stalls and a passed deadline become :class:`TransportError`.
        """
        limits = self.limits_for(limits)
        if deadline_at is None and limits.deadline is not None:
            deadline_at = time.monotonic() + limits.deadline
        kwargs.setdefault("timeout", self.timeout)
        watch = _Watch(f"{self.service}: {method} {url}", limits, deadline_at)
        _MONITOR.add(watch)
        _current.watch = watch
        started = time.perf_counter()
        try:
            try:
                response = self.session.request(method, url, stream=True, **kwargs)
            finally:
                _current.watch = None
            watch.start_body(deadline=not stream if body_deadline is None else body_deadline)
            if not stream:
                response._content = b"".join(body_chunks(response, watch=watch, decode=True))
                response._content_consumed = True
        except CONNECTION_ERRORS as error:
            _MONITOR.remove(watch)
            log.debug("%s %s failed: %s", method, url, type(error).__name__)
            if watch.reason is not None:
                raise StallError(watch.reason) from None
            raise TransportError(connection_failed(self.service, method, url, error)) from None
        except BaseException:
            _MONITOR.remove(watch)
            raise
        log.debug("%s %s -> %s in %.3fs", method, url, response.status_code, time.perf_counter() - started)
        if stream:
            response.lsru_watch = watch  # type: ignore[attr-defined]
            close = response.close

            def close_and_unwatch() -> None:
                _MONITOR.remove(watch)
                close()

            response.close = close_and_unwatch  # type: ignore[method-assign]
        else:
            _MONITOR.remove(watch)
        return response

    def call(
        self,
        method: str,
        url: str,
        parse: Callable[[requests.Response], T],
        *,
        on_retry: Callable[[BaseException], None] | None = None,
        limits: TransferLimits | None = None,
        **kwargs: Any,
    ) -> T:
        """Send a request and return ``parse(response)``, retrying what the :class:`RetryPolicy` allows.

        Parameters
        ----------
        method, url : str
        parse : callable
            Turns the complete response into data, or raises an :class:`ApiError`.
        on_retry : callable, optional
            Called with the error before each retry; it may raise to stop retrying (placing an order stops
            when it finds the order placed after all).
        limits : TransferLimits, optional
            Stall rule and deadline of this call (the deadline covers every retry).
        **kwargs
            Passed to :meth:`requests.Session.request` (``json``, ``data``, ``headers``, ...).
        """
        limits = self.limits_for(limits)
        deadline_at = time.monotonic() + limits.deadline if limits.deadline is not None else None

        def attempt() -> T:
            return parse(self.send(method, url, limits=limits, deadline_at=deadline_at, **kwargs))

        return self.retry.run(
            f"{self.service}: {method} {url}", attempt, sleep=self.sleep, on_retry=on_retry, deadline_at=deadline_at
        )


def body_chunks(response: requests.Response, *, watch: _Watch | None = None, decode: bool = False) -> Iterator[bytes]:
    """Yield a body as it arrives, counted for the stall rule; a drop or a stall raises :class:`TransportError`.

    ``read1`` hands over whatever has arrived (``iter_content`` would lose the last partial chunk when the
    connection drops, and wait for a whole chunk while a body trickles in). ``decode=False`` gives the bytes as
    sent (a ``.tar.gz`` served with ``Content-Encoding: gzip`` stays compressed).
    """
    watch = watch or getattr(response, "lsru_watch", None)
    raw = response.raw
    read = getattr(raw, "read1", None) or raw.read  # read1: urllib3 >= 2.1
    try:
        while True:
            chunk = read(CHUNK_SIZE, decode_content=decode)
            if watch is not None and watch.reason is not None:
                raise StallError(watch.reason)
            if not chunk:
                return
            if watch is not None:
                watch.add(len(chunk))
            yield chunk
    except BODY_ERRORS as error:
        if watch is not None and watch.reason is not None:
            raise StallError(watch.reason) from None
        raise TransportError(f"connection dropped while reading ({type(error).__name__})") from None
