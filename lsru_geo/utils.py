"""Helpers of lsru 0.6.2 kept under their names: ``bounds``, ``geom_from_metadata``, ``is_valid``,
``url_retrieve`` and ``url_retrieve_and_unpack``, plus ``parse_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import shapely
from shapely.geometry import mapping, shape

from ._download import url_retrieve, url_retrieve_and_unpack
from ._ids import is_valid, parse_id
from .exceptions import InvalidInputError

__all__ = ["bounds", "geom_from_metadata", "is_valid", "parse_id", "url_retrieve", "url_retrieve_and_unpack"]


def bounds(geom: Any) -> tuple[float, float, float, float]:
    """Bounding box of a geometry.

    Parameters
    ----------
    geom : dict, shapely geometry or pandas.Series
        A GeoJSON-like geometry (or Feature), a shapely geometry, or a row of a :meth:`Usgs.search` GeoDataFrame
        (its footprint).

    Returns
    -------
    tuple
        ``(left, bottom, right, top)``.

    Examples
    --------
    >>> geom = {'coordinates': [[[3.34481, 43.96708], [6.17992, 45.23413], [5.55366, 43.56654], [3.34481, 43.96708]]],
    ...         'type': 'Polygon'}
    >>> bounds(geom)
    (3.34481, 43.56654, 6.17992, 45.23413)
    """
    if isinstance(geom, Mapping) and geom.get("type") == "Feature":
        geom = geom.get("geometry")
    elif not isinstance(geom, Mapping) and isinstance(getattr(geom, "geometry", None), shapely.Geometry):
        geom = geom.geometry  # a search-result row
    try:
        geometry = geom if isinstance(geom, shapely.Geometry) else shape(geom)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, shapely.errors.ShapelyError):
        raise InvalidInputError(
            f"bounds() needs a GeoJSON-like geometry or a shapely geometry, got {geom!r:.200}"
        ) from None
    if geometry.is_empty:
        raise InvalidInputError("bounds() of an empty geometry is undefined")
    return tuple(float(v) for v in geometry.bounds)


def geom_from_metadata(meta: Any) -> dict:
    """Footprint of a scene as a GeoJSON-like geometry in EPSG:4326.

    Parameters
    ----------
    meta : dict or pandas.Series
        A raw M2M scene record (its ``spatialCoverage``, or else ``spatialFootprint``/``spatialBounds``) or a
        row of a :meth:`Usgs.search` GeoDataFrame.

    Returns
    -------
    dict
        GeoJSON-like geometry (lon/lat).
    """
    geometry = getattr(meta, "geometry", None) if not isinstance(meta, Mapping) else None
    if isinstance(geometry, shapely.Geometry):
        return mapping(geometry)
    if isinstance(meta, Mapping):
        for key in ("spatialCoverage", "spatialFootprint", "spatialBounds", "geometry"):
            value = meta.get(key)
            if isinstance(value, shapely.Geometry):
                return mapping(value)
            if isinstance(value, Mapping) and "coordinates" in value:
                return dict(value)
    raise InvalidInputError(
        "no footprint found: expected an M2M scene record with 'spatialCoverage' or a search-result row"
    )
