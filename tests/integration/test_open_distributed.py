"""The lazy graphs run unchanged on a dask.distributed cluster of 2 worker processes: tasks are pickled to
the workers, which open the rasters themselves (and build their own gzip seek indexes)."""

from __future__ import annotations

import datetime as dt

import dask
import numpy as np
import pytest

from lsru_geo._open import open_scene, open_stack
from lsru_geo.emulator import _catalogue as cat
from lsru_geo.emulator._products import SceneSpec, build_espa_tarball, build_usgs_bundle

distributed = pytest.importorskip("distributed")

TODAY = dt.date(2024, 1, 1)
IDS = [
    "LC08_L2SP_035032_20230531_20230604_02_T1",  # UTM zone 13
    "LC09_L2SP_036032_20230530_20230615_02_T1",  # UTM zone 12: warped
    "LC08_L2SP_035032_20230616_20230703_02_T1",
]


def spec_of(product_id: str) -> SceneSpec:
    facts = cat.describe(product_id, TODAY)
    return SceneSpec(product_id, facts["corners"], facts["acquired"], facts["cloud_cover"], facts["entity_id"])


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")
def test_stack_computes_on_a_local_cluster(client, tmp_path):
    paths = [build_espa_tarball(spec_of(pid), ["l1"], tmp_path, size=128) for pid in IDS[:2]]
    paths.append(build_usgs_bundle(spec_of(IDS[2]), tmp_path, size=128))
    ds = open_stack(paths, bands=["red", "nir08", "qa_pixel"], chunks={"y": 40, "x": 80})
    ndvi = ds.lsru.mask().lsru.ndvi()
    composite = ndvi.median("time")
    with dask.config.set(scheduler="sync"):
        local = composite.values
    remote = client.compute(composite.data).result()
    np.testing.assert_array_equal(np.isnan(remote), np.isnan(local))
    np.testing.assert_allclose(remote, local, equal_nan=True)
    assert np.isfinite(remote).sum() > 1000
    # the workers did the reading: each holds its own seek index of the tarballs
    counts = client.run(lambda: __import__("lsru_geo._open", fromlist=["pixel_reads"]).pixel_reads())
    assert sum(counts.values()) > 0


def test_scene_persists_on_the_cluster(client, tmp_path):
    path = build_espa_tarball(spec_of(IDS[0]), ["l1", "sr_ndvi"], tmp_path, size=128)
    ds = open_scene(path, bands=["ndvi", "qa_pixel"], chunks={"y": 32})
    with dask.config.set(scheduler="sync"):
        expected = ds.ndvi.values
    persisted = client.persist(ds)
    np.testing.assert_allclose(persisted.ndvi.values, expected, equal_nan=True)


def test_level1_gzipped_bundle_calibrates_on_the_cluster(client, tmp_path):
    from real_products import toa_reference, write_product

    path = write_product(tmp_path, "LC08_L1TP_190029_20240618_20240619_02_RT", packing="tgz", top=True, lower=True)
    ds = open_scene(path, bands=["red", "lwir11"], chunks={"y": 8})
    remote = client.compute(ds.red.data).result()
    np.testing.assert_allclose(remote, toa_reference("B4"), rtol=2e-6, atol=1e-6, equal_nan=True)
    with dask.config.set(scheduler="sync"):
        np.testing.assert_array_equal(client.compute(ds.lwir11.data).result(), ds.lwir11.values)
