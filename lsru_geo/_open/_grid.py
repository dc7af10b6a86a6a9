"""Grid decisions, from raster headers only: limits, the common target grid, separate areas, crops.

No I/O: callers pass the grids read from the rasters (the truth: ESPA customisation and crops change the
grid while the MTL passed through from USGS keeps stating the original scene). Metadata values are only
checked against :data:`MAX_SIDE`, never used to size anything.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import InvalidInputError, OversizedMetadataError, SeparateAreasError

#: Largest raster side accepted, in pixels: a 185 km Landsat scene at 5 m (real ones: ~8,000 at 30 m,
#: ~16,000 for the 15 m pan band). Larger stated or actual dimensions are refused before any allocation.
MAX_SIDE = 40_000
#: Largest side of a stack's target grid, in pixels (6,000 km at 30 m).
MAX_TARGET_SIDE = 200_000
#: Products whose lon/lat boxes lie closer than this (degrees) belong to one area.
AREA_GAP_DEGREES = 0.5
#: A stack over separate areas is refused when the areas cover less than this share of the common grid.
MIN_COVERED_SHARE = 0.5


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: CRS (WKT), affine transform (6 numbers, rasterio order), width, height."""

    crs: str
    transform: tuple[float, ...]
    width: int
    height: int

    @property
    def res(self) -> tuple[float, float]:
        """Pixel width and (positive) height."""
        return abs(self.transform[0]), abs(self.transform[4])

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)``."""
        a, _, c, _, e, f = self.transform[:6]
        return c, f + e * self.height, c + a * self.width, f

    def x(self) -> np.ndarray:
        """Pixel-centre x coordinates."""
        return self.transform[2] + (np.arange(self.width) + 0.5) * self.transform[0]

    def y(self) -> np.ndarray:
        """Pixel-centre y coordinates."""
        return self.transform[5] + (np.arange(self.height) + 0.5) * self.transform[4]


def check_side(width: int, height: int, what: str, limit: int = MAX_SIDE) -> None:
    """Refuse dimensions beyond any real Landsat product (stated by metadata or found in a header).

    Raises
    ------
    OversizedMetadataError
    """
    if not (0 < width <= limit and 0 < height <= limit):
        raise OversizedMetadataError(
            f"{what} is {width:,} x {height:,} pixels; a Landsat product is at most {limit:,} a side: refusing it"
        )


def outside_stated(grid: Grid, stated: tuple[int, tuple[float, ...], int, int] | None) -> bool:
    """Whether a raster grid lies wholly outside the grid its MTL states, in the same CRS (a mismatched pair).

    Crops and ESPA reprojections legitimately differ from the MTL (which ESPA passes through unchanged), so
    only a raster in the MTL's own UTM zone that does not even touch the stated scene counts.

    Examples
    --------
    >>> scene = (32633, (30.0, 0.0, 300000.0, 0.0, -30.0, 5000000.0), 7681, 7801)
    >>> from rasterio.crs import CRS
    >>> crop = Grid(CRS.from_epsg(32633).to_wkt(), (30.0, 0.0, 310000.0, 0.0, -30.0, 4990000.0), 40, 30)
    >>> far = Grid(crop.crs, (30.0, 0.0, 900000.0, 0.0, -30.0, 4990000.0), 40, 30)
    >>> outside_stated(crop, scene), outside_stated(far, scene)
    (False, True)
    """
    if stated is None:
        return False
    from rasterio.crs import CRS

    epsg, transform, width, height = stated
    if CRS.from_wkt(grid.crs) != CRS.from_epsg(epsg):
        return False
    left, bottom, right, top = Grid(grid.crs, transform, width, height).bounds
    g_left, g_bottom, g_right, g_top = grid.bounds
    return g_right <= left or g_left >= right or g_top <= bottom or g_bottom >= top


def same_crs(a: str, b: str) -> bool:
    """Whether two WKT CRSs are the same."""
    from rasterio.crs import CRS

    return a == b or CRS.from_wkt(a) == CRS.from_wkt(b)


def lonlat_box(grid: Grid) -> tuple[float, float, float, float]:
    """Return a grid's bounds in degrees (lon/lat)."""
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    return transform_bounds(CRS.from_wkt(grid.crs), CRS.from_epsg(4326), *grid.bounds, densify_pts=21)


