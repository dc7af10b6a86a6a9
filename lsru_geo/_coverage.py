"""How scene footprints cover an area of interest: pure geometry, no I/O and no plotting.

Areas are measured in a Lambert azimuthal equal-area projection centred on the AOI (:func:`prepare_aoi`).
LAEA is equal-area everywhere and has no seam near its centre, so AOIs that cross the antimeridian or
contain a pole are measured like any other; AOIs too large for one hemisphere fall back to EPSG:6933
(world cylindrical equal area). Footprints and AOIs given in lon/lat are densified to quarter-degree
segments before projecting, so their edges keep their lon/lat shape.

The AOI decides what is measured: area for polygons, length for lines, the number of points for points
(a scene "covers 0.5" of two points when it covers one of them).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from ._inputs import to_geometry
from .exceptions import InvalidInputError

#: ``per`` values accepted by the selection helpers and the pandas period each stands for (weeks end on Sunday).
PERIODS = {"date": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}
#: Longest edge, in degrees, kept when projecting lon/lat geometries.
SEGMENT_DEGREES = 0.25
#: AOIs reaching farther than this from their centre (degrees) are measured in EPSG:6933 instead of LAEA.
MAX_LAEA_RADIUS = 90.0
#: A scene must add more than this share of the AOI to be picked by :func:`greedy_cover` (skips slivers).
MIN_GAIN = 1e-6
#: Most pixels :func:`observation_grid` computes.
MAX_PIXELS = 16_000_000
_WORLD_EQUAL_AREA = CRS.from_epsg(6933)
_LONLAT = CRS.from_epsg(4326)


@dataclass(frozen=True)
class Aoi:
    """An area of interest ready for measuring.

    Attributes
    ----------
    lonlat : shapely.Geometry
        The AOI in EPSG:4326.
    crs : pyproj.CRS
        The equal-area CRS every measure is taken in.
    geometry : shapely.Geometry
        The AOI in ``crs`` (only its parts of the highest dimension).
    dimension : int
        2 (areas are measured), 1 (lengths) or 0 (points are counted).
    size : float
        The AOI's own measure: m², m or a number of points.
    centre : tuple of float
        ``(lon, lat)`` of the projection centre.
    radius : float
        Largest angular distance (degrees) from the centre to the AOI; ``inf`` in the EPSG:6933 fallback.
    """

    lonlat: shapely.Geometry
    crs: CRS
    geometry: shapely.Geometry
    dimension: int
    size: float
    centre: tuple[float, float]
    radius: float
    _forward: Transformer = field(repr=False, compare=False)

    def project(self, footprints: Any) -> np.ndarray:
        """Project lon/lat geometries to :attr:`crs`; missing, empty or unprojectable ones become ``None``."""
        geoms = _objects(footprints)
        out = np.full(len(geoms), None, dtype=object)
        ok = ~shapely.is_missing(geoms)
        ok[ok] = ~shapely.is_empty(geoms[ok])
        if not ok.any():
            return out
        projected = shapely.transform(
            shapely.segmentize(geoms[ok], SEGMENT_DEGREES), self._project_xy, interleaved=False
        )
        finite = np.isfinite(shapely.bounds(projected)).all(axis=1)
        projected[~finite] = None  # beyond the projection's reach: cannot touch the AOI (see candidates)
        broken = finite & ~shapely.is_valid(projected)
        if broken.any():  # e.g. a polar footprint whose edges meet at the pole once projected
            projected[broken] = [_keep_dimension(g, 2) for g in shapely.make_valid(projected[broken])]
        out[ok] = projected
        return out

    def candidates(self, footprints: Any) -> np.ndarray:
        """Mask of the footprints that may touch the AOI, from great-circle distances alone.

        A convex footprint lies within ``e`` of its first vertex, ``e`` being its largest vertex distance from
        that vertex; it can only meet the AOI if that vertex is within ``radius + e`` of the centre. This
        keeps footprints on the far side of the globe (where LAEA is undefined) out of the projection.
        """
        geoms = _objects(footprints)
        present = ~shapely.is_missing(geoms)
        present[present] = ~shapely.is_empty(geoms[present])
        if not np.isfinite(self.radius) or not present.any():
            return present
        coords, index = shapely.get_coordinates(geoms[present], return_index=True)
        starts = np.r_[0, np.flatnonzero(np.diff(index)) + 1]  # every geometry has coordinates: none is empty
        first = coords[starts[index]]
        extent = np.zeros(present.sum())
        np.maximum.at(extent, index, _angular_distance(coords[:, 0], coords[:, 1], first[:, 0], first[:, 1]))
        from_centre = _angular_distance(coords[starts, 0], coords[starts, 1], *self.centre)
        near = np.zeros(len(geoms), dtype=bool)
        near[present] = from_centre <= self.radius + extent + 0.01
        return near

    def clip(self, footprints: Any) -> np.ndarray:
        """Each footprint's part inside the AOI, in :attr:`crs` (``None`` where they do not meet)."""
        geoms = _objects(footprints)
        out = np.full(len(geoms), None, dtype=object)
        near = self.candidates(geoms)
        if near.any():
            projected = self.project(geoms[near])
            hits = shapely.intersects(projected, self.geometry)
            pieces = np.full(len(projected), None, dtype=object)
            pieces[hits] = shapely.intersection(projected[hits], self.geometry)
            out[near] = pieces
        return out

    def measure(self, geoms: Any) -> np.ndarray:
        """Measure projected geometries as the AOI is measured (area, length or point count); ``None`` is 0."""
        geoms = _objects(geoms)
        if self.dimension == 2:
            values = shapely.area(geoms)
        elif self.dimension == 1:
            values = shapely.length(geoms)
        else:
            values = np.where(shapely.is_empty(geoms), 0, shapely.get_num_geometries(geoms)).astype(float)
        return np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)

    def fraction(self, geoms: Any) -> np.ndarray:
        """Share of the AOI each projected geometry covers, 0-1."""
        return np.clip(self.measure(geoms) / self.size, 0.0, 1.0)

    def _project_xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._forward.transform(x, y)


