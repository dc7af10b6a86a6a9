"""Stack benchmark against peers (issue 13): a 20-scene cloud-masked median NDVI on quarter-size products.

20 emulator ESPA ``l1`` products of one path/row (~3,800 px a side, red + nir08 + qa_pixel read), each case in
a fresh process (its own peak memory, ``VmHWM``), dask threaded scheduler on 2 threads, warm page cache, the
same median (``lsru_geo._composite``) and the same QA mask (``lsru_geo._qa.cloud_mask``) for every reader:

* ``lsru_tgz``: ``lsru_geo.open_stack`` in place from the ``.tar.gz`` files (members read through
  ``lsru_geo._gzindex``, the sidecar index present, as after a download);
* ``lsru_folders``: ``open_stack`` on the extracted products;
* ``odc_stac``: ``odc.stac.load`` on the extracted products, STAC items built from each product's MTL;
* ``stackstac``: ``stackstac.stack`` on the same items;
* ``lazy_tgz`` / ``lazy_folders``: building a stack of 50 products only (no pixels);
* ``inflate_rate``: zlib-ng's rate on one of the tarballs, for the CPU the ``.tar.gz`` case spends inflating.

Prints wall time, peak memory, the ratios the issue sets targets for, and bytes inflated (``_gzindex`` counter)
against the bytes of the members read. Peers come with the ``bench`` extra (``pip install -e '.[bench]'``).

Run: ``python benchmarks/bench_stack_peers.py`` (products under ``$LSRU_BENCH_PEERS_CACHE``, default
``/tmp/lsru-bench-peers``: ~8 minutes and 8 GB to build the 50 the first time; then ~2 minutes).
``--only CASE ...`` reruns some cases; ``--case NAME`` runs one and prints its JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
from _cases import memory_mb, run_saved_cases

CACHE = Path(os.environ.get("LSRU_BENCH_PEERS_CACHE", "/tmp/lsru-bench-peers"))
SIZE = 3800
N_SCENES = int(os.environ.get("LSRU_BENCH_SCENES", "20"))  # the composite's scenes (fewer for a smoke run)
N_LAZY = int(os.environ.get("LSRU_BENCH_LAZY", "50"))  # the lazy open's
BANDS = ("red", "nir08", "qa_pixel")
SUFFIXES = {"red": "_SR_B4.tif", "nir08": "_SR_B5.tif", "qa_pixel": "_QA_PIXEL.tif"}
KEEP = (*SUFFIXES.values(), "_MTL.txt", "_MTL.xml", "T1.xml", "T2.xml")
ROWS = int(os.environ.get("LSRU_BENCH_ROWS", "1024"))  # rows per chunk, whole width, for every reader
# (lsru_geo's default; 512-row chunks straddle two 512-row tile rows of each product: every tile read twice)
SCALE, OFFSET = 2.75e-05, -0.2


# --------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------


def tarballs(count: int = N_SCENES) -> list[Path]:
    """The ``count`` most recent products' tarballs (the same 20 for the composite whatever else was built)."""
    names = json.loads((CACHE / "products.json").read_text())
    return [CACHE / "l1" / name for name in names[:count]]


def folders(count: int = N_SCENES) -> list[Path]:
    return [CACHE / "l1_extracted" / p.name[: -len(".tar.gz")] for p in tarballs(count)]


