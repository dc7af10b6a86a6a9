"""Checks and conversions of user arguments, done before any request so that bad input never reaches a
service. Every failure is an :class:`~lsru_geo.exceptions.InvalidInputError` that names the value and what
is allowed.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from .exceptions import InvalidInputError

DateLike = "str | datetime.date | datetime.datetime | pandas.Timestamp"


def check_bbox(bbox: Any) -> tuple[float, float, float, float]:
    """Validate a ``(left, bottom, right, top)`` box in degrees and return it as floats.

    ``left > right`` is refused rather than read as crossing the antimeridian: pass an ``aoi`` made of two
    boxes for that.
    """
    if isinstance(bbox, (str, bytes, Mapping)):  # "0000" would otherwise read as four numbers
        raise InvalidInputError(f"bbox must be 4 numbers (left, bottom, right, top), got {bbox!r}")
    try:
        values = tuple(float(v) for v in bbox)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInputError(f"bbox must be 4 numbers (left, bottom, right, top), got {bbox!r}") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidInputError(f"bbox must be 4 finite numbers (left, bottom, right, top), got {bbox!r}")
    left, bottom, right, top = values
    if not (-180 <= left <= 180 and -180 <= right <= 180):
        raise InvalidInputError(f"bbox longitudes must be within -180..180, got left={left}, right={right}")
    if not (-90 <= bottom <= 90 and -90 <= top <= 90):
        raise InvalidInputError(f"bbox latitudes must be within -90..90, got bottom={bottom}, top={top}")
    if left > right or bottom > top:
        raise InvalidInputError(
            f"bbox {values} is reversed: it must be (left, bottom, right, top) with left <= right and bottom <= top"
        )
    return values


def to_date(value: Any, name: str) -> dt.date | None:
    """A date from a ``datetime.date``/``datetime``, pandas/numpy timestamp or ISO string; ``None`` passes."""
    if value is None:
        return None
    date = None
    try:
        if isinstance(value, dt.datetime):
            date = value.date()
        elif isinstance(value, dt.date):
            date = value
        elif hasattr(value, "to_pydatetime"):  # pandas.Timestamp without importing pandas here
            date = value.to_pydatetime().date()
        elif type(value).__name__ == "datetime64":
            date = dt.date.fromisoformat(str(value)[:10])
        elif isinstance(value, str):
            date = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()
    except (ValueError, TypeError, AttributeError, OverflowError):  # NaT, out-of-range datetime64, bad text
        pass
    if isinstance(date, dt.date) and date == date:  # pandas.NaT is a datetime too, but never equal to itself
        return date
    raise InvalidInputError(
        f"{name} must be a date (datetime.date, datetime or ISO 'YYYY-MM-DD' string), got {value!r}"
    )


def check_dates(begin: Any, end: Any) -> tuple[dt.date | None, dt.date | None]:
    """Both dates converted, with ``begin <= end`` enforced."""
    first, last = to_date(begin, "begin"), to_date(end, "end")
    if first and last and first > last:
        raise InvalidInputError(f"begin ({first}) is after end ({last})")
    return first, last


def check_months(months: Any) -> list[int] | None:
    """Month numbers 1-12, de-duplicated and sorted; ``None`` or empty means all months."""
    if months is None:
        return None
    if isinstance(months, (int, str, bytes, Mapping)) or not isinstance(months, Iterable):
        raise InvalidInputError(f"months must be a list of month numbers 1-12, got {months!r}")
    values = list(months)
    bad = [m for m in values if isinstance(m, bool) or not isinstance(m, numbers.Integral) or not 1 <= m <= 12]
    if bad:
        raise InvalidInputError(f"months must be whole numbers 1-12; not allowed: {bad}")
    return sorted({int(m) for m in values}) or None


def check_cloud(value: Any) -> float:
    """A cloud-cover percentage in 0-100."""
    if isinstance(value, bool):
        raise InvalidInputError(f"max_cloud_cover must be a number 0-100, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInputError(f"max_cloud_cover must be a number 0-100, got {value!r}") from None
    if not 0 <= number <= 100:
        raise InvalidInputError(f"max_cloud_cover must be within 0-100, got {value!r}")
    return number


def check_positive_int(value: Any, name: str) -> int:
    """An integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a whole number >= 1, got {value!r}")
    return value


