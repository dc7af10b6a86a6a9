"""The M2M wire format: request payloads, the response envelope, and scene results as a GeoDataFrame.

Pure functions: nothing here sends a request. CamelCase names of the API stay inside this module.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from ._ids import PRODUCT_ID
from .exceptions import ApiError, AuthenticationError, NotFoundError, RateLimitError, ServerError

SERVICE = "m2m"
COLUMNS = [
    "display_id", "entity_id", "dataset", "satellite", "sensor", "processing_level", "path", "row",
    "acquired", "processed", "collection", "collection_category", "cloud_cover", "browse_url", "geometry",
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
        if code.startswith("AUTH_") or code in ("UNAUTHORIZED_USER", "ORDER_AUTH", "DATASET_AUTH", "DATASET_UNAUTHORIZED"):
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
    if status == 429:
        return RateLimitError(message, retry_after=retry_after, **fields)
    if status in (401, 403):
        return AuthenticationError(message, **fields)
    if status == 404:
        return NotFoundError(message, **fields)
    if status >= 500:
        return ServerError(message, **fields)
    return ApiError(message, **fields)


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
            raise ApiError(f"the response is not an M2M JSON envelope: {body_text[:200]!r}", service=SERVICE, status=status, url=url)
        raise error_for(None, body_text[:200].strip() or f"HTTP {status}", status, url, retry_after)
    code = body.get("errorCode")
    if code or not 200 <= status < 300:
        raise error_for(code, body.get("errorMessage") or f"HTTP {status}", status, url, retry_after)
    return body.get("data")


# -- results --------------------------------------------------------------------------------------------
def empty_frame(extra: Sequence[str] = ()) -> gpd.GeoDataFrame:
    """A result frame with no rows and the usual columns and dtypes."""
    return scenes_frame([], "")[COLUMNS + [c for c in extra if c not in COLUMNS]]


def _footprints(coverages: list) -> np.ndarray:
    """Shapely footprints; the usual 5-point polygons are built in one vectorised call."""
    geometries = np.empty(len(coverages), dtype=object)
    simple = [
        i for i, c in enumerate(coverages)
        if c and c.get("type") == "Polygon" and len(c["coordinates"]) == 1 and len(c["coordinates"][0]) == 5
    ]
    if simple:
        rings = np.asarray([coverages[i]["coordinates"][0] for i in simple], dtype=float)
        geometries[simple] = shapely.polygons(rings[:, :, :2])
    for i in set(range(len(coverages))).difference(simple):
        geometries[i] = shape(coverages[i]) if coverages[i] else None
    return geometries


def scenes_frame(results: list[dict], dataset: str, full_metadata: bool = False) -> gpd.GeoDataFrame:
    """Turn ``scene-search`` results into a GeoDataFrame, one row per scene, footprints in EPSG:4326.

    Identifier fields are parsed from the product id with one vectorised regex; ``cloud_cover`` is a float
    (NaN when unknown: the service sends ``-1`` or null); with ``full_metadata`` every metadata field becomes
    a snake_case column with its values stripped and typed.
    """
    display = pd.Series([r.get("displayId") for r in results], dtype=object)
    parts = display.str.extract(PRODUCT_ID.pattern) if len(display) else pd.DataFrame(columns=PRODUCT_ID.groupindex)
    satellite = pd.to_numeric(parts["satellite"], errors="coerce").astype("Int64")
    sensor = parts["sensor"].map(_SENSOR_BY_LETTER).astype(object)
    sensor[parts["sensor"].eq("T")] = np.where(satellite[parts["sensor"].eq("T")] >= 8, "TIRS", "TM")
    cloud = pd.to_numeric(pd.Series([r.get("cloudCover") for r in results], dtype=object), errors="coerce").astype(float)
    browse = [(r.get("browse") or [{}])[0].get("browsePath") for r in results]
    frame = gpd.GeoDataFrame(
        {
            "display_id": display.astype("string"),
            "entity_id": pd.Series([r.get("entityId") for r in results], dtype="string"),
            "dataset": pd.Series([dataset] * len(results), dtype="string"),
            "satellite": satellite,
            "sensor": sensor.astype("string"),
            "processing_level": parts["processing_level"].astype("string"),
            "path": pd.to_numeric(parts["path"], errors="coerce").astype("Int64"),
            "row": pd.to_numeric(parts["row"], errors="coerce").astype("Int64"),
            "acquired": pd.to_datetime(parts["acquired"], format="%Y%m%d", errors="coerce").astype("datetime64[ns]"),
            "processed": pd.to_datetime(parts["processed"], format="%Y%m%d", errors="coerce").astype("datetime64[ns]"),
            "collection": pd.to_numeric(parts["collection"], errors="coerce").astype("Int64"),
            "collection_category": parts["category"].astype("string"),
            "cloud_cover": cloud.where(cloud >= 0),
            "browse_url": pd.Series(browse, dtype="string"),
        },
        geometry=_footprints([r.get("spatialCoverage") for r in results]),
        crs="EPSG:4326",
    )
    if full_metadata:
        extra = _metadata_columns(results)
        frame = frame.join(extra.drop(columns=[c for c in extra.columns if c in frame.columns]))  # ours are typed already
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
    return stripped.astype("string")


def _metadata_columns(results: list[dict]) -> pd.DataFrame:
    rows = [{snake_case(f["fieldName"]): f.get("value") for f in (r.get("metadata") or [])} for r in results]
    table = pd.DataFrame(rows, dtype=object)
    return pd.DataFrame({column: _typed(table[column]) for column in table.columns}, index=table.index)
