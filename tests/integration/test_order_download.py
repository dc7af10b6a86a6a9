"""Order.download_all_complete against the emulator: parallel, verified, resumable, failures reported together."""

import hashlib

import pytest
import rasterio
import requests

from lsru_geo import DownloadError, Espa, Usgs

MONTPELLIER = (3.5, 43.4, 4.0, 44.0)


@pytest.fixture
def completed(emu, monkeypatch):
    monkeypatch.setattr(emu.options, "processing_seconds", 3600)
    scenes = Usgs().search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-06-01", end="2019-06-30").head(3)
    order = scenes.lsru.order(products=["l1", "sr_ndvi"])
    emu.clock.advance(days=1)
    return order.wait(poll=0.01, timeout=10)


def test_downloads_every_completed_item_verified(completed, emu, tmp_path):
    paths = completed.download_all_complete(tmp_path)
    assert sorted(p.name for p in paths) == sorted(url.rsplit("/", 1)[1] for url in completed.urls_completed)
    assert len(emu.log.select("download", "*.md5")) == 3  # each tarball checked against its published MD5
    for path, item in zip(sorted(paths), sorted(completed.items_status, key=lambda i: i["product_dload_url"]), strict=False):
        published = requests.get(item["cksum_download_url"]).text.split()[0]
        assert hashlib.md5(path.read_bytes()).hexdigest() == published
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("*.lock"))


def test_second_call_transfers_nothing(completed, emu, tmp_path):
    completed.download_all_complete(tmp_path)
    tarballs = emu.log.bytes_sent("download", "*.tar.gz")
    again = completed.download_all_complete(tmp_path)
    assert len(again) == 3 and emu.log.bytes_sent("download", "*.tar.gz") == tarballs


def test_unpack_gives_product_folders(completed, tmp_path):
    folders = completed.download_all_complete(tmp_path, unpack=True)
    assert len(folders) == 3 and all(f.is_dir() for f in folders)
    assert not list(tmp_path.glob("*.tar.gz"))
    red = next(folders[0].glob("*_SR_B4.tif"))
    with rasterio.open(red) as raster:
        assert raster.dtypes[0] == "uint16" and raster.crs.to_epsg() // 100 == 326
    assert next(folders[0].glob("*_SR_NDVI.tif"))
    assert completed.download_all_complete(tmp_path, unpack=True) == folders  # existing folders are complete


def test_a_bad_checksum_is_reported_with_the_others_kept(completed, emu, tmp_path):
    victim = completed.urls_completed[1].rsplit("/", 1)[1]
    emu.faults.add("download", victim[: -len(".tar.gz")] + ".md5", "wrong_md5", times=None)
    with pytest.raises(DownloadError) as info:
        completed.download_all_complete(tmp_path)
    assert list(info.value.failed) == [str(tmp_path / victim)]  # keyed by local path
    assert "MD5" in next(iter(info.value.failed.values())) or "md5" in next(iter(info.value.failed.values())).lower()
    assert sorted(p.name for p in tmp_path.glob("*.tar.gz")) == sorted(
        u.rsplit("/", 1)[1] for u in completed.urls_completed if victim not in u
    )
    assert not (tmp_path / victim).exists()


def test_dropped_connections_and_bursts_are_ridden_out(completed, emu, tmp_path):
    name = completed.urls_completed[0].rsplit("/", 1)[1]
    emu.faults.add("download", name, "drop", after_bytes=5000, times=1)
    emu.faults.add("download", "*.tar.gz", "status", status=503, times=2)
    paths = completed.download_all_complete(tmp_path)
    assert len(paths) == 3


def test_only_complete_items_are_fetched(emu, monkeypatch, tmp_path):
    monkeypatch.setattr(emu.options, "processing_seconds", 3600)
    scenes = Usgs().search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-06-01", end="2019-06-30").head(2)
    order = Espa().order(list(scenes.display_id), products=["l1"])
    assert order.download_all_complete(tmp_path) == []
    assert emu.log.select("download") == []


def test_tarballs_are_indexed_by_the_download_workers_and_open_without_a_new_index(completed, tmp_path):
    from lsru_geo import _gzindex, open_scene

    paths = completed.download_all_complete(tmp_path)
    for path in paths:  # the worker built each read index right after the MD5 check
        assert (tmp_path / (path.name + _gzindex.SIDECAR_SUFFIX)).is_file()
    _gzindex.clear_caches()
    builds = _gzindex.index_builds()
    red = open_scene(paths[0], bands=["red"])["red"]
    assert int(red.notnull().sum()) > 0
    assert _gzindex.index_builds() == builds  # listed and read through the sidecar: nothing inflated to index


def test_unpacked_downloads_build_no_index(completed, tmp_path):
    completed.download_all_complete(tmp_path, unpack=True)
    assert not list(tmp_path.glob("*.lsru-index"))
