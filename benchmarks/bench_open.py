"""Analysis benchmark (issue 5) on full-size emulator products (~7,650 x 6,950 px of 30 m per band).

(a) Lazy open of 50 ESPA ``sr_ndvi`` products as one stack (``ndvi`` + ``qa_pixel``), read in place from the
    ``.tar.gz``, against the same on extracted folders, and against eager loading (rioxarray without chunks,
    as xlandsat reads, from the extracted files; the NDVI band only, raw integers, to fit in memory).
(b) A cloud-masked median NDVI composite over 20 full-size ESPA ``l1`` products (red, nir08, qa_pixel):
    lsru_geo in place from ``.tar.gz``, from plain ``.tar``, from extracted folders, "extract first"
    (``extract_tarball`` of every tarball, then the extracted run), and the eager baseline (each scene read
    whole with rioxarray, NDVI kept in memory, then ``nanmedian``).

Every case runs in its own Python process, so its peak resident memory (``ru_maxrss``) is its own; the
page cache is warm for all (the data were just written or read). Wall times are single runs on this
2-core machine, with the dask threaded scheduler (2 threads).

Run: ``python benchmarks/bench_open.py`` (generates ~16 GB of products under ``$LSRU_BENCH_OPEN_CACHE``,
default ``/tmp/lsru-bench-open``, about 40 minutes the first time, reused afterwards; then ~15 minutes).
``--prepare-only`` builds the products; ``--case NAME`` runs one case and prints its JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
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

CACHE = Path(os.environ.get("LSRU_BENCH_OPEN_CACHE", "/tmp/lsru-bench-open"))
SIZE = 7600  # ~7,650 x 6,950 px: true 30 m pixels
TODAY = dt.date(2024, 1, 1)
PATH_ROW = (33, 32)
N_COMPOSITE, N_LAZY = 20, 50
COMPOSITE_BANDS = ("red", "nir08", "qa_pixel")
METADATA_SUFFIXES = ("_MTL.txt", "_MTL.xml", "_ANG.txt", "T1.xml", "T2.xml")
COMPOSITE_SUFFIXES = ("_SR_B4.tif", "_SR_B5.tif", "_QA_PIXEL.tif", *METADATA_SUFFIXES)
LAZY_SUFFIXES = ("_SR_NDVI.tif", "_QA_PIXEL.tif", *METADATA_SUFFIXES)
CHUNKS = {"y": int(os.environ.get("LSRU_BENCH_ROWS", "512"))}  # rows of a whole band per chunk (512: one tile row)


# --------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------


def scene_specs(count: int):
    """The ``count`` most recent Landsat 8/9 L2SP scenes of one path/row in the emulator's catalogue."""
    from lsru_geo.emulator import _catalogue as cat
    from lsru_geo.emulator._products import SceneSpec
    from lsru_geo.emulator._wrs2 import grid

    cell = grid().index(*PATH_ROW)
    scenes = cat.generate(cat.DATASETS["landsat_ot_c2_l2"], np.array([cell]), dt.date(2021, 1, 1), TODAY, TODAY)
    specs = []
    for product_id in scenes.display_ids():
        if "_L2SP_" not in product_id:
            continue
        facts = cat.describe(product_id, TODAY)
        specs.append(
            SceneSpec(product_id, facts["corners"], facts["acquired"], facts["cloud_cover"], facts["entity_id"])
        )
        if len(specs) == count:
            break
    return specs


def prepare() -> None:
    """Build (or reuse) the tarballs, then the extracted folders and plain tars the baselines read."""
    from lsru_geo.emulator._products import build_espa_tarball

    specs = scene_specs(max(N_COMPOSITE, N_LAZY))
    for i, spec in enumerate(specs[:N_COMPOSITE]):
        started = time.perf_counter()
        path = build_espa_tarball(spec, ["l1"], CACHE / "l1", size=SIZE)
        print(f"l1 {i + 1}/{N_COMPOSITE} {path.name} {time.perf_counter() - started:.0f} s", flush=True)
    for i, spec in enumerate(specs[:N_LAZY]):
        started = time.perf_counter()
        path = build_espa_tarball(spec, ["sr_ndvi"], CACHE / "sr_ndvi", size=SIZE)
        print(f"sr_ndvi {i + 1}/{N_LAZY} {path.name} {time.perf_counter() - started:.0f} s", flush=True)
    for tgz in tarballs("l1"):
        _extract_some(tgz, CACHE / "l1_extracted" / _stem(tgz), COMPOSITE_SUFFIXES)
        _plain_tar(tgz, CACHE / "l1_tar" / f"{_stem(tgz)}.tar", COMPOSITE_SUFFIXES)
    for tgz in tarballs("sr_ndvi"):
        _extract_some(tgz, CACHE / "sr_ndvi_extracted" / _stem(tgz), LAZY_SUFFIXES)