def prepare_aoi(aoi: Any) -> Aoi:
    """Validate an AOI and project it to an equal-area CRS centred on it.

    Parameters
    ----------
    aoi : shapely geometry, GeoJSON dict, GeoSeries or GeoDataFrame
        Shapely geometries and GeoJSON are lon/lat; GeoSeries and GeoDataFrames may be in any CRS. One in a
        projected CRS is projected to the equal-area CRS directly, so a polygon that crosses the
        antimeridian in, say, EPSG:3832 keeps its shape.

    Returns
    -------
    Aoi

    Raises
    ------
    InvalidInputError
        If the AOI is of the wrong type, empty, out of lon/lat bounds, or has no area, length or point.
    """
    lonlat = to_geometry(aoi)  # every type, emptiness and bounds check
    source, crs_in = _source_geometry(aoi, lonlat)
    if crs_in == _LONLAT:
        vertices = shapely.get_coordinates(source)
    else:
        vertices = np.column_stack(
            Transformer.from_crs(crs_in, _LONLAT, always_xy=True).transform(*shapely.get_coordinates(source).T)
        )
    centre, radius = _spherical_centre(vertices)
    if radius > MAX_LAEA_RADIUS:
        crs, source, crs_in, radius = _WORLD_EQUAL_AREA, shapely.segmentize(lonlat, SEGMENT_DEGREES), _LONLAT, math.inf
    else:
        crs = CRS.from_proj4(
            f"+proj=laea +lat_0={centre[1]:.6f} +lon_0={centre[0]:.6f} +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
        )
    to_crs = Transformer.from_crs(crs_in, crs, always_xy=True)
    geometry = shapely.transform(source, lambda x, y: to_crs.transform(x, y), interleaved=False)
    dimension = int(shapely.get_dimensions(lonlat))  # of a collection: its highest part's
    geometry = _keep_dimension(shapely.make_valid(geometry), dimension)
    forward = Transformer.from_crs(_LONLAT, crs, always_xy=True)
    result = Aoi(lonlat, crs, geometry, dimension, 0.0, centre, radius, forward)
    size = float(result.measure([geometry])[0])
    if not size > 0 or not math.isfinite(size):
        what = {2: "area", 1: "length", 0: "point"}[dimension]
        raise InvalidInputError(f"aoi has no {what} to cover (a degenerate {lonlat.geom_type}): {lonlat.wkt[:120]}")
    shapely.prepare(geometry)
    return Aoi(lonlat, crs, geometry, dimension, size, centre, radius, forward)


def check_per(per: Any) -> str:
    """Return ``per`` if it is a period name of :data:`PERIODS`."""
    if not isinstance(per, str) or per not in PERIODS:
        raise InvalidInputError(f"per must be one of {', '.join(map(repr, PERIODS))}; got {per!r}")
    return per


