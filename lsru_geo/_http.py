"""The one place lsru_geo talks HTTP: a ``requests.Session`` per client, timeouts, a User-Agent, and retries.

Each client hands :meth:`HttpClient.call` a ``parse`` function that turns a response into data or raises a
typed :class:`~lsru_geo.exceptions.ApiError`. Connection failures and errors marked retryable
(:func:`is_retryable`: HTTP 429/502/503/504 and the services' rate-limit codes) are retried with
exponential backoff and full jitter, honouring ``Retry-After``; anything else is raised at once. Requests
are logged at DEBUG by method, URL and status only: headers and bodies, which carry credentials, never are.
A redirect to another origin drops every credential header (requests itself drops only ``Authorization``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import requests

from ._hints import connection_failed
from ._version import __version__
from .exceptions import ApiError, AuthenticationError, NotFoundError, RateLimitError, ServerError, TransportError

log = logging.getLogger("lsru_geo.http")

USER_AGENT = f"lsru_geo/{__version__} (+https://pypi.org/project/lsru-geo/) python-requests/{requests.__version__}"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
CONNECTION_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
# headers that carry credentials; each is removed when a redirect leaves the origin it was meant for
CREDENTIAL_HEADERS = ("Authorization", "X-Auth-Token")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    Attributes
    ----------
    attempts : int
        Total tries, the first included.
    base, cap : float
        Backoff before retry ``n`` (from 0) is uniform in ``[0, min(cap, base * 2**n)]`` ("full jitter"),
        and never shorter than a ``Retry-After`` the service sent (itself capped at ``max_retry_after``).
    max_retry_after : float
        Longest wait honoured from a ``Retry-After`` header; a longer one is raised instead of waited out.
    """

    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 900.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number ``attempt`` (0-based)."""
        backoff = random.uniform(0, min(self.cap, self.base * 2**attempt))
        return max(backoff, retry_after or 0.0)

    def sleeps(self) -> Iterator[int]:
        """Yield the retry numbers 0, 1, ... that remain after the first try."""
        return iter(range(self.attempts - 1))


def is_retryable(error: BaseException) -> bool:
    """Whether ``error`` is worth another try: a dropped connection, a rate limit, or HTTP 502/503/504."""
    if isinstance(error, (TransportError, RateLimitError)):
        return True
    return isinstance(error, ApiError) and error.status in RETRY_STATUSES


def status_error(status: int, message: str, *, service: str, url: str, retry_after: float | None = None) -> ApiError:
    """The typed exception for an HTTP error status, shared by every service's answer parser."""
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
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class _Session(requests.Session):
    """A session that never forwards a credential header to another origin across a redirect."""

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        if self.should_strip_auth(response.request.url, prepared_request.url):
            for name in CREDENTIAL_HEADERS:
                prepared_request.headers.pop(name, None)
        super().rebuild_auth(prepared_request, response)


class HttpClient:
    """A session with timeouts, a User-Agent and retries, shared by the requests of one client.

    Parameters
    ----------
    service : str
        Name used in errors and logs (``"m2m"``, ``"espa"``, ``"download"``).
    timeout : float or (float, float), optional
        Connect and read timeouts in seconds; :attr:`DEFAULT_TIMEOUT` by default.
    retry : RetryPolicy, optional
        :attr:`DEFAULT_RETRY` by default.
    auth : tuple or requests auth object, optional
        Sent with every request of this session (ESPA basic auth).
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
    ) -> None:
        self.service = service
        self.timeout = timeout if timeout is not None else self.DEFAULT_TIMEOUT
        self.retry = retry or self.DEFAULT_RETRY
        self.session = _Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.auth = auth
        self.sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:
        return f"HttpClient(service={self.service!r}, timeout={self.timeout!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send one request, no retries; connection failures become :class:`TransportError`."""
        kwargs.setdefault("timeout", self.timeout)
        started = time.perf_counter()
        try:
            response = self.session.request(method, url, **kwargs)
        except CONNECTION_ERRORS as error:
            log.debug("%s %s failed: %s", method, url, type(error).__name__)
            raise TransportError(connection_failed(self.service, method, url, error)) from None
        log.debug("%s %s -> %s in %.3fs", method, url, response.status_code, time.perf_counter() - started)
        return response

    def call(
        self,
        method: str,
        url: str,
        parse: Callable[[requests.Response], T],
        *,
        on_retry: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> T:
        """Send a request and return ``parse(response)``, retrying what :func:`is_retryable` allows.

        Parameters
        ----------
        method, url : str
        parse : callable
            Turns the response into data, or raises an :class:`ApiError` (reading the body also happens
            here, so a connection dropped mid-body is retried too).
        on_retry : callable, optional
            Called with the error before each retry; it may raise to stop retrying (placing an order stops
            when it finds the order placed after all).
        **kwargs
            Passed to :meth:`requests.Session.request` (``json``, ``data``, ``headers``, ...).
        """
        retries = self.retry.sleeps()
        while True:
            try:
                response = self.send(method, url, **kwargs)
                try:
                    return parse(response)
                except CONNECTION_ERRORS as error:
                    raise TransportError(
                        f"{self.service}: {url}: connection dropped while reading: {type(error).__name__}"
                    ) from None
            except (ApiError, TransportError) as error:
                attempt = next(retries, None)
                wait_hint = getattr(error, "retry_after", None)
                if attempt is None or not is_retryable(error) or (wait_hint or 0) > self.retry.max_retry_after:
                    raise
                if on_retry is not None:
                    on_retry(error)
                delay = self.retry.delay(attempt, wait_hint)
                log.info(
                    "%s: %s; retry %d/%d in %.1fs", self.service, error, attempt + 1, self.retry.attempts - 1, delay
                )
                self.sleep(delay)
