"""Search benchmark: a 50,000-scene search end to end, and the results-to-GeoDataFrame conversion against the
lsru 0.6.2 approach (a list of dicts, then ``shapely.geometry.shape`` per record into a GeoDataFrame).

Targets (issue 2): conversion >= 10x faster than that baseline and >= 100,000 scenes/s on a 2-core machine.

Run: ``python benchmarks/bench_search.py`` (about a minute). The emulator runs in a separate process.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time

import geopandas as gpd
from _emulator_process import emulator_process
from shapely.geometry import shape

QUERY = {"collection": "landsat_ot_c2_l2", "begin": "2023-01-01", "end": "2023-01-31", "max_results": 50_000}


def baseline_frame(pages):
    """lsru 0.6.2: each page parsed into dicts (``response.json()``), one shapely geometry built per record."""
    results = [record for page in pages for record in json.loads(page)["data"]["results"]]
    return gpd.GeoDataFrame(results, geometry=[shape(r["spatialCoverage"]) for r in results], crs="EPSG:4326")


def our_frame(pages):
    """lsru_geo: each page decoded into scene records, then one vectorised conversion."""
    from lsru_geo import _m2m_wire

    records = [record for page in pages for record in _m2m_wire.decode_scene_page(page, 200, "bench").results]
    return _m2m_wire.scenes_frame(records, "landsat_ot_c2_l2")


def best_of(runs, function, *args):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        value = function(*args)
        times.append(time.perf_counter() - started)
    return min(times), value


def main() -> None:
    with emulator_process() as env:
        os.environ.update(env)
        from lsru_geo import Usgs, _m2m_wire

        with Usgs() as usgs:
            started = time.perf_counter()
            scenes = usgs.search(**QUERY)
            search_seconds = time.perf_counter() - started

            pages = []  # the raw answers, fetched the way search pages them
            while len(pages) * 10_000 < QUERY["max_results"]:
                payload = _m2m_wire.scene_search_payload(
                    "landsat_ot_c2_l2",
                    spatial=None,
                    begin=dt.date.fromisoformat(QUERY["begin"]),
                    end=dt.date.fromisoformat(QUERY["end"]),
                    max_cloud_cover=100,
                    months=None,
                    starting_number=len(pages) * 10_000 + 1,
                    max_results=10_000,
                    metadata_type="summary",
                )
                pages.append(usgs.request("scene-search", payload, decode=lambda content, *_: content))

    n = QUERY["max_results"]
    ours_seconds, ours = best_of(3, our_frame, pages)
    base_seconds, base = best_of(3, baseline_frame, pages)
    assert len(ours) == len(base) == n and ours.geometry.geom_equals(base.geometry).all()
    assert (ours.display_id.to_numpy() == base.displayId.to_numpy()).all()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"search end to end: {len(scenes):,} scenes of {scenes.attrs['total_hits']:,} hits in {search_seconds:.2f} s "
        f"({len(scenes) / search_seconds:,.0f} scenes/s, 5 pages of 10,000)"
    )
    print(
        f"conversion from the page bytes, lsru_geo:         {ours_seconds:.3f} s  {n / ours_seconds:>12,.0f} scenes/s"
    )
    print(
        f"conversion from the page bytes, lsru 0.6.2 approach: {base_seconds:.3f} s  {n / base_seconds:>12,.0f} scenes/s"
    )
    print(
        f"speed-up: {base_seconds / ours_seconds:.1f}x (target >= 10x); throughput target >= 100,000 scenes/s: "
        f"{'met' if n / ours_seconds >= 100_000 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
