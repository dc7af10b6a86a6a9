"""The next step to take, appended to the errors a newcomer meets first.

A refused token, an unreachable or wrong service URL, a refused ESPA password. Pure text; no network.
"""

from __future__ import annotations

import requests
import urllib3

from .exceptions import ApiError

URL_VARIABLES = {"m2m": "LSRU_M2M_URL", "espa": "LSRU_ESPA_URL"}
EXPECTED_URLS = {
    "m2m": "https://m2m.cr.usgs.gov/api/api/json/ (with or without stable/)",
    "espa": "https://espa.cr.usgs.gov/api/v1/",
}
TOKEN_HELP = (
    "create an M2M application token in ERS (https://ers.cr.usgs.gov, Profile > Application Tokens; the ERS "
    "password does not work for M2M) and set LSRU_TOKEN, or token = <token> in the [usgs] section of ~/.lsru"
)
PASSWORD_HELP = (
    "ESPA takes your ERS username and password (not the M2M token): set LSRU_PASSWORD, or password = <password> "
    "in the [usgs] section of ~/.lsru"
)


def connection_failed(service: str, method: str, url: str, error: BaseException) -> str:
    """Message of a request that got no answer; says what to check when nothing listens there or the host is unknown.

    Examples
    --------
    >>> import requests
    >>> connection_failed("m2m", "POST", "http://127.0.0.1:9/x", requests.Timeout())
    'm2m: POST http://127.0.0.1:9/x failed: Timeout'
    """
    text = f"{service}: {method} {url} failed: {type(error).__name__}"
    reason = _connect_failure(error)
    if reason is None:
        return text
    check = URL_VARIABLES.get(service)
    where = f"check {check} (or url=)" if check else "check the URL"
    return (
        f"{text} ({reason}): no service answers at {url}. To work offline, start `lsru-geo emulator` and run the "
        f"export lines it prints; otherwise {where}"
    )


def _connect_failure(error: BaseException) -> str | None:
    """Say ``'connection refused'`` or ``'unknown host'`` when the connection could not be opened at all."""
    if not isinstance(error, requests.ConnectionError) or isinstance(error, requests.Timeout):
        return None
    reason = getattr(error.args[0], "reason", None) if error.args else None
    if isinstance(reason, getattr(urllib3.exceptions, "NameResolutionError", ())):  # urllib3 2
        return "unknown host"
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return "connection refused"
    return None


def wrong_url(error: ApiError, root: str) -> ApiError:
    """Add to a 404 / "Invalid Endpoint" answer the URL that was used and the form the service root takes."""
    variable = URL_VARIABLES[error.service]
    return _append(
        error,
        f"{error.url or root} is not a {error.service.upper()} API endpoint: {variable} (or url=) is {root}, "
        f"expected a root like {EXPECTED_URLS[error.service]}",
    )


def refused_token(error: ApiError, username: str | None) -> ApiError:
    """Add what to do when M2M refuses the login of ``username`` (an unknown, revoked or expired token)."""
    return _append(error, f"USGS refused the token of {username!r}: {TOKEN_HELP}")


def refused_password(error: ApiError, username: str | None) -> ApiError:
    """Add what to do when ESPA refuses the basic-auth password of ``username``."""
    return _append(error, f"ESPA refused the password of {username!r}: {PASSWORD_HELP}")


def _append(error: ApiError, hint: str) -> ApiError:
    error.message = f"{error.message}. {hint}"
    error.args = (error.message,)
    return error
