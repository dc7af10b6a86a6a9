"""Analysis benchmark (issue 5): lazy opening and a median NDVI composite on full-size emulator products.

PLACEHOLDER: data preparation only; the measurements are added below.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("LSRU_BENCH_OPEN_CACHE", "/tmp/lsru-bench-open"))
SIZE = 7600  # ~7,400 px per side: true 30 m pixels
TODAY = dt.date(2024, 1, 1)
PATH_ROW = (33, 32)


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
        specs.append(SceneSpec(product_id, facts["corners"], facts["acquired"], facts["cloud_cover"], facts["entity_id"]))
        if len(specs) == count:
            break
    return specs


def prepare(n_full: int = 20, n_index: int = 50) -> tuple[list[Path], list[Path]]:
    """Build (or reuse) ``n_full`` ESPA ``l1`` tarballs and ``n_index`` ESPA ``sr_ndvi`` tarballs."""
    from lsru_geo.emulator._products import build_espa_tarball

    full, index = [], []
    for i, spec in enumerate(scene_specs(max(n_full, n_index))):
        if i < n_full:
            started = time.perf_counter()
            full.append(build_espa_tarball(spec, ["l1"], CACHE / "l1", size=SIZE))
            print(f"l1 {i + 1}/{n_full} {full[-1].name} {time.perf_counter() - started:.0f} s", flush=True)
    for i, spec in enumerate(scene_specs(n_index)):
        started = time.perf_counter()
        index.append(build_espa_tarball(spec, ["sr_ndvi"], CACHE / "sr_ndvi", size=SIZE))
        print(f"sr_ndvi {i + 1}/{n_index} {index[-1].name} {time.perf_counter() - started:.0f} s", flush=True)
    return full, index


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--prepare-only", action="store_true")
    args = parser.parse_args()
    prepare()
