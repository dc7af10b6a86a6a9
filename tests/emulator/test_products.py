"""The emulator's product generator writes real, self-consistent Collection 2 Level-2 files.

Every test opens the generated files (tarfile, rasterio, json, ElementTree) and checks values against the
rules in ``espa-api.md`` sections 4-5 and against what the generator says it drew (``scene_content``).
Sizes are small (~120-250 px per side) so the module runs in a few seconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio

from lsru_geo.emulator import _products
from lsru_geo.emulator._products import (
    SceneSpec,
    build_espa_tarball,
    build_usgs_band_file,
    build_usgs_bundle,
    espa_member_names,
    espa_product_name,
    md5_of,
    scene_content,
    usgs_bundle_members,
)
from lsru_geo.emulator._raster import pixel_size, scene_grid, solar_position

SIZE = 128  # 1,800 m pixels: ~125 x 115 px scenes
PROCESSED = dt.datetime(2023, 12, 26, 22, 17, 22, tzinfo=dt.timezone.utc)
# real WRS-2 cells (corners UL, UR, LR, LL from the shipped grid)
P033R032 = [(-105.103, 41.2409), (-102.944, 40.9267), (-103.445, 39.4284), (-105.558, 39.7359)]
P010R065 = [(-80.7102, -6.35094), (-79.0551, -6.59137), (-79.3787, -8.11298), (-81.0393, -7.87176)]

L8 = SceneSpec(
    "LC08_L2SP_033032_20230517_20230524_02_T1",
    P033R032,
    dt.datetime(2023, 5, 17, 17, 40, 12, 345678),
    23.0,
    "LC80330322023137LGN00",
)
L8_LATER = SceneSpec(
    "LC08_L2SP_033032_20230602_20230607_02_T1",
    P033R032,
    dt.datetime(2023, 6, 2, 17, 40, 20),
    41.0,
    "LC80330322023153LGN00",
)
L8_SR = SceneSpec(
    "LC08_L2SR_033032_20230517_20230524_02_T2",
    P033R032,
    dt.datetime(2023, 5, 17, 17, 40, 12),
    12.0,
    "LC80330322023137LGN00",
)
L7 = SceneSpec(
    "LE07_L2SP_033032_20100509_20200910_02_T1",
    P033R032,
    dt.datetime(2010, 5, 9, 17, 25, 3),
    30.0,
    "LE70330322010129EDC00",
)
L5 = SceneSpec(
    "LT05_L2SP_033032_20100517_20200823_02_T1",
    P033R032,
    dt.datetime(2010, 5, 17, 17, 20, 44),
    15.0,
    "LT50330322010137PAC01",
)
L9_SOUTH = SceneSpec(
    "LC09_L2SP_010065_20220129_20220131_02_T1",
    P010R065,
    dt.datetime(2022, 1, 29, 15, 28, 34, 396429),
    21.12,
    "LC90100652022029LGN00",
)

L8_L1_SUFFIXES = {
    *(f"SR_B{n}" for n in range(1, 8)),
    "ST_B10",
    "ST_QA",
    "ST_TRAD",
    "ST_URAD",
    "ST_DRAD",
    "ST_ATRAN",
    "ST_EMIS",
    "ST_EMSD",
    "ST_CDIST",
    "QA_PIXEL",
    "QA_RADSAT",
    "SR_QA_AEROSOL",
}
#: (dtype, nodata, scale, offset) per band, espa-api.md 5.1
STORAGE = {
    "SR_B4": ("uint16", 0, 2.75e-05, -0.2),
    "ST_B10": ("uint16", 0, 0.00341802, 149.0),
    "ST_B6": ("uint16", 0, 0.00341802, 149.0),
    "ST_QA": ("int16", -9999, 0.01, 0.0),
    "ST_TRAD": ("int16", -9999, 0.001, 0.0),
    "ST_ATRAN": ("int16", -9999, 0.0001, 0.0),
    "ST_CDIST": ("int16", -9999, 0.01, 0.0),
    "ST_EMIS": ("int16", -9999, 0.0001, 0.0),
    "QA_PIXEL": ("uint16", 1, None, None),
    "QA_RADSAT": ("uint16", None, None, None),
    "SR_QA_AEROSOL": ("uint8", 1, None, None),
    "SR_CLOUD_QA": ("uint8", None, None, None),
    "SR_ATMOS_OPACITY": ("int16", -9999, 0.001, 0.0),
    "SR_NDVI": ("int16", -9999, 0.0001, 0.0),
    "ETF": ("int16", -9999, 0.0001, 0.0),
}


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.extractfile(name)
    assert member is not None, name
    return member.read()


def _raster(tar: tarfile.TarFile, name: str) -> tuple[np.ndarray, dict]:
    with rasterio.MemoryFile(_read(tar, name)) as mem, mem.open() as ds:
        meta = {
            "dtype": ds.dtypes[0],
            "nodata": ds.nodata,
            "crs": ds.crs,
            "transform": ds.transform,
            "scale": ds.scales[0],
            "offset": ds.offsets[0],
            "shape": (ds.height, ds.width),
        }
        return ds.read(1), meta


def _odl(text: str) -> dict[str, dict[str, str]]:
    """``{group: {KEY: value}}`` of an MTL.txt (quotes removed), checking that groups nest and close."""
    out: dict[str, dict[str, str]] = {}
    stack: list[str] = []
    for line in text.splitlines():
        key, _, value = line.strip().partition(" = ")
        if key == "GROUP":
            stack.append(value)
            if len(stack) == 2:
                out[value] = {}
        elif key == "END_GROUP":
            assert stack.pop() == value
        else:
            assert len(stack) == 2, line
            out[stack[-1]][key] = value.strip('"')
    assert not stack
    return out


@pytest.fixture(scope="module")
def espa_l8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_espa_tarball(
        L8, ["l1", "sr_ndvi", "et"], tmp_path_factory.mktemp("espa"), size=SIZE, processed=PROCESSED
    )


@pytest.fixture(scope="module")
def espa_l8_rasters(espa_l8: Path) -> dict[str, tuple[np.ndarray, dict]]:
    with tarfile.open(espa_l8, "r:gz") as tar:
        return {n[41:-4]: _raster(tar, n) for n in tar.getnames() if n.endswith(".tif")}


@pytest.fixture(scope="module")
def usgs_l8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_usgs_bundle(L8, tmp_path_factory.mktemp("usgs"), size=SIZE)


# -- names, checksums, packaging ---------------------------------------------------------------------------


def test_espa_product_name_follows_the_documented_pattern() -> None:
    assert espa_product_name(L8, PROCESSED) == "LC080330322023051702T1-SC20231226221722"
    assert espa_product_name(L7, dt.datetime(2021, 1, 2, 3, 4, 5)) == "LE070330322010050902T1-SC20210102030405"


def test_espa_tarball_is_a_flat_gzip_tar_with_lower_case_tif(espa_l8: Path) -> None:
    pid = L8.product_id
    assert espa_l8.name == "LC080330322023051702T1-SC20231226221722.tar.gz"
    assert espa_l8.read_bytes()[:2] == b"\x1f\x8b"
    with tarfile.open(espa_l8, "r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    expected = {f"{pid}_{s}.tif" for s in L8_L1_SUFFIXES | {"SR_NDVI", "ETA", "ETF", "ETUN"}}
    expected |= {f"{pid}_MTL.txt", f"{pid}_MTL.xml", f"{pid}_ANG.txt", f"{pid}.xml"}
    assert set(names) == expected and len(names) == len(expected)
    assert not any("/" in n or n.endswith(".TIF") for n in names)
    assert all(m.isfile() and m.mode == 0o644 and m.uid == 0 and m.gid == 0 for m in members)
    assert {m.mtime for m in members} == {int(PROCESSED.timestamp())}


def test_md5_file_is_exactly_hash_space_name_without_newline(espa_l8: Path) -> None:
    md5_path = espa_l8.with_name(espa_l8.name.replace(".tar.gz", ".md5"))
    text = md5_path.read_bytes().decode()
    assert re.fullmatch(r"[0-9a-f]{32} LC080330322023051702T1-SC20231226221722\.tar\.gz", text)
    assert text.split()[0] == md5_of(espa_l8) == hashlib.md5(espa_l8.read_bytes()).hexdigest()


def test_same_inputs_give_the_same_bytes_and_a_second_call_uses_the_cache(tmp_path: Path, espa_l8: Path) -> None:
    again = build_espa_tarball(L8, ["et", "sr_ndvi", "l1"], tmp_path, size=SIZE, processed=PROCESSED)
    assert md5_of(again) == md5_of(espa_l8)
    stamp = again.stat().st_mtime_ns
    assert build_espa_tarball(L8, ["l1", "sr_ndvi", "et"], tmp_path, size=SIZE, processed=PROCESSED) == again
    assert again.stat().st_mtime_ns == stamp
    # another size under the same name is rebuilt, not served stale
    bigger = build_espa_tarball(L8, ["l1", "sr_ndvi", "et"], tmp_path, size=2 * SIZE, processed=PROCESSED)
    assert bigger == again and md5_of(bigger) != md5_of(espa_l8)


def test_index_only_order_still_has_qa_mtl_ang_and_espa_xml(tmp_path: Path) -> None:
    pid = L8.product_id
    path = build_espa_tarball(L8, ["sr_ndvi"], tmp_path, size=SIZE, processed=PROCESSED)
    with tarfile.open(path) as tar:
        names = set(tar.getnames())
    assert names == {
        f"{pid}_QA_PIXEL.tif",
        f"{pid}_QA_RADSAT.tif",
        f"{pid}_SR_NDVI.tif",
        f"{pid}_MTL.txt",
        f"{pid}_MTL.xml",
        f"{pid}_ANG.txt",
        f"{pid}.xml",
    }


def test_l2sr_products_have_no_surface_temperature(tmp_path: Path) -> None:
    espa = build_espa_tarball(L8_SR, ["l1"], tmp_path, size=SIZE, processed=PROCESSED)
    with tarfile.open(espa) as tar:
        names = tar.getnames()
        mtl = _read(tar, f"{L8_SR.product_id}_MTL.txt").decode()
    assert not [n for n in names if "_ST_" in n]
    assert f"{L8_SR.product_id}_SR_B7.tif" in names and f"{L8_SR.product_id}_SR_QA_AEROSOL.tif" in names
    assert "LEVEL2_SURFACE_TEMPERATURE_PARAMETERS" not in mtl and "THERMAL_LINES" not in mtl
    assert not [m for m in usgs_bundle_members(L8_SR) if m.startswith("ST_")]
    with pytest.raises(ValueError, match="et needs surface temperature"):
        build_espa_tarball(L8_SR, ["et"], tmp_path, size=SIZE)
    with pytest.raises(ValueError, match="has no file"):
        build_usgs_band_file(L8_SR, "ST_B10.TIF", tmp_path, size=SIZE)


def test_bad_orders_and_specs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown ESPA product"):
        espa_member_names(L8, ["l1", "toa"])
    with pytest.raises(ValueError, match="at least one"):
        espa_member_names(L8, [])
    with pytest.raises(ValueError, match="not a Collection 2 Level-1 or Level-2"):
        SceneSpec("LM05_L1TP_033032_20230517_20230524_02_T1", P033R032, L8.acquired, 1.0, L8.entity_id)
    level1 = SceneSpec("LC08_L1TP_033032_20230517_20230524_02_T1", P033R032, L8.acquired, 1.0, L8.entity_id)
    with pytest.raises(ValueError, match="Level-2 inputs only"):
        espa_member_names(level1, ["l1"])
    with pytest.raises(ValueError, match="not the date"):
        SceneSpec(L8.product_id, P033R032, dt.datetime(2023, 5, 18, 1), 1.0, L8.entity_id)
    with pytest.raises(ValueError, match="4 finite"):
        SceneSpec(L8.product_id, P033R032[:3], L8.acquired, 1.0, L8.entity_id)
    assert espa_member_names(L8, ["stats", "sr_ndvi"]) == espa_member_names(L8, ["sr_ndvi"])


# -- rasters: storage, grid, fill ------------------------------------------------------------------------


def test_rasters_have_the_real_dtypes_fills_and_scales(espa_l8_rasters: dict) -> None:
    for suffix, (dtype, nodata, scale, offset) in STORAGE.items():
        if suffix not in espa_l8_rasters:
            continue
        _, meta = espa_l8_rasters[suffix]
        assert (meta["dtype"], meta["nodata"]) == (dtype, nodata), suffix
        if scale is not None:
            assert meta["scale"] == pytest.approx(scale) and meta["offset"] == pytest.approx(offset), suffix
    for suffix in L8_L1_SUFFIXES - set(STORAGE):
        assert (
            espa_l8_rasters[suffix][1]["dtype"]
            == STORAGE.get(suffix, ("uint16" if suffix.startswith("SR_B") else "int16",))[0]
        ), suffix


def test_rasters_are_on_the_utm_30m_grid_of_the_scene(espa_l8_rasters: dict) -> None:
    transforms = {meta["transform"] for _, meta in espa_l8_rasters.values()}
    shapes = {meta["shape"] for _, meta in espa_l8_rasters.values()}
    assert len(transforms) == 1 and len(shapes) == 1
    (t,) = transforms
    assert {meta["crs"].to_epsg() for _, meta in espa_l8_rasters.values()} == {32613}  # -104.3 deg: zone 13
    assert t.b == t.d == 0 and t.a == -t.e and t.a % 30 == 0 and t.a == pixel_size(SIZE) == 1800
    assert t.c % t.a == 0 and t.f % t.a == 0  # pixel edges on multiples of the pixel size
    h, w = next(iter(shapes))
    assert 100 <= h <= 140 and 100 <= w <= 140


def test_fill_outside_the_footprint(espa_l8_rasters: dict) -> None:
    qa = espa_l8_rasters["QA_PIXEL"][0]
    corners = (0, 0), (0, -1), (-1, 0), (-1, -1)  # the footprint is rotated: the box corners are outside
    for r, c in corners:
        assert qa[r, c] == 1
        assert espa_l8_rasters["SR_B4"][0][r, c] == 0 and espa_l8_rasters["ST_B10"][0][r, c] == 0
        assert espa_l8_rasters["ST_TRAD"][0][r, c] == -9999 and espa_l8_rasters["SR_NDVI"][0][r, c] == -9999
        assert espa_l8_rasters["SR_QA_AEROSOL"][0][r, c] == 1
    inside = qa != 1
    assert 0.55 < inside.mean() < 0.9
    assert (espa_l8_rasters["SR_B4"][0][inside] > 0).all() and (espa_l8_rasters["SR_B4"][0][~inside] == 0).all()


def test_southern_scene_uses_the_northern_zone_with_negative_northings() -> None:
    grid = scene_grid(L9_SOUTH.corners, SIZE)
    assert grid.epsg == 32617 and grid.top < 0
    full = scene_grid(L9_SOUTH.corners, 7600)
    assert full.res == 30 and 6000 < full.width < 8500 and 6000 < full.height < 8500


def test_scenes_of_one_zone_share_one_grid() -> None:
    here = scene_grid(P033R032, 256)
    east = [(lon + 1.6, lat) for lon, lat in P033R032]  # the next path, still zone 13
    there = scene_grid(east, 256)
    assert here.epsg == there.epsg and here.res == there.res == 900
    assert (there.left - here.left) % here.res == 0 and (there.top - here.top) % here.res == 0


# -- content and QA ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "clear_land", "clear_water", "cloud"),
    [(L8, 21824, 21952, 22280), (L7, 5440, 5504, 5896), (L5, 5440, 5504, 5896)],
)
def test_qa_pixel_values_match_what_was_drawn(
    tmp_path: Path, spec: SceneSpec, clear_land: int, clear_water: int, cloud: int
) -> None:
    path = build_espa_tarball(spec, ["l1"], tmp_path, size=SIZE, processed=PROCESSED)
    with tarfile.open(path) as tar:
        qa, _ = _raster(tar, f"{spec.product_id}_QA_PIXEL.tif")
    content = scene_content(spec, SIZE)
    fp = content.footprint
    obscured = content.cloud | content.dilated | content.shadow | content.snow
    land = fp & ~content.water & ~obscured
    water = fp & content.water & ~obscured
    assert land.sum() > 100 and water.sum() > 5 and content.cloud.sum() > 100
    assert (qa[land] == clear_land).all()
    assert (qa[water] == clear_water).all()
    assert (qa[content.cloud] == cloud).all()
    assert (qa[~fp] == 1).all()
    assert ((qa[content.dilated] & 2) > 0).all() and ((qa[content.shadow] & 16) > 0).all()
    assert ((qa[fp] & 8) > 0).mean() == pytest.approx(spec.cloud_cover / 100, abs=0.02)


@pytest.mark.parametrize("cloud_cover", [0.0, 4.0, 37.5, 80.0, 100.0])
def test_cloud_fraction_inside_the_footprint_follows_cloud_cover(cloud_cover: float) -> None:
    spec = SceneSpec(L8.product_id, P033R032, L8.acquired, cloud_cover, L8.entity_id)
    content = scene_content(spec, 256)
    qa = content.array("QA_PIXEL")
    fraction = ((qa & 8) > 0)[content.footprint].mean()
    assert fraction == pytest.approx(cloud_cover / 100, abs=0.01)


def test_reflectance_and_temperature_make_physical_sense(espa_l8_rasters: dict) -> None:
    content = scene_content(L8, SIZE)
    sr = {n: espa_l8_rasters[f"SR_B{n}"][0] * 2.75e-05 - 0.2 for n in range(1, 8)}
    st = espa_l8_rasters["ST_B10"][0] * 0.00341802 + 149.0
    clear = content.footprint & ~(content.cloud | content.dilated | content.shadow | content.snow)
    veg = clear & ~content.water & (content.veg_fraction > 0.75)
    water = clear & content.water
    land = clear & ~content.water
    assert veg.sum() > 20 and water.sum() > 5
    assert sr[4][veg].mean() < 0.08 and sr[5][veg].mean() > 0.28  # red edge
    assert sr[5][water].mean() < 0.03 and sr[2][water].mean() > sr[5][water].mean()
    cloud = content.cloud
    assert all(sr[n][cloud].mean() > max(0.2, sr[n][land].mean()) for n in range(1, 8))  # bright in every band
    assert all(sr[n][cloud].mean() > 0.35 for n in range(1, 6))
    assert st[cloud].mean() < st[land].mean() - 10  # cold tops
    shadow_land = content.shadow & ~content.water
    assert sr[5][shadow_land].mean() < 0.6 * sr[5][land].mean()
    assert 260 < st[land].mean() < 320


def test_shadows_are_clouds_moved_away_from_the_sun() -> None:
    content = scene_content(L8, 512)
    dr, dc = content.shadow_offset
    assert content.sun_azimuth == pytest.approx(137.5, abs=2) and dr < 0 and dc < 0  # sun SE, shadow NW
    rows, cols = np.nonzero(content.shadow)
    assert rows.size > 100
    assert content.cloud[rows - dr, cols - dc].all()


def test_ndvi_file_is_computed_from_the_sr_files(espa_l8_rasters: dict) -> None:
    red = espa_l8_rasters["SR_B4"][0] * 2.75e-05 - 0.2
    nir = espa_l8_rasters["SR_B5"][0] * 2.75e-05 - 0.2
    ndvi = espa_l8_rasters["SR_NDVI"][0]
    inside = espa_l8_rasters["QA_PIXEL"][0] != 1
    expected = np.rint((nir - red) / (nir + red) * 10000)[inside]
    assert np.abs(ndvi[inside] - expected).max() <= 1
    assert (ndvi[~inside] == -9999).all() and ndvi[inside].min() >= -10000 and ndvi[inside].max() <= 10000


def test_et_is_masked_under_clouds_and_bounded(espa_l8_rasters: dict) -> None:
    content = scene_content(L8, SIZE)
    etf, eta = espa_l8_rasters["ETF"][0], espa_l8_rasters["ETA"][0]
    assert (etf[content.cloud] == -9999).all() and (eta[~content.footprint] == -9999).all()
    valid = etf != -9999
    assert valid.sum() > 1000 and etf[valid].min() >= 0 and etf[valid].max() <= 10500
    assert ((eta[valid] * 0.001) < 15).all()


def test_land_is_tied_to_the_ground_and_clouds_to_the_acquisition() -> None:
    first, later = scene_content(L8, SIZE), scene_content(L8_LATER, SIZE)
    assert first.grid == later.grid
    assert (first.water == later.water).all()
    assert (first.cloud != later.cloud).mean() > 0.2


def test_qa_radsat_and_aerosol_bits(espa_l8_rasters: dict) -> None:
    content = scene_content(L8, SIZE)
    radsat = espa_l8_rasters["QA_RADSAT"][0]
    assert (radsat[~content.cloud] == 0).all() and set(np.unique(radsat)) <= {0, 15}
    aerosol = espa_l8_rasters["SR_QA_AEROSOL"][0]
    clear_water = content.water & ~content.cloud
    assert ((aerosol[clear_water] & 4) > 0).all() and (
        (aerosol[content.footprint & ~content.water & ~content.cloud] & 2) > 0
    ).all()


def test_tm_and_etm_products_have_their_own_band_set(tmp_path: Path) -> None:
    pid = L7.product_id
    with tarfile.open(build_espa_tarball(L7, ["l1"], tmp_path, size=SIZE, processed=PROCESSED)) as tar:
        names = {n[len(pid) + 1 : -4] for n in tar.getnames() if n.endswith(".tif")}
        cloud_qa, meta = _raster(tar, f"{pid}_SR_CLOUD_QA.tif")
    assert {"SR_B1", "SR_B5", "SR_B7", "ST_B6", "SR_CLOUD_QA", "SR_ATMOS_OPACITY"} <= names
    assert not names & {"SR_B6", "ST_B10", "SR_QA_AEROSOL"}
    content = scene_content(L7, SIZE)
    assert meta["dtype"] == "uint8" and ((cloud_qa[content.cloud] & 2) > 0).all()


# -- metadata text ------------------------------------------------------------------------------------------


def test_usgs_bundle_is_a_plain_tar_with_upper_case_tif_and_mtl_json(usgs_l8: Path) -> None:
    pid = L8.product_id
    assert usgs_l8.name == f"{pid}.tar" and usgs_l8.read_bytes()[:2] != b"\x1f\x8b"
    with tarfile.open(usgs_l8, "r:") as tar:
        names = set(tar.getnames())
    assert names == {f"{pid}_{m}" for m in usgs_bundle_members(L8)}
    assert {f"{pid}_{s}.TIF" for s in L8_L1_SUFFIXES} <= names
    assert {f"{pid}_MTL.txt", f"{pid}_MTL.xml", f"{pid}_MTL.json", f"{pid}_ANG.txt"} <= names
    assert not [n for n in names if n.endswith(".tif")]


def test_mtl_txt_xml_and_json_state_the_same_facts(usgs_l8: Path) -> None:
    pid = L8.product_id
    with tarfile.open(usgs_l8) as tar:
        odl = _read(tar, f"{pid}_MTL.txt").decode()
        root = ET.fromstring(_read(tar, f"{pid}_MTL.xml"))
        mtl_json = json.loads(_read(tar, f"{pid}_MTL.json"))
        _, meta = _raster(tar, f"{pid}_SR_B1.TIF")
    assert odl.startswith("GROUP = LANDSAT_METADATA_FILE\n  GROUP = PRODUCT_CONTENTS\n")
    assert odl.endswith("END_GROUP = LANDSAT_METADATA_FILE\n")
    groups = mtl_json["LANDSAT_METADATA_FILE"]
    assert root.tag == "LANDSAT_METADATA_FILE" and [g.tag for g in root] == list(groups)
    for group in root:
        assert {e.tag: e.text for e in group} == groups[group.tag]  # every value a string, same as XML
    assert _odl(odl) == groups
    assert 'LANDSAT_PRODUCT_ID = "' in odl and "COLLECTION_NUMBER = 02\n" in odl  # strings quoted, numbers not
    assert "DATE_ACQUIRED = 2023-05-17\n" in odl and 'SCENE_CENTER_TIME = "17:40:12.3456780Z"' in odl
    contents = groups["PRODUCT_CONTENTS"]
    assert contents["LANDSAT_PRODUCT_ID"] == pid and contents["COLLECTION_NUMBER"] == "02"
    assert contents["FILE_NAME_BAND_4"] == f"{pid}_SR_B4.TIF" and contents["DATA_TYPE_QUALITY_L2_AEROSOL"] == "UINT8"
    assert contents["FILE_NAME_BAND_ST_B10"] == f"{pid}_ST_B10.TIF"
    image = groups["IMAGE_ATTRIBUTES"]
    assert (image["SPACECRAFT_ID"], image["WRS_PATH"], image["WRS_ROW"]) == ("LANDSAT_8", "33", "32")
    assert image["DATE_ACQUIRED"] == "2023-05-17" and image["SCENE_CENTER_TIME"] == "17:40:12.3456780Z"
    assert image["CLOUD_COVER"] == "23.00"
    azimuth, elevation = solar_position(L8.acquired, -104.26, 40.33)
    assert float(image["SUN_AZIMUTH"]) == pytest.approx(azimuth, abs=0.2)
    assert float(image["SUN_ELEVATION"]) == pytest.approx(elevation, abs=0.2)
    projection = groups["PROJECTION_ATTRIBUTES"]
    t = meta["transform"]
    assert projection["UTM_ZONE"] == "13" and float(projection["GRID_CELL_SIZE_REFLECTIVE"]) == t.a
    assert int(projection["REFLECTIVE_LINES"]) == meta["shape"][0]
    assert int(projection["REFLECTIVE_SAMPLES"]) == meta["shape"][1]
    assert float(projection["CORNER_UL_PROJECTION_X_PRODUCT"]) == t.c + t.a / 2  # pixel centres, like USGS
    assert float(projection["CORNER_UL_PROJECTION_Y_PRODUCT"]) == t.f - t.a / 2
    record = groups["LEVEL1_PROCESSING_RECORD"]
    assert record["LANDSAT_SCENE_ID"] == L8.entity_id
    assert record["LANDSAT_PRODUCT_ID"] == "LC08_L1TP_033032_20230517_20230524_02_T1"
    assert groups["LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"]["REFLECTANCE_MULT_BAND_1"] == "2.75e-05"
    assert groups["LEVEL2_SURFACE_TEMPERATURE_PARAMETERS"]["TEMPERATURE_ADD_BAND_ST_B10"] == "149.0"


def test_sun_position_matches_a_real_mtl() -> None:
    # LC09_L2SP_010065_20220129_20220131_02_T1_MTL.txt: SUN_AZIMUTH = 112.20059080, SUN_ELEVATION = 57.84396063
    content = scene_content(L9_SOUTH, 64)
    assert content.sun_azimuth == pytest.approx(112.20, abs=0.1)
    assert content.sun_elevation == pytest.approx(57.84, abs=0.1)


def test_ang_and_espa_xml_are_well_formed(espa_l8: Path) -> None:
    pid = L8.product_id
    with tarfile.open(espa_l8) as tar:
        ang = _read(tar, f"{pid}_ANG.txt").decode()
        root = ET.fromstring(_read(tar, f"{pid}.xml"))
        tifs = sorted(n for n in tar.getnames() if n.endswith(".tif"))
    assert ang.startswith("GROUP = FILE_HEADER\n") and ang.endswith("END\n")
    assert ang.count("GROUP = ") == ang.count("END_GROUP = ") * 2  # every GROUP is closed
    assert f'LANDSAT_SCENE_ID = "{L8.entity_id}"' in ang
    ns = {"e": "http://espa.cr.usgs.gov/v2"}
    assert root.tag == "{http://espa.cr.usgs.gov/v2}espa_metadata" and root.get("version") == "2.0"
    assert root.findtext("e:global_metadata/e:product_id", namespaces=ns) == pid
    bands = root.findall("e:bands/e:band", ns)
    assert sorted(b.findtext("e:file_name", namespaces=ns) for b in bands) == tifs
    qa = next(b for b in bands if b.get("name") == "qa_pixel")
    assert qa.get("data_type") == "UINT16" and qa.get("fill_value") == "1"


def test_single_band_downloads_match_the_bundle(tmp_path: Path, usgs_l8: Path) -> None:
    pid = L8.product_id
    band = build_usgs_band_file(L8, "SR_B4.TIF", tmp_path, size=SIZE)
    mtl = build_usgs_band_file(L8, "MTL.json", tmp_path, size=SIZE)
    assert band.name == f"{pid}_SR_B4.TIF" and mtl.name == f"{pid}_MTL.json"
    with tarfile.open(usgs_l8) as tar:
        assert band.read_bytes() == _read(tar, f"{pid}_SR_B4.TIF")
        assert mtl.read_bytes() == _read(tar, f"{pid}_MTL.json")
    assert oct(band.stat().st_mode & 0o777) == oct(0o644)


# -- concurrency --------------------------------------------------------------------------------------------


def test_concurrent_threads_build_once_and_never_see_partial_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = _products.scene_content
    monkeypatch.setattr(_products, "scene_content", lambda *a: calls.append(a) or real(*a))
    results: list[Path] = []
    barrier = threading.Barrier(4)

    def build() -> None:
        barrier.wait()
        results.append(build_espa_tarball(L5, ["l1"], tmp_path, size=SIZE, processed=PROCESSED))

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(set(results)) == 1 and len(calls) == 1
    assert md5_of(results[0]) == results[0].with_suffix("").with_suffix(".md5").read_text().split()[0]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_concurrent_processes_agree_on_one_file(tmp_path: Path) -> None:
    code = (
        "import datetime as dt, sys\n"
        "from lsru_geo.emulator._products import SceneSpec, build_espa_tarball, md5_of\n"
        f"spec = SceneSpec({L7.product_id!r}, {list(L7.corners)!r}, dt.datetime(2010, 5, 9, 17, 25, 3), 30.0, "
        f"{L7.entity_id!r})\n"
        f"p = build_espa_tarball(spec, ['l1', 'sr_nbr'], sys.argv[1], size={SIZE})\n"
        "print(p.name, md5_of(p))\n"
    )
    root = Path(_products.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, env=env, text=True)
        for _ in range(2)
    ]
    outputs = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    (line,) = outputs
    name, digest = line.split()
    assert digest == md5_of(tmp_path / name)
    assert (tmp_path / name.replace(".tar.gz", ".md5")).read_text() == f"{digest} {name}"
