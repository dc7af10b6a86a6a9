"""The M2M wire format: request payloads, the response envelope, and scene results as a GeoDataFrame.

Pure functions: nothing here sends a request. CamelCase names of the API stay inside this module.
"""

from __future__ import annotations

import datetime as dt
import contextlib
import gc
import io
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import shapely
from shapely.geometry import shape

from ._bands import band_suffix
from ._http import status_error
from ._names import safe_name
from .exceptions import ApiError, AuthenticationError, NotFoundError, RateLimitError, ServerError

log = logging.getLogger("lsru_geo.m2m")

SERVICE = "m2m"
COLUMNS = [
    "display_id",
    "entity_id",
    "dataset",
    "satellite",
    "sensor",
    "processing_level",
    "path",
    "row",
    "acquired",
    "processed",
    "collection",
    "collection_category",
    "cloud_cover",
    "browse_url",
    "geometry",
]
_SENSOR_BY_LETTER = {"C": "OLI_TIRS", "O": "OLI", "E": "ETM", "M": "MSS"}
# RATE_LIMIT_USER_DL resets over 15 minutes: waiting it out inside a call helps nobody, so it is raised
_DOWNLOAD_LIMIT_WAIT = 905.0


# -- payloads -------------------------------------------------------------------------------------------
def spatial_filter(geometry: shapely.Geometry | None, bbox: Sequence[float] | None) -> dict | None:
    """``mbr`` filter for a bbox (a point when its corners coincide), ``geojson`` for any other geometry."""
    if geometry is not None:
        return {"filterType": "geojson", "geoJson": json.loads(shapely.to_geojson(geometry))}
    if bbox is not None:
        left, bottom, right, top = bbox
        return {
            "filterType": "mbr",
            "lowerLeft": {"latitude": bottom, "longitude": left},
            "upperRight": {"latitude": top, "longitude": right},
        }
    return None


def scene_search_payload(
    dataset: str,
    *,
    spatial: dict | None,
    begin: dt.date | None,
    end: dt.date | None,
    max_cloud_cover: float,
    months: Sequence[int] | None,
    starting_number: int,
    max_results: int,
    metadata_type: str,
) -> dict:
    """The body of one ``scene-search`` request."""
    scene_filter: dict[str, Any] = {}
    if spatial:
        scene_filter["spatialFilter"] = spatial
    if begin or end:
        scene_filter["acquisitionFilter"] = {
            "start": (begin or dt.date(1972, 7, 23)).isoformat(),
            "end": (end or dt.date.today()).isoformat(),
        }
    if max_cloud_cover < 100:  # compared with a number, never by truthiness: 0 is a valid maximum
        scene_filter["cloudCoverFilter"] = {"min": 0, "max": max_cloud_cover, "includeUnknown": False}
    if months:
        scene_filter["seasonalFilter"] = list(months)
    return {
        "datasetName": dataset,
        "sceneFilter": scene_filter,
        "startingNumber": starting_number,
        "maxResults": max_results,
        "metadataType": metadata_type,  # always explicit: the default has changed over the years
    }


# -- envelope -------------------------------------------------------------------------------------------
def error_for(code: str | None, message: str, status: int, url: str, retry_after: float | None = None) -> ApiError:
    """The typed exception for an M2M ``errorCode`` (checked first) or else an HTTP status."""
    fields = {"service": SERVICE, "status": status, "code": code, "url": url}
    if code:
        if code.startswith("AUTH_") or code in (
            "UNAUTHORIZED_USER",
            "ORDER_AUTH",
            "DATASET_AUTH",
            "DATASET_UNAUTHORIZED",
        ):
            return AuthenticationError(message, **fields)
        if code == "RATE_LIMIT_USER_DL":
            return RateLimitError(message, retry_after=retry_after or _DOWNLOAD_LIMIT_WAIT, **fields)
        if code.startswith("RATE_LIMIT"):
            return RateLimitError(message, retry_after=retry_after, **fields)
        if code == "NOT_FOUND":
            return NotFoundError(message, **fields)
        if code in ("SERVER_ERROR", "UNKNOWN", "ENDPOINT_UNAVAILABLE", "SEARCH_UNAVAILABLE"):
            return ServerError(message, **fields)
        return ApiError(message, **fields)
    return status_error(status, message, service=SERVICE, url=url, retry_after=retry_after)