def areas(boxes: list[tuple[float, float, float, float]], gap: float = AREA_GAP_DEGREES) -> list[list[int]]:
    """Group lon/lat boxes into areas: boxes closer than ``gap`` degrees (directly or through others) share one.

    Examples
    --------
    >>> areas([(0, 0, 2, 2), (1.9, 0, 4, 2), (100, 40, 102, 42)])
    [[0, 1], [2]]
    """
    parent = list(range(len(boxes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(boxes):
        for j in range(i):
            b = boxes[j]
            if a[0] - gap <= b[2] and b[0] - gap <= a[2] and a[1] - gap <= b[3] and b[1] - gap <= a[3]:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = collections.defaultdict(list)
    for i in range(len(boxes)):
        groups[root(i)].append(i)
    return sorted(groups.values())


def check_one_area(boxes: list[tuple[float, float, float, float]], ids: list[str]) -> None:
    """Refuse products in separate areas whose common grid would be mostly empty.

    Raises
    ------
    SeparateAreasError
        Naming each area's products and the ways out.
    """
    groups = areas(boxes)
    if len(groups) < 2:
        return
    union = np.array(boxes)
    total = (union[:, 2].max() - union[:, 0].min()) * (union[:, 3].max() - union[:, 1].min())
    covered = 0.0
    for group in groups:
        part = union[group]
        covered += (part[:, 2].max() - part[:, 0].min()) * (part[:, 3].max() - part[:, 1].min())
    if total > 0 and covered / total >= MIN_COVERED_SHARE:
        return
    lines = []
    for n, group in enumerate(groups, 1):
        part = union[group]
        names = [ids[i] for i in group]
        lines.append(
            f"area {n}: lon {part[:, 0].min():.1f}..{part[:, 2].max():.1f}, lat {part[:, 1].min():.1f}.."
            f"{part[:, 3].max():.1f}: {len(names)} product(s) {names[:3]}{' ...' if len(names) > 3 else ''}"
        )
    share = 100 * (1 - covered / total) if total > 0 else 100.0
    raise SeparateAreasError(
        f"the products fall into {len(groups)} separate areas, and one grid over them would be "
        f"{share:.0f}% empty:\n  " + "\n  ".join(lines) + "\nPass bbox= (lon/lat), aoi= or bounds= to stack one "
        "area, or open each area's products with its own open_stack call.",
        [[ids[i] for i in group] for group in groups],
    )


def area_bounds(bbox: Any, aoi: Any, target_crs: Any) -> tuple[float, float, float, float] | None:
    """Bounds in the target CRS of a lon/lat ``bbox`` or an ``aoi`` (geometry, GeoJSON, GeoSeries/GeoDataFrame).

    Raises
    ------
    InvalidInputError
        For a bad box or AOI, or both given.
    """
    if bbox is None and aoi is None:
        return None
    if bbox is not None and aoi is not None:
        raise InvalidInputError("give bbox= or aoi=, not both")
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    from .._inputs import check_bbox, to_geometry

    box = check_bbox(bbox) if bbox is not None else to_geometry(aoi).bounds
    if box[0] == box[2] or box[1] == box[3]:
        raise InvalidInputError(f"the area {box} has no extent")
    return transform_bounds(CRS.from_epsg(4326), target_crs, *box, densify_pts=21)


def target_crs(grids: list[Grid], crs: Any) -> Any:
    """Return ``crs`` as a rasterio CRS, or by default the CRS most grids share (the first one on a tie)."""
    from rasterio.crs import CRS

    if crs is not None:
        return CRS.from_user_input(crs)
    counts = collections.Counter(g.crs for g in grids)
    return CRS.from_wkt(max(counts, key=lambda k: (counts[k], -[g.crs for g in grids].index(k))))


def target_grid(grids: list[Grid], crs: Any, resolution: Any, bounds: Any) -> Grid:
    """Return the common grid: the most frequent CRS (or ``crs``), native pixels aligned on the products' edges.

    Raises
    ------
    InvalidInputError
        For bad bounds, or a grid larger than :data:`MAX_TARGET_SIDE` a side.
    """
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    chosen = target_crs(grids, crs)
    same = [g for g in grids if CRS.from_wkt(g.crs) == chosen]
    if resolution is None:
        if same:
            res = same[0].res
        else:
            from rasterio.warp import calculate_default_transform

            g = grids[0]
            transform, _, _ = calculate_default_transform(CRS.from_wkt(g.crs), chosen, g.width, g.height, *g.bounds)
            res = (abs(transform.a), abs(transform.e))
    else:
        res = (float(resolution), float(resolution)) if np.isscalar(resolution) else tuple(map(float, resolution))
    if bounds is None:
        boxes = [transform_bounds(CRS.from_wkt(g.crs), chosen, *g.bounds, densify_pts=21) for g in grids]
        lows, highs = np.min(boxes, axis=0), np.max(boxes, axis=0)
        bounds = (lows[0], lows[1], highs[2], highs[3])
    left, bottom, right, top = map(float, bounds)
    if not np.isfinite([left, bottom, right, top]).all() or right <= left or top <= bottom:
        raise InvalidInputError(f"bounds must be (left, bottom, right, top), left < right and bottom < top: {bounds}")
    return snap(left, bottom, right, top, res, next((g for g in same if np.allclose(g.res, res)), None), chosen)


def snap(
    left: float, bottom: float, right: float, top: float, res: tuple[float, float], ref: Grid | None, crs: Any
) -> Grid:
    """Snap a box outwards onto the pixel edges of ``ref`` (or of the origin), so ``ref`` reads without resampling.

    Examples
    --------
    >>> g = snap(10, 0, 95, 61, (30.0, 30.0), None, "EPSG:32633")
    >>> g.transform[2], g.transform[5], g.width, g.height
    (0.0, 90.0, 4, 3)
    """
    from rasterio.crs import CRS

    ox, oy = (ref.transform[2], ref.transform[5]) if ref else (0.0, 0.0)
    left = ox + np.floor((left - ox) / res[0] + 1e-9) * res[0]
    top = oy + np.ceil((top - oy) / res[1] - 1e-9) * res[1]
    width = int(np.ceil((right - left) / res[0] - 1e-9))
    height = int(np.ceil((top - bottom) / res[1] - 1e-9))
    check_side(width, height, "the stack's common grid", MAX_TARGET_SIDE)
    return Grid(CRS.from_user_input(crs).to_wkt(), (res[0], 0.0, float(left), 0.0, -res[1], float(top)), width, height)


def placement(source: Grid, target: Grid) -> tuple[bool, int, int, tuple[float, float, float, float]]:
    """How a source grid sits on the target: ``(aligned, row_off, col_off, box)``.

    Aligned (same CRS and pixel size, whole-pixel offset) sources are read by window; others are warped.
    ``box`` is the source's extent in target pixels ``(row0, row1, col0, col1)``, for choosing chunks.
    """
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    tx, ty = target.transform[2], target.transform[5]
    sx, sy = source.transform[2], source.transform[5]
    rx, ry = target.res
    col = (tx - sx) / rx
    row = (sy - ty) / ry
    aligned = (
        same_crs(source.crs, target.crs)
        and np.allclose(source.res, target.res)
        and source.transform[1] == source.transform[3] == 0
        and abs(col - round(col)) < 1e-6
        and abs(row - round(row)) < 1e-6
    )
    if aligned:
        col_off, row_off = round(col), round(row)
        return True, row_off, col_off, (-row_off, -row_off + source.height, -col_off, -col_off + source.width)
    left, bottom, right, top = transform_bounds(
        CRS.from_wkt(source.crs), CRS.from_wkt(target.crs), *source.bounds, densify_pts=21
    )
    return False, 0, 0, ((ty - top) / ry - 1, (ty - bottom) / ry + 1, (left - tx) / rx - 1, (right - tx) / rx + 1)
