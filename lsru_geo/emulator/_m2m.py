"""The USGS M2M JSON API (``/api/api/json/stable/<endpoint>``), as ``m2m-api.md`` describes it.

Fidelity points: every answer is the envelope ``{requestId, version, sessionId, data, errorCode,
errorMessage}`` with HTTP 200, errors included (``http_errors=True`` maps AUTH_* to 401 and RATE_LIMIT* to
429 instead, to test clients against that variant); GET with a body works except for ``login-token``;
unknown parameters are ignored; ``login`` and unknown endpoints answer ``NOT_FOUND``/"Invalid Endpoint";
keys expire after two hours without use; one user may have only one request in flight
(``RATE_LIMIT_USER``); ``cloudCover`` is a string; ``nextRecord = min(start + returned, totalHits)``.

Choices where the contract is silent (each tested): a missing or unknown key is ``AUTH_KEY_INVALID``;
``login-token`` over GET is ``INPUT_INVALID``; malformed JSON, and JSON nested more than ``MAX_DEPTH`` levels, is
``INPUT_FORMAT``; a ``geoJson`` filter with non-finite coordinates or outside -180..180, -90..90 is
``INPUT_PARAMETER_INVALID``, as an ``mbr`` one; a failure of the emulator itself answers ``SERVER_ERROR`` (its
traceback in ``M2MService.last_exception``) rather than dropping the connection; an unknown dataset in
``scene-search`` is ``DATASET_INVALID`` while ``dataset`` answers ``data: null`` (as observed); an empty
result has ``nextRecord: 0``; without ``metadataType`` ``metadata`` is ``[]`` (2021 behaviour); unknown
cloud cover is ``"-1.00"``; ``metadataFilter`` is ignored.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import threading
import time
import traceback
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import shapely

from . import _catalogue as cat
from ._m2m_downloads import DownloadFailure, Downloads
from ._server import DroppedConnection, NestedTooDeep, Request, Response
from ._wrs2 import grid

API_PREFIX = "/api/api/json/"
KEY_LIFETIME = 2 * 3600.0
VERSIONS = ("stable", "development", "experimental")
DICTIONARY = "https://www.usgs.gov/centers/eros/science/landsat-collection-2-data-dictionary"
BROWSE = "https://landsatlook.usgs.gov/gen-browse?size={size}&type=refl&product_id={pid}"
OVERLAY = "https://landsatlook.usgs.gov/dynamic-tiler/scenes/{pid}/tiles/{{z}}/{{x}}/{{y}}.png?layer=natural_color"
MAX_RESULTS = 50_000


class M2MFailure(Exception):
    """An M2M error answer: errorCode and errorMessage."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Session:
    key: str
    username: str
    contact_id: int
    session_id: int
    last_used: float


@dataclass
class M2MState:
    sessions: dict[str, Session] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    request_ids: itertools.count = field(default_factory=lambda: itertools.count(725_448_618))
    session_ids: itertools.count = field(default_factory=lambda: itertools.count(44_801_471))
    cache: OrderedDict = field(default_factory=OrderedDict)


