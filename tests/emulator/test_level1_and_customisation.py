"""Emulator pieces behind Level-1 downloads, withheld bundles and ESPA customisation, at the wire and unit level."""

from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET

import pytest
import requests
from rasterio.crs import CRS

from lsru_geo.emulator._customise import customisation, target_crs, target_grid
from lsru_geo.emulator._m2m_downloads import bundle_unavailable
from lsru_geo.emulator._mtl import espa_xml, level1_mtl_groups
from lsru_geo.emulator._products import SceneSpec, scene_content, usgs_bundle_members
from lsru_geo.emulator._raster import Grid

MONTPELLIER = {
    "filterType": "mbr",
    "lowerLeft": {"latitude": 43.6, "longitude": 3.8},
    "upperRight": {"latitude": 43.6, "longitude": 3.8},
}
P196R030 = [(2.4, 44.0), (4.7, 43.6), (4.2, 41.9), (1.9, 42.3)]


def call(api, endpoint, key, body):
    return requests.post(api + endpoint, headers={"X-Auth-Token": key}, data=json.dumps(body)).json()


def _first_scene(api, key, dataset, start, end):
    body = {
        "datasetName": dataset,
        "sceneFilter": {"spatialFilter": MONTPELLIER, "acquisitionFilter": {"start": start, "end": end}},
    }
    return call(api, "scene-search", key, body)["data"]["results"][0]


def _download_options(api, key, dataset, scene):
    body = {"datasetName": dataset, "entityIds": [scene["entityId"]], "includeSecondaryFileGroups": True}
    return call(api, "download-options", key, body)["data"]


def test_level1_download_options_follow_the_docs_sample(api, key, emu, monkeypatch):
    monkeypatch.setattr(emu.options, "bundle_unavailable_share", 0.0)
    scene = _first_scene(api, key, "landsat_ot_c2_l1", "2019-06-01", "2019-06-30")
    options = _download_options(api, key, "landsat_ot_c2_l1", scene)
    by_name = {}
    for o in options:
        by_name.setdefault(o["productName"], []).append(o)
    bundles = by_name["Landsat Collection 2 Level-1 Product Bundle"]
    assert [b["available"] for b in bundles] == [True, False] and bundles[0]["filesize"] > 0
    assert {b["productCode"] for b in bundles} == {"D687"}
    (folder,) = by_name["Landsat Collection 2 Level-1 Band File"]
    # the docs sample: id 73ceb05468b7e8c2, "C2L1 Tile Product Files", downloadSystem folder
    assert (folder["id"], folder["downloadName"], folder["downloadSystem"]) == (
        "73ceb05468b7e8c2",
        "C2L1 Tile Product Files",
        "folder",
    )
    files = {s["downloadName"]: s for s in folder["secondaryDownloads"]}
    pid = scene["displayId"]
    assert {f"B{n}.TIF" for n in range(1, 12)} | {"QA_PIXEL.TIF", "QA_RADSAT.TIF", "ANG.txt", "MTL.txt"} <= set(files)
    ang = files["ANG.txt"]
    assert ang["entityId"] == f"L1_{pid}_ANG_TXT" and ang["datasetId"] == "5e81ff5f86d11d08"
    assert ang["fileGroups"] == ["ls_c2l1_all"] and ang["productCode"] == "D687" and ang["available"]


def test_withheld_bundles_are_a_stable_share_of_scenes():
    ids = [f"LC08_L2SP_{p:03d}030_2019{m:02d}15_20190920_02_T1" for p in range(1, 234) for m in range(1, 13)]
    withheld = [i for i in ids if bundle_unavailable(i, 0.05)]
    assert 0.03 < len(withheld) / len(ids) < 0.07
    assert withheld == [i for i in ids if bundle_unavailable(i, 0.05)]  # a pure function of the id
    assert not any(bundle_unavailable(i, 0.0) for i in ids) and all(bundle_unavailable(i, 1.0) for i in ids)


def test_withheld_bundles_keep_their_files(api, key, emu, monkeypatch):
    monkeypatch.setattr(emu.options, "bundle_unavailable_share", 1.0)
    scene = _first_scene(api, key, "landsat_etm_c2_l2", "2001-06-01", "2001-06-30")
    options = _download_options(api, key, "landsat_etm_c2_l2", scene)
    assert not any(o["available"] for o in options if o["productName"].endswith("Product Bundle"))
    files = [s for o in options for s in o["secondaryDownloads"]]
    assert files and all(s["available"] for s in files)


# -- Level-1 products ------------------------------------------------------------------------------------------

L1 = SceneSpec(
    "LE07_L1TP_196030_20010610_20200919_02_T1",
    P196R030,
    dt.datetime(2001, 6, 10, 10, 20),
    12.0,
    "LE71960302001161EDC00",
)


