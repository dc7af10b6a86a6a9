"""A loopback emulator of the USGS M2M API, the ESPA API and the ESPA download host.

It imports nothing from the rest of lsru_geo (so it cannot share the client's bugs), and nothing in the
library imports it. Start it in Python::

    from lsru_geo.emulator import Emulator
    with Emulator() as emu:          # picks a free port on 127.0.0.1
        emu.m2m_url, emu.espa_url    # service roots to give a client (or emu.env() for LSRU_* variables)
        emu.clock.advance(hours=3)   # keys expire, orders progress
        emu.faults.add("m2m", "scene-search", "status", status=503, times=2)

or from a shell: ``lsru-geo emulator --port 8080`` / ``python -m lsru_geo.emulator --port 8080``.

Where to read what it does and the choices it makes where the contracts are silent: the catalogue and its
acquisition calendar (overpass time per mission and year, day-lit rows) in :mod:`._catalogue`; Level-2
rasters in :mod:`._raster`, Level-1 rasters and MTL in :mod:`._level1`; ESPA customisation (reprojection,
resampling, cropping) in :mod:`._customise`; M2M downloads, Level-1 bundles and bundles that are unavailable
while their files are in :mod:`._m2m_downloads`; ESPA orders in :mod:`._espa_orders`.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ._browse import BrowseService
from ._chaos import chaos_faults
from ._espa import EspaService
from ._files import FileHost
from ._m2m import API_PREFIX, M2MService
from ._m2m_downloads import DdsHost
from ._server import Clock, EmulatorHTTPServer, Fault, Faults, RequestLog

__all__ = ["Emulator", "EmulatorOptions", "Fault", "User"]


@dataclass(frozen=True)
class User:
    """An account the emulator accepts: M2M ``login-token`` takes ``token``, ESPA basic auth ``password``."""

    username: str = "demo"
    token: str = "demo-token"
    password: str = "demo-password"
    email: str = "demo@example.com"
    contact_id: int = 821389


@dataclass
class EmulatorOptions:
    """Behaviour switches.

    Attributes
    ----------
    m2m_http_errors : bool
        Answer M2M AUTH_* errors with HTTP 401 and RATE_LIMIT* with 429 instead of the usual HTTP 200.
    raster_size : int
        Approximate pixels per side of product rasters (7,000+ gives the real 30 m resolution).
    processing_seconds : float
        Emulated seconds an ESPA item spends in each of its waiting and processing states.
    error_rate, retry_rate, unavailable_rate : float
        Shares of ESPA items that end in ``error``, pass through ``retry``, or are ``unavailable``
        (drawn deterministically from the order and item names).
    purge_days : float
        Days after completion when an ESPA order is purged (files removed, URLs blanked).
    open_unit_limit : int
        Open ESPA items a user may have at once (10,000 on the real service).
    m2m_prepare_seconds : float
        Emulated seconds an M2M bundle download is "preparing" before its URL works.
    download_limit_recent, download_limit_pending : int
        M2M download-request limits per user (15,000 in 15 minutes and 20,000 pending on the real service).
    bundle_unavailable_share : float
        Share of scenes whose M2M product bundle is listed ``available: false`` while their individual files
        are available (as eodag users met on the real service); which scenes is a hash of the product id.
    cache_dir : Path or None
        Where generated products are kept; a temporary folder by default.
    """

    m2m_http_errors: bool = False
    raster_size: int = 256
    processing_seconds: float = 60.0
    error_rate: float = 0.0
    retry_rate: float = 0.0
    unavailable_rate: float = 0.0
    purge_days: float = 10.0
    open_unit_limit: int = 10_000
    m2m_prepare_seconds: float = 30.0
    download_limit_recent: int = 15_000
    download_limit_pending: int = 20_000
    bundle_unavailable_share: float = 0.05
    cache_dir: Path | None = None


class Emulator:
    """The emulator server, run in a background thread.

    Parameters
    ----------
    host : str
        Interface to bind; loopback by default.
    port : int
        0 lets the system pick a free port (read it back from :attr:`url`).
    users : list of User, optional
        Accounts; by default one ``demo`` user (token ``demo-token``, password ``demo-password``).
    seed : int
        Seed of the fault generator, so randomly injected faults repeat.
    **options
        Fields of :class:`EmulatorOptions`.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, users: list[User] | None = None, seed: int = 0, **options
    ) -> None:
        self.users = {u.username: u for u in (users or [User()])}
        self.options = EmulatorOptions(**options)
        self.clock = Clock()
        self.faults = Faults(seed)
        self.log = RequestLog()
        self.server = EmulatorHTTPServer((host, port), self.clock, self.faults, self.log)
        if self.options.cache_dir is None:
            self._cache = tempfile.TemporaryDirectory(prefix="lsru-emulator-")
            self.options.cache_dir = Path(self._cache.name)
        self.m2m = M2MService(self)
        self.m2m.base_url = self.url + "/"
        self.files = FileHost(self)
        self.dds = DdsHost(self)
        self.espa = EspaService(self)
        self.server.route(
            API_PREFIX, "m2m", self.m2m.handle, lambda rest: rest.strip("/").partition("/")[2] or rest.strip("/")
        )
        self.server.route("/api", "espa", self.espa.handle, self.espa.endpoint_of)
        self.server.route(FileHost.PREFIX, "download", self.files.handle, self.files.endpoint_of)
        self.server.route(DdsHost.PREFIX, "download", self.dds.handle, self.dds.endpoint_of)
        self.browse = BrowseService(self)
        self.server.route("/gen-browse", "browse", self.browse.handle, self.browse.endpoint_of)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Root URL, ``http://127.0.0.1:<port>``."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def m2m_url(self) -> str:
        """M2M JSON API root without the version (what ``LSRU_M2M_URL`` takes)."""
        return f"{self.url}{API_PREFIX}"

    @property
    def espa_url(self) -> str:
        """ESPA API v1 root (what ``LSRU_ESPA_URL`` takes)."""
        return f"{self.url}/api/v1/"

    def env(self, username: str | None = None) -> dict[str, str]:
        """``LSRU_*`` environment variables that point a client at this emulator as ``username``."""
        user = self.users[username] if username else next(iter(self.users.values()))
        return {
            "LSRU_M2M_URL": self.m2m_url,
            "LSRU_ESPA_URL": self.espa_url,
            "LSRU_USERNAME": user.username,
            "LSRU_TOKEN": user.token,
            "LSRU_PASSWORD": user.password,
        }

    def write_config(self, path: str | Path, username: str | None = None) -> Path:
        """Write an lsru configuration file (mode 600) holding a user's credentials; returns its path."""
        user = self.users[username] if username else next(iter(self.users.values()))
        path = Path(path)
        path.write_text(f"[usgs]\nusername = {user.username}\ntoken = {user.token}\npassword = {user.password}\n")
        path.chmod(0o600)
        return path

    def chaos(
        self, rate: float, *, delay: float = 20.0, retry_after: float = 1.0, seed: int | None = None
    ) -> list[Fault]:
        """Inject every fault kind at random, each into ``rate`` of its matching requests; returns the rules.

        Parameters
        ----------
        rate : float
            Probability that one fault rule hits one matching request (see ``_chaos`` for the list).
        delay : float
            Seconds a slow answer is held: above the client's read timeout to test timeouts.
        retry_after : float
            ``Retry-After`` seconds of the 429 answers.
        seed : int, optional
            Reseed the fault generator first.
        """
        if seed is not None:
            self.faults.reseed(seed)
        return [self.faults.add(**fault) for fault in chaos_faults(rate, delay=delay, retry_after=retry_after)]

    def reset(self) -> None:
        """Forget sessions, orders and faults, and clear the request log."""
        self.m2m.reset()
        self.espa.reset()
        self.files.reset()
        self.dds.reset()
        self.faults.clear()
        self.log.clear()

    def start(self) -> Emulator:
        """Serve in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.server.serve_forever, name="lsru-emulator", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server.server_close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        try:
            self.server.serve_forever()
        finally:
            self.server.server_close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Emulator(url={self.url!r}, users={list(self.users)})"