def check_percent(value: Any, name: str) -> float | None:
    """Return a percentage 0-100 as a float, or ``None``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) <= 100:
        raise InvalidInputError(f"{name} must be a number within 0-100 (percent) or None; got {value!r}")
    return float(value)


def check_fraction(value: Any, name: str) -> float:
    """Return a fraction in (0, 1] as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < float(value) <= 1:
        raise InvalidInputError(f"{name} must be a fraction greater than 0 and at most 1; got {value!r}")
    return float(value)


def period_labels(acquired: Any, per: str) -> pd.Series:
    """Return the period (``pandas.Period``, NaT when the date is unknown) of each acquisition time.

    Time-zone aware times are taken in UTC, the time Landsat product ids use.
    """
    times = pd.to_datetime(pd.Series(acquired), errors="coerce")
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.dt.to_period(PERIODS[check_per(per)])


def group_fractions(pieces: np.ndarray, codes: np.ndarray, aoi: Aoi) -> np.ndarray:
    """Share of the AOI covered by the union of each group's pieces (``codes`` from ``pandas.factorize``).

    Returns one value per group, in code order; code ``-1`` (no group) is left out.
    """
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    out = np.zeros(n_groups)
    for code in range(n_groups):
        members = pieces[(codes == code) & ~shapely.is_missing(pieces)]
        if len(members):
            out[code] = aoi.fraction([shapely.union_all(members)])[0]
    return out


def greedy_cover(pieces: np.ndarray, order: Sequence[int], aoi: Aoi, min_coverage: float) -> tuple[list[int], float]:
    """Pick pieces in the given order while each adds uncovered AOI, until ``min_coverage`` is reached.

    Parameters
    ----------
    pieces : numpy.ndarray of shapely geometries
        Footprints clipped to the AOI, in the AOI's CRS (:meth:`Aoi.clip`).
    order : sequence of int
        Positions in ``pieces`` in order of preference (least cloudy first).
    aoi : Aoi
    min_coverage : float
        Share of the AOI, 0-1, at which to stop.

    Returns
    -------
    (list of int, float)
        The positions picked, in picking order, and the share of the AOI they cover together. When every
        piece has been tried without reaching ``min_coverage``, the pick covers what it can.
    """
    picked: list[int] = []
    covered: shapely.Geometry | None = None
    reached = 0.0
    for position in order:
        piece = pieces[position]
        if piece is None or piece.is_empty:
            continue
        new = piece if covered is None else shapely.difference(piece, covered)
        if aoi.fraction([new])[0] <= MIN_GAIN:
            continue  # adds nothing (or a sliver) to what is already covered
        picked.append(int(position))
        covered = piece if covered is None else shapely.union(covered, piece)
        reached = float(aoi.fraction([covered])[0])
        if reached >= min_coverage:
            break
    return picked, reached