def test_level1_bundle_members_and_mtl():
    assert usgs_bundle_members(L1)[:9] == [
        f"B{b}.TIF" for b in ("1", "2", "3", "4", "5", "6_VCID_1", "6_VCID_2", "7", "8")
    ]
    assert {"QA_PIXEL.TIF", "QA_RADSAT.TIF", "ANG.txt", "MTL.txt", "MTL.xml", "MTL.json"} <= set(
        usgs_bundle_members(L1)
    )
    groups = dict(level1_mtl_groups(scene_content(L1, 64), L1.entity_id))
    contents = dict(groups["PRODUCT_CONTENTS"])
    assert contents["PROCESSING_LEVEL"] == "L1TP" and contents["FILE_NAME_BAND_6_VCID_2"].endswith("_B6_VCID_2.TIF")
    rescaling = dict(groups["LEVEL1_RADIOMETRIC_RESCALING"])
    # Chander et al. (2009) ETM+ band 1 low gain: LMIN -6.2, LMAX 293.7, QCAL 1-255
    assert float(rescaling["RADIANCE_MULT_BAND_1"]) == pytest.approx((293.7 + 6.2) / 254, rel=1e-3)
    assert "REFLECTANCE_MULT_BAND_6_VCID_1" not in rescaling and "REFLECTANCE_MULT_BAND_8" in rescaling
    thermal = dict(groups["LEVEL1_THERMAL_CONSTANTS"])
    assert float(thermal["K1_CONSTANT_BAND_6_VCID_1"]) == pytest.approx(666.09)
    assert float(dict(groups["IMAGE_ATTRIBUTES"])["SUN_ELEVATION"]) > 30  # a June morning in southern France
    assert re.fullmatch(r"\d+\.\d{2}", dict(groups["PROJECTION_ATTRIBUTES"])["GRID_CELL_SIZE_PANCHROMATIC"])


# -- customisation ---------------------------------------------------------------------------------------------


def test_projection_blocks_give_the_documented_crs():
    assert target_crs({"utm": {"zone": 33, "zone_ns": "south"}})[1] == CRS.from_epsg(32733)
    assert target_crs({"lonlat": None})[1] == CRS.from_epsg(4326)
    ps = target_crs(
        {"ps": {"longitudinal_pole": 0, "latitude_true_scale": -71, "false_easting": 0, "false_northing": 0}}
    )
    assert ps[1].to_dict()["lat_0"] == -90 and ps[1].to_dict()["lat_ts"] == -71
    sinu = target_crs({"sinu": {"central_meridian": 0, "false_easting": 0, "false_northing": 0}})[1].to_dict()
    assert sinu["proj"] == "sinu" and sinu["R"] == pytest.approx(6371007.181)


def test_resampling_alone_changes_nothing_and_resize_alone_keeps_the_utm_grid():
    assert customisation({"resampling_method": "cc", "format": "gtiff"}) is None
    grid = Grid(32631, 31, 900.0, 500_400.0, 4_900_500.0, 200, 210)
    target = target_grid({"resize": {"pixel_size": 600, "pixel_size_units": "meters"}}, grid)
    assert target.crs == CRS.from_epsg(32631) and target.res == 600
    # the native bounds snapped outwards to multiples of the new pixel size
    assert target.bounds == pytest.approx((500_400.0, 4_711_200.0, 680_400.0, 4_900_800.0))


def test_espa_xml_of_a_southern_utm_grid_writes_a_negative_zone():
    content = scene_content(SceneSpec("LC08_L2SP_196030_20190615_20190620_02_T1", P196R030,
                                      dt.datetime(2019, 6, 15, 10, 20), 5.0, "LC81960302019166LGN00"), 64)  # fmt: skip
    target = target_grid({"projection": {"utm": {"zone": 31, "zone_ns": "south"}}}, content.grid)
    root = ET.fromstring(espa_xml(content, ["SR_B4", "QA_PIXEL"], dt.datetime(2020, 1, 1), target))
    ns = {"e": "http://espa.cr.usgs.gov/v2"}
    assert root.find("e:global_metadata/e:projection_information/e:utm_proj_params/e:zone_code", ns).text == "-31"
    band = root.find("e:bands/e:band[@name='sr_b4']", ns)
    assert (int(band.get("nlines")), int(band.get("nsamps"))) == (target.height, target.width)


def test_lonlat_products_across_the_antimeridian_run_past_180():
    import numpy as np

    from lsru_geo.emulator._customise import warp
    from lsru_geo.emulator._raster import BANDS, scene_grid

    fiji = scene_grid([(178.5, -16.5), (180.6, -16.9), (180.2, -18.6), (178.1, -18.2)], 128)
    target = target_grid({"projection": {"lonlat": None}}, fiji)
    left, bottom, right, top = target.bounds
    assert 177.9 < left < 178.2 and 180.5 < right < 180.8 and -18.8 < bottom < top < -16.3
    filled = warp(np.full((fiji.height, fiji.width), 5000, np.uint16), fiji, BANDS["SR_B4"], target)
    assert (filled == 5000).mean() > 0.9 and filled[:, -3:].max() == 5000  # data east of 180 too