class M2MService:
    """Handler of ``/api/api/json/...``; ``emulator`` gives users, clock, faults and options."""

    def __init__(self, emulator) -> None:
        self.emulator = emulator
        self.state = M2MState()
        self.downloads = Downloads(emulator)
        self.base_url = ""
        self.last_exception = ""  # traceback of the last request that answered SERVER_ERROR, for debugging

    def reset(self) -> None:
        self.state = M2MState()
        self.downloads.reset()

    # -- envelope -------------------------------------------------------------------------------------
    def _envelope(
        self, data: object, session: Session | None, code: str | None = None, message: str | None = None
    ) -> Response:
        body = {
            "requestId": next(self.state.request_ids),
            "version": "stable",
            "sessionId": session.session_id if session else None,
            "data": data,
            "errorCode": code,
            "errorMessage": message,
        }
        if session is None:
            del body["sessionId"]  # the login error of 2021 had no sessionId key
        status = 200
        if code and self.emulator.options.m2m_http_errors:
            status = 401 if code.startswith("AUTH_") else 429 if code.startswith("RATE_LIMIT") else 400
        response = Response.json(body, status)
        response.code = code or None
        return response

    def _expired(self) -> Response:
        body = {
            "errorCode": "AUTH_EXPIRED",
            "errorMessage": "API key has expired due to inactivity",
            "data": None,
            "requestId": 0,
            "sessionId": None,
            "version": None,
        }
        response = Response.json(body, 401 if self.emulator.options.m2m_http_errors else 200)
        response.code = "AUTH_EXPIRED"
        return response

    # -- dispatch -------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        version, _, endpoint = request.path[len(API_PREFIX) :].strip("/").partition("/")
        if version not in VERSIONS:
            return self._envelope(None, None, "VERSION_UNKNOWN", f"Version {version} is not available")
        handler = self.ENDPOINTS.get(endpoint)
        if endpoint not in self.ENDPOINTS:
            return self._envelope(None, None, "NOT_FOUND", "Invalid Endpoint")
        try:
            payload = request.json()
        except NestedTooDeep as error:
            return self._envelope(None, None, "INPUT_FORMAT", str(error))
        except ValueError:
            return self._envelope(None, None, "INPUT_FORMAT", "Request body is not valid JSON")
        if payload is not None and not isinstance(payload, dict):
            return self._envelope(None, None, "INPUT_FORMAT", "Request body must be a JSON object")
        payload = payload or {}
        if endpoint == "login-token":
            if request.method != "POST":
                return self._envelope(None, None, "INPUT_INVALID", "This request requires an HTTP POST request")
            return self._login(payload, request)

        key = request.header("X-Auth-Token")
        with self.state.lock:
            session = self.state.sessions.get(key or "")
            if session is None:
                return self._envelope(None, None, "AUTH_KEY_INVALID", "Invalid API key: please log in with login-token")
            now = self.emulator.clock.timestamp()
            if now - session.last_used > KEY_LIFETIME:
                del self.state.sessions[session.key]
                return self._expired()
            if self.state.in_flight.get(session.username, 0):
                return self._envelope(
                    None,
                    session,
                    "RATE_LIMIT_USER",
                    "You may only have one request in progress at a time. Please wait for it to complete.",
                )
            self.state.in_flight[session.username] = 1
            session.last_used = now
        try:
            fault = self.emulator.faults.take("m2m", endpoint, ("code", "slow"))
            if fault is not None and fault.kind == "slow":  # slow while the request counts as in flight
                time.sleep(fault.seconds)
                fault = self.emulator.faults.take("m2m", endpoint, ("code",))
            if fault is not None:
                if fault.code == "AUTH_EXPIRED":
                    with self.state.lock:
                        self.state.sessions.pop(session.key, None)
                    return self._expired()
                return self._envelope(None, session, fault.code, fault.message or f"Emulated {fault.code}")
            try:
                return self._envelope(handler(self, payload, session), session)
            except (M2MFailure, DownloadFailure) as failure:
                return self._envelope(None, session, failure.code, failure.message)
            except DroppedConnection:
                raise
            except Exception:  # a bug must look like the service's SERVER_ERROR, not a dropped connection
                self.last_exception = traceback.format_exc()
                return self._envelope(None, session, "SERVER_ERROR", "An unexpected error occurred")
        finally:
            with self.state.lock:
                self.state.in_flight.pop(session.username, None)

    # -- authentication -------------------------------------------------------------------------------
    def _login(self, payload: dict, request: Request) -> Response:
        user = self.emulator.users.get(str(payload.get("username", "")))
        if user is None or user.token != payload.get("token"):
            return self._envelope(None, None, "AUTH_INVALID", "User credential verification failed")
        issued = self.emulator.clock.timestamp()
        claims = {
            "cid": user.contact_id,
            "s": str(int(issued)),
            "r": len(self.state.sessions) % 1000,
            "p": ["download", "order"],
        }
        key = base64.b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode()
        key += base64.urlsafe_b64encode(np.random.default_rng().bytes(12)).decode()  # unique even within a second
        session = Session(key, user.username, user.contact_id, next(self.state.session_ids), issued)
        with self.state.lock:
            self.state.sessions[key] = session
        return self._envelope(key, session, None, "")

    def _logout(self, payload: dict, session: Session) -> None:
        with self.state.lock:
            self.state.sessions.pop(session.key, None)
        return None

    def _permissions(self, payload: dict, session: Session) -> list[str]:
        return ["download", "order"]

    def _rate_limit_summary(self, payload: dict, session: Session) -> dict:
        limits = {"recentDownloadCount": 15000, "pendingDownloadCount": 20000, "unattemptedDownloadCount": 20000}
        return {
            "initialLimits": [dict(limits)],
            "remainingLimits": [
                {"limitType": "user", "username": session.username, **limits},
                {"limitType": "ip", "ipAddress": "127.0.0.1", **limits},
            ],
            "recentDownloadCounts": [],
        }

    # -- datasets -------------------------------------------------------------------------------------
    @staticmethod
    def _dataset_object(d: cat.Dataset) -> dict:
        starts = [cat.MISSIONS[m].start for m in d.missions]
        ends = [cat.MISSIONS[m].end for m in d.missions]
        end = None if None in ends else max(ends)
        return {
            "abstractText": f"{d.name}: Landsat Collection 2 Level-{d.level} science products (emulated).",
            "acquisitionStart": min(starts).isoformat(),
            "acquisitionEnd": end.isoformat() if end else None,
            "catalogs": ["EE", "GV", "HDDS"],
            "collectionName": d.name,
            "collectionLongName": d.name,
            "datasetId": d.dataset_id,
            "datasetAlias": d.alias,
            "datasetCategoryName": d.category,
            "dataOwner": "DMID",
            "dateUpdated": "2026-01-05 10:00:00.000000-06",
            "doiNumber": f"https://doi.org/{d.doi}" if d.doi else None,
            "ingestFrequency": "P1D",
            "keywords": "Landsat,Collection 2,Satellite Imagery",
            "legacyId": None,
            "sceneCount": None,
            "spatialBounds": {"east": 180.0, "west": -180.0, "north": 82.7, "south": -82.7},
            "temporalCoverage": json.dumps([f"{min(starts)} 00:00:00-05", f"{end or dt.date.today()} 00:00:00-06"]),
            "supportCloudCover": True,
            "supportDeletionSearch": True,
        }

    def _dataset_search(self, payload: dict, session: Session) -> list[dict]:
        pattern = str(payload.get("datasetName") or "").lower()
        return [
            self._dataset_object(d)
            for alias, d in cat.DATASETS.items()
            if pattern in alias or pattern in d.name.lower()
        ]

    def _dataset(self, payload: dict, session: Session) -> dict | None:
        wanted = str(payload.get("datasetName") or payload.get("datasetId") or "").lower()
        for d in cat.DATASETS.values():
            if wanted in (d.alias, d.dataset_id):
                return self._dataset_object(d)
        return None

    # -- scenes ---------------------------------------------------------------------------------------
    def _require_dataset(self, payload: dict) -> cat.Dataset:
        name = payload.get("datasetName")
        if not name:
            raise M2MFailure("INPUT_PARAMETER_REQUIRED", "datasetName is required")
        dataset = cat.DATASETS.get(str(name).lower())
        if dataset is None:
            raise M2MFailure("DATASET_INVALID", f"Invalid dataset: {name}")
        return dataset

    def _today(self) -> dt.date:
        return self.emulator.clock.now().date()

    def _scene_search(self, payload: dict, session: Session) -> dict:
        dataset = self._require_dataset(payload)
        scene_filter = payload.get("sceneFilter") or {}
        if not isinstance(scene_filter, dict):
            raise M2MFailure("INPUT_PARAMETER_INVALID", "sceneFilter must be an object")
        start_number = _int(payload.get("startingNumber", 1), "startingNumber", minimum=1)
        max_results = min(_int(payload.get("maxResults", 100), "maxResults", minimum=1), MAX_RESULTS)
        descending = str(payload.get("sortDirection") or "DESC").upper() != "ASC"
        metadata_type = payload.get("metadataType")
        cache_key = json.dumps(
            [dataset.alias, scene_filter, descending, str(self._today())], sort_keys=True, default=str
        )
        with self.state.lock:
            scenes = self.state.cache.get(cache_key)
        if scenes is None:
            scenes = self._filter(dataset, scene_filter)
            if not descending:
                scenes = scenes.take(np.arange(len(scenes))[::-1])
            with self.state.lock:  # the service is stateless; this only spares recomputing the pages of one search
                self.state.cache[cache_key] = scenes
                while len(self.state.cache) > 4:
                    self.state.cache.popitem(last=False)
        total = len(scenes)
        first = min(start_number - 1, total)  # a Python int: startingNumber may be past any numpy integer
        page = scenes.take(np.arange(first, min(total, first + max_results)))
        results = self._scene_objects(page, metadata_type, search=True)
        return {
            "results": results,
            "recordsReturned": len(results),
            "totalHits": total,
            "totalHitsAccuracy": "exact",
            "isCustomized": False,
            "numExcluded": 0,
            "startingNumber": start_number,
            "nextRecord": min(start_number + len(results), total) if total else 0,
        }

    def _filter(self, dataset: cat.Dataset, scene_filter: dict) -> cat.Scenes:
        wrs = grid()
        geometry = _spatial_filter(scene_filter.get("spatialFilter"))
        cells = np.arange(len(wrs.path)) if geometry is None else wrs.query(geometry, margin=0.3)
        acquisition = scene_filter.get("acquisitionFilter") or {}
        start = _date(acquisition.get("start"), "acquisitionFilter.start") or dt.date(1972, 7, 23)
        end = _date(acquisition.get("end"), "acquisitionFilter.end") or self._today()
        months = scene_filter.get("seasonalFilter")
        if months is not None:
            if not isinstance(months, list) or not all(isinstance(m, int) and 1 <= m <= 12 for m in months):
                raise M2MFailure("INPUT_PARAMETER_INVALID", "seasonalFilter must be a list of month numbers 1-12")
        cloud = scene_filter.get("cloudCoverFilter")
        if isinstance(cloud, dict):  # read before generating scenes, which may take seconds for a wide search
            low = _number(cloud.get("min") if cloud.get("min") is not None else 0, "cloudCoverFilter.min")
            high = _number(cloud.get("max") if cloud.get("max") is not None else 100, "cloudCoverFilter.max")
        scenes = cat.generate(dataset, cells, start, end, self._today(), months or None)
        if geometry is not None and len(scenes):
            scenes = scenes.take(np.flatnonzero(shapely.intersects(scenes.footprints(), geometry)))
        if isinstance(cloud, dict):
            unknown = scenes.cloud_cover < 0
            keep = (scenes.cloud_cover >= low) & (scenes.cloud_cover <= high) & ~unknown
            if cloud.get("includeUnknown"):
                keep |= unknown
            scenes = scenes.take(np.flatnonzero(keep))
        return scenes

    def _scene_objects(self, scenes: cat.Scenes, metadata_type: str | None, search: bool) -> list[dict]:
        display_ids = scenes.display_ids()
        l1_ids = scenes.display_ids(scenes.l1_level) if scenes.dataset.level == 2 else display_ids
        entity_ids = scenes.entity_ids()
        coverage, bounds = _footprints_json(scenes)
        browse_name = "Level-1 Reflective Browse" if scenes.dataset.level == 2 else "Reflective Browse"
        options = {"bulk": True, "download": True, "order": scenes.dataset.level == 1, "secondary": False}
        results = []
        for i, (display_id, l1_id, entity_id) in enumerate(zip(display_ids, l1_ids, entity_ids, strict=False)):
            day = cat._ymd(int(scenes.acquired[i]))
            date = f"{day[:4]}-{day[4:6]}-{day[6:]} 00:00:00"
            west, south, east, north = bounds[i]
            results.append(
                {
                    "browse": [
                        {
                            "id": "5fb4ba12d7ec307f",
                            "browseRotationEnabled": None if search else False,
                            "browseName": browse_name,
                            "browsePath": f"{self.base_url}gen-browse?size=rrb&type=refl&product_id={l1_id}",
                            "overlayPath": OVERLAY.format(pid=l1_id),
                            "overlayType": "ls_chs",
                            "thumbnailPath": f"{self.base_url}gen-browse?size=thumb&type=refl&product_id={l1_id}",
                        }
                    ],
                    "cloudCover": f"{float(scenes.cloud_cover[i]):.2f}",
                    "entityId": entity_id,
                    "displayId": display_id,
                    "orderingId": None if search else entity_id,
                    "metadata": _metadata(scenes, i, display_id, l1_id, entity_id, metadata_type),
                    "hasCustomizedMetadata": None if search else False,
                    "options": dict(options),
                    "selected": {"bulk": False, "compare": False, "order": False} if search else None,
                    "spatialBounds": {
                        "type": "Polygon",
                        "coordinates": [[[west, south], [west, north], [east, north], [east, south], [west, south]]],
                    },
                    "spatialCoverage": coverage[i],
                    "temporalCoverage": {"endDate": date, "startDate": date},
                    "publishDate": "Unknown" if scenes.dataset.level == 2 else f"{date[:10]} 10:37:00",
                }
            )
        return results

    def _scene_metadata(self, payload: dict, session: Session) -> dict:
        dataset = self._require_dataset(payload)
        wanted = payload.get("entityId")
        if not wanted:
            raise M2MFailure("INPUT_PARAMETER_REQUIRED", "entityId is required")
        id_type = str(payload.get("idType") or "entityId")
        scenes = self._lookup(dataset, str(wanted), id_type)
        if not len(scenes):
            raise M2MFailure("NOT_FOUND", f"Scene {wanted} was not found in dataset {dataset.alias}")
        return self._scene_objects(scenes, payload.get("metadataType") or "full", search=False)[0]

    def _lookup(self, dataset: cat.Dataset, wanted: str, id_type: str) -> cat.Scenes:
        """The scene named by an entity id or display id (empty when there is none)."""
        try:
            if id_type.lower() == "displayid":
                satellite, path, row = int(wanted[2:4]), int(wanted[10:13]), int(wanted[13:16])
                day = dt.datetime.strptime(wanted[17:25], "%Y%m%d").date()
            else:
                satellite, path, row = int(wanted[2]), int(wanted[3:6]), int(wanted[6:9])
                day = dt.datetime.strptime(wanted[9:16], "%Y%j").date()
        except (ValueError, IndexError):  # IndexError: an id shorter than its fields
            return cat._empty(dataset)
        scenes = cat.find(dataset, satellite, path, row, day, self._today())
        ids = scenes.display_ids() if id_type.lower() == "displayid" else scenes.entity_ids()
        return scenes.take(np.flatnonzero(np.array(ids, dtype=object) == wanted))

    # -- downloads --------------------------------------------------------------------------------------
    def _download_options(self, payload: dict, session: Session) -> list[dict]:
        dataset = self._require_dataset(payload)
        if payload.get("listId"):
            raise M2MFailure("INPUT_PARAMETER_INVALID", "listId is not supported by this service; pass entityIds")
        ids = payload.get("entityIds")
        if isinstance(ids, str):
            ids = [i for i in ids.split(",") if i]  # the docs allow a comma-separated string
        if not isinstance(ids, list) or not ids:
            raise M2MFailure("INPUT_PARAMETER_REQUIRED", "entityIds is required")
        scenes = []
        for entity_id in ids:
            found = self._lookup(dataset, str(entity_id), "entityId")
            if len(found):
                scenes.append((str(entity_id), found.display_ids()[0]))
        return self.downloads.options(dataset, scenes, bool(payload.get("includeSecondaryFileGroups")))

    def _download_request(self, payload: dict, session: Session) -> dict:
        request_id = next(self.state.request_ids)
        return self.downloads.request(payload, session.username, session.contact_id, request_id, self._lookup)

    def _download_retrieve(self, payload: dict, session: Session) -> dict:
        return self.downloads.retrieve(payload, session.username)

    ENDPOINTS = {
        "login-token": None,  # handled before authentication
        "logout": _logout,
        "permissions": _permissions,
        "rate-limit-summary": _rate_limit_summary,
        "dataset-search": _dataset_search,
        "dataset": _dataset,
        "scene-search": _scene_search,
        "scene-metadata": _scene_metadata,
        "download-options": _download_options,
        "download-request": _download_request,
        "download-retrieve": _download_retrieve,
    }


