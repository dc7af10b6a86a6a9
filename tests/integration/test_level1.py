"""Level-1 end to end against the emulator: search, metadata, bundle and file downloads, and the bundle fallback."""

from __future__ import annotations

import math
import re
import tarfile

import numpy as np
import pytest
import rasterio

from lsru_geo import DownloadError, open_scene
from lsru_geo.exceptions import BundleUnavailableWarning

MONTPELLIER = (3.5, 43.4, 4.0, 44.0)
OLI_FILES = [f"B{n}.TIF" for n in range(1, 12)] + ["QA_PIXEL.TIF", "QA_RADSAT.TIF", "ANG.txt", "MTL.txt"]
CASES = {  # dataset, dates, files every bundle of it holds
    "landsat_ot_c2_l1": (("2019-06-01", "2019-06-30"), OLI_FILES),
    "landsat_etm_c2_l1": (
        ("2001-06-01", "2001-06-30"),
        [f"B{b}.TIF" for b in ("1", "2", "3", "4", "5", "6_VCID_1", "6_VCID_2", "7", "8")] + ["QA_PIXEL.TIF"],
    ),
    "landsat_tm_c2_l1": (("1995-06-01", "1995-06-30"), [f"B{n}.TIF" for n in range(1, 8)] + ["QA_RADSAT.TIF"]),
}


@pytest.fixture
def quick(emu, monkeypatch):
    monkeypatch.setattr(emu.options, "m2m_prepare_seconds", 0.2)
    monkeypatch.setattr(emu.options, "bundle_unavailable_share", 0.0)  # tests below choose when bundles are withheld
    return emu


def _mtl(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\s+(\w+) = \"?([^\"\n]*)\"?$", text, flags=re.M))


def _groups(text: str) -> list[str]:
    return re.findall(r"^  GROUP = (\w+)$", text, flags=re.M)


@pytest.mark.parametrize("dataset", sorted(CASES))
def test_search_and_bundle_download(usgs, quick, tmp_path, dataset):
    (begin, end), files = CASES[dataset]
    scenes = usgs.search(dataset, bbox=MONTPELLIER, begin=begin, end=end)
    assert (
        len(scenes) and scenes.display_id.str.match(r"^L[CET]0\d_L1(TP|GT|GS)_\d{6}_\d{8}_\d{8}_02_(T1|T2|RT)$").all()
    )
    record = usgs.scene_metadata(scenes.display_id.iloc[0], dataset)
    assert record["displayId"] == scenes.display_id.iloc[0] and record["entityId"] == scenes.entity_id.iloc[0]

    (bundle,) = usgs.download(scenes.head(1), tmp_path, poll=0.05, timeout=20)
    pid = scenes.display_id.iloc[0]
    assert bundle.name == f"{pid}.tar"
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "x", filter="data")
    assert {f"{pid}_{f}" for f in files} <= set(names)
    mtl_text = (tmp_path / "x" / f"{pid}_MTL.txt").read_text()
    assert _groups(mtl_text)[:3] == ["PRODUCT_CONTENTS", "IMAGE_ATTRIBUTES", "PROJECTION_ATTRIBUTES"]
    assert {"LEVEL1_RADIOMETRIC_RESCALING", "LEVEL1_THERMAL_CONSTANTS"} <= set(_groups(mtl_text))
    mtl = _mtl(mtl_text)
    assert mtl["PROCESSING_LEVEL"] == pid[5:9] and mtl["FILE_NAME_BAND_1"] == f"{pid}_B1.TIF"


def _toa(folder, pid, band, mtl):
    with rasterio.open(folder / f"{pid}_B{band}.TIF") as raster:
        dn = raster.read(1).astype(float)
    elevation = math.radians(float(mtl["SUN_ELEVATION"]))
    mult, add = float(mtl[f"REFLECTANCE_MULT_BAND_{band}"]), float(mtl[f"REFLECTANCE_ADD_BAND_{band}"])
    return dn, (mult * dn + add) / math.sin(elevation)


