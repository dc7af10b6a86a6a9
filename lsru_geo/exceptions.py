"""Exceptions and warnings raised by lsru_geo.

Every error lsru_geo raises derives from :class:`LsruError`, so ``except LsruError`` catches them all. Errors
that stand for a built-in condition also derive from the built-in (``InvalidInputError`` is a ``ValueError``,
``NotFoundError`` a ``LookupError``), so code written against the standard exceptions keeps working.
This module imports nothing from lsru_geo or third-party packages.
"""

from __future__ import annotations


class LsruError(Exception):
    """Base class of every exception raised by lsru_geo."""


class ConfigError(LsruError):
    """The configuration file or environment is missing something or holds a bad value."""


class InvalidInputError(LsruError, ValueError):
    """An argument is invalid; raised before any request is sent."""


class UnsafeNameError(InvalidInputError):
    """A name from a server, a file or the caller is not one safe path component inside its folder."""


class OversizedMetadataError(InvalidInputError):
    """A product's metadata states (or is) something larger than any real Landsat product: refused unread."""


class SeparateAreasError(InvalidInputError):
    """Products to stack fall into areas far apart: one grid over them would be mostly empty.

    Attributes
    ----------
    groups : list of list of str
        The product ids of each area.
    """

    def __init__(self, message: str, groups: list[list[str]] | None = None) -> None:
        super().__init__(message)
        self.groups = groups or []

    def __reduce__(self) -> tuple:
        return type(self), (self.args[0], self.groups)


class TransportError(LsruError, ConnectionError):
    """The service could not be reached, or the connection kept dropping or stalling, after every retry."""


class StallError(TransportError):
    """A transfer moved too slowly for too long, or an answer did not arrive within its deadline.

    Handled like a dropped connection (retried, resumed where possible); unlike one, a stalled attempt never
    counts as progress, so a server that trickles bytes cannot keep a download retrying for ever.
    """


class ApiError(LsruError):
    """A USGS M2M or ESPA request failed; keeps what the service said.

    Parameters
    ----------
    message : str
        The service's error message (or a description when it gave none).
    service : str
        ``"m2m"``, ``"espa"`` or ``"download"``.
    status : int, optional
        HTTP status of the response.
    code : str, optional
        The service's error code (M2M ``errorCode``), when it gave one.
    url : str, optional
        The URL that was requested (never carries credentials).
    """

    def __init__(
        self,
        message: str,
        *,
        service: str,
        status: int | None = None,
        code: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.status = status
        self.code = code
        self.url = url

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no response"
        return f"{self.service} ({where}, {self.code or 'no code'}): {self.message}"

    def __reduce__(self):  # keep keyword-only fields through pickling (dask, multiprocessing)
        return _rebuild_api_error, (type(self), self.message, self.__dict__)


def _rebuild_api_error(cls: type, message: str, state: dict) -> ApiError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class AuthenticationError(ApiError):
    """Login refused, API key invalid or expired, or HTTP basic auth rejected."""


class RateLimitError(ApiError):
    """The service refused the request because of a rate or concurrency limit.

    Attributes
    ----------
    retry_after : float or None
        Seconds the service asked the client to wait (``Retry-After``), when it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **fields) -> None:
        super().__init__(message, **fields)
        self.retry_after = retry_after


class NotFoundError(ApiError, LookupError):
    """Unknown endpoint, dataset, scene or order."""


class ServerError(ApiError):
    """The service failed on its side (HTTP 5xx or a server error code)."""


class OrderRejectedError(ApiError):
    """ESPA refused an order (validation, unavailable inputs or the open-unit limit).

    Attributes
    ----------
    errors : list of str
        Every message the service gave, flattened from its ``messages.errors`` structure.
    """

    def __init__(self, message: str, *, errors: list[str] | None = None, **fields) -> None:
        super().__init__(message, **fields)
        self.errors = errors or [message]


class DownloadError(LsruError):
    """Files could not be downloaded and verified.

    Parameters
    ----------
    message : str
    failed : dict, optional
        See :attr:`failed`.

    Attributes
    ----------
    failed : dict of str to str
        One entry per file that failed, keyed by its local path (``str``, where the file would have been
        written) with the reason as value. Empty when the error is about one file raised on its own.
    """

    failed: dict[str, str]

    def __init__(self, message: str, *, failed: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failed = dict(failed or {})


class ChecksumError(DownloadError):
    """A downloaded file's size or MD5 does not match what the service announced."""


class UnsafeArchiveError(LsruError):
    """An archive is refused: a member escapes the target or is a link or device, or a limit is exceeded.

    The limits are on the number of members, the total size and the compression ratio.
    """


class LsruWarning(UserWarning):
    """Base class of every warning issued by lsru_geo."""


class RenamedWarning(LsruWarning, FutureWarning):
    """A retired name (Collection 1 dataset or product) was mapped to its current successor."""


class InsecureConfigWarning(LsruWarning):
    """The credentials file can be read by other users."""


class BundleUnavailableWarning(LsruWarning):
    """USGS lists a scene's product bundle as unavailable; its individual files were downloaded instead."""