def _int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise M2MFailure("INPUT_PARAMETER_INVALID", f"{name} must be an integer")
    try:
        number = int(value)
    except (ValueError, OverflowError):  # OverflowError: infinity
        raise M2MFailure("INPUT_PARAMETER_INVALID", f"{name} must be an integer") from None
    if number < minimum:
        raise M2MFailure("INPUT_PARAMETER_INVALID", f"{name} must be at least {minimum}")
    return number


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise M2MFailure("INPUT_PARAMETER_INVALID", f"{name} must be a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise M2MFailure("INPUT_PARAMETER_INVALID", f"{name} must be a number") from None
    if number != number:
        raise M2MFailure("INPUT_PARAMETER_INVALID", f"{name} must be a number")
    return number


def _date(value: object, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:  # the service searches at the date level and discards any time of day
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise M2MFailure("INPUT_PARAMETER_INVALID", f"{name} is not an ISO 8601 date: {value}") from None


def _coordinate(value: object, name: str) -> tuple[float, float]:
    if not isinstance(value, dict) or "latitude" not in value or "longitude" not in value:
        raise M2MFailure("INPUT_PARAMETER_INVALID", f"{name} must be a Coordinate {{latitude, longitude}}")
    try:
        lon, lat = float(value["longitude"]), float(value["latitude"])
    except (TypeError, ValueError, OverflowError):
        raise M2MFailure("INPUT_PARAMETER_INVALID", f"{name} has a non-numeric coordinate") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise M2MFailure("INPUT_PARAMETER_INVALID", f"{name} is outside -180..180, -90..90")
    return lon, lat


def _spatial_filter(spatial: object) -> shapely.Geometry | None:
    if not spatial:
        return None
    if not isinstance(spatial, dict):
        raise M2MFailure("INPUT_PARAMETER_INVALID", "spatialFilter must be an object")
    kind = str(spatial.get("filterType", "")).lower()
    if kind == "mbr":
        if "lowerLeft" not in spatial or "upperRight" not in spatial:
            raise M2MFailure("INPUT_PARAMETER_INVALID", "If lowerLeft or upperRight are supplied, then both must exist")
        west, south = _coordinate(spatial["lowerLeft"], "lowerLeft")
        east, north = _coordinate(spatial["upperRight"], "upperRight")
        if (west, south) == (east, north):
            return shapely.Point(west, south)
        return shapely.box(min(west, east), min(south, north), max(west, east), max(south, north))
    if kind == "geojson":
        geo = spatial.get("geoJson")
        if not isinstance(geo, dict) or "type" not in geo or "coordinates" not in geo:
            raise M2MFailure("INPUT_PARAMETER_INVALID", "geoJson must be a GeoJSON geometry {type, coordinates}")
        coordinates = geo["coordinates"]
        try:
            if geo["type"] == "Polygon" and isinstance(coordinates, list) and coordinates:
                if isinstance(coordinates[0], dict):  # landsatxplore's flat ring
                    coordinates = [[[c["longitude"], c["latitude"]] for c in coordinates]]
            with np.errstate(invalid="ignore", over="ignore"):
                geometry = shapely.geometry.shape({"type": geo["type"], "coordinates": coordinates})
                finite = np.isfinite(shapely.get_coordinates(geometry)).all()
        except Exception:  # shapely raises several types for malformed coordinates
            raise M2MFailure("INPUT_PARAMETER_INVALID", "geoJson coordinates are malformed") from None
        if not finite:
            raise M2MFailure("INPUT_PARAMETER_INVALID", "geoJson coordinates are malformed")
        if geometry.is_empty:
            raise M2MFailure("INPUT_PARAMETER_INVALID", "geoJson geometry is empty")
        west, south, east, north = geometry.bounds  # as for mbr: degrees, and nothing GEOS cannot buffer
        if not (-180 <= west and east <= 180 and -90 <= south and north <= 90):
            raise M2MFailure("INPUT_PARAMETER_INVALID", "geoJson coordinates are outside -180..180, -90..90")
        return shapely.make_valid(geometry)
    raise M2MFailure("INPUT_PARAMETER_INVALID", f"Invalid filterType: {spatial.get('filterType')}")


def _footprints_json(scenes: cat.Scenes) -> tuple[list[dict], list[list[float]]]:
    """GeoJSON footprints (5 points, LL-LR-UR-LL order as USGS lists them) and their bounds, per scene.

    Footprints across the antimeridian become a MultiPolygon of their two sides.
    """
    ring = scenes.corners[:, [3, 2, 1, 0, 3]]
    crossing = ring[:, :, 0].max(axis=1) > 180.0
    bounds = np.round(np.concatenate([ring.min(axis=1), ring.max(axis=1)], axis=1), 5)
    coverage = [{"type": "Polygon", "coordinates": [r]} for r in np.round(ring, 5).tolist()]
    for i in np.flatnonzero(crossing):
        geometry = cat.split_antimeridian(np.array([shapely.Polygon(ring[i])], dtype=object))[0]
        parts = [[[[round(x, 5), round(y, 5)] for x, y in part.exterior.coords]] for part in geometry.geoms]
        coverage[i] = {"type": "MultiPolygon", "coordinates": parts}
        _west, south, _east, north = shapely.bounds(geometry)
        bounds[i] = [-180.0, south, 180.0, north]
    return coverage, bounds.tolist()


def _field(fid: str, name: str, anchor: str, value: object) -> dict:
    return {"id": fid, "fieldName": name, "dictionaryLink": DICTIONARY + "\n#" + anchor, "value": value}


def _start_time(centre: float) -> str:
    """``Start Time`` (``YYYY:DDD:hh:mm:ss.sssssss``): the scene's imaging starts 12 s before its centre time."""
    start = cat.EPOCH_UTC + dt.timedelta(seconds=centre - 12.0)
    return f"{start:%Y:%j:%H:%M:%S}.{start.microsecond:06d}0"


def _metadata(
    scenes: cat.Scenes, i: int, display_id: str, l1_id: str, entity_id: str, metadata_type: str | None
) -> list[dict]:
    if metadata_type not in ("summary", "full"):
        return []
    day = cat._ymd(int(scenes.acquired[i]))
    cover = float(scenes.cloud_cover[i])
    fields = [
        _field(
            "5e83d1507bc900d5",
            "Landsat Product Identifier L2" if scenes.dataset.level == 2 else "Landsat Product Identifier L1",
            "landsat_product_id",
            display_id,
        ),
        _field("5e83d15012b8905f", "Landsat Product Identifier L1", "landsat_product_id", l1_id),
        _field("5e83d1505e5e2ce5", "Landsat Scene Identifier", "landsat_scene_id", entity_id),
        _field("5e83d150a2a27e25", "Date Acquired", "date_acquired", f"{day[:4]}/{day[4:6]}/{day[6:]}"),
        _field("5e83d1506e24b7e0", "Collection Category", "collection_category", str(scenes.category[i])),
        _field("5e83d15051254e26", "WRS Path", "wrs_path", f" {int(scenes.path[i]):03d}"),
        _field("5e83d1508d2a7c24", "WRS Row", "wrs_row", f" {int(scenes.row[i]):03d}"),
    ]
    if metadata_type == "summary":
        return fields
    rng = np.random.default_rng(zlib.crc32(display_id.encode()))
    processed = cat._ymd(int(scenes.processed[i]))
    corners = scenes.corners[i]
    lat = float(corners[:, 1].mean())
    fields += [
        _field("5e83d150ba5b2d24", "Collection Number", "collection_number", 2),
        _field("5e83d1503f2b0ab6", "Land Cloud Cover", "cloud_cover_land", f"{max(cover, 0) * 0.9:7.2f}"),
        _field("5e83d150ca9b8af7", "Scene Cloud Cover L1", "cloud_cover", f"{cover:7.2f}"),
        _field(
            "5e83d150d5ed1dc3",
            "Date Product Generated L2",
            "date_l2_generated",
            f"{processed[:4]}/{processed[4:6]}/{processed[6:]}",
        ),
        _field(
            "5e83d150e5f0f8c6",
            "Date Product Generated L1",
            "date_l1_generated",
            f"{processed[:4]}/{processed[4:6]}/{processed[6:]}",
        ),
        _field(
            "5e83d1504a8b3da5",
            "Start Time",
            "start_time",
            _start_time(float(scenes.centre[i])),
        ),
        _field(
            "5e83d1507b29a7c8",
            "Sun Elevation L0RA",
            "sun_elevation",
            f"{max(2.0, 82.0 - abs(lat - 23.44 * np.sin(2 * np.pi * (284 + _doy(day)) / 365))):12.8f}",
        ),
        _field("5e83d1500e7a5e3f", "Sun Azimuth L0RA", "sun_azimuth", f"{150.0 + rng.uniform(-20, 20):12.8f}"),
        _field(
            "5e83d15013f3e6c8",
            "Data Type L2" if scenes.dataset.level == 2 else "Data Type L1",
            "data_type",
            f"{scenes.sensor[i]}_{scenes.level[i]}",
        ),
        _field("5e83d150c95a2e2b", "Sensor Identifier", "sensor_id", str(scenes.sensor[i])),
        _field(
            "5e83d1500d0b8e0f",
            "Satellite",
            "spacecraft_id",
            int(scenes.satellite[i]) if scenes.dataset.level == 1 else f"LANDSAT_{int(scenes.satellite[i])}",
        ),
        _field("5e83d1505ed9a4f0", "Nadir/Off Nadir", "nadir_offnadir", "NADIR"),
        _field("5e83d150b3e1b0a3", "Day/Night Indicator", "day_or_night", "DAY"),
        _field("5e83d150c8b1f1d9", "Geometric RMSE Model", "geometric_rmse_model", f"{rng.uniform(3, 12):7.3f}"),
        _field("5e83d1505c4d9c2e", "Image Quality", "image_quality", 9),
        _field("5e83d1502d0bd0ac", "Center Latitude dec", "center_latitude", f"{lat:10.5f}"),
        _field("5e83d150a6f3e1c1", "Center Longitude dec", "center_longitude", f"{float(corners[:, 0].mean()):11.5f}"),
        _field("5e83d15074f2b8a2", "Corner Upper Left Latitude dec", "corner_ul_lat", f"{corners[0, 1]:10.5f}"),
        _field("5e83d150a4b1c6f3", "Corner Upper Left Longitude dec", "corner_ul_lon", f"{corners[0, 0]:11.5f}"),
        _field("5e83d15086e1e9c3", "Corner Lower Right Latitude dec", "corner_lr_lat", f"{corners[2, 1]:10.5f}"),
        _field("5e83d1509c1d2e7a", "Corner Lower Right Longitude dec", "corner_lr_lon", f"{corners[2, 0]:11.5f}"),
        _field("5e83d1508f2a4c11", "Station Identifier", "station_id", str(scenes.station[i])),
    ]
    return fields


def _doy(day: str) -> int:
    return dt.date(int(day[:4]), int(day[4:6]), int(day[6:])).timetuple().tm_yday