def test_level1_pixels_calibrate_to_plausible_toa_values(usgs, quick, tmp_path):
    scenes = usgs.search("landsat_ot_c2_l1", bbox=MONTPELLIER, begin="2019-06-01", end="2019-06-30", max_cloud_cover=20)
    (bundle,) = usgs.download(scenes.head(1), tmp_path, poll=0.05, timeout=20)
    pid = scenes.display_id.iloc[0]
    with tarfile.open(bundle) as tar:
        tar.extractall(tmp_path, filter="data")
    mtl = _mtl((tmp_path / f"{pid}_MTL.txt").read_text())
    # real OLI Level-1 rescaling (Landsat 8-9 Data Users Handbook; every C2 L1 MTL)
    assert float(mtl["REFLECTANCE_MULT_BAND_4"]) == pytest.approx(2.0e-05)
    assert float(mtl["REFLECTANCE_ADD_BAND_4"]) == pytest.approx(-0.1)
    assert float(mtl["K1_CONSTANT_BAND_10"]) == pytest.approx(774.8853 if pid.startswith("LC08") else 799.0284)
    dn_red, red = _toa(tmp_path, pid, 4, mtl)
    _, nir = _toa(tmp_path, pid, 5, mtl)
    inside = dn_red > 0
    with rasterio.open(tmp_path / f"{pid}_QA_PIXEL.TIF") as qa:
        qa_pixel = qa.read(1)
    assert ((qa_pixel == 1) == ~inside).all()  # DN 0 is fill, exactly where QA_PIXEL says fill
    clear_land = inside & ((qa_pixel & (1 << 6)) > 0) & ((qa_pixel & (1 << 7)) == 0)
    assert 0.02 < np.median(red[clear_land]) < 0.3 and 0.1 < np.median(nir[clear_land]) < 0.6
    assert np.median(nir[clear_land]) > np.median(red[clear_land])  # land is brighter in the NIR
    with rasterio.open(tmp_path / f"{pid}_B10.TIF") as thermal:
        dn = thermal.read(1).astype(float)
    radiance = float(mtl["RADIANCE_MULT_BAND_10"]) * dn[inside] + float(mtl["RADIANCE_ADD_BAND_10"])
    kelvin = float(mtl["K2_CONSTANT_BAND_10"]) / np.log(float(mtl["K1_CONSTANT_BAND_10"]) / radiance + 1)
    assert 270 < np.median(kelvin) < 320  # a June day in southern France
    with rasterio.open(tmp_path / f"{pid}_B8.TIF") as pan, rasterio.open(tmp_path / f"{pid}_B4.TIF") as red_band:
        assert pan.res[0] == red_band.res[0] / 2 and pan.bounds == red_band.bounds  # 15 m pan next to 30 m bands


def test_level1_band_files(usgs, quick, tmp_path):
    scenes = usgs.search("landsat_ot_c2_l1", bbox=MONTPELLIER, begin="2019-06-01", end="2019-06-30")
    paths = usgs.download(scenes.head(1), tmp_path, bands=["B4", "QA_PIXEL"], poll=0.05)
    pid = scenes.display_id.iloc[0]
    assert sorted(p.name for p in paths) == sorted(
        f"{pid}_{s}" for s in ("B4.TIF", "QA_PIXEL.TIF", "MTL.txt", "MTL.json")
    )
    assert {p.parent for p in paths} == {tmp_path / pid}


def test_unavailable_bundles_fall_back_to_every_file(usgs, quick, tmp_path, monkeypatch):
    monkeypatch.setattr(quick.options, "bundle_unavailable_share", 1.0)
    scenes = usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-06-01", end="2019-06-30").head(2)
    with pytest.warns(BundleUnavailableWarning, match="2 scene") as caught:
        paths = usgs.download(scenes, tmp_path, poll=0.05, timeout=20)
    assert len([w for w in caught if issubclass(w.category, BundleUnavailableWarning)]) == 1  # said once
    for pid in scenes.display_id:
        got = sorted(p.name for p in paths if p.parent == tmp_path / pid)
        expected = [f"{pid}_{s}.TIF" for s in ("SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7")]
        expected += [f"{pid}_{s}" for s in ("ST_B10.TIF", "QA_PIXEL.TIF", "QA_RADSAT.TIF", "ANG.txt", "MTL.txt")]
        assert set(expected) <= set(got) and f"{pid}_MTL.json" in got
    assert not list(tmp_path.glob("*.tar"))
    # requesting the unavailable bundle would have failed the download (see the test below)
    ds = open_scene(tmp_path / scenes.display_id.iloc[0], bands=["red", "qa_pixel"])
    assert ds["red"].shape == ds["qa_pixel"].shape


