"""The WRS-2 descending grid shipped as ``data/wrs2.npz`` (built by ``scripts/build_wrs2.py``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
import shapely.affinity
from shapely import STRtree

DATA = Path(__file__).with_name("data") / "wrs2.npz"
WORLD_EAST = shapely.box(180.0, -90.0, 540.0, 90.0)


def split_antimeridian(polygons: np.ndarray) -> np.ndarray:
    """Split polygons whose longitudes run past 180 into a MultiPolygon on both sides of the antimeridian."""
    polygons = np.asarray(polygons, dtype=object)
    crossing = shapely.bounds(polygons)[:, 2] > 180.0
    if crossing.any():
        parts = polygons[crossing]
        west = shapely.intersection(parts, shapely.box(-180.0, -90.0, 180.0, 90.0))
        east = np.array(
            [shapely.affinity.translate(g, xoff=-360.0) for g in shapely.intersection(parts, WORLD_EAST)], dtype=object
        )
        polygons = polygons.copy()
        polygons[crossing] = shapely.multipolygons(np.stack([west, east], axis=1).tolist())
    return polygons


@dataclass(frozen=True)
class Grid:
    """WRS-2 cells: ``path``, ``row``, ``corners`` (n, 4, 2) lon/lat in UL, UR, LR, LL order, and each path's
    acquisition day in the 16-day cycle (``cycle_day[path] = (landsat 7/9/4 day, landsat 8/5 day)``).
    """

    path: np.ndarray
    row: np.ndarray
    corners: np.ndarray
    cycle_day: np.ndarray
    cells: np.ndarray
    tree: STRtree

    def index(self, path: int, row: int) -> int | None:
        """Position of a cell in the arrays, or ``None`` when the grid has no such cell."""
        hits = np.flatnonzero((self.path == path) & (self.row == row))
        return int(hits[0]) if hits.size else None

    def query(self, geometry: shapely.Geometry, margin: float = 0.0) -> np.ndarray:
        """Indices of the cells whose polygon (grown by ``margin`` degrees) intersects ``geometry``."""
        target = geometry.buffer(margin) if margin else geometry
        return np.unique(self.tree.query(target, predicate="intersects"))


@functools.lru_cache(maxsize=1)
def grid() -> Grid:
    """Load the grid once per process."""
    with np.load(DATA) as data:
        corners = data["corners"].astype(np.float64) / 1e5
        rings = np.concatenate([corners, corners[:, :1]], axis=1)
        cells = split_antimeridian(shapely.polygons(rings))
        return Grid(
            data["path"].astype(int),
            data["row"].astype(int),
            corners,
            data["cycle_day"].astype(int),
            cells,
            STRtree(cells),
        )