def prepare() -> None:
    """Build the products (shared with bench_gzip_libs.py), extract the members read, write the indexes."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_open import scene_specs

    from lsru_geo import _gzindex
    from lsru_geo.emulator._products import build_espa_tarball

    built = [build_espa_tarball(spec, ["l1"], CACHE / "l1", size=SIZE) for spec in scene_specs(max(N_SCENES, N_LAZY))]
    (CACHE / "products.json").write_text(json.dumps([p.name for p in built]))
    for tgz in built:
        folder = CACHE / "l1_extracted" / tgz.name[: -len(".tar.gz")]
        if folder.exists() and folder.stat().st_mtime < tgz.stat().st_mtime:  # the emulator rebuilt the tarball
            shutil.rmtree(folder)
        if not folder.exists():
            tmp = folder.with_name(folder.name + ".part")
            with tarfile.open(tgz) as tar:
                for member in tar:
                    if member.name.endswith(KEEP):
                        tar.extract(member, tmp, filter="data")
            tmp.rename(folder)
        _gzindex.ensure_index(tgz)  # "index present", as after a download


def stac_items() -> list[dict]:
    """One STAC item per extracted product, from its MTL: datetime, projection, one asset per band."""
    from rasterio.crs import CRS

    from lsru_geo._mtl import mtl_grid, parse_mtl, scene_facts

    items = []
    for folder in folders():
        mtl = parse_mtl(next(folder.glob("*_MTL.txt")).read_text())
        facts = scene_facts(mtl)
        epsg, transform, width, height = mtl_grid(mtl)
        left, top = transform[2], transform[5]
        right, bottom = left + transform[0] * width, top + transform[4] * height
        bbox_lonlat = _lonlat_bbox(CRS.from_epsg(epsg), (left, bottom, right, top))
        assets = {}
        for band, suffix in SUFFIXES.items():
            raster = {"nodata": 1 if band == "qa_pixel" else 0, "data_type": "uint16"}
            assets[band] = {
                "href": str(next(folder.glob(f"*{suffix}"))),
                "type": "image/tiff; application=geotiff",
                "roles": ["data"],
                "proj:epsg": epsg, "proj:shape": [height, width], "proj:transform": list(transform[:6]),
                "raster:bands": [raster],
            }
        items.append({
            "type": "Feature", "stac_version": "1.0.0", "id": facts.product_id,
            "stac_extensions": ["https://stac-extensions.github.io/projection/v1.1.0/schema.json",
                                "https://stac-extensions.github.io/raster/v1.1.0/schema.json"],
            "geometry": {"type": "Polygon", "coordinates": [[
                [bbox_lonlat[0], bbox_lonlat[1]], [bbox_lonlat[2], bbox_lonlat[1]], [bbox_lonlat[2], bbox_lonlat[3]],
                [bbox_lonlat[0], bbox_lonlat[3]], [bbox_lonlat[0], bbox_lonlat[1]]]]},
            "bbox": list(bbox_lonlat),
            "properties": {"datetime": str(np.datetime_as_string(facts.time, unit="s")) + "Z",
                           "proj:epsg": epsg},
            "assets": assets, "links": [],
        })
    return items


def _lonlat_bbox(crs, bounds):
    from rasterio.warp import transform_bounds

    return transform_bounds(crs, "EPSG:4326", *bounds, densify_pts=21)


# --------------------------------------------------------------------------------------------------------
# The analysis, shared by every reader
# --------------------------------------------------------------------------------------------------------


def _median_of(ndvi) -> np.ndarray:
    import dask

    from lsru_geo import _composite

    with dask.config.set(scheduler="threads", num_workers=2):
        return _composite.nanmedian(ndvi).values


def _ndvi_from_raw(red, nir, qa):
    """Masked NDVI from raw integers (fill 0 -> NaN), as lsru_geo decodes them."""
    from lsru_geo import _qa

    def decode(raw):
        values = raw.astype("float32") * np.float32(SCALE) + np.float32(OFFSET)
        return values.where(raw != 0)

    r, n = decode(red), decode(nir)
    ndvi = ((n - r) / (n + r)).astype("float32")
    return ndvi.where(~_qa.cloud_mask(qa))


def _lsru(sources) -> np.ndarray:
    from lsru_geo._open import open_stack

    ds = open_stack(sources, bands=list(BANDS), chunks={"y": ROWS})
    return _median_of(ds.lsru.mask().lsru.ndvi())


def case_lsru_tgz() -> dict:
    from lsru_geo import _gzindex

    result = _lsru(tarballs())
    return {**_facts(result), "inflated": _gzindex.bytes_inflated(), "returned": _gzindex.bytes_returned(),
            "index_builds": _gzindex.index_builds()}


def case_lsru_folders() -> dict:
    return _facts(_lsru(folders()))


def case_odc_stac() -> dict:
    import odc.stac
    import pystac

    items = [pystac.Item.from_dict(d) for d in stac_items()]
    ds = odc.stac.load(items, bands=list(BANDS), chunks={"y": ROWS, "x": 8192}, groupby="id")
    return _facts(_median_of(_ndvi_from_raw(ds.red, ds.nir08, ds.qa_pixel)))


def case_stackstac() -> dict:
    import stackstac

    items = stac_items()
    stack = stackstac.stack(items, assets=list(BANDS), dtype="float64", fill_value=np.nan, rescale=False,
                            chunksize=(1, 1, ROWS, 8192))
    red, nir, qa = (stack.sel(band=b) for b in BANDS)
    return _facts(_median_of(_ndvi_from_raw(red.fillna(0), nir.fillna(0), qa.fillna(1).astype("uint16"))))


def case_lazy_tgz() -> dict:
    from lsru_geo import _gzindex
    from lsru_geo._open import open_stack

    ds = open_stack(tarballs(N_LAZY), bands=list(BANDS))
    return {"scenes": ds.sizes["time"], "inflated": _gzindex.bytes_inflated()}


def case_lazy_folders() -> dict:
    from lsru_geo._open import open_stack

    ds = open_stack(folders(N_LAZY), bands=list(BANDS))
    return {"scenes": ds.sizes["time"]}


def case_inflate_rate() -> dict:
    """Inflate one tarball whole with the library ``_gzindex`` reads through (zlib-ng): the floor's rate."""
    from zlib_ng import zlib_ng

    data = tarballs(1)[0].read_bytes()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        out = zlib_ng.decompressobj(31).decompress(data)
        best = min(best, time.perf_counter() - started)
    return {"bytes_per_s": len(out) / best}


