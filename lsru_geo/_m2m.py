"""``Usgs``: the USGS M2M JSON API client (login-token, scene search as a GeoDataFrame, logout)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from . import _datasets, _hints, _inputs
from . import _m2m_wire as wire
from ._config import load_config
from ._http import HttpClient, retry_after_seconds
from ._secret import Secret
from .exceptions import ApiError, AuthenticationError, BundleUnavailableWarning, InvalidInputError, NotFoundError

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
    url : str, optional
        M2M JSON API root, with or without the version segment (``https://m2m.cr.usgs.gov/api/api/json/stable/``),
        whose place ``version`` takes; overrides ``LSRU_M2M_URL`` and the default.
    username : str, optional
        Overrides ``LSRU_USERNAME`` and the file.
    token : Secret, optional
        The M2M application token, as ``Secret("...")`` so it never prints; overrides ``LSRU_TOKEN`` and the file.

    Attributes
    ----------
    USER : str
        The USGS ERS username.
    endpoint : str
        API root of this version, e.g. ``https://m2m.cr.usgs.gov/api/api/json/stable/``.
    key : Secret or None
        The API key from the last :meth:`login` (sent as ``X-Auth-Token``; ``key.reveal()`` gives it); ``None``
        before it.
    key_dt : datetime.datetime or None
        When that key was obtained (UTC).

    Notes
    -----
    The service allows one request at a time per user, so an instance sends one request at a time (a lock
    serialises threads that share it), pages searches one after the other, and retries ``RATE_LIMIT_USER``
    with backoff. A key that expired (two hours without use) is renewed once, transparently.

    A pickled client (a dask task graph, multiprocessing) carries no credential: neither the token nor the API
    key. Unpickled, it reads the token again from its configuration file and ``LSRU_*`` variables, and logs
    in again when it first needs to.

    Examples
    --------
    >>> usgs = Usgs()
    >>> usgs.login()
    True
    >>> scenes = usgs.search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4.0, 44.0), begin="2018-01-01", end="2018-01-31")
    >>> scenes.crs.to_epsg(), list(scenes.columns[:3])
    (4326, ['display_id', 'entity_id', 'dataset'])
    """

    # an expired key is replaced this many times for one request; a service that keeps expiring fresh keys is broken
    RELOGINS = 3

    def __init__(
        self,
        version: str = "stable",
        conf: str | None = None,
        *,
        url: str | None = None,
        username: str | None = None,
        token: Secret | None = None,
    ) -> None:
        self._config = load_config(conf, username=username, token=token, m2m_url=url)
        self.USER = self._config.username
        self.version = _inputs.check_api_version(version)  # a path segment of every request URL
        self.endpoint = f"{self._config.m2m_url}{version}/"
        self.key: Secret | None = None
        self.key_dt: dt.datetime | None = None
        self._http = HttpClient("m2m")
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        state = "logged in" if self.key else "not logged in"
        return f"Usgs(user={self.USER!r}, endpoint={self.endpoint!r}, {state})"

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        http = state.pop("_http")
        state["_http_settings"] = (http.timeout, http.retry, http.limits)
        del state["_lock"]
        state["key"] = state["key_dt"] = None  # an API key stays in the process it was issued to
        return state

    def __setstate__(self, state: dict) -> None:
        timeout, retry, limits = state.pop("_http_settings")
        self.__dict__.update(state)
        self._config = self._config.with_secrets_reread()
        self._http = HttpClient("m2m", timeout=timeout, retry=retry, limits=limits)
        self._lock = threading.RLock()

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
        try:
            return self._send(endpoint, payload, headers, decode)
        except AuthenticationError as error:
            if endpoint == "login-token":
                raise _hints.refused_token(error, self._config.username) from None
            raise
        except NotFoundError as error:  # the endpoints asked for exist: "Invalid Endpoint" or a 404 means a wrong root
            if error.code == "NOT_FOUND" or error.status == 404:
                raise _hints.wrong_url(error, self._config.m2m_url) from None
            raise

    def _send(self, endpoint: str, payload: dict | None, headers: dict | None = None, decode=wire.unwrap) -> Any:
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
                raise AuthenticationError(
                    "login-token returned no API key", service="m2m", url=self.endpoint + "login-token"
                )
            self.key, self.key_dt = Secret(key), dt.datetime.now(dt.timezone.utc)
        log.info("logged in to M2M as %s", self.USER)
        return True

    def logout(self) -> None:
        """Invalidate the API key on the service (an already expired key is simply forgotten)."""
        with self._lock:
            if self.key is None:
                return
            try:
                self._post("logout", None, {"X-Auth-Token": self.key.reveal()})
            except AuthenticationError:
                pass  # expired or unknown: nothing left to invalidate
            finally:
                self.key = self.key_dt = None

    def request(self, endpoint: str, payload: dict | None = None, *, decode=wire.unwrap) -> Any:
        """Send an authenticated request to any M2M endpoint and return its ``data``.

        Logs in first when needed, and again when the key expired (``AUTH_EXPIRED``), up to
        ``RELOGINS`` times for one request. ``decode(content, status, url, retry_after)`` turns the answer into
        data (default: the generic envelope reader).
        """
        with self._lock:
            if self.key is None:
                self.login()
            relogins = 0
            while True:
                try:
                    return self._post(endpoint, payload, {"X-Auth-Token": self.key.reveal()}, decode)
                except AuthenticationError as error:
                    if error.code not in ("AUTH_EXPIRED", "AUTH_KEY_INVALID") or relogins == self.RELOGINS:
                        raise
                    relogins += 1
                    log.info("M2M key %s; logging in again", error.code)
                    self.key = None
                    self.login()

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
            Area of interest in any CRS, sent as a ``geojson`` filter (instead of ``bbox``). Longitudes are read
            in a plane, as GeoJSON says: an area across the antimeridian must be split into parts on each side of
            ±180 (a ring going from 179 to -179 would span the long way round).
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
        repeats = 0  # answers in a row that did not move the pager forward
        seen: set[str] = set()  # entity ids received
        while len(results) < max_results:
            payload = wire.scene_search_payload(
                dataset,
                spatial=spatial,
                begin=first,
                end=last,
                max_cloud_cover=cloud,
                months=month_list,
                starting_number=position,
                max_results=min(PAGE_SIZE, max_results - len(results)),
                metadata_type=metadata,
            )
            full = metadata == "full"
            page = self.request(
                "scene-search", payload, decode=lambda *answer: wire.decode_scene_page(*answer, full=full)
            )
            batch = page.results
            total = page.totalHits if page.totalHits is not None else total
            log.debug("scene-search page from %d: %d of %s", position, len(batch), total)
            problem = _pager_problem(page, position, total, seen)
            if problem is not None:  # ask once more; a second such answer is an error, never a short result
                repeats += 1
                if repeats > 1:
                    raise ApiError(
                        f"scene-search paging does not advance: {problem}",
                        service="m2m",
                        url=self.endpoint + "scene-search",
                    )
                log.info("scene-search: %s; asking again", problem)
                continue
            repeats = 0
            seen.update(record.entityId for record in batch if record.entityId)
            results.extend(batch)
            position += len(batch)
            if not batch or total is None or position > total:
                break  # nextRecord equals totalHits on the last page, so positions decide, not nextRecord
        frame = wire.scenes_frame(results, dataset, full_metadata=metadata == "full")
        frame.attrs["total_hits"] = total or 0
        return frame

    def download(
        self,
        scenes: Any,
        path: str,
        bands: Sequence[str] | None = None,
        *,
        workers: int = 4,
        overwrite: bool = False,
        poll: float = 15.0,
        timeout: float | None = 3600.0,
        progress: bool | None = None,
    ) -> list[Path]:
        """Download Collection 2 Level-1 or Level-2 products straight from USGS (no ESPA processing).

        Parameters
        ----------
        scenes : GeoDataFrame or list of str
            Rows of :meth:`search` (``display_id``, ``entity_id`` and ``dataset`` columns), or product ids.
        path : str or path-like
            Folder to download into.
        bands : list of str, optional
            Only these files of each product, by USGS name (``'SR_B4'``, ``'QA_PIXEL'``, ``'ST_B10'``, ...) or
            common name (``'red'``, ``'nir08'``, ``'qa_pixel'``, ...); the MTL metadata files are always added.
            Each product's files go to ``<path>/<product id>/``. Without ``bands`` the whole product bundle is
            downloaded as ``<path>/<product id>.tar``; when USGS lists a scene's bundle as unavailable but offers
            its files, every file of the bundle (all bands and the metadata) goes to ``<path>/<product id>/``
            instead, with one :class:`~lsru_geo.exceptions.BundleUnavailableWarning` naming those scenes.
        workers : int
            Files downloaded at once.
        overwrite : bool
            Download again files that already exist.
        poll : float
            Seconds between ``download-retrieve`` requests while USGS prepares the files.
        timeout : float, optional
            Give up waiting for USGS to prepare the files after this many seconds.
        progress : bool, optional
            Progress bars on stderr; by default only when it is a terminal.

        Returns
        -------
        list of pathlib.Path
            The downloaded bundles, or band files, in the order of ``scenes``.

        Raises
        ------
        InvalidInputError
            Unknown band names or malformed scenes, before any download request.
        DownloadError
            Listing every file that could not be requested, prepared or downloaded.
        """
        from ._download import FileRequest, download_files
        from .exceptions import DownloadError

        table = self._scene_table(scenes)
        wanted = _band_suffixes(bands)
        plan: list[dict] = []  # one entry per file: entityId, productId, name, folder
        unbundled: list[str] = []  # scenes whose bundle is unavailable, downloaded file by file
        for dataset, group in table.groupby("dataset", sort=False, observed=True):
            options = self.request(
                "download-options",
                {
                    "datasetName": dataset,
                    "entityIds": list(group.entity_id),
                    "includeSecondaryFileGroups": wanted is not None,
                },
            )
            if wanted is not None:
                plan += wire.download_plan(options or [], group, wanted)
                continue
            bundles, withheld = wire.bundle_plan(options or [], group)
            plan += bundles
            if withheld:
                rest = group[group.display_id.isin(withheld)]
                files = self.request(
                    "download-options",
                    {"datasetName": dataset, "entityIds": list(rest.entity_id), "includeSecondaryFileGroups": True},
                )
                plan += wire.bundle_files_plan(files or [], rest)
                unbundled += withheld
        if unbundled:
            warnings.warn(
                BundleUnavailableWarning(
                    f"USGS lists the product bundle of {len(unbundled)} scene(s) as unavailable; their individual "
                    f"files (all bands and metadata) are downloaded into <path>/<product id>/ instead: {unbundled[:5]}"
                ),
                stacklevel=2,
            )
        unknown = sorted({p["display_id"] for p in plan if p.get("missing")})
        if unknown:
            raise DownloadError(f"USGS offers no {'bundle' if wanted is None else 'such file'} for: {unknown}")
        label = f"lsru_geo_{uuid.uuid4().hex[:16]}"
        answer = (
            self.request(
                "download-request",
                {
                    "downloads": [{"entityId": p["entity_id"], "productId": p["product_id"]} for p in plan],
                    "label": label,
                },
            )
            or {}
        )
        ids = wire.requested_download_ids(answer)  # ApiError for an answer that is not one
        # DownloadError.failed is keyed by local path: where each file would have been written
        local = {p["entity_id"]: str(Path(path) / (p["folder"] or "") / p["name"]) for p in plan}
        failures = {
            local.get(f.get("entityId"), str(Path(path) / str(f.get("entityId")))): f.get("errorMessage", "failed")
            for f in answer.get("failed") or []
            if isinstance(f, dict)
        }
        urls = self._await_downloads(answer, ids, poll, timeout)
        requests_by_folder: dict[Path, list] = {}
        for p in plan:
            if p["entity_id"] in urls:
                folder = Path(path) / p["folder"] if p["folder"] else Path(path)
                requests_by_folder.setdefault(folder, []).append(
                    FileRequest(urls[p["entity_id"]], name=p["name"], size=p["size"] or None)
                )
            elif local[p["entity_id"]] not in failures:
                failures[local[p["entity_id"]]] = "USGS did not prepare it in time"
        paths: list[Path] = []
        for folder, file_requests in requests_by_folder.items():
            report = download_files(file_requests, folder, workers=workers, overwrite=overwrite, progress=progress)
            failures.update(report.failed)
            paths += report.paths
        if failures:
            lines = "\n".join(f"  {k}: {v}" for k, v in failures.items())
            raise DownloadError(f"{len(failures)} file(s) failed:\n{lines}", failed=failures)
        return paths

    def _scene_table(self, scenes: Any) -> pd.DataFrame:
        """``display_id, entity_id, dataset`` of scenes given as a search frame or as product ids."""
        if isinstance(scenes, pd.DataFrame):
            missing = {"display_id", "entity_id", "dataset"} - set(scenes.columns)
            if missing:
                raise InvalidInputError(f"scenes lack the column(s) {sorted(missing)}; pass rows of Usgs.search()")
            table = pd.DataFrame({c: scenes[c].astype(str).to_numpy() for c in ("display_id", "entity_id", "dataset")})
        else:
            from ._ids import parse_id

            ids = [scenes] if isinstance(scenes, str) else list(scenes)
            rows = []
            for landsat_id in ids:
                fields = parse_id(landsat_id)
                if fields["kind"] != "product":
                    raise InvalidInputError(f"{landsat_id!r} is not a product id")
                dataset = _datasets.collection_name(fields["satellite"], level=int(fields["processing_level"][1]))
                record = self.scene_metadata(landsat_id, dataset, metadata="summary")
                rows.append({"display_id": landsat_id, "entity_id": record["entityId"], "dataset": dataset})
            table = pd.DataFrame(rows, columns=["display_id", "entity_id", "dataset"])
        if table.empty:
            raise InvalidInputError("no scenes to download")
        return table

    def _await_downloads(self, answer: dict, ids: set[int], poll: float, timeout: float | None) -> dict[str, str]:
        """Entity id -> usable URL of every requested file, polling ``download-retrieve`` until all are ready.

        The service stops listing entries once handed over, so what was seen ready is kept. The polls ask for
        every download of the user, not just this label: duplicates of earlier requests keep their old label.
        """
        ready = wire.ready_urls(answer.get("availableDownloads"), ids, "download-request")
        started = time.monotonic()
        while len(ready) < len(ids):
            state = self.request("download-retrieve", {}) or {}
            if not isinstance(state, dict):
                raise ApiError(f"download-retrieve answered {str(state)[:120]!r}, not an object", service="m2m")
            ready.update(wire.ready_urls(state.get("available"), ids, "download-retrieve"))
            if len(ready) >= len(ids) or (timeout is not None and time.monotonic() - started > timeout):
                break
            time.sleep(poll)
        return ready

    def scene_metadata(self, landsat_id: str, collection: str, metadata: str = "full") -> dict:
        """The service's metadata record of one scene, by product id (display id) or scene id (entity id)."""
        from ._ids import parse_id

        kind = parse_id(landsat_id)["kind"]
        dataset = _datasets.resolve(collection)
        payload = {
            "datasetName": dataset,
            "entityId": landsat_id,
            "idType": "displayId" if kind == "product" else "entityId",
            "metadataType": metadata,
        }
        return self.request("scene-metadata", payload)


def _pager_problem(page: wire.ScenePage, position: int, total: int | None, seen: set[str]) -> str | None:
    """What is wrong with a ``scene-search`` page asked from record ``position``, or None."""
    last = position + len(page.results) - 1
    if total is None:
        return None
    if last > total:
        return f"the answer runs to record {last}, past totalHits {total}"
    if not page.results and position <= total:
        return f"no record at {position} although totalHits is {total}"
    if last < total and page.nextRecord is not None and page.nextRecord <= position:
        return f"nextRecord {page.nextRecord} does not advance past record {position}"
    if any(record.entityId in seen for record in page.results):
        return f"the page from record {position} repeats scenes already received"
    return None


def _band_suffixes(bands: Sequence[str] | None) -> list[str] | None:
    """Requested band names as :func:`~lsru_geo._m2m_wire.file_key` keys; ``None`` for whole bundles."""
    if bands is None:
        return None
    if isinstance(bands, str) or not list(bands):
        raise InvalidInputError(f"bands must be a non-empty list of band names, got {bands!r}")
    return list(dict.fromkeys(wire.file_key(str(band)) for band in bands))