def observation_grid(
    pieces: np.ndarray, weights: np.ndarray, aoi: Aoi, resolution: float | None = None, pixels: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum of the weights of the pieces covering each pixel centre of a grid over the AOI.

    Parameters
    ----------
    pieces : numpy.ndarray of shapely geometries
        Footprints clipped to the AOI, in the AOI's CRS.
    weights : numpy.ndarray of float
        One weight per piece (1 to count scenes).
    aoi : Aoi
        Must be polygonal.
    resolution : float, optional
        Pixel size in metres of the AOI's CRS; by default ``pixels`` pixels across the AOI's longer side.
    pixels : int
        Pixels across the longer side when ``resolution`` is not given.

    Returns
    -------
    (values, x, y) : numpy.ndarray
        ``values`` is ``(len(y), len(x))`` float, NaN outside the AOI; ``x`` and ``y`` are pixel-centre
        coordinates (``y`` decreasing, north-up).
    """
    if aoi.dimension != 2:
        raise InvalidInputError(f"an observation map needs a polygonal aoi; got a {aoi.lonlat.geom_type}")
    minx, miny, maxx, maxy = aoi.geometry.bounds
    if resolution is None:
        resolution = max(maxx - minx, maxy - miny) / pixels
    elif isinstance(resolution, bool) or not isinstance(resolution, numbers.Real) or not resolution > 0:
        raise InvalidInputError(f"resolution must be a positive number of metres; got {resolution!r}")
    width, height = max(1, math.ceil((maxx - minx) / resolution)), max(1, math.ceil((maxy - miny) / resolution))
    if width * height > MAX_PIXELS:
        raise InvalidInputError(
            f"resolution {resolution!r} m gives {width} x {height} pixels over this aoi; "
            f"at most {MAX_PIXELS:,} are allowed"
        )
    x = minx + (np.arange(width) + 0.5) * resolution
    y = maxy - (np.arange(height) + 0.5) * resolution
    values = np.zeros((height, width))
    for piece, weight in zip(pieces, weights, strict=True):
        if piece is None or piece.is_empty or not weight:
            continue
        left, bottom, right, top = piece.bounds  # only test the pixels under the piece's box
        cols = slice(np.searchsorted(x, left), np.searchsorted(x, right, side="right"))
        rows = slice(np.searchsorted(-y, -top), np.searchsorted(-y, -bottom, side="right"))
        xx, yy = np.meshgrid(x[cols], y[rows])
        shapely.prepare(piece)
        values[rows, cols] += weight * shapely.contains_xy(piece, xx, yy)
    xx, yy = np.meshgrid(x, y)
    values[~shapely.contains_xy(aoi.geometry, xx, yy)] = np.nan
    return values, x, y


def overlap_faces(footprints: Any, clip: shapely.Geometry | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut polygons into the faces of their overlay and count the polygons over each face.

    Works in whatever coordinates the polygons are in (it is for drawing, not measuring).

    Returns
    -------
    (faces, counts) : numpy.ndarray
        Faces covered by at least one polygon, and how many polygons cover each.
    """
    geoms = _objects(footprints)
    geoms = geoms[~shapely.is_missing(geoms)]
    if clip is not None:
        geoms = shapely.intersection(geoms, clip)
    geoms = np.array([_keep_dimension(g, 2) for g in geoms], dtype=object)
    geoms = geoms[~shapely.is_empty(geoms)]
    if not len(geoms):
        return np.array([], dtype=object), np.array([], dtype=int)
    noded = shapely.union_all(shapely.boundary(geoms))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    inside = shapely.point_on_surface(faces)
    hits = shapely.STRtree(geoms).query(inside, predicate="within")
    counts = np.bincount(hits[0], minlength=len(faces))
    keep = counts > 0
    return faces[keep], counts[keep]


# -- helpers -----------------------------------------------------------------------------------------------


def _objects(geoms: Any) -> np.ndarray:
    if isinstance(geoms, np.ndarray) and geoms.dtype == object:
        return geoms
    return np.asarray(list(geoms) if not hasattr(geoms, "__array__") else geoms, dtype=object)


def _source_geometry(aoi: Any, lonlat: shapely.Geometry) -> tuple[shapely.Geometry, CRS]:
    """Return the AOI in its own CRS when that CRS is projected (densified), else the densified lon/lat one."""
    crs = getattr(aoi, "crs", None)
    if crs is not None and hasattr(aoi, "to_crs") and not CRS(crs).is_geographic:
        values = aoi.geometry.values if hasattr(aoi, "geometry") else aoi.values
        own = shapely.union_all(np.asarray(values, dtype=object))
        minx, miny, maxx, maxy = own.bounds
        step = max(maxx - minx, maxy - miny) / 100 or 1.0
        return shapely.segmentize(own, step), CRS(crs)
    return shapely.segmentize(lonlat, SEGMENT_DEGREES), _LONLAT


def _spherical_centre(lonlat: np.ndarray) -> tuple[tuple[float, float], float]:
    """Centre (mean unit vector) of lon/lat points and the largest angular distance to them, in degrees."""
    lon, lat = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    vectors = np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-9:  # points spread around the whole globe: no meaningful centre
        return (0.0, 0.0), math.inf
    mean /= norm
    centre = (math.degrees(math.atan2(mean[1], mean[0])), math.degrees(math.asin(max(-1.0, min(1.0, mean[2])))))
    radius = float(np.degrees(np.arccos(np.clip(vectors @ mean, -1.0, 1.0))).max())
    return centre, radius


def _angular_distance(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> np.ndarray:
    """Great-circle distance in degrees (haversine)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def _keep_dimension(geometry: shapely.Geometry | None, dimension: int) -> shapely.Geometry | None:
    """Only the parts of ``geometry`` of the given dimension (make_valid and intersections mix them)."""
    if (
        geometry is None
        or geometry.is_empty
        or (shapely.get_dimensions(geometry) == dimension and shapely.get_type_id(geometry) != 7)
    ):
        return geometry
    parts = shapely.get_parts(geometry)
    while (shapely.get_type_id(parts) >= 4).any():  # multi-parts and nested collections: flatten once more
        parts = shapely.get_parts(parts)
    parts = parts[shapely.get_dimensions(parts) == dimension]
    empty = {2: shapely.Polygon(), 1: shapely.LineString(), 0: shapely.Point()}[dimension]
    return shapely.union_all(parts) if len(parts) else empty
