"""``Usgs``: the USGS M2M JSON API client (login-token, scene search as a GeoDataFrame, logout)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import geopandas as gpd
import pandas as pd

from . import _datasets, _inputs, _m2m_wire as wire
from ._config import load_config
from ._http import HttpClient, retry_after_seconds
from .exceptions import AuthenticationError, InvalidInputError

log = logging.getLogger("lsru_geo.m2m")
PAGE_SIZE = 10_000  # the M2M docs recommend maxResults below 10,000 per request
METADATA_TYPES = ("summary", "full")


class Usgs:
    """Client of the USGS Machine-to-Machine (M2M) JSON API.

    Parameters
    ----------
    version : str
        API version; ``'stable'`` is the one USGS maintains.
    conf : str or path-like, optional
        Configuration file with ``username`` and ``token`` (an M2M application token) in its ``[usgs]``
        section; default ``~/.lsru``. ``LSRU_USERNAME``/``LSRU_TOKEN``/``LSRU_M2M_URL`` override it.

    Attributes
    ----------
    USER : str
        The USGS ERS username.
    endpoint : str
        API root of this version, e.g. ``https://m2m.cr.usgs.gov/api/api/json/stable/``.
    key : str or None
        The API key from the last :meth:`login` (sent as ``X-Auth-Token``); ``None`` before it.
    key_dt : datetime.datetime or None
        When that key was obtained (UTC).

    Notes
    -----
    The service allows one request at a time per user, so an instance sends one request at a time (a lock
    serialises threads that share it), pages searches one after the other, and retries ``RATE_LIMIT_USER``
    with backoff. A key that expired (two hours without use) is renewed once, transparently.

    Examples
    --------
    >>> usgs = Usgs()
    >>> usgs.login()
    True
    >>> scenes = usgs.search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4.0, 44.0), begin="2018-01-01", end="2018-01-31")
    >>> scenes.crs.to_epsg(), list(scenes.columns[:3])
    (4326, ['display_id', 'entity_id', 'dataset'])
    """

    def __init__(self, version: str = "stable", conf: str | None = None) -> None:
        self._config = load_config(conf)
        self.USER = self._config.username
        self.version = version
        self.endpoint = f"{self._config.m2m_url}{version}/"
        self.key: str | None = None
        self.key_dt: dt.datetime | None = None
        self._http = HttpClient("m2m")
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        state = "logged in" if self.key else "not logged in"
        return f"Usgs(user={self.USER!r}, endpoint={self.endpoint!r}, {state})"

    def __enter__(self) -> Usgs:
        self.login()
        return self

    def __exit__(self, *exc: object) -> None:
        self.logout()

    @property
    def key_age(self) -> dt.timedelta | None:
        """Time since the API key was obtained; ``None`` when not logged in."""
        return dt.datetime.now(dt.timezone.utc) - self.key_dt if self.key_dt else None

    @staticmethod
    def get_collection_name(num: int, level: int = 2) -> str:
        """Collection 2 M2M dataset name of a Landsat satellite.

        Parameters
        ----------
        num : int
            Landsat number: 4 or 5 (TM), 7 (ETM+), 8 or 9 (OLI/TIRS).
        level : int
            Processing level, 1 or 2 (default: surface reflectance, level 2).

        Examples
        --------
        >>> Usgs.get_collection_name(8), Usgs.get_collection_name(5, level=1)
        ('landsat_ot_c2_l2', 'landsat_tm_c2_l1')
        """
        return _datasets.collection_name(num, level)

    # -- requests -------------------------------------------------------------------------------------
    def _post(self, endpoint: str, payload: dict | None, headers: dict | None = None, decode=wire.unwrap) -> Any:
        url = self.endpoint + endpoint
        return self._http.call(
            "POST",
            url,
            lambda response: decode(response.content, response.status_code, url, retry_after_seconds(response)),
            json=payload,
            headers=headers,
        )

    def login(self) -> bool:
        """Obtain an API key with ``login-token`` (username and application token).

        Returns
        -------
        bool
            True on success.

        Raises
        ------
        ConfigError
            If the username or token is not configured.
        AuthenticationError
            If the service refuses the credentials (its message is kept).
        """
        self._config.require("username", "token")
        with self._lock:
            key = self._post("login-token", {"username": self._config.username, "token": self._config.token.reveal()})
            if not isinstance(key, str) or not key:
                raise AuthenticationError("login-token returned no API key", service="m2m", url=self.endpoint + "login-token")
            self.key, self.key_dt = key, dt.datetime.now(dt.timezone.utc)
        log.info("logged in to M2M as %s", self.USER)
        return True

    def logout(self) -> None:
        """Invalidate the API key on the service (an already expired key is simply forgotten)."""
        with self._lock:
            if self.key is None:
                return
            try:
                self._post("logout", None, {"X-Auth-Token": self.key})
            except AuthenticationError:
                pass  # expired or unknown: nothing left to invalidate
            finally:
                self.key = self.key_dt = None

    def request(self, endpoint: str, payload: dict | None = None, *, decode=wire.unwrap) -> Any:
        """Send an authenticated request to any M2M endpoint and return its ``data``.

        Logs in first when needed, and once more if the key expired (``AUTH_EXPIRED``). ``decode(content,
        status, url, retry_after)`` turns the answer into data (default: the generic envelope reader).
        """
        with self._lock:
            if self.key is None:
                self.login()
            try:
                return self._post(endpoint, payload, {"X-Auth-Token": self.key}, decode)
            except AuthenticationError as error:
                if error.code not in ("AUTH_EXPIRED", "AUTH_KEY_INVALID"):
                    raise
                log.info("M2M key %s; logging in again", error.code)
                self.key = None
                self.login()
                return self._post(endpoint, payload, {"X-Auth-Token": self.key}, decode)

    # -- search ---------------------------------------------------------------------------------------
    def search(
        self,
        collection: str,
        bbox: tuple[float, float, float, float] | None = None,
        begin: Any = None,
        end: Any = None,
        max_cloud_cover: float = 100,
        months: list[int] | None = None,
        starting_number: int = 1,
        max_results: int = 50000,
        *,
        aoi: Any = None,
        metadata: str = "summary",
    ) -> gpd.GeoDataFrame:
        """Search the Landsat catalogue and return one row per scene.

        Parameters
        ----------
        collection : str
            M2M dataset, e.g. ``'landsat_ot_c2_l2'`` (see :meth:`get_collection_name`). Retired Collection 1
            names (``'LANDSAT_8_C1'``, ...) are mapped to their Collection 2 successor with a warning.
        bbox : tuple of float, optional
            ``(left, bottom, right, top)`` in degrees, EPSG:4326; sent as an ``mbr`` filter.
        begin, end : date-like, optional
            Acquisition dates, both inclusive (the service compares dates, not times).
        max_cloud_cover : float
            Highest scene cloud cover kept, 0-100 percent; scenes of unknown cover are left out below 100.
        months : list of int, optional
            Months 1-12 to keep (a seasonal filter).
        starting_number : int
            1-based position of the first result to return.
        max_results : int
            Most scenes returned; the search pages through the service, one request at a time.
        aoi : geometry, GeoJSON dict, GeoSeries or GeoDataFrame, optional
            Area of interest in any CRS, sent as a ``geojson`` filter (instead of ``bbox``).
        metadata : {'summary', 'full'}
            ``'full'`` adds every metadata field of the service as a snake_case column.

        Returns
        -------
        geopandas.GeoDataFrame
            Footprints in EPSG:4326; columns ``display_id, entity_id, dataset, satellite, sensor,
            processing_level, path, row, acquired, processed, collection, collection_category, cloud_cover,
            browse_url, geometry`` (and the metadata columns). No scenes give an empty frame with the same
            columns. ``attrs['total_hits']`` holds the service's count of matching scenes.

        Raises
        ------
        InvalidInputError
            For a bad bbox, aoi, date, month, cloud cover, collection or paging value, before any request.
        """
        dataset = _datasets.resolve(collection)
        if bbox is not None and aoi is not None:
            raise InvalidInputError("give either bbox or aoi, not both")
        box = _inputs.check_bbox(bbox) if bbox is not None else None
        geometry = _inputs.to_geometry(aoi) if aoi is not None else None
        first, last = _inputs.check_dates(begin, end)
        cloud = _inputs.check_cloud(max_cloud_cover)
        month_list = _inputs.check_months(months)
        _inputs.check_positive_int(starting_number, "starting_number")
        _inputs.check_positive_int(max_results, "max_results")
        if metadata not in METADATA_TYPES:
            raise InvalidInputError(f"metadata must be one of {METADATA_TYPES}, got {metadata!r}")
        spatial = wire.spatial_filter(geometry, box)

        results: list[wire.SceneRecord] = []
        position, total = starting_number, None
        while len(results) < max_results:
            payload = wire.scene_search_payload(
                dataset, spatial=spatial, begin=first, end=last, max_cloud_cover=cloud, months=month_list,
                starting_number=position, max_results=min(PAGE_SIZE, max_results - len(results)), metadata_type=metadata,
            )
            full = metadata == "full"
            page = self.request("scene-search", payload, decode=lambda *answer: wire.decode_scene_page(*answer, full=full))
            batch = page.results
            total = page.totalHits if page.totalHits is not None else total
            results.extend(batch)
            log.debug("scene-search page from %d: %d of %s", position, len(batch), total)
            position += len(batch)
            if not batch or total is None or position > total:
                break  # nextRecord equals totalHits on the last page, so positions decide, not nextRecord
        frame = wire.scenes_frame(results, dataset, full_metadata=metadata == "full")
        frame.attrs["total_hits"] = total or 0
        return frame

    def scene_metadata(self, landsat_id: str, collection: str, metadata: str = "full") -> dict:
        """The service's metadata record of one scene, by product id (display id) or scene id (entity id)."""
        from ._ids import parse_id

        kind = parse_id(landsat_id)["kind"]
        dataset = _datasets.resolve(collection)
        payload = {"datasetName": dataset, "entityId": landsat_id, "idType": "displayId" if kind == "product" else "entityId",
                   "metadataType": metadata}
        return self.request("scene-metadata", payload)
