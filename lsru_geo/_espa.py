"""``Espa`` and ``Order``: the ESPA on-demand processing API v1 (HTTP basic auth with the ERS password)."""

from __future__ import annotations

import json
import logging
import tarfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import requests

from . import _archive
from . import _espa_wire as wire
from . import _hints
from ._config import Config, load_config
from ._http import HttpClient, is_retryable, retry_after_seconds
from ._ids import parse_id
from ._secret import Secret
from ._warn import warn
from .exceptions import (
    ApiError,
    AuthenticationError,
    DownloadError,
    InvalidInputError,
    LsruWarning,
    NotFoundError,
    OrderRejectedError,
    RenamedWarning,
    TransportError,
    UnsafeArchiveError,
)

log = logging.getLogger("lsru_geo.espa")


class _HostBasicAuth(requests.auth.AuthBase):
    """HTTP basic auth sent only to the ESPA API host, never to another host (download URLs).

    Redirects to another origin lose it in the session (:class:`~lsru_geo._http.HttpClient`), not here: an
    auth object is applied when a request is prepared, not when it is redirected.
    """

    def __init__(self, host: str, username: str, password: Secret) -> None:
        self.host, self.username, self.password = host, username, password

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if urlsplit(request.url).netloc == self.host:
            return requests.auth.HTTPBasicAuth(self.username, self.password.reveal())(request)
        request.headers.pop("Authorization", None)
        return request

    def __repr__(self) -> str:
        return f"_HostBasicAuth(host={self.host!r}, username={self.username!r}, password=***)"


class _AlreadyPlaced(Exception):
    """Ends the retries of an order POST: the order was found placed."""

    def __init__(self, orderid: str) -> None:
        super().__init__(orderid)
        self.orderid = orderid


class _EspaSession:
    """What ``Espa`` and its ``Order`` objects share: the configuration and one HTTP session."""

    def __init__(
        self, conf: str | None, url: str | None = None, username: str | None = None, password: Secret | None = None
    ) -> None:
        config: Config = load_config(conf, username=username, password=password, espa_url=url)
        config.require("username", "password")
        self.config = config
        self.host = config.espa_url
        self.http = HttpClient(
            "espa", auth=_HostBasicAuth(urlsplit(config.espa_url).netloc, config.username, config.password)
        )

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        http = state.pop("http")
        state["http_settings"] = (http.timeout, http.retry, http.limits)
        return state

    def __setstate__(self, state: dict) -> None:
        timeout, retry, limits = state.pop("http_settings")
        self.__dict__.update(state)
        self.config = self.config.with_secrets_reread()  # the password never pickles: read it again
        auth = _HostBasicAuth(urlsplit(self.host).netloc, self.config.username, self.config.password)
        self.http = HttpClient("espa", timeout=timeout, retry=retry, auth=auth, limits=limits)

    def request(
        self, method: str, resource: str, body: Any = None, *, on_retry: Callable[[BaseException], None] | None = None
    ) -> Any:
        try:
            return self._send(method, resource, body, on_retry=on_retry)
        except AuthenticationError as error:
            if error.status == 401:
                raise _hints.refused_password(error, self.config.username) from None
            raise
        except NotFoundError as error:  # ESPA answers unknown orders with 200 "No results found": 404 is a wrong root
            if error.status == 404:
                raise _hints.wrong_url(error, self.host) from None
            raise

    def _send(
        self, method: str, resource: str, body: Any = None, *, on_retry: Callable[[BaseException], None] | None = None
    ) -> Any:
        url = self.host + resource
        return self.http.call(
            method,
            url,
            lambda response: wire.parse(response.content, response.status_code, url, retry_after_seconds(response)),
            data=json.dumps(body) if body is not None else None,  # GET requests carry JSON bodies in ESPA's API
            on_retry=on_retry,
        )

    def place(self, body: dict) -> str:
        """POST an order and return its id, without ever placing it twice.

        A timeout or a connection dropped after the body was sent leaves it unknown whether ESPA created the
        order, so before posting again the orders that appeared since the first try are read, and one holding
        exactly these inputs is taken as this order.
        """
        known = set(self.request("GET", "list-orders") or [])

        def adopt_if_placed(error: BaseException) -> None:
            orderid = self._placed_since(known, body)
            if orderid is not None:
                log.info("espa: %s, but order %s was placed; not posting again", error, orderid)
                raise _AlreadyPlaced(orderid)

        try:
            try:
                return self.request("POST", "order", body, on_retry=adopt_if_placed)["orderid"]
            except (ApiError, TransportError) as error:
                if is_retryable(error):  # the last try failed too, and may have placed the order all the same
                    adopt_if_placed(error)
                raise
        except _AlreadyPlaced as placed:
            return placed.orderid

    def _placed_since(self, known: set[str], body: dict) -> str | None:
        """The id of an order not in ``known`` whose inputs are the ones of ``body``, if there is one."""
        wanted = wire.order_inputs(body)
        for orderid in self.request("GET", "list-orders") or []:
            if orderid in known or not isinstance(orderid, str):
                continue
            if wire.order_inputs(self.request("GET", wire.order_resource("order", orderid))) == wanted:
                return orderid
        return None


