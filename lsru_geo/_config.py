"""Where the services are and who the user is: the ``~/.lsru`` file and ``LSRU_*`` environment variables.

The INI file has one section::

    [usgs]
    username = your_ers_username
    token = your_m2m_application_token
    password = your_ers_password

``token`` is an M2M application token (generated in ERS; the password ``login`` endpoint was removed in
February 2025) and ``password`` is used for ESPA, which still takes HTTP basic auth. The environment
variables ``LSRU_USERNAME``, ``LSRU_TOKEN`` and ``LSRU_PASSWORD`` override the file, and ``LSRU_M2M_URL``
and ``LSRU_ESPA_URL`` point the clients at other hosts (the emulator, for instance); arguments of the clients
(``Usgs(url=..., username=..., token=...)``) override both. Plain-HTTP URLs are refused except on loopback or with
``LSRU_ALLOW_HTTP=1``. No network here.

Service URLs are accepted in the forms people copy: the M2M root with or without its version segment
(``https://m2m.cr.usgs.gov/api/api/json/`` or ``.../json/stable/``), the ESPA root with or without ``v1``, with or
without the trailing slash.
"""

from __future__ import annotations

import configparser
import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from ._secret import Secret
from ._warn import warn
from .exceptions import ConfigError, InsecureConfigWarning

DEFAULT_CONF = "~/.lsru"
M2M_URL = "https://m2m.cr.usgs.gov/api/api/json/"
ESPA_URL = "https://espa.cr.usgs.gov/api/v1/"

_ENV = {"username": "LSRU_USERNAME", "token": "LSRU_TOKEN", "password": "LSRU_PASSWORD"}
_WHAT = {
    "username": "your USGS ERS username",
    "token": "an M2M application token (create one at https://ers.cr.usgs.gov)",
    "password": "your USGS ERS password (ESPA uses HTTP basic auth)",
}


@dataclass(frozen=True)
class Config:
    """Credentials and service URLs, resolved from arguments, environment and file.

    Attributes
    ----------
    path : pathlib.Path
        The configuration file that was (or would have been) read.
    username : str or None
    token, password : Secret or None
        Masked in every repr; ``.reveal()`` gives the value.
    m2m_url : str
        M2M JSON API root, without the version (``https://m2m.cr.usgs.gov/api/api/json/``).
    espa_url : str
        ESPA API root of version 1 (``https://espa.cr.usgs.gov/api/v1/``).
    """

    path: Path
    username: str | None
    token: Secret | None
    password: Secret | None
    m2m_url: str
    espa_url: str

    def require(self, *keys: str) -> None:
        """Raise :class:`ConfigError` naming every key in ``keys`` that has no value, and how to set it."""
        missing = [key for key in keys if not getattr(self, key)]
        if not missing:
            return
        where = "" if self.path.exists() else f" (the file {self.path} does not exist)"
        lines = "\n".join(f"    {key} = <{_WHAT[key]}>" for key in missing)
        env = ", ".join(_ENV[key] for key in missing)
        raise ConfigError(
            f"missing {', '.join(missing)}{where}. Add to {self.path}:\n    [usgs]\n{lines}\n"
            f"or set the environment variable(s) {env}."
        )

    def with_secrets_reread(self) -> Config:
        """Return this configuration with the credentials it lacks read again from its file and ``LSRU_*``.

        Secrets never pickle (:class:`~lsru_geo._secret.Secret`): an unpickled client calls this to get them
        back from where they came, in the process it now runs in. A file that cannot be read leaves them absent.
        """
        if self.token and self.password:
            return self
        try:
            fresh = load_config(self.path)
        except ConfigError:
            return self
        # still absent: keep the unpickled Secret, whose reveal() says why there is no value
        return replace(
            self,
            token=self.token or fresh.token or self.token,
            password=self.password or fresh.password or self.password,
        )


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


# a last path segment that names an M2M API version rather than the root: "stable", "experimental", "1.5", ...
_M2M_VERSION = re.compile(r"stable|experimental|development|\d+(\.\d+)*", re.IGNORECASE)


def m2m_root(url: str) -> str:
    """Return the M2M JSON API root, without the version segment that USGS's documented URLs end with.

    Examples
    --------
    >>> m2m_root("https://m2m.cr.usgs.gov/api/api/json/stable/")
    'https://m2m.cr.usgs.gov/api/api/json/'
    >>> m2m_root("https://m2m.cr.usgs.gov/api/api/json")
    'https://m2m.cr.usgs.gov/api/api/json/'
    """
    root, _, last = url.rstrip("/").rpartition("/")
    return (root if _M2M_VERSION.fullmatch(last) and "://" in root else url.rstrip("/")) + "/"