def to_geometry(aoi: Any) -> shapely.Geometry:
    """An area of interest as one valid shapely geometry in EPSG:4326.

    Accepts a shapely geometry (taken as lon/lat), a GeoJSON geometry, Feature or FeatureCollection dict,
    or a GeoSeries/GeoDataFrame in any CRS (reprojected, then unioned). Coordinates are planar lon/lat, as in
    GeoJSON (RFC 7946 asks for geometries split at the antimeridian).
    """
    geometry = None
    # NaN or infinite coordinates (given, or made by reprojecting far outside a CRS's area) are refused below with
    # the bounds, rather than surfacing as numpy RuntimeWarnings from inside shapely
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if isinstance(aoi, shapely.Geometry):
            geometry = aoi
        elif isinstance(aoi, Mapping):
            geometry = _from_geojson(aoi)
        elif hasattr(aoi, "to_crs") and hasattr(aoi, "crs"):
            if aoi.crs is None:
                raise InvalidInputError("the AOI GeoSeries/GeoDataFrame has no CRS; set one with .set_crs()")
            if len(aoi) == 0:
                raise InvalidInputError("the AOI GeoSeries/GeoDataFrame is empty")
            geometry = shapely.union_all(
                aoi.to_crs(4326).geometry.values if hasattr(aoi, "geometry") else aoi.to_crs(4326).values
            )
    if geometry is None:
        raise InvalidInputError(
            f"aoi must be a shapely geometry, a GeoJSON dict, or a GeoSeries/GeoDataFrame, got {type(aoi).__name__}"
        )
    if geometry.is_empty:
        raise InvalidInputError("aoi is empty")
    if geometry.geom_type not in (
        "Polygon",
        "MultiPolygon",
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "GeometryCollection",
    ):
        raise InvalidInputError(f"aoi geometry type {geometry.geom_type} is not supported")
    if not np.isfinite(shapely.get_coordinates(geometry)).all():  # GEOS leaves NaN out of the bounds
        raise InvalidInputError("aoi has coordinates that are not finite numbers (NaN or infinity)")
    minx, miny, maxx, maxy = geometry.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidInputError(
            f"aoi bounds {geometry.bounds} fall outside -180..180, -90..90: is it in EPSG:4326 (lon, lat order)?"
        )
    return geometry if geometry.is_valid else shapely.make_valid(geometry)


def _from_geojson(obj: Mapping) -> shapely.Geometry:
    kind = obj.get("type")
    try:
        if kind == "Feature":
            return shape(obj["geometry"])
        if kind == "FeatureCollection":
            return shapely.union_all([shape(f["geometry"]) for f in obj["features"]])
        return shape(obj)
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        IndexError,
        OverflowError,  # integers too large for a float
        RecursionError,  # coordinates nested thousands of levels deep
        shapely.errors.ShapelyError,
    ) as error:
        raise InvalidInputError(f"aoi is not valid GeoJSON ({type(error).__name__}: {error})") from None


_API_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}", re.ASCII)


def check_api_version(version: Any) -> str:
    """Return an M2M API version (``'stable'``, ``'1.5'``) that can go into a URL path as it is.

    It becomes a path segment of every request, so it must match ``[A-Za-z0-9][A-Za-z0-9._-]{0,31}``.
    """
    if not isinstance(version, str) or not _API_VERSION.fullmatch(version) or version.strip(".") == "":
        raise InvalidInputError(f"version must be an M2M API version such as 'stable' or '1.5', got {version!r:.100}")
    return version
