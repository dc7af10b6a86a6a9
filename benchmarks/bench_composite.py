"""Composite benchmark (issue 13): the NaN-median over time of a (20, 2048, 2048) float32 block with 30 % NaN.

lsru_geo's sort-based median (``lsru_geo._composite``) against ``np.nanmedian`` in the same run, values
checked equal; peers shown when installed (``bottleneck.nanmedian``, ``numbagg.nanmedian``: the ``bench``
extra), and the same through dask (``ds.lsru.composite``'s path: lazy, 2 threads).
Target: >= 5x ``np.nanmedian``, identical values.

Run: ``python benchmarks/bench_composite.py`` (about a minute).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

SHAPE = (20, 2048, 2048)
NAN_FRACTION = 0.3


def timed(fn, repeat: int = 1):
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    import dask
    import xarray as xr

    from lsru_geo import _composite

    rng = np.random.default_rng(0)
    block = rng.random(SHAPE, dtype=np.float32)
    block[rng.random(SHAPE) < NAN_FRACTION] = np.nan
    block[:, :8, :8] = np.nan  # a few all-NaN pixels
    warnings.simplefilter("ignore", RuntimeWarning)
    base, expected = timed(lambda: np.nanmedian(block, axis=0))
    print(f"block {SHAPE} float32, {NAN_FRACTION:.0%} NaN; np.nanmedian (baseline): {base:.2f} s")
    rows = [("lsru_geo nanmedian_first_axis (numpy sort)", lambda: _composite.nanmedian_first_axis(block))]
    try:
        import bottleneck

        rows.append(("bottleneck.nanmedian(axis=0)", lambda: bottleneck.nanmedian(block, axis=0)))
    except ImportError:
        print("bottleneck not installed: skipped")
    try:
        import numbagg

        numbagg.nanmedian(block[:, :4, :4], axis=0)  # compile outside the timing
        rows.append(("numbagg.nanmedian(axis=0)", lambda: numbagg.nanmedian(block, axis=0)))
    except ImportError:
        print("numbagg not installed: skipped")
    lazy = xr.DataArray(block, dims=("time", "y", "x")).chunk({"time": 1, "y": 512})

    def through_dask():
        with dask.config.set(scheduler="threads", num_workers=2):
            return _composite.nanmedian(lazy).values

    rows.append(("lsru_geo nanmedian on dask (2 threads)", through_dask))
    for label, fn in rows:
        seconds, got = timed(fn, repeat=3)
        same = np.array_equal(got, expected, equal_nan=True)
        close = np.allclose(got, expected, equal_nan=True, rtol=1e-6)
        verdict = "identical" if same else ("equal to 1e-6" if close else "DIFFERENT")
        print(f"  {label:<44} {seconds:6.2f} s  {base / seconds:5.1f}x np.nanmedian  values {verdict}")
    print("target: >= 5x np.nanmedian with identical values")


if __name__ == "__main__":
    main()
