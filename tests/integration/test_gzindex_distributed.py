"""An ESPA .tar.gz read through its persistent index by rasterio (the ``opener``) and on a dask.distributed
cluster of worker processes, which reuse the sidecar instead of inflating the archive again."""

from __future__ import annotations

import datetime as dt
import tarfile

import numpy as np
import pytest

from lsru_geo import _gzindex as gzx
from lsru_geo.emulator import _catalogue as cat
from lsru_geo.emulator._products import SceneSpec, build_espa_tarball

distributed = pytest.importorskip("distributed")

TODAY = dt.date(2024, 1, 1)
PRODUCT_ID = "LC08_L2SP_035032_20230531_20230604_02_T1"


def spec_of(product_id: str) -> SceneSpec:
    facts = cat.describe(product_id, TODAY)
    return SceneSpec(product_id, facts["corners"], facts["acquired"], facts["cloud_cover"], facts["entity_id"])


def read_band(tgz: gzx.IndexedTarGz, member: str, window: tuple[int, int, int, int]) -> np.ndarray:
    """What the archive-access module does in a chunk task: rasterio reads the member through ``opener``."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(f"/lsru-gzindex/{member}", opener=lambda _path, mode="rb": tgz.open_member(member)) as src:
        return src.read(1, window=Window(*window))


def worker_counters() -> dict:
    from lsru_geo import _gzindex

    return {"builds": _gzindex.index_builds(), "inflated": _gzindex.bytes_inflated()}


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    folder = tmp_path_factory.mktemp("espa")
    # bands of ~600 px: beyond the first and last 64 KiB the index keeps, so workers do inflate
    return build_espa_tarball(spec_of(PRODUCT_ID), ["l1"], folder, size=600)


def reference(path, member: str) -> np.ndarray:
    from rasterio.io import MemoryFile

    with tarfile.open(path) as tar, MemoryFile(tar.extractfile(member).read()) as mem, mem.open() as src:
        return src.read(1)


def test_rasterio_reads_members_through_the_opener(product):
    tgz = gzx.indexed_archive(product)
    for suffix in ("_SR_B4.tif", "_QA_PIXEL.tif", "_ST_B10.tif"):
        member = next(n for n in tgz.members if n.endswith(suffix))
        expected = reference(product, member)
        h, w = expected.shape
        np.testing.assert_array_equal(read_band(tgz, member, (0, 0, w, h)), expected)
        np.testing.assert_array_equal(read_band(tgz, member, (17, 33, 40, 50)), expected[33:83, 17:57])


def test_local_cluster_reads_members_with_the_sidecar(product):
    sidecar = gzx.ensure_index(product)  # as the download worker does once the file is verified
    tgz = gzx.indexed_archive(product)
    members = [n for n in tgz.members if n.endswith(("_SR_B4.tif", "_SR_B5.tif", "_QA_PIXEL.tif"))]
    expected = {m: reference(product, m) for m in members}
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client:
        futures = [client.submit(read_band, tgz, m, (0, 0, *expected[m].shape[::-1]), pure=False) for m in members]
        for member, future in zip(members, futures, strict=True):
            np.testing.assert_array_equal(future.result(), expected[member])
        counters = client.run(worker_counters)
    assert sum(c["inflated"] for c in counters.values()) > 0  # the workers read
    assert all(c["builds"] == 0 for c in counters.values())  # ...through the sidecar, never building one
    total = sum(tgz.members[m][1] for m in members)
    assert sum(c["inflated"] for c in counters.values()) <= total + 2 * len(members) * gzx.SPACING
    assert gzx.ensure_index(product) == sidecar
