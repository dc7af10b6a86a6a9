"""Build the compact WRS-2 grid shipped with the emulator.

Reads ``../shared/data/wrs2/landsat_wrs2_descending.geojsonl.gz`` (28,892 densified cell polygons, 17.5 MB)
and ``wrs2_path_cycle_days.csv`` and writes ``lsru_geo/emulator/data/wrs2.npz`` holding, per cell, the WRS
path and row and its four true corners (UL, UR, LR, LL) in lon/lat, plus each path's day in the 16-day cycle.

Run from the repository root::

    python scripts/build_wrs2.py [--shared ../shared]

The corners are the four convex-hull vertices with the largest turning angle (see the grid's README). Cells
that cross the antimeridian are unwrapped to one side before the hull is taken, so their corner longitudes
may exceed 180; the emulator splits their footprints again.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
from pathlib import Path

import numpy as np
from shapely.geometry import MultiPoint

ROOT = Path(__file__).resolve().parents[1]


def _unwrapped_points(geometry: dict) -> np.ndarray:
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    points = np.array([xy[:2] for polygon in polygons for xy in polygon[0]], dtype=float)
    if geometry["type"] == "MultiPolygon":
        # a split cell touches both +180 and -180: move the western part east of the antimeridian
        points[points[:, 0] < 0, 0] += 360.0
    return points


def _true_corners(points: np.ndarray) -> np.ndarray:
    hull = np.array(MultiPoint(points).convex_hull.exterior.coords)[:-1]
    before = hull - np.roll(hull, 1, axis=0)
    after = np.roll(hull, -1, axis=0) - hull
    turn = np.abs(np.arctan2(before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0], (before * after).sum(axis=1)))
    return hull[np.sort(np.argsort(turn)[-4:])]


def _order_corners(corners: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """Order corners UL, UR, LR, LL for a scene whose along-track direction (south-ish) is ``heading``."""
    centre = corners.mean(axis=0)
    rel = corners - centre
    rel[:, 0] *= np.cos(np.radians(centre[1]))
    up = -heading / np.linalg.norm(heading)
    right = np.array([up[1], -up[0]])
    u, r = rel @ up, rel @ right
    picks = [np.argmax(u - r), np.argmax(u + r), np.argmax(-u + r), np.argmax(-u - r)]
    if len(set(picks)) < 4:  # a degenerate rotation: fall back to clockwise order from the first pick
        angles = np.arctan2(rel[:, 1], rel[:, 0])
        order = list(np.argsort(-angles))
        start = order.index(picks[0])
        picks = order[start:] + order[:start]
    return corners[picks]


def build(shared: Path) -> Path:
    grid = shared / "data" / "wrs2"
    cells = {}
    with gzip.open(grid / "landsat_wrs2_descending.geojsonl.gz", "rt") as lines:
        for line in lines:
            feature = json.loads(line)
            code = feature["properties"]["region_code"]
            cells[(int(code[:3]), int(code[3:]))] = _true_corners(_unwrapped_points(feature["geometry"]))

    keys = sorted(cells)
    centres = {key: cells[key].mean(axis=0) for key in keys}
    corners = np.empty((len(keys), 4, 2))
    for i, (path, row) in enumerate(keys):
        before = centres.get((path, row - 1), centres[(path, row)])
        after = centres.get((path, row + 1), centres[(path, row)])
        heading = after - before
        if abs(heading[0]) > 180:  # neighbours on both sides of the antimeridian
            heading[0] -= 360 * np.sign(heading[0])
        if not heading.any():
            heading = np.array([0.0, -1.0])
        corners[i] = _order_corners(cells[(path, row)], heading)

    with open(grid / "wrs2_path_cycle_days.csv", newline="") as table:
        rows = list(csv.DictReader(table))
    cycle = np.zeros((234, 2), dtype=np.int8)
    for record in rows:
        cycle[int(record["path"])] = (int(record["acq_day_l7"]), int(record["acq_day_l8"]))

    out = ROOT / "lsru_geo" / "emulator" / "data" / "wrs2.npz"
    np.savez_compressed(
        out,
        path=np.array([k[0] for k in keys], dtype=np.int16),
        row=np.array([k[1] for k in keys], dtype=np.int16),
        corners=np.round(corners * 1e5).astype(np.int32),  # 1e-5 degree, the USGS footprint precision
        cycle_day=cycle,
    )
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    written = build(parser.parse_args().shared)
    print(f"wrote {written} ({written.stat().st_size:,} bytes)")