class Espa:
    """Client of the ESPA on-demand processing API.

    Parameters
    ----------
    conf : str or path-like, optional
        Configuration file with ``username`` and ``password`` in its ``[usgs]`` section (default ``~/.lsru``);
        ``LSRU_USERNAME``/``LSRU_PASSWORD``/``LSRU_ESPA_URL`` override it.
    url : str, optional
        ESPA API root (``https://espa.cr.usgs.gov/api/v1/``, with or without ``v1`` and the trailing slash);
        overrides ``LSRU_ESPA_URL`` and the default.
    username : str, optional
        Overrides ``LSRU_USERNAME`` and the file.
    password : Secret, optional
        The ERS password, as ``Secret("...")`` so it never prints; overrides ``LSRU_PASSWORD`` and the file.

    Attributes
    ----------
    USER : str
        The USGS ERS username.
    host : str
        API root, ``https://espa.cr.usgs.gov/api/v1/``.

    Examples
    --------
    >>> espa = Espa()
    >>> sorted(espa.formats)[:2]
    ['envi', 'gtiff']
    """

    def __init__(
        self,
        conf: str | None = None,
        *,
        url: str | None = None,
        username: str | None = None,
        password: Secret | None = None,
    ) -> None:
        self._session = _EspaSession(conf, url, username, password)
        self._conf = conf
        self.USER = self._session.config.username
        self.host = self._session.host

    def __repr__(self) -> str:
        return f"Espa(user={self.USER!r}, host={self.host!r})"

    def _get(self, resource: str, body: Any = None) -> Any:
        return self._session.request("GET", resource, body)

    # -- service facts ----------------------------------------------------------------------------------
    @property
    def user(self) -> dict:
        """The account's details (``username``, ``email``, ``roles``, ...)."""
        return self._get("user")

    @property
    def formats(self) -> dict:
        """Output formats: ``{code: description}``."""
        return self._get("formats")["formats"]

    @property
    def resampling_methods(self) -> dict:
        """Resampling methods: ``{code: description}``."""
        return self._get("resampling-methods")["resampling_methods"]

    @property
    def projections(self) -> dict:
        """The projection schema: one entry per projection with its parameters, types and ranges."""
        return self._get("projections")

    @property
    def orders(self) -> list[Order]:
        """The user's orders, newest first, as :class:`Order` objects."""
        return [Order(orderid, _session=self._session) for orderid in self._get("list-orders") or []]

    def get_available_products(self, scene_list: Sequence[str]) -> dict:
        """Products the service offers for each input, grouped by sensor key.

        Parameters
        ----------
        scene_list : list of str
            Landsat product ids.

        Returns
        -------
        dict
            ``{sensor_key: {"products": [...], "inputs": [...]}, "not_implemented": [...], ...}`` as ESPA answers.
        """
        ids = _check_ids(scene_list)
        merged: dict[str, Any] = {}
        for start in range(0, len(ids), wire.MAX_INPUTS):
            answer = self._get("available-products", {"inputs": ids[start : start + wire.MAX_INPUTS]})
            for key, value in (answer or {}).items():
                _merge_available(merged, key, value)
        return merged

    # -- ordering -----------------------------------------------------------------------------------------
    def order(
        self,
        scene_list: Sequence[str],
        products: Sequence[str],
        format: str = "gtiff",
        note: str | None = None,
        resampling: str = "nn",
        resolution: float | None = None,
        projection: dict | None = None,
        extent: Sequence[float] | None = None,
        extent_units: str = "dd",
        verbose: bool = False,
    ) -> Order | list[Order]:
        """Place a processing order.

        Parameters
        ----------
        scene_list : list of str
            Collection 2 product ids (Level-1 or Level-2; every sensor of Landsat 4-9).
        products : list of str
            Product codes (``'l1'``, ``'sr_ndvi'``, ..., see :meth:`get_available_products`). The Collection 1
            names of lsru 0.6.2 (``'sr'``, ``'pixel_qa'``, ``'toa'``, ``'bt'``, ``'st'``) map to ``'l1'`` on
            Level-2 inputs, with a warning that explains why.
        format : str
            Output format, one of :attr:`formats`.
        note : str, optional
            Free text stored with the order.
        resampling : str
            Resampling method, one of :attr:`resampling_methods`.
        resolution : float, optional
            Output pixel size, in degrees for the ``lonlat`` projection and metres otherwise.
        projection : dict, optional
            One projection of :attr:`projections` with its parameters, e.g. ``{'utm': {'zone': 12,
            'zone_ns': 'north'}}`` or ``{'lonlat': None}``.
        extent : tuple of float, optional
            ``(left, bottom, right, top)`` to crop to; needs ``projection``.
        extent_units : {'dd', 'meters'}
            Units of ``extent``.
        verbose : bool
            Print each order body before it is sent (credentials are never part of it).

        Returns
        -------
        Order or list of Order
            One order, or a list when more than 5,000 inputs had to be split into several orders.

        Raises
        ------
        InvalidInputError
            For ids, products or options the service would refuse, before the order is posted.
        OrderRejectedError
            If the service refuses the order anyway (its messages are in ``.errors``). When a part of a split
            order is refused, ``.placed`` lists the orders of this call placed before it (cancel or keep them).
        """
        # everything that can be checked without the service, before any request
        ids = _check_ids(scene_list)
        products = wire.check_products(products)
        if not isinstance(resampling, str) or not isinstance(format, str):
            raise InvalidInputError(f"format and resampling must be strings, got {format!r:.100}, {resampling!r:.100}")
        if extent is not None and projection is None:
            raise InvalidInputError(
                "extent requires a projection (ESPA crops only reprojected products); pass projection="
            )
        if not isinstance(extent_units, str) or extent_units not in wire.PIXEL_SIZE_RANGES:
            raise InvalidInputError(f"extent_units must be 'dd' or 'meters', got {extent_units!r:.100}")
        if note is not None and not isinstance(note, str):
            raise InvalidInputError(f"note must be a string, got {note!r:.100}")
        if projection is not None:
            wire.check_projection_form(projection)
        units = wire.pixel_units(projection)
        resize = wire.check_resolution(resolution, units) if resolution is not None else None
        image_extents = wire.check_extent(extent, extent_units, projection) if extent is not None else None

        # then what only the service's catalogue can tell (read-only requests; nothing is posted)
        if format.lower() not in self.formats:
            raise InvalidInputError(f"unknown format {format!r}; allowed: {sorted(self.formats)}")
        if resampling.lower() not in self.resampling_methods:
            raise InvalidInputError(f"unknown resampling {resampling!r}; allowed: {sorted(self.resampling_methods)}")
        checked_projection = wire.check_projection(projection, self.projections) if projection is not None else None

        available = self.get_available_products(ids)
        groups, wanted = self._plan(available, products)
        placed = []
        for part in wire.split_inputs(groups):
            body = wire.order_body(
                part,
                {key: wanted[key] for key in part},
                format=format.lower(),
                resampling=resampling.lower(),
                note=note,
                projection=checked_projection,
                extent=image_extents,
                resize=resize,
            )
            if verbose:
                print(json.dumps(body, indent=2))
            try:
                orderid = self._session.place(body)
            except OrderRejectedError as error:  # a later part of a split order: the earlier ones stay reachable
                error.placed = list(placed)  # type: ignore[attr-defined]
                if placed:
                    error.message += f" (already placed by this call: {', '.join(o.orderid for o in placed)})"
                raise
            log.info("placed ESPA order %s (%d inputs)", orderid, sum(len(v) for v in part.values()))
            placed.append(Order(orderid, _session=self._session))
        return placed[0] if len(placed) == 1 else placed

    @staticmethod
    def _plan(available: dict, products: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Inputs per sensor key and the products to order for each, warning about every input left out."""
        dropped = available.get("not_implemented") or []
        if dropped:
            warn(f"ESPA cannot process {len(dropped)} input(s), left out: {dropped}", LsruWarning)
        for key, ids in (available.get("ordering_restricted") or {}).items():
            warn(f"ESPA restricts ordering {key} inputs, left out: {ids}", LsruWarning)
        groups, wanted = {}, {}
        renamed: dict[str, None] = {}  # each explanation once, however many sensors the inputs span
        for key, section in available.items():
            if key in wire.NON_SENSOR_KEYS:
                continue
            level = 1 if key.endswith("_l1") else 2
            ordered, notes = wire.map_c1_products(products, level)
            renamed.update(dict.fromkeys(notes))
            inputs = list(section.get("inputs", []))
            restricted = {p: set(ids) & set(inputs) for p, ids in (available.get("date_restricted") or {}).items()}
            # ESPA drops a date-restricted product from the sensor's list: it stays orderable for the other inputs
            offered = [p.lower() for p in section.get("products", [])] + [p for p, ids in restricted.items() if ids]
            missing = [p for p in ordered if p not in offered]
            if missing:
                raise InvalidInputError(
                    f"product(s) {missing} are not available for {key} inputs ({len(inputs)} of them); available: {offered}"
                )
            for product in ordered:
                gone = sorted(restricted.get(product, ()))
                if gone:
                    warn(f"{product} is restricted by date for {len(gone)} input(s), left out: {gone}", LsruWarning)
                    inputs = [i for i in inputs if i not in gone]
            if inputs:
                groups[key], wanted[key] = inputs, ordered
        for text in renamed:
            warn(text, RenamedWarning)
        if not groups:
            raise InvalidInputError("none of the inputs can be ordered from ESPA (see the warnings)")
        return groups, wanted


def _check_ids(scene_list: Sequence[str]) -> list[str]:
    if isinstance(scene_list, str) or not isinstance(scene_list, Iterable):
        raise InvalidInputError(f"scene_list must be a list of Landsat product ids, got {scene_list!r:.100}")
    ids = list(dict.fromkeys(str(i).strip() for i in scene_list))
    if not ids:
        raise InvalidInputError("scene_list is empty")
    problems = []
    for landsat_id in ids:
        try:
            fields = parse_id(landsat_id)
        except InvalidInputError:
            problems.append(f"{landsat_id!r} is not a Landsat product id")
            continue
        if fields["kind"] == "scene":
            problems.append(f"{landsat_id!r} is a pre-collection scene id; ESPA takes Collection 2 product ids")
        elif fields["collection"] != 2:
            problems.append(f"{landsat_id!r} is a Collection 1 id; Collection 1 was removed at the end of 2022")
        elif fields["category"] == "RT":
            problems.append(f"{landsat_id!r} is a Real-Time product; wait for its Tier 1/Tier 2 version")
        elif fields["satellite"] not in (4, 5, 7, 8, 9) or fields["sensor"] not in ("TM", "ETM", "OLI_TIRS"):
            problems.append(f"{landsat_id!r} ({fields['sensor']}) cannot be processed by ESPA")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise InvalidInputError(f"{len(problems)} input(s) cannot be ordered: {shown}")
    return ids


def _merge_available(merged: dict, key: str, value: Any) -> None:
    if key == "not_implemented":
        merged.setdefault(key, []).extend(value)
    elif key in ("date_restricted", "ordering_restricted"):
        for name, ids in value.items():
            merged.setdefault(key, {}).setdefault(name, []).extend(ids)
    else:
        section = merged.setdefault(key, {"products": value.get("products", []), "inputs": []})
        section["inputs"].extend(value.get("inputs", []))


class Order:
    """An ESPA order.

    Parameters
    ----------
    orderid : str
        ESPA order id (``espa-<email>-MMDDYYYY-HHMMSS-mmm``).
    conf : str or path-like, optional
        Configuration file, as for :class:`Espa`.
    url, username, password : optional
        As for :class:`Espa`.

    Attributes
    ----------
    orderid : str
    """

    def __init__(
        self,
        orderid: str,
        conf: str | None = None,
        *,
        url: str | None = None,
        username: str | None = None,
        password: Secret | None = None,
        _session: _EspaSession | None = None,
    ) -> None:
        self.orderid = wire.check_order_id(orderid)  # escaped into URLs by wire.order_resource
        self._session = _session or _EspaSession(conf, url, username, password)

    def __repr__(self) -> str:
        return f"Order({self.orderid!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Order) and other.orderid == self.orderid

    def __hash__(self) -> int:
        return hash(self.orderid)

    def _get(self, resource: str, body: Any = None) -> Any:
        return self._session.request("GET", resource, body)

    @property
    def status(self) -> str:
        """The order's status: ``ordered``, ``complete``, ``cancelled`` or ``purged``."""
        return self._get(wire.order_resource("order-status", self.orderid))["status"]

    @property
    def is_complete(self) -> bool:
        """Whether the order's status is ``complete``."""
        return self.status == "complete"

    @property
    def details(self) -> dict:
        """The order record: dates, note, options (``product_opts``) and status."""
        return self._get(wire.order_resource("order", self.orderid))

    @property
    def items_status(self) -> list[dict]:
        """One dict per item: ``name``, ``status``, ``note``, ``completion_date``, ``product_dload_url``, ``cksum_download_url``."""
        answer = self._get(wire.order_resource("item-status", self.orderid))
        items = (answer or {}).get(self.orderid, []) if isinstance(answer, (dict, type(None))) else None
        if not isinstance(items, list):
            raise ApiError(f"item-status answer is not a list of items: {str(answer)[:200]!r}", service="espa")
        return [item for item in items if isinstance(item, dict)]

    @property
    def urls_completed(self) -> list[str]:
        """Download URLs of the items whose status is ``complete``."""
        return [
            item["product_dload_url"]
            for item in self.items_status
            if isinstance(item, dict) and item.get("status") == "complete" and item.get("product_dload_url")
        ]

    def items_frame(self) -> pd.DataFrame:
        """The items as a DataFrame, one row per item, ``completion_date`` as a datetime (NaT until complete)."""
        frame = pd.DataFrame(
            self.items_status,
            columns=["name", "status", "note", "completion_date", "product_dload_url", "cksum_download_url"],
        )
        frame["completion_date"] = pd.to_datetime(frame["completion_date"].replace("", None), errors="coerce")
        return frame

    def download_all_complete(
        self,
        path: str,
        unpack: bool = False,
        overwrite: bool = False,
        check_complete: bool = True,
        *,
        workers: int = 4,
        progress: bool | None = None,
        max_members: int | None = _archive.DEFAULT_MAX_MEMBERS,
        max_size: int | None = _archive.DEFAULT_MAX_SIZE,
        max_ratio: float | None = _archive.DEFAULT_MAX_RATIO,
    ) -> list[Path]:
        """Download every completed item of the order into a folder, in parallel, verified against its ``.md5``.

        Parameters
        ----------
        path : str or path-like
            Folder to download into (created if missing).
        unpack : bool
            Unpack each tarball into ``<path>/<product name>/`` (then remove the tarball); an existing product
            folder counts as done.
        overwrite : bool
            Download (and unpack) again what already exists.
        check_complete : bool
            For existing tarballs, check them against their MD5 and fetch them again if they differ;
            ``False`` trusts existing files without a request.
        workers : int
            Files downloaded at once.
        progress : bool, optional
            Progress bars on stderr; by default only when it is a terminal.
        max_members, max_size, max_ratio
            Unpacking limits, as for :func:`~lsru_geo._archive.extract_tarball` (10,000 members, 20 GiB).

        Returns
        -------
        list of pathlib.Path
            The tarballs (or product folders with ``unpack``) of the completed items. lsru 0.6.2 returned
            nothing; the paths are an addition.

        Raises
        ------
        DownloadError
            After every other item was tried (downloaded, and unpacked with ``unpack``), listing each item that
            failed: ``.failed`` maps local paths (``str``) to reasons. A failure is reported, not printed and
            forgotten; an unsafe archive is among them (:class:`UnsafeArchiveError` reasons), its tarball kept.
        """
        from ._download import FileRequest, download_files

        folder = Path(path)
        requests_, refused = [], {}
        for url, md5_url in wire.completed_downloads(self.items_status):
            request = FileRequest(url, md5_url=md5_url)
            try:
                request.file_name  # noqa: B018 - a name from the service: checked here, so one does not stop the rest
            except InvalidInputError as error:
                refused[str(folder / url.rsplit("/", 1)[-1])] = str(error)
                continue
            requests_.append(request)
        unpacked = [folder / _archive.product_name(r.file_name) for r in requests_]
        if unpack and not overwrite:  # unpacking is atomic: an existing product folder is complete
            requests_ = [r for r, target in zip(requests_, unpacked, strict=False) if not target.is_dir()]
        report = download_files(
            requests_,
            folder,
            workers=workers,
            overwrite=overwrite,
            check_complete=check_complete,
            progress=progress,
            index_archives=not unpack,
        )
        log.info("order %s: %s", self.orderid, report.summary())
        failed = {**refused, **report.failed}
        if unpack:
            limits = {"max_members": max_members, "max_size": max_size, "max_ratio": max_ratio}
            for tarball in dict.fromkeys(report.paths):  # a file asked for twice is listed twice
                try:
                    _archive.extract_tarball(tarball, folder, overwrite=overwrite, **limits)
                except (UnsafeArchiveError, tarfile.TarError, EOFError, OSError) as error:
                    failed[str(tarball)] = f"cannot unpack: {type(error).__name__}: {error}"
                    continue
                tarball.unlink()
        if failed:
            lines = "\n".join(f"  {where}: {reason}" for where, reason in failed.items())
            raise DownloadError(f"order {self.orderid}: {len(failed)} item(s) failed:\n{lines}", failed=failed)
        return [target for target in unpacked if target.is_dir()] if unpack else report.paths

    def cancel(self) -> dict:
        """Cancel the order (only possible while it is ``ordered``); returns the service's answer."""
        return self._session.request("PUT", "order", {"orderid": self.orderid, "status": "cancelled"})

    def wait(self, poll: float = 60.0, timeout: float | None = None, progress: bool | None = None) -> Order:
        """Block until every item is in a final state (complete, unavailable, error, cancelled or purged).

        Parameters
        ----------
        poll : float
            Seconds between status requests at first; the interval grows by half while nothing changes, up to
            ten times ``poll``, so long waits stay polite. Rate limits (429) are waited out by the HTTP layer.
        timeout : float, optional
            Give up after this many seconds with :class:`TimeoutError`.
        progress : bool, optional
            Show a progress bar of finished items; by default only when stderr is a terminal.

        Returns
        -------
        Order
            This order, for chaining (``order.wait().download_all_complete(...)``).
        """
        from tqdm import tqdm  # text bars: tqdm.auto needs ipywidgets in notebooks and warns without it

        if poll <= 0:
            raise InvalidInputError(f"poll must be positive, got {poll!r}")
        started = time.monotonic()
        interval = poll
        last_done = -1
        with tqdm(
            desc=self.orderid, unit="item", disable=None if progress is None else not progress, leave=False
        ) as bar:
            while True:
                items = self.items_status
                done = sum(item["status"] in wire.TERMINAL_ITEM_STATES for item in items)
                bar.total = len(items)
                bar.n = done
                bar.refresh()
                if items and done == len(items):
                    return self
                interval = poll if done != last_done else min(interval * 1.5, 10 * poll)
                last_done = done
                if timeout is not None and time.monotonic() - started + interval > timeout:
                    raise TimeoutError(f"order {self.orderid}: {done} of {len(items)} items finished after {timeout} s")
                time.sleep(interval)
