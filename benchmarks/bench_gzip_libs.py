"""Gzip random-access libraries on ESPA products (issue 13): indexed_gzip, rapidgzip, ratarmountcore.

On quarter-size emulator ESPA ``l1`` products (~3,800 px a side: ~160 MB ``.tar.gz``, ~630 MB of tar), each
measurement in a fresh process (its own peak memory, ``VmHWM``; warm page cache):

* **build**: one pass over the archive recording seek points every 4 MiB (rapidgzip: its own chunking),
  the index written to a file; time, peak memory, index size on disk;
* **read**: a new process loads that index and reads one band member at a random offset (``SR_B5``,
  ~29 MB, ~176 MB into the tar) whole, plus 16 random 64 KiB windows of other bands; time, peak memory;
* baseline in the same run: the same reads from an extracted copy of the members (page cache); the
  hand-written in-memory ``GzipIndex`` this compared against in its first run has been replaced;
* ``lsru_geo._gzindex``: indexed_gzip behind the sidecar (member table + seek points), as the reader uses it.

Run: ``python benchmarks/bench_gzip_libs.py`` (builds 3 products under ``$LSRU_BENCH_PEERS_CACHE``,
default ``/tmp/lsru-bench-peers``, shared with ``bench_stack_peers.py``; then ~2 minutes). Peers are in the
``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
from _cases import memory_mb

CACHE = Path(os.environ.get("LSRU_BENCH_PEERS_CACHE", "/tmp/lsru-bench-peers"))
SIZE = 3800
N_PRODUCTS = 3
SPACING = 4 << 20
BAND = "_SR_B5.tif"
OTHER_BANDS = ("_SR_B4.tif", "_QA_PIXEL.tif", "_ST_B10.tif")
LIBS = ("indexed_gzip", "rapidgzip_p1", "rapidgzip_p2", "ratarmountcore", "lsru_gzindex")


def products() -> list[Path]:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_open import scene_specs

    from lsru_geo.emulator._products import build_espa_tarball

    return [build_espa_tarball(spec, ["l1"], CACHE / "l1", size=SIZE) for spec in scene_specs(N_PRODUCTS)]


def members(path: Path) -> dict[str, tuple[int, int]]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: (m.offset_data, m.size) for m in tar if m.isfile()}


def windows(path: Path, table: dict[str, tuple[int, int]]) -> list[tuple[str, int, int]]:
    """The reads of a case: the whole band (1 MiB reads), then 16 random 64 KiB windows of other bands."""
    band = next(n for n in table if n.endswith(BAND))
    reads = [(band, start, min(1 << 20, table[band][1] - start)) for start in range(0, table[band][1], 1 << 20)]
    rng = np.random.default_rng(len(path.name))
    others = [n for n in table if n.endswith(OTHER_BANDS)]
    for _ in range(16):
        name = others[int(rng.integers(len(others)))]
        reads.append((name, int(rng.integers(0, table[name][1] - (64 << 10))), 64 << 10))
    return reads


def index_file(lib: str, path: Path) -> Path:
    return CACHE / "indexes" / lib / (path.name + ".index")


# --------------------------------------------------------------------------------------------------------
# Cases (each in a fresh process)
# --------------------------------------------------------------------------------------------------------


def build(lib: str, path: Path) -> dict:
    out = index_file(lib, path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    if lib == "indexed_gzip":
        import indexed_gzip

        with indexed_gzip.IndexedGzipFile(str(path), spacing=SPACING) as f:
            f.build_full_index()
            f.export_index(str(out))
    elif lib.startswith("rapidgzip"):
        import rapidgzip

        with rapidgzip.RapidgzipFile(str(path), parallelization=int(lib[-1])) as f:
            f.seek(0, io.SEEK_END)  # inflates the whole stream, recording its chunk boundaries
            with open(out, "wb") as fh:
                f.export_index(fh)
    elif lib == "ratarmountcore":
        from ratarmountcore.mountsource.formats.tar import SQLiteIndexedTar

        source = SQLiteIndexedTar(str(path), writeIndex=True, indexFilePath=str(out), gzipSeekPointSpacing=SPACING)
        source.close()
    elif lib == "lsru_gzindex":
        from lsru_geo import _gzindex

        os.environ["LSRU_CACHE_DIR"] = str(out.parent)
        beside = path.with_name(path.name + _gzindex.SIDECAR_SUFFIX)
        beside.unlink(missing_ok=True)
        out = _gzindex.ensure_index(path)
    return {"index_bytes": out.stat().st_size}


def read(lib: str, path: Path, reads: list[tuple[str, int, int]]) -> dict:
    got = 0
    if lib == "extracted":
        folder = CACHE / "l1_members" / path.name
        for name, start, length in reads:
            with open(folder / name, "rb") as fh:
                fh.seek(start)
                got += len(fh.read(length))
        return {"bytes": got}
    table = json.loads((CACHE / "tables" / (path.name + ".json")).read_text())
    if lib == "indexed_gzip":
        import indexed_gzip

        with indexed_gzip.IndexedGzipFile(str(path), spacing=SPACING, index_file=str(index_file(lib, path))) as f:
            for name, start, length in reads:
                got += len(f.pread(length, table[name][0] + start))
    elif lib.startswith("rapidgzip"):
        import rapidgzip

        with rapidgzip.RapidgzipFile(str(path), parallelization=int(lib[-1])) as f:
            with open(index_file(lib, path), "rb") as fh:
                f.import_index(fh)
            for name, start, length in reads:
                f.seek(table[name][0] + start)
                got += len(f.read(length))
    elif lib == "ratarmountcore":
        from ratarmountcore.mountsource.formats.tar import SQLiteIndexedTar

        source = SQLiteIndexedTar(str(path), writeIndex=False, indexFilePath=str(index_file(lib, path)))
        for name, start, length in reads:
            with source.open(source.lookup("/" + name)) as fh:
                fh.seek(start)
                got += len(fh.read(length))
        source.close()
    elif lib == "lsru_gzindex":
        from lsru_geo import _gzindex

        archive = _gzindex.indexed_archive(path)
        for name, start, length in reads:
            with archive.open_member(name) as fh:
                fh.seek(start)
                got += len(fh.read(length))
        return {"bytes": got, "builds": _gzindex.index_builds(), "inflated": _gzindex.bytes_inflated()}
    return {"bytes": got}


MODULES = {
    "indexed_gzip": "indexed_gzip", "rapidgzip_p1": "rapidgzip", "rapidgzip_p2": "rapidgzip",
    "ratarmountcore": "ratarmountcore.mountsource.formats.tar", "lsru_gzindex": "lsru_geo._gzindex",
    "extracted": "io",
}


def run_case(kind: str, lib: str, path: Path) -> dict:
    """Time one case; memory is the peak above what the process held after importing the library."""
    import importlib

    reads = windows(path, json.loads((CACHE / "tables" / (path.name + ".json")).read_text()))
    importlib.import_module(MODULES[lib])
    before = memory_mb("VmRSS")
    started = time.perf_counter()
    facts = build(lib, path) if kind == "build" else read(lib, path, reads)
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": memory_mb() - before, **facts}


def in_subprocess(kind: str, lib: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--case", kind, lib, str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def prepare(paths: list[Path]) -> None:
    for path in paths:
        table_file = CACHE / "tables" / (path.name + ".json")
        if not table_file.exists():
            table_file.parent.mkdir(parents=True, exist_ok=True)
            table_file.write_text(json.dumps(members(path)))
        folder = CACHE / "l1_members" / path.name
        if not folder.exists():
            tmp = folder.with_name(folder.name + ".part")
            with tarfile.open(path) as tar:
                tar.extractall(tmp, filter="data")
            tmp.rename(folder)


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    paths = products()
    prepare(paths)
    tar_mb = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{len(paths)} ESPA l1 products of {SIZE} px, {tar_mb:.0f} MB .tar.gz each; seek spacing 4 MiB")
    print("versions: " + ", ".join(f"{d} {version(d)}" for d in ("indexed_gzip", "rapidgzip", "ratarmountcore")))
    rows = []
    for lib in LIBS:
        builds = [in_subprocess("build", lib, p) for p in paths]
        reads = [in_subprocess("read", lib, p) for p in paths]
        rows.append((lib, builds, reads))
    extracted = [in_subprocess("read", "extracted", p) for p in paths]
    base = statistics.median(r["seconds"] for r in extracted)
    print(f"\n{'library':<16} {'build s':>8} {'build +MB':>9} {'index MB':>9} {'read s':>8} {'read +MB':>8} "
          f"{'read / extracted':>17}")
    for lib, builds, reads in rows:
        b = statistics.median(x["seconds"] for x in builds)
        bm = max(x["peak_rss_mb"] for x in builds)
        size = statistics.median(x.get("index_bytes", 0) for x in builds) / 1e6
        r = statistics.median(x["seconds"] for x in reads)
        rm = max(x["peak_rss_mb"] for x in reads)
        extra = ""
        if lib == "lsru_gzindex":
            extra = f"  (builds while reading: {sum(x['builds'] for x in reads)}, inflated per read case: " \
                    f"{statistics.median(x['inflated'] for x in reads) / 1e6:.1f} MB for " \
                    f"{statistics.median(x['bytes'] for x in reads) / 1e6:.1f} MB read)"
        index = f"{size:9.1f}"
        print(f"{lib:<16} {b:8.2f} {bm:9.0f} {index:>9} {r:8.3f} {rm:8.0f} {r / base:16.1f}x{extra}")
    print(f"{'extracted files':<16} {'':>8} {'':>9} {'':>9} {base:8.3f} "
          f"{max(x['peak_rss_mb'] for x in extracted):8.0f} {1:16.1f}x")
    print("(+MB: peak resident memory above the process's after importing the library; "
          "build: one full pass recording seek points; read: a fresh process loads the index and reads one band "
          "whole + 16 random 64 KiB windows)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs=3, metavar=("KIND", "LIB", "ARCHIVE"))
    args = parser.parse_args()
    if args.case:
        kind, lib, archive = args.case
        print(json.dumps(run_case(kind, lib, Path(archive))))
    else:
        main()