def tarballs(kind: str) -> list[Path]:
    return sorted((CACHE / kind).glob("*.tar.gz"))


def _stem(path: Path) -> str:
    return path.name[: -len(".tar.gz")]


def _extract_some(tgz: Path, folder: Path, suffixes: tuple[str, ...]) -> None:
    """Extract the members a case reads (disk space: the others are never read by any case)."""
    if folder.exists():
        return
    tmp = folder.with_name(folder.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(tgz) as tar:
        for member in tar:
            if member.name.endswith(suffixes):
                tar.extract(member, tmp, filter="data")
    tmp.rename(folder)


def _plain_tar(tgz: Path, out: Path, suffixes: tuple[str, ...]) -> None:
    """A plain (uncompressed) tar of the members read, as a USGS bundle is: the in-place ``.tar`` case."""
    if out.exists():
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with tarfile.open(tgz) as src, tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as dst:
        for member in src:
            if member.name.endswith(suffixes):
                dst.addfile(member, src.extractfile(member))
    tmp.rename(out)


# --------------------------------------------------------------------------------------------------------
# Cases (each in its own process)
# --------------------------------------------------------------------------------------------------------


def nanmedian_first_axis(block: np.ndarray) -> np.ndarray:
    """Median over axis 0 ignoring NaN, by sorting (NaN sorts last) in column slabs to bound temporaries.

    ``np.nanmedian`` falls back to masked arrays for short axes (under 600 values), which made the median
    ten times slower than all the reading; this gives the same values (same float32 arithmetic).
    """
    out = np.empty(block.shape[1:], dtype=np.float32)
    for x0 in range(0, block.shape[-1], 1024):
        part = np.sort(block[..., x0 : x0 + 1024], axis=0)
        n = np.count_nonzero(~np.isnan(part), axis=0)
        lo = np.take_along_axis(part, np.maximum((n - 1) // 2, 0)[None], 0)[0]
        hi = np.take_along_axis(part, np.minimum(n // 2, part.shape[0] - 1)[None], 0)[0]
        med = (lo + hi) / np.float32(2)
        med[n == 0] = np.nan
        out[..., x0 : x0 + 1024] = med
    return out


def _composite(sources) -> np.ndarray:
    """The analysis: cloud/shadow-masked NDVI of every scene, median over time (lazy, then computed)."""
    import dask

    from lsru_geo._open import open_stack

    ds = open_stack(sources, bands=list(COMPOSITE_BANDS), chunks=CHUNKS)
    ndvi = ds.lsru.mask().lsru.ndvi().data  # (time, y, x), one chunk per scene and strip
    # all scenes of a 128-row block per median task: 20 x 128 x 7,800 float32 = 80 MB
    median = ndvi.rechunk({0: -1, 1: 128}).map_blocks(nanmedian_first_axis, drop_axis=0, dtype=np.float32)
    with dask.config.set(scheduler="threads", num_workers=2):
        return median.compute()


def _read_only(sources) -> np.ndarray:
    """Reading alone: the same masked NDVI inputs, reduced by a count of valid scenes (no median)."""
    import dask

    from lsru_geo._open import open_stack

    ds = open_stack(sources, bands=list(COMPOSITE_BANDS), chunks=CHUNKS)
    with dask.config.set(scheduler="threads", num_workers=2):
        return ds.lsru.mask().lsru.ndvi().count("time").values


def case_lazy_tgz() -> dict:
    from lsru_geo._open import open_stack, pixel_reads

    ds = open_stack(tarballs("sr_ndvi"), bands=["ndvi", "qa_pixel"])
    return {"scenes": ds.sizes["time"], "shape": list(ds.ndvi.shape), "pixel_reads": pixel_reads()}


def case_lazy_extracted() -> dict:
    from lsru_geo._open import open_stack, pixel_reads

    ds = open_stack(sorted((CACHE / "sr_ndvi_extracted").iterdir()), bands=["ndvi", "qa_pixel"])
    return {"scenes": ds.sizes["time"], "shape": list(ds.ndvi.shape), "pixel_reads": pixel_reads()}


def case_lazy_eager() -> dict:
    import rioxarray

    arrays = []
    for folder in sorted((CACHE / "sr_ndvi_extracted").iterdir()):
        path = next(folder.glob("*_SR_NDVI.tif"))
        arrays.append(rioxarray.open_rasterio(path, mask_and_scale=False))  # no chunks: read now
        arrays[-1].load()
    return {"scenes": len(arrays), "bytes_held": int(sum(a.nbytes for a in arrays))}


def _facts(result: np.ndarray) -> dict:
    return {"valid_pixels": int(np.isfinite(result).sum()), "checksum": float(np.nansum(result, dtype=np.float64))}


def _sources(kind: str) -> list[Path]:
    if kind == "tgz":
        return tarballs("l1")
    if kind == "tar":
        return sorted((CACHE / "l1_tar").glob("*.tar"))
    return sorted(p for p in (CACHE / "l1_extracted").iterdir() if p.is_dir())


def case_read_tgz() -> dict:
    return _facts(_read_only(_sources("tgz")))


def case_read_tar() -> dict:
    return _facts(_read_only(_sources("tar")))


def case_read_extracted() -> dict:
    return _facts(_read_only(_sources("extracted")))


def case_composite_tgz() -> dict:
    return _facts(_composite(_sources("tgz")))


def case_composite_tar() -> dict:
    return _facts(_composite(_sources("tar")))


def case_composite_extracted() -> dict:
    return _facts(_composite(_sources("extracted")))


def case_extract_all() -> dict:
    """What "extract first" costs: unpack every l1 tarball completely (the project's safe extractor)."""
    from lsru_geo._archive import extract_tarball

    target = CACHE / "extract_all"
    shutil.rmtree(target, ignore_errors=True)
    written = 0
    for tgz in tarballs("l1"):
        folder = extract_tarball(tgz, target)
        written += sum(p.stat().st_size for p in folder.iterdir())
        shutil.rmtree(folder)  # disk space: the runs on extracted files read l1_extracted, the same files
    return {"bytes_written": written}


def case_composite_eager() -> dict:
    """xlandsat-style: read each scene whole (rioxarray, no chunks), keep its masked NDVI, align, median."""
    import rioxarray
    import xarray as xr

    from lsru_geo import _qa

    def band(folder: Path, suffix: str, scaled: bool = True):
        path = next(folder.glob(f"*{suffix}"))
        return rioxarray.open_rasterio(path, mask_and_scale=scaled).squeeze("band", drop=True)

    scenes = []
    for folder in _sources("extracted"):
        red, nir, qa = band(folder, "_SR_B4.tif"), band(folder, "_SR_B5.tif"), band(folder, "_QA_PIXEL.tif", False)
        ndvi = ((nir - red) / (nir + red)).astype(np.float32)
        scenes.append(ndvi.where(~_qa.cloud_mask(qa.values)))
        del red, nir, qa
    stack = xr.concat(scenes, dim="time", join="outer")  # footprints differ: pad onto the union grid
    del scenes
    return _facts(nanmedian_first_axis(stack.values))


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}
ORDER = (
    "lazy_tgz", "lazy_extracted", "lazy_eager",
    "read_extracted", "read_tar", "read_tgz",
    "composite_extracted", "composite_tar", "composite_tgz", "extract_all", "composite_eager",
)


def run_case(name: str) -> dict:
    rss_before = memory_mb()
    started = time.perf_counter()
    with np.errstate(all="ignore"):
        facts = CASES[name]()
    seconds = time.perf_counter() - started
    return {"case": name, "seconds": seconds, "peak_rss_mb": memory_mb(), "rss_before_mb": rss_before, **facts}


def _in_subprocess(name: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _line(label: str, seconds: float, peak_mb: float, extra: str = "") -> str:
    return f"    {label:<44} {seconds:8.1f} s   peak RSS {peak_mb:7.0f} MB  {extra}"


def report(r: dict) -> None:
    """Print the table of results (the numbers benchmarks/RESULTS.md records)."""
    import zlib

    try:
        import zlib_ng  # noqa: F401

        inflate = "zlib-ng"
    except ImportError:
        inflate = f"zlib {zlib.ZLIB_RUNTIME_VERSION}"
    gz_mb = sum(p.stat().st_size for p in tarballs("l1")) / 1e6 / N_COMPOSITE
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"gzip inflate: {inflate}; dask threads: 2; chunks {CHUNKS} x whole rows")
    print(f"(a) lazy open of {N_LAZY} full-size products (ndvi + qa_pixel): build the stack, compute nothing")
    print(_line("lsru_geo open_stack, in place from .tar.gz", r["lazy_tgz"]["seconds"], r["lazy_tgz"]["peak_rss_mb"],
                f"pixel reads: {r['lazy_tgz']['pixel_reads']}"))
    print(_line("lsru_geo open_stack, extracted folders", r["lazy_extracted"]["seconds"],
                r["lazy_extracted"]["peak_rss_mb"], f"pixel reads: {r['lazy_extracted']['pixel_reads']}"))
    eager = r["lazy_eager"]
    print(_line("eager rioxarray, ndvi band only (raw int16)", eager["seconds"], eager["peak_rss_mb"],
                f"holds {r['lazy_eager']['bytes_held'] / 1e9:.1f} GB"))
    print(f"(b) {N_COMPOSITE} full-size l1 products ({gz_mb:.0f} MB .tar.gz, ~2 GB unpacked each); "
          "red, nir08, qa_pixel")
    print("    reading alone (masked NDVI of every scene, reduced by a count):")
    for kind, label in (("extracted", "extracted folders"), ("tar", "in place from plain .tar"),
                        ("tgz", "in place from .tar.gz")):
        x = r[f"read_{kind}"]
        print(_line(f"lsru_geo, {label}", x["seconds"], x["peak_rss_mb"]))
    print("    median NDVI composite (masked, median over time, computed to numpy):")
    extract_first = r["extract_all"]["seconds"] + r["composite_extracted"]["seconds"]
    for key, label, seconds in (
        ("composite_extracted", "lsru_geo, extracted folders", r["composite_extracted"]["seconds"]),
        ("composite_tar", "lsru_geo, in place from plain .tar", r["composite_tar"]["seconds"]),
        ("composite_tgz", "lsru_geo, in place from .tar.gz", r["composite_tgz"]["seconds"]),
        ("extract_all", "extract every tarball first, then as above", extract_first),
        ("composite_eager", "eager rioxarray (no chunks) + numpy", r["composite_eager"]["seconds"]),
    ):
        print(_line(label, seconds, r[key]["peak_rss_mb"]))
    read_ratio = r["read_tgz"]["seconds"] / r["read_extracted"]["seconds"]
    comp_ratio = r["composite_tgz"]["seconds"] / r["composite_extracted"]["seconds"]
    print(f"    .tar.gz in place / extracted: reading {read_ratio:.2f}x, composite {comp_ratio:.2f}x (target 1.5x); "
          f"plain .tar / extracted: reading {r['read_tar']['seconds'] / r['read_extracted']['seconds']:.2f}x; "
          f".tar.gz in place / extract first: {r['composite_tgz']['seconds'] / extract_first:.2f}x")
    peak = max(r[f"composite_{k}"]["peak_rss_mb"] for k in ("tgz", "tar", "extracted"))
    verdict = "met" if peak < 2048 else "NOT met"
    print(f"    peak memory of the lazy composites: {peak:.0f} MB (target < 2048 MB: {verdict}); "
          f"eager baseline {r['composite_eager']['peak_rss_mb']:.0f} MB")
    sums = {round(r[f"composite_{k}"]["checksum"], 2) for k in ("tgz", "tar", "extracted", "eager")}
    print(f"    all four composites give the same values: {len(sums) == 1} "
          f"({r['composite_tgz']['valid_pixels']:,} valid pixels)")


def main(only: list[str] | None = None) -> None:
    """Run every case (or ``only`` these, keeping the others from the last run) and print the table."""
    prepare()
    report(run_saved_cases(ORDER, only, CACHE / "results.json", _in_subprocess))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--report", action="store_true", help="print the table of the last run again")
    parser.add_argument("--only", nargs="+", choices=sorted(CASES), help="rerun these cases, keep the others")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
    elif args.report:
        report(json.loads((CACHE / "results.json").read_text()))
    elif args.prepare_only:
        prepare()
    else:
        main(args.only)
