"""The main job: lsru 0.6.2's "Order data using a polygon" workflow, end to end, against an embedded emulator.

Today it searches and filters; later steps (order, download, open) are added as they are built.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import shapely
from shapely.geometry import shape

from . import utils
from ._m2m import Usgs

# the seed's feature: roughly the state of Baja California Sur, Mexico
BAJA_CALIFORNIA_SUR = {
    "type": "Polygon",
    "coordinates": [[
        [-114.192, 27.975], [-114.456, 27.8], [-115.093, 27.878], [-114.543, 27.313], [-113.928, 26.922],
        [-113.423, 26.844], [-112.72, 26.412], [-112.148, 25.741], [-112.324, 24.827], [-111.687, 24.467],
        [-110.984, 24.147], [-110.72, 23.725], [-110.281, 23.504], [-110.061, 22.877], [-109.446, 23.06],
        [-109.424, 23.423], [-110.259, 24.347], [-110.347, 24.187], [-110.61, 24.327], [-110.588, 24.707],
        [-111.445, 26.215], [-112.654, 27.684], [-112.961, 28.053], [-114.192, 27.975],
    ]],
}
TABLE_COLUMNS = ["display_id", "acquired", "path", "row", "cloud_cover", "collection_category"]


def run_demo(out: Path, *, emulator_url: str | None = None, echo=print) -> dict:
    """Run the workflow against an emulator (started here unless ``emulator_url`` names a running one).

    Returns a dict of what was produced (counts and file paths) and prints a short report with ``echo``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    emulator = None
    if emulator_url is None:
        from .emulator import Emulator  # the application layer may start the emulator; the library never does

        emulator = Emulator().start()
        os.environ.update(emulator.env())
    try:
        region = shape(BAJA_CALIFORNIA_SUR)
        bbox = utils.bounds(BAJA_CALIFORNIA_SUR)
        with Usgs() as usgs:
            collection = usgs.get_collection_name(8)
            scenes = usgs.search(collection, bbox=bbox, begin=dt.datetime(2018, 1, 1), end=dt.datetime(2018, 2, 28),
                                 max_cloud_cover=30)
        hits = len(scenes)
        scenes = scenes[shapely.intersects(scenes.geometry.values, region)].reset_index(drop=True)
        footprints = out / "footprints.gpkg"
        scenes.to_file(footprints, layer="scenes", driver="GPKG")
        echo(f"Searched {collection} over Baja California Sur, 2018-01-01..2018-02-28, cloud <= 30 %:")
        echo(f"  {hits} scenes in the bounding box, {len(scenes)} intersect the polygon")
        echo(scenes[TABLE_COLUMNS].to_string(index=False, max_rows=40))
        echo(f"  footprints: {footprints}")
        echo(f"Done in {time.perf_counter() - started:.1f} s")
        return {"hits": hits, "scenes": len(scenes), "footprints": footprints}
    finally:
        if emulator is not None:
            emulator.stop()