def _facts(result: np.ndarray) -> dict:
    return {"valid_pixels": int(np.isfinite(result).sum()), "checksum": float(np.nansum(result, dtype=np.float64)),
            "shape": list(result.shape)}


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}
ORDER = ("lazy_folders", "lazy_tgz", "lsru_folders", "lsru_tgz", "odc_stac", "stackstac", "inflate_rate")


def run_case(name: str) -> dict:
    import resource

    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    with np.errstate(all="ignore"):
        facts = CASES[name]()
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"case": name, "seconds": time.perf_counter() - started, "peak_rss_mb": memory_mb(),
            "cpu_seconds": after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime, **facts}


def in_subprocess(name: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True, text=True)
    if out.returncode != 0:
        return {"case": name, "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(r: dict) -> None:
    members = sum(os.path.getsize(p) for f in folders() for p in f.iterdir() if p.name.endswith(
        tuple(SUFFIXES.values())))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{len(tarballs())} ESPA l1 products of {SIZE} px; chunks {ROWS} rows x whole width; dask 2 threads")
    print(f"{'case':<20} {'seconds':>8} {'cpu s':>6} {'peak MB':>8}  valid pixels / checksum")
    for name in ORDER:
        x = r.get(name)
        if x is None or name == "inflate_rate":
            continue
        if "error" in x:
            print(f"{name:<20} error: {x['error']}")
            continue
        tail = f"{x.get('valid_pixels', ''):>12} {x.get('checksum', 0):14.2f}" if "checksum" in x else ""
        print(f"{name:<20} {x['seconds']:8.1f} {x.get('cpu_seconds', float('nan')):6.1f} {x['peak_rss_mb']:8.0f}  "
              f"{tail}")

    def ratio(a: str, b: str, what: str = "seconds") -> str:
        if a in r and b in r and what in r[a] and what in r[b]:
            return f"{r[a][what] / r[b][what]:.2f}x"
        return "n/a"

    print(f"lsru .tar.gz / folders:                      {ratio('lsru_tgz', 'lsru_folders')}  (target <= 1.2x)")
    print(f"lsru .tar.gz via _gzindex / odc-stac:        {ratio('lsru_tgz', 'odc_stac')}  (target <= 0.9x)")
    print(f"lsru folders / odc-stac:                     {ratio('lsru_folders', 'odc_stac')}")
    print(f"lsru folders / stackstac:                    {ratio('lsru_folders', 'stackstac')}")
    print(f"peak memory, lsru .tar.gz via _gzindex / odc-stac: "
          f"{ratio('lsru_tgz', 'odc_stac', 'peak_rss_mb')}  (target <= 0.5x)")
    print(f"lazy open ({N_LAZY} products), .tar.gz / folders: {ratio('lazy_tgz', 'lazy_folders')}  (target <= 1.2x; "
          f"bytes inflated: {r.get('lazy_tgz', {}).get('inflated', 'n/a')})")
    if "inflated" in r.get("lsru_tgz", {}):
        inflated = r["lsru_tgz"]["inflated"]
        returned = r["lsru_tgz"].get("returned", 0)
        print(f"bytes inflated via _gzindex: {inflated / 1e9:.2f} GB for {members / 1e9:.2f} GB of members read "
              f"({inflated / members:.2f}x, target <= 1.15x; index builds during the run: "
              f"{r['lsru_tgz']['index_builds']}); GDAL asked for {returned / 1e9:.2f} GB ({returned / members:.2f}x "
              f"the members), inflated / asked {inflated / max(returned, 1):.2f}x")
    rate = r.get("inflate_rate", {}).get("bytes_per_s")
    if rate and "inflated" in r.get("lsru_tgz", {}):
        print(f"inflate rate (zlib-ng, one core, this run): {rate / 1e6:.0f} MB/s: the {inflated / 1e9:.2f} GB "
              f"inflated cost {inflated / rate:.1f} CPU s of the .tar.gz case's "
              f"{r['lsru_tgz'].get('cpu_seconds', float('nan')):.1f}")


def main(only: list[str] | None) -> None:
    prepare()
    report(run_saved_cases(ORDER, only, CACHE / "stack_results.json", in_subprocess))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--only", nargs="+", choices=sorted(CASES))
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
    elif args.report:
        report(json.loads((CACHE / "stack_results.json").read_text()))
    else:
        main(args.only)