def test_a_mix_of_bundles_and_unavailable_bundles(usgs, quick, tmp_path, monkeypatch):
    from lsru_geo.emulator._m2m_downloads import bundle_unavailable

    monkeypatch.setattr(quick.options, "bundle_unavailable_share", 0.5)
    scenes = usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-01-01", end="2019-12-31")
    withheld = [bundle_unavailable(pid, 0.5) for pid in scenes.display_id]
    first_withheld, first_bundled = withheld.index(True), withheld.index(False)
    pick = scenes.iloc[[first_withheld, first_bundled]]
    with pytest.warns(BundleUnavailableWarning, match="1 scene"):
        paths = usgs.download(pick, tmp_path, poll=0.05, timeout=20)
    bundled, unbundled = pick.display_id.iloc[1], pick.display_id.iloc[0]
    assert tmp_path / f"{bundled}.tar" in paths
    assert tmp_path / unbundled / f"{unbundled}_QA_PIXEL.TIF" in paths


def test_the_unavailable_bundle_itself_cannot_be_requested(usgs, quick, monkeypatch):
    monkeypatch.setattr(quick.options, "bundle_unavailable_share", 1.0)
    scenes = usgs.search("landsat_ot_c2_l1", bbox=MONTPELLIER, begin="2019-06-01", end="2019-06-30").head(1)
    options = usgs.request("download-options", {"datasetName": "landsat_ot_c2_l1", "entityIds": list(scenes.entity_id)})
    bundles = [o for o in options if o["productName"] == "Landsat Collection 2 Level-1 Product Bundle"]
    assert bundles and not any(o["available"] for o in bundles)
    folder = next(o for o in options if o["downloadSystem"] == "folder")
    assert folder["available"] and folder["productName"] == "Landsat Collection 2 Level-1 Band File"
    answer = usgs.request(
        "download-request", {"downloads": [{"entityId": scenes.entity_id.iloc[0], "productId": bundles[0]["id"]}]}
    )
    assert answer["failed"][0]["errorMessage"] == "Product not available" and not answer["availableDownloads"]


def test_scenes_without_any_file_still_fail_clearly(usgs, quick, tmp_path):
    scenes = usgs.search("landsat_mss_c2_l1", bbox=MONTPELLIER, begin="1990-06-01", end="1990-07-30").head(1)
    assert len(scenes)
    with pytest.raises(DownloadError, match="offers no"), pytest.warns(BundleUnavailableWarning):
        usgs.download(scenes, tmp_path, poll=0.05)


def test_open_scene_reads_a_level1_bundle(usgs, quick, tmp_path):
    scenes = usgs.search("landsat_ot_c2_l1", bbox=MONTPELLIER, begin="2019-06-01", end="2019-06-30")
    (bundle,) = usgs.download(scenes.head(1), tmp_path, poll=0.05, timeout=20)
    ds = open_scene(bundle, bands=["red", "nir08"])
    with tarfile.open(bundle) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    pid = scenes.display_id.iloc[0]
    mtl = _mtl((tmp_path / "x" / f"{pid}_MTL.txt").read_text())
    dn, toa = _toa(tmp_path / "x", pid, 4, mtl)
    values = ds["red"].values
    assert np.isnan(values[dn == 0]).all()
    np.testing.assert_allclose(values[dn > 0], toa[dn > 0], rtol=1e-4)  # TOA reflectance, sun-corrected


def test_accessor_points_at_the_files_of_an_unbundled_scene(usgs, quick, tmp_path, monkeypatch):
    import warnings

    monkeypatch.setattr(quick.options, "bundle_unavailable_share", 1.0)
    scenes = usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-06-01", end="2019-06-30").head(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BundleUnavailableWarning)
        located = scenes.lsru.download(tmp_path, usgs=usgs, poll=0.05, timeout=20)
    assert located.local_path.iloc[0] == str(tmp_path / scenes.display_id.iloc[0])
    assert located.lsru.open(bands=["red"])["red"].notnull().any()