def espa_root(url: str) -> str:
    """Return the ESPA API root of version 1, from the host, the ``/api`` root or the ``/api/v1`` root.

    Examples
    --------
    >>> espa_root("https://espa.cr.usgs.gov"), espa_root("https://espa.cr.usgs.gov/api/v1")
    ('https://espa.cr.usgs.gov/api/v1/', 'https://espa.cr.usgs.gov/api/v1/')
    """
    url = url.rstrip("/")
    if urlsplit(url).path in ("", "/"):
        url += "/api"
    if url.endswith("/api"):
        url += "/v1"
    return url + "/"


def _url(value: str, variable: str) -> str:
    """A service root, ending with ``/``; plain HTTP only on loopback (the emulator) or with ``LSRU_ALLOW_HTTP=1``,
    since credentials travel in these requests."""
    if not isinstance(value, str):
        raise ConfigError(f"{variable} must be an http(s) URL, got {value!r:.100}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number within 0-65535
    except ValueError:  # "http://[": an unclosed IPv6 address
        raise ConfigError(f"{variable} must be an http(s) URL, got {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{variable} must be an http(s) URL, got {value!r}")
    loopback = parts.hostname in LOOPBACK_HOSTS or (parts.hostname or "").startswith("127.")
    if parts.scheme == "http" and not loopback and os.environ.get("LSRU_ALLOW_HTTP") != "1":
        raise ConfigError(
            f"{variable} is plain HTTP ({value}): credentials would travel unencrypted. Use https, "
            "or set LSRU_ALLOW_HTTP=1 if you really mean it"
        )
    return value if value.endswith("/") else value + "/"


def load_config(
    conf: str | os.PathLike[str] | None = None,
    *,
    username: str | None = None,
    token: Secret | str | None = None,
    password: Secret | str | None = None,
    m2m_url: str | None = None,
    espa_url: str | None = None,
) -> Config:
    """Read the configuration file ``conf`` (default ``~/.lsru``), apply ``LSRU_*`` overrides, then the arguments.

    Parameters
    ----------
    conf : str or path-like, optional
        INI file with a ``[usgs]`` section. A missing file is not an error here; :meth:`Config.require`
        reports what is missing when a client needs it.
    username : str, optional
        Overrides ``LSRU_USERNAME`` and the file.
    token, password : Secret, optional
        Override ``LSRU_TOKEN``/``LSRU_PASSWORD`` and the file; wrap them in :class:`~lsru_geo.Secret` so that
        they never print (a plain string is wrapped here).
    m2m_url, espa_url : str, optional
        Override ``LSRU_M2M_URL``/``LSRU_ESPA_URL``; any of the forms :func:`m2m_root`/:func:`espa_root` accept.

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        If ``conf`` is not a path, or the file exists but is not UTF-8 text, cannot be parsed or has no
        ``[usgs]`` section.
    """
    try:
        path = Path(os.path.expanduser(os.fspath(conf if conf is not None else DEFAULT_CONF)))
    except TypeError:
        raise ConfigError(f"conf must be a path to a configuration file, got {conf!r}") from None
    values: dict[str, str] = {}
    if path.exists():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8-sig")  # UTF-8, with or without the BOM some editors write
        except configparser.Error as error:
            raise ConfigError(
                f"cannot parse {path}: {type(error).__name__} at line {getattr(error, 'lineno', '?')}"
            ) from None
        except UnicodeDecodeError as error:
            raise ConfigError(f"cannot read {path}: it is not UTF-8 text (byte {error.start})") from None
        if not parser.has_section("usgs"):
            raise ConfigError(f"{path} has no [usgs] section; sections found: {parser.sections() or 'none'}")
        values = {key: value.strip() for key, value in parser.items("usgs") if value.strip()}
        if os.name == "posix" and path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
            warn(f"{path} is readable by other users; run `chmod 600 {path}`", InsecureConfigWarning)
    for key, variable in _ENV.items():
        if os.environ.get(variable):
            values[key] = os.environ[variable]
    given = {"username": username, "token": token, "password": password}
    for key, value in given.items():
        if value is None:
            continue
        if not isinstance(value, (str, Secret)) or not (value if isinstance(value, Secret) else value.strip()):
            shown = "a Secret" if key != "username" else "a string"
            raise ConfigError(f"{key} must be {shown} holding a non-empty value, got {type(value).__name__}")
        values[key] = value.reveal() if isinstance(value, Secret) else value.strip()
    m2m = (m2m_url, "url") if m2m_url is not None else (os.environ.get("LSRU_M2M_URL") or M2M_URL, "LSRU_M2M_URL")
    espa = (espa_url, "url") if espa_url is not None else (os.environ.get("LSRU_ESPA_URL") or ESPA_URL, "LSRU_ESPA_URL")
    return Config(
        path=path,
        username=values.get("username"),
        token=Secret(values["token"]) if "token" in values else None,
        password=Secret(values["password"]) if "password" in values else None,
        m2m_url=m2m_root(_url(*m2m)),
        espa_url=espa_root(_url(*espa)),
    )