def unwrap(content: bytes, status: int, url: str, retry_after: float | None = None) -> Any:
    """Return ``data`` of an M2M envelope, or raise the typed error it (or its HTTP status) describes.

    ``errorCode`` is checked before the status (most errors come with HTTP 200), and the body is parsed even
    on non-200 answers, which may carry the envelope too. ``content`` is the raw body: decoding it as
    UTF-8 JSON directly spares requests' character-set detection, which dominates on large pages.
    """
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    body_text = content[:200].decode("utf-8", "replace") if not isinstance(body, dict) else ""
    if not isinstance(body, dict):
        if 200 <= status < 300:
            raise ApiError(
                f"the response is not an M2M JSON envelope: {body_text[:200]!r}",
                service=SERVICE,
                status=status,
                url=url,
            )
        raise error_for(None, body_text[:200].strip() or f"HTTP {status}", status, url, retry_after)
    code = body.get("errorCode")
    if code or not 200 <= status < 300:
        raise error_for(code, body.get("errorMessage") or f"HTTP {status}", status, url, retry_after)
    return body.get("data")


# -- results --------------------------------------------------------------------------------------------
class Coverage(msgspec.Struct, gc=False):
    """A GeoJSON footprint; its coordinates are kept as raw JSON until they are parsed in bulk."""

    type: str
    coordinates: msgspec.Raw


class Browse(msgspec.Struct, gc=False):
    browsePath: str | None = None


class MetadataField(msgspec.Struct, gc=False):
    fieldName: str
    value: Any = None


class SceneRecord(msgspec.Struct, gc=False):
    """The fields of a scene-search result that the GeoDataFrame needs (the rest is never materialised)."""

    displayId: str | None = None
    entityId: str | None = None
    cloudCover: str | float | None = None
    spatialCoverage: Coverage | None = None
    browse: list[Browse] | None = None


class FullSceneRecord(SceneRecord, gc=False):
    """A scene record with its metadata fields (``metadataType='full'``)."""

    metadata: list[MetadataField] | None = None


class ScenePage(msgspec.Struct, gc=False):
    results: list[SceneRecord] | list[FullSceneRecord] = []
    totalHits: int | None = None
    recordsReturned: int | None = None
    nextRecord: int | None = None


def _page_decoder(record: type) -> msgspec.json.Decoder:
    page = msgspec.defstruct(
        "Page", [("results", list[record], []), ("totalHits", int | None, None)], bases=(ScenePage,), gc=False
    )
    envelope = msgspec.defstruct("Envelope", [("data", page | None, None), ("errorCode", str | None, None)])
    return msgspec.json.Decoder(envelope)


_PAGE_DECODERS = {False: _page_decoder(SceneRecord), True: _page_decoder(FullSceneRecord)}


