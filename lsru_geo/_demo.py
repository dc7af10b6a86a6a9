"""The main job: lsru 0.6.2's "Order data using a polygon" workflow end to end, against an embedded emulator.

Search Landsat 8 over the Baja California Sur polygon (January-February 2018, cloud <= 30 %), keep the scenes
that truly intersect it, order their Level-2 product from ESPA, wait, download in parallel, open them as one lazy
stack and compute a cloud-masked median NDVI. Writes ``footprints.gpkg``, ``coverage.png`` and ``ndvi.png``.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from pathlib import Path

from . import utils
from ._espa import Espa
from ._m2m import Usgs
from ._secret import Secret

# the seed's feature: roughly the state of Baja California Sur, Mexico
BAJA_CALIFORNIA_SUR = {
    "type": "Polygon",
    "coordinates": [
        [
            [-114.192, 27.975],
            [-114.456, 27.8],
            [-115.093, 27.878],
            [-114.543, 27.313],
            [-113.928, 26.922],
            [-113.423, 26.844],
            [-112.72, 26.412],
            [-112.148, 25.741],
            [-112.324, 24.827],
            [-111.687, 24.467],
            [-110.984, 24.147],
            [-110.72, 23.725],
            [-110.281, 23.504],
            [-110.061, 22.877],
            [-109.446, 23.06],
            [-109.424, 23.423],
            [-110.259, 24.347],
            [-110.347, 24.187],
            [-110.61, 24.327],
            [-110.588, 24.707],
            [-111.445, 26.215],
            [-112.654, 27.684],
            [-112.961, 28.053],
            [-114.192, 27.975],
        ]
    ],
}
TABLE_COLUMNS = ["display_id", "acquired", "path", "row", "cloud_cover"]
STACK_CRS = "EPSG:32612"  # most of the polygon lies in UTM zone 12; zone 11 scenes are warped onto it
STACK_RESOLUTION = 1000.0  # metres: the emulator's default products have pixels of about 900 m


def run_demo(out: Path, *, echo=print, processing_seconds: float = 1.0) -> dict:
    """Run the workflow against an emulator started here; returns what was produced.

    Parameters
    ----------
    out : path-like
        Output folder: ``footprints.gpkg``, ``coverage.png``, ``ndvi.png`` and ``products/``.
    echo : callable
        Where the report lines go.
    processing_seconds : float
        Emulated ESPA processing time per item state (the real service takes hours).

    Returns
    -------
    dict
        Counts, timings and the paths of the files written.
    """
    from .emulator import Emulator  # the application layer may start the emulator; the library never does

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with Emulator(processing_seconds=processing_seconds, m2m_prepare_seconds=1.0) as emulator:
        # the clients are pointed at the emulator by their arguments: the caller's environment stays as it was
        env = emulator.env()
        usgs = Usgs(url=env["LSRU_M2M_URL"], username=env["LSRU_USERNAME"], token=Secret(env["LSRU_TOKEN"]))
        espa = Espa(url=env["LSRU_ESPA_URL"], username=env["LSRU_USERNAME"], password=Secret(env["LSRU_PASSWORD"]))
        result = _workflow(out, echo, timings, usgs, espa)
    result["seconds"] = time.perf_counter() - started
    echo(f"Done in {result['seconds']:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in timings.items())})")
    return result


def _step(timings: dict, name: str, started: float) -> float:
    now = time.perf_counter()
    timings[name] = now - started
    return now


def _workflow(out: Path, echo, timings: dict, usgs: Usgs, espa: Espa) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import xarray as xr

    from ._open import open_stack
    from .plotting import plot_raster

    clock = time.perf_counter()
    bbox = utils.bounds(BAJA_CALIFORNIA_SUR)
    with usgs:
        collection = usgs.get_collection_name(8)
        scenes = usgs.search(
            collection, bbox=bbox, begin=dt.datetime(2018, 1, 1), end=dt.datetime(2018, 2, 28), max_cloud_cover=30
        )
    selected = scenes.lsru.intersecting(BAJA_CALIFORNIA_SUR)
    footprints = out / "footprints.gpkg"
    selected.to_file(footprints, layer="scenes", driver="GPKG")
    echo(f"Search {collection} over Baja California Sur, 2018-01-01..2018-02-28, cloud <= 30 %:")
    echo(f"  {len(scenes)} scenes in the bounding box, {len(selected)} intersect the polygon")
    echo(selected[TABLE_COLUMNS].to_string(index=False, max_rows=40))
    coverage = selected.lsru.coverage(BAJA_CALIFORNIA_SUR, per="month").groupby("period")["period_coverage"].first()
    echo("  polygon covered per month: " + ", ".join(f"{p} {c:.0%}" for p, c in coverage.items()))
    ax = selected.lsru.plot(aoi=BAJA_CALIFORNIA_SUR, column="cloud_cover")
    ax.set_title(f"{len(selected)} Landsat 8 scenes over Baja California Sur, Jan-Feb 2018")
    ax.figure.savefig(out / "coverage.png", dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
    clock = _step(timings, "search", clock)

    order = selected.lsru.order(products=["l1"], note="lsru-geo demo", espa=espa)
    echo(f"Ordered {len(selected)} Level-2 products from ESPA: {order.orderid}")
    order.wait(poll=0.5, timeout=600)
    states = order.items_frame().status.value_counts()
    echo("  items: " + ", ".join(f"{n} {state}" for state, n in states.items()))
    clock = _step(timings, "order", clock)

    products = order.download_all_complete(out / "products", workers=4)
    size = sum(p.stat().st_size for p in products)
    echo(f"Downloaded {len(products)} tarballs ({size / 1e6:.1f} MB, MD5-verified) to {out / 'products'}")
    clock = _step(timings, "download", clock)

    region = _project(BAJA_CALIFORNIA_SUR, STACK_CRS)
    stack = open_stack(
        products, bands=["red", "nir08", "qa_pixel"], crs=STACK_CRS, resolution=STACK_RESOLUTION, bounds=region.bounds
    )
    echo(f"Opened a lazy stack: {dict(stack.sizes)} ({len(stack.data_vars)} variables, nothing read yet)")
    with warnings.catch_warnings():  # pixels never seen clear have an all-NaN median, which is what NaN means here
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        ndvi = stack.lsru.mask().lsru.ndvi().median("time").compute()
    ndvi = ndvi.rio.write_crs(STACK_CRS).rio.clip([region], drop=False)
    inside = xr.ones_like(ndvi).rio.clip([region], drop=False).notnull()
    valid = float((ndvi.notnull() & inside).sum() / inside.sum())
    echo(f"Cloud-masked median NDVI: mean {float(ndvi.mean()):.3f}, a clear value for {valid:.0%} of the polygon")
    figure, axis = plt.subplots(figsize=(7, 7))
    plot_raster(ndvi, axis, cmap="RdYlGn", vmin=-0.2, vmax=0.8, label="NDVI")  # km axes named by the CRS
    outline_x, outline_y = region.exterior.xy
    axis.plot(np.asarray(outline_x) / 1000, np.asarray(outline_y) / 1000, color="black", linewidth=0.8)
    axis.set_title("Median cloud-free NDVI, Jan-Feb 2018")
    figure.savefig(out / "ndvi.png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    _step(timings, "analysis", clock)
    echo(f"Wrote {footprints}, {out / 'coverage.png'}, {out / 'ndvi.png'}")
    return {
        "hits": len(scenes),
        "scenes": len(selected),
        "order": order.orderid,
        "products": products,
        "footprints": footprints,
        "coverage_png": out / "coverage.png",
        "ndvi_png": out / "ndvi.png",
        "ndvi_mean": float(ndvi.mean()),
        "ndvi_valid": valid,
    }


def _project(geojson: dict, crs: str):
    import geopandas as gpd
    from shapely.geometry import shape

    return gpd.GeoSeries([shape(geojson)], crs=4326).to_crs(crs).iloc[0]