def decode_scene_page(
    content: bytes, status: int, url: str, retry_after: float | None = None, *, full: bool = False
) -> ScenePage:
    """Decode a ``scene-search`` answer straight into :class:`ScenePage` (errors raised as :func:`unwrap` does).

    msgspec decodes only the fields the frame needs (metadata only when ``full``), several times faster than
    ``json.loads`` builds every nested dict of a 10,000-scene page.
    """
    if 200 <= status < 300:
        try:
            with _no_cycle_collection():
                envelope = _PAGE_DECODERS[full].decode(content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            envelope = None
        if envelope is not None and envelope.errorCode is None:
            return envelope.data or ScenePage()
    unwrap(content, status, url, retry_after)  # raises the typed error
    raise ApiError("scene-search answer could not be decoded", service=SERVICE, status=status, url=url)


def records_from_dicts(results: list[dict]) -> list[FullSceneRecord]:
    """Scene records from already-parsed M2M results (samples, ``scene-metadata`` answers)."""
    return msgspec.json.decode(msgspec.json.encode(results), type=list[FullSceneRecord])


def _footprints(coverages: list[Coverage | None]) -> np.ndarray:
    """Shapely footprints of raw GeoJSON coverages.

    Scene footprints are closed 5-point polygons: their raw coordinate texts are stripped of brackets and read
    as one 10-column CSV by pyarrow's C++ parser, then built in one ``shapely.polygons`` call. That is far
    faster than creating half a million Python floats. Anything else (antimeridian multipolygons, missing
    footprints) is parsed one by one.
    """
    n = len(coverages)
    geometries = np.empty(n, dtype=object)
    simple = [i for i, c in enumerate(coverages) if c is not None and c.type == "Polygon"]
    if simple:
        text = b"\n".join([coverages[i].coordinates for i in simple]).translate(None, b"[] ")  # Raw is a buffer
        try:
            table = pa_csv.read_csv(io.BytesIO(text), read_options=_CSV_READ, convert_options=_CSV_CONVERT)
        except (pa.ArrowInvalid, ValueError):
            table = None  # not all 5-point single rings: take the general path below
        if table is not None and table.num_rows == len(simple) and table.num_columns == 10:
            flat = np.column_stack([column.to_numpy() for column in table.columns])
            count = len(simple)  # one 5-point ring per polygon: the ragged constructor skips per-ring checks
            offsets = (np.arange(0, 5 * count + 1, 5), np.arange(count + 1))
            geometries[simple] = shapely.from_ragged_array(shapely.GeometryType.POLYGON, flat.reshape(-1, 2), offsets)
        else:
            simple = []
    rest = np.setdiff1d(np.arange(n), simple)
    if len(rest):
        others = [coverages[i] for i in rest]
        try:
            geometries[rest] = _ragged_footprints(others)
        except _BAD_FOOTPRINT:  # one malformed footprint (a one-point ring...) must not abort the search
            geometries[rest] = [_one_footprint(coverage) for coverage in others]
    return geometries


_BAD_FOOTPRINT = (ValueError, TypeError, IndexError, KeyError, RecursionError, shapely.errors.ShapelyError)


def _one_footprint(coverage: Coverage | None) -> shapely.Geometry | None:
    """Return the footprint of one coverage, or None (no footprint, logged) when it is not a valid GeoJSON shape."""
    if coverage is None:
        return None
    try:
        return shape({"type": coverage.type, "coordinates": json.loads(bytes(coverage.coordinates))})
    except _BAD_FOOTPRINT as error:
        log.warning("scene footprint left empty: %s %s", type(error).__name__, str(error)[:100])
        return None


def _ragged_footprints(coverages: list[Coverage | None]) -> np.ndarray:
    """Footprints of any shape. Hole-free polygons and multipolygons (scenes split at the antimeridian) are
    built in ragged vectorised calls, since shapely's per-geometry constructors are slow; the rest one by one.
    """
    out = np.empty(len(coverages), dtype=object)
    sizes, points, owners = [], [], []
    for i, coverage in enumerate(coverages):
        if coverage is None:
            continue
        coordinates = json.loads(bytes(coverage.coordinates))
        polygons = (
            [coordinates] if coverage.type == "Polygon" else coordinates if coverage.type == "MultiPolygon" else None
        )
        if polygons is None or any(len(polygon) != 1 for polygon in polygons):
            out[i] = shape({"type": coverage.type, "coordinates": coordinates})
            continue
        for polygon in polygons:
            sizes.append(len(polygon[0]))
            points.extend(xy[:2] for xy in polygon[0])
            owners.append(i)
    if sizes:
        rings = shapely.linearrings(np.asarray(points, dtype=float), indices=np.repeat(np.arange(len(sizes)), sizes))
        parts, owners = shapely.polygons(rings), np.asarray(owners)
        single = np.array([coverages[i].type == "Polygon" for i in owners])
        out[owners[single]] = parts[single]
        if not single.all():
            multi, index = np.unique(owners[~single], return_inverse=True)
            out[multi] = shapely.multipolygons(parts[~single], indices=index)
    return out


_CSV_READ = pa_csv.ReadOptions(column_names=[f"c{i}" for i in range(10)])
_CSV_CONVERT = pa_csv.ConvertOptions(column_types={f"c{i}": pa.float64() for i in range(10)})


def _digits(chars: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Integers written in columns ``start:stop`` of a (n, width) array of ASCII codes."""
    weights = 10 ** np.arange(stop - start - 1, -1, -1)
    return (chars[:, start:stop].astype(np.int64) - 48) @ weights


def _text(chars: np.ndarray, start: int, stop: int) -> np.ndarray:
    return np.ascontiguousarray(chars[:, start:stop]).view(f"S{stop - start}").ravel()


def _date(year: np.ndarray, month: np.ndarray, day: np.ndarray, valid: np.ndarray) -> np.ndarray:
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    dates = (months.astype("datetime64[D]") + (day - 1)).astype("datetime64[ns]")
    dates[~valid] = np.datetime64("NaT")
    return dates


_ID_DIGITS = [2, 3, *range(10, 16), *range(17, 25), *range(26, 34), 35, 36]
_ID_UNDERSCORES = [4, 9, 16, 25, 34, 37]


def _id_columns(display_ids: list) -> dict[str, Any]:
    """Columns parsed from fixed-width product ids (the ``PRODUCT_ID`` layout), vectorised over their ASCII
    codes. Ids that are not Landsat product ids (another dataset's) give missing values.
    """
    n = len(display_ids)
    ascii_ids = [d if isinstance(d, str) and d.isascii() else "" for d in display_ids]
    lengths = np.fromiter(map(len, ascii_ids), dtype=np.int64, count=n)
    chars = np.array(ascii_ids, dtype="S40").view(np.uint8).reshape(n, 40)
    digits = chars[:, _ID_DIGITS]
    letter, level, tier = _text(chars, 1, 2), _text(chars, 5, 9), _text(chars, 38, 40)
    satellite, month, day = _digits(chars, 2, 4), _digits(chars, 21, 23), _digits(chars, 23, 25)
    valid = (
        (lengths == 40)
        & (chars[:, 0] == ord("L"))
        & ((digits >= 48) & (digits <= 57)).all(axis=1)
        & (chars[:, _ID_UNDERSCORES] == ord("_")).all(axis=1)
        & np.isin(letter, [b"C", b"O", b"T", b"E", b"M"])
        & (satellite >= 1)
        & (satellite <= 9)
        & np.isin(level, [b"L1TP", b"L1GT", b"L1GS", b"L2SP", b"L2SR"])
        & np.isin(tier, [b"T1", b"T2", b"RT"])
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= 31)
    )
    letters = letter.astype(str)
    sensor = np.where(
        letters == "T", np.where(satellite >= 8, "TIRS", "TM"), pd.Series(letters).map(_SENSOR_BY_LETTER).to_numpy()
    )

    def integer(values: np.ndarray) -> pd.arrays.IntegerArray:
        return pd.arrays.IntegerArray(values.astype(np.int64), ~valid)

    def category(values: np.ndarray) -> pd.Categorical:  # few distinct values: categorical is cheap and compact
        names, codes = np.unique(values[valid], return_inverse=True)  # fixed-width bytes: no Python string hashed
        full = np.full(len(values), -1)
        full[valid] = codes
        return pd.Categorical.from_codes(full, names.astype(str))

    return {
        "satellite": integer(satellite),
        "sensor": category(sensor),
        "processing_level": category(level),
        "path": integer(_digits(chars, 10, 13)),
        "row": integer(_digits(chars, 13, 16)),
        "acquired": _date(_digits(chars, 17, 21), month, day, valid),
        "processed": _date(_digits(chars, 26, 30), _digits(chars, 30, 32), _digits(chars, 32, 34), valid),
        "collection": integer(_digits(chars, 35, 37)),
        "collection_category": category(tier),
    }


def _cloud(values: list) -> np.ndarray:
    """Cloud cover as floats; the service sends strings (``"41.90"``), numbers, ``-1`` or null for unknown."""
    try:
        cloud = np.array([v if v is not None else "nan" for v in values], dtype=float)
    except ValueError:
        cloud = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
    cloud[cloud < 0] = np.nan
    return cloud


@contextlib.contextmanager
def _no_cycle_collection():
    """Pause Python's cycle collector: building ~10^5 acyclic objects otherwise triggers repeated full scans of
    everything alive (the decoded pages included), which costs more than the conversion itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def scenes_frame(
    records: list[SceneRecord] | list[dict], dataset: str, full_metadata: bool = False
) -> gpd.GeoDataFrame:
    """Turn scene records into a GeoDataFrame, one row per scene, footprints in EPSG:4326.

    Parameters
    ----------
    records : list of SceneRecord or list of dict
        Decoded ``scene-search`` results (:func:`decode_scene_page`), or raw result dicts.
    dataset : str
        The dataset searched, stored in the ``dataset`` column.
    full_metadata : bool
        Add every metadata field as a snake_case column, stripped and typed.

    Notes
    -----
    Identifier fields are parsed from the fixed-width product ids in vectorised arithmetic, footprints in
    one vectorised call, and ``cloud_cover`` is a float (NaN when unknown: the service sends ``-1`` or null).
    This is what keeps 50,000-scene searches cheap on the client (``benchmarks/bench_search.py``).
    """
    with _no_cycle_collection():
        if records and isinstance(records[0], dict):
            records = records_from_dicts(records)
        display = [r.displayId for r in records]
        columns = {
            "display_id": pd.array(display, dtype="str"),
            "entity_id": pd.array([r.entityId for r in records], dtype="str"),
            "dataset": pd.Categorical.from_codes(np.zeros(len(records), dtype=np.int8), [dataset]),
            **_id_columns(display),
            "cloud_cover": _cloud([r.cloudCover for r in records]),
            "browse_url": pd.array([r.browse[0].browsePath if r.browse else None for r in records], dtype="str"),
        }
        frame = gpd.GeoDataFrame(columns, geometry=_footprints([r.spatialCoverage for r in records]), crs="EPSG:4326")
        if full_metadata:
            extra = _metadata_columns(records)
            frame = frame.join(
                extra.drop(columns=[c for c in extra.columns if c in frame.columns])
            )  # ours are typed already
        return frame


def snake_case(name: str) -> str:
    """``"Land Cloud Cover"`` -> ``"land_cloud_cover"``."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _typed(values: pd.Series) -> pd.Series:
    stripped = values.map(lambda v: v.strip() if isinstance(v, str) else v)
    text = stripped.dropna().astype(str)
    if len(text) and text.str.fullmatch(r"\d{4}/\d{2}/\d{2}").all():
        return pd.to_datetime(stripped, format="%Y/%m/%d", errors="coerce")
    numbers = pd.to_numeric(stripped, errors="coerce")
    if numbers.notna().sum() == stripped.notna().sum():
        return numbers
    return stripped.astype("str")


def _metadata_columns(records: list[SceneRecord]) -> pd.DataFrame:
    rows = [{snake_case(f.fieldName): f.value for f in (getattr(r, "metadata", None) or [])} for r in records]
    table = pd.DataFrame(rows, dtype=object)
    return pd.DataFrame({column: _typed(table[column]) for column in table.columns}, index=table.index)


# -- downloads ------------------------------------------------------------------------------------------------
BUNDLE_PRODUCT = "Landsat Collection 2 Level-2 Product Bundle"
METADATA_FILES = ("MTL.txt", "MTL.json")


def file_key(name: str) -> str:
    """How a bundle file is named in requests: rasters by stem (``SR_B4``), others by name (``MTL.TXT``)."""
    key = name.strip().upper()
    return key[: -len(".TIF")] if key.endswith(".TIF") else key


def download_plan(options: list[dict], scenes: pd.DataFrame, bands: list[str]) -> list[dict]:
    """The band files to request for ``scenes`` (``display_id``, ``entity_id``) from ``download-options``.

    ``bands`` are USGS stems like ``SR_B4`` or common names like ``RED``: those secondary files plus the MTL
    files, de-duplicated since the service repeats the secondary list under every product. Each entry: ``entity_id``, ``product_id``, ``name``, ``folder``, ``size``,
    ``display_id`` and ``missing`` (nothing offered).
    """
    by_scene: dict[str, list[dict]] = {}
    for option in options:
        if isinstance(option, dict):
            by_scene.setdefault(option.get("entityId"), []).append(option)
    plan = []
    for display_id, entity_id in zip(scenes.display_id, scenes.entity_id, strict=False):
        safe_name(display_id, "display id")  # it names the band files' folder
        offered = by_scene.get(entity_id, [])
        files = {}
        for option in offered:
            for secondary in option.get("secondaryDownloads") or []:
                if isinstance(secondary, dict) and secondary.get("available"):
                    files.setdefault(_field(secondary, "entityId"), secondary)
        by_key = {
            file_key(f.get("downloadName") or str(_field(f, "displayId")).rsplit("_", 1)[-1]): f for f in files.values()
        }
        for band in [*bands, *map(file_key, METADATA_FILES)]:
            chosen = by_key.get(band) or by_key.get(file_key(band_suffix(band, display_id)))  # common names too
            if chosen is None:
                raise_unknown_band(band, display_id, sorted(by_key))
            entry = {
                "display_id": display_id,
                "entity_id": chosen["entityId"],
                "product_id": _field(chosen, "id"),
                "name": safe_name(_field(chosen, "displayId"), "file name"),
                "folder": display_id,
                "size": chosen.get("filesize"),
                "missing": False,
            }
            if entry not in plan:
                plan.append(entry)
    return plan


def bundle_plan(options: list[dict], scenes: pd.DataFrame) -> tuple[list[dict], list[str]]:
    """Each scene's available product bundle (Level-1 or Level-2), and the scenes whose bundles are all unavailable.

    A scene offered no bundle at all is planned as ``missing``; superseded bundles, always ``available: false``,
    are skipped.
    """
    by_scene: dict[str, list[dict]] = {}
    for option in options:
        if isinstance(option, dict):
            by_scene.setdefault(option.get("entityId"), []).append(option)
    plan, withheld = [], []
    for display_id, entity_id in zip(scenes.display_id, scenes.entity_id, strict=True):
        safe_name(display_id, "display id")  # it names the bundle file or the folder of its files
        bundles = [o for o in by_scene.get(entity_id, []) if str(o.get("productName", "")).endswith("Product Bundle")]
        bundle = next((o for o in bundles if o.get("available")), None)
        if bundle is None and bundles:
            withheld.append(display_id)
            continue
        plan.append(
            {
                "display_id": display_id,
                "entity_id": entity_id,
                "product_id": bundle and _field(bundle, "id"),
                "name": f"{display_id}.tar",
                "folder": None,
                "size": bundle and bundle.get("filesize"),
                "missing": bundle is None,
            }
        )
    return plan, withheld


def bundle_files_plan(options: list[dict], scenes: pd.DataFrame) -> list[dict]:
    """Every available file of each scene's bundle (the secondary downloads, de-duplicated) into ``<product id>/``.

    A scene with no file available is planned as ``missing``.
    """
    plan = []
    for display_id, entity_id in zip(scenes.display_id, scenes.entity_id, strict=True):
        safe_name(display_id, "display id")
        files: dict[str, dict] = {}
        for option in options:
            if not isinstance(option, dict) or option.get("entityId") != entity_id:
                continue
            for secondary in option.get("secondaryDownloads") or []:
                if isinstance(secondary, dict) and secondary.get("available"):
                    files.setdefault(_field(secondary, "entityId"), secondary)
        ordered = sorted(files.values(), key=lambda f: (f.get("displayOrder", 0), str(f.get("displayId"))))
        plan += [
            {
                "display_id": display_id,
                "entity_id": f["entityId"],
                "product_id": _field(f, "id"),
                "name": safe_name(_field(f, "displayId"), "file name"),
                "folder": display_id,
                "size": f.get("filesize"),
                "missing": False,
            }
            for f in ordered
        ]
        if not ordered:
            plan.append({"display_id": display_id, "entity_id": entity_id, "missing": True})
    return plan


def _download_id(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        message = f"{where} holds a downloadId that is not a number: {str(value)[:80]!r}"
        raise ApiError(message, service=SERVICE) from None


def requested_download_ids(answer: Any) -> set[int]:
    """Return the download ids a ``download-request`` answer accepted: its ``newRecords`` and ``duplicateProducts``.

    Raises
    ------
    ApiError
        If the answer is not an object, or an id is not a number.
    """
    if not isinstance(answer, dict):
        raise ApiError(f"download-request answered {str(answer)[:120]!r}, not an object", service=SERVICE)
    new = answer.get("newRecords") or {}
    duplicates = answer.get("duplicateProducts") or []
    if not isinstance(new, dict) or not isinstance(duplicates, list):
        raise ApiError("download-request answer has malformed newRecords/duplicateProducts", service=SERVICE)
    ids = {_download_id(k, "download-request newRecords") for k in new}
    for entry in duplicates:
        record = entry if isinstance(entry, dict) else {}
        ids.add(_download_id(record.get("downloadId"), "download-request duplicateProducts"))
    return ids


def ready_urls(entries: Any, ids: set[int], endpoint: str) -> dict[str, str]:
    """Return entity id -> URL of the ready ``entries`` that belong to ``ids``.

    ``entries`` is ``availableDownloads`` of ``download-request`` or ``available`` of ``download-retrieve``;
    entries without a URL yet are left out.

    Raises
    ------
    ApiError
        If ``entries`` is not a list, or one of ours lacks its ``entityId`` (its URL could not be told apart).
    """
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ApiError(f"{endpoint} lists downloads as {type(entries).__name__}, not a list", service=SERVICE)
    ready = {}
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("url"):
            continue
        if _download_id(entry.get("downloadId", -1), endpoint) not in ids:
            continue
        entity = entry.get("entityId")
        if not entity:
            raise ApiError(
                f"{endpoint} offers download {entry.get('downloadId')} without its entityId: cannot tell which "
                "file the URL serves",
                service=SERVICE,
            )
        ready[str(entity)] = str(entry["url"])
    return ready


def _field(record: dict, key: str) -> Any:
    """Return ``record[key]``; an answer without it is the service's fault, raised as :class:`ApiError`."""
    value = record.get(key)
    if value is None or value == "":
        raise ApiError(f"download-options answer lacks {key!r} in {str(record)[:200]}", service=SERVICE)
    return value


def raise_unknown_band(band: str, display_id: str, files: list[str]) -> None:
    """Raise the error for a band that a product does not have, listing the names it does have."""
    from .exceptions import InvalidInputError

    if not files:
        raise InvalidInputError(f"USGS offers no band files for {display_id}")
    raise InvalidInputError(f"{display_id} has no band {band!r}; files: {files}")
