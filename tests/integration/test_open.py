"""open_scene / open_stack on emulator products: every sensor family, in the three source forms (ESPA
``.tar.gz`` read in place, USGS bundle ``.tar``, extracted folder), checked against the rasters the generator
wrote (``scene_content``). Rasters are small (size 128: 1,800 m pixels, ~125 px a side), so this runs in
seconds."""

from __future__ import annotations

import datetime as dt
import pickle
import tarfile

import dask
import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject

import lsru_geo._open as lsru_open
from lsru_geo import _bands
from lsru_geo._open import open_scene, open_stack
from lsru_geo.emulator import _catalogue as cat
from lsru_geo.emulator._products import SceneSpec, build_espa_tarball, build_usgs_bundle, scene_content
from lsru_geo.exceptions import InvalidInputError

SIZE = 128
TODAY = dt.date(2024, 1, 1)
SCENES = {
    "LC08": "LC08_L2SP_033032_20230618_20230702_02_T2",
    "LC09": "LC09_L2SP_033032_20230626_20230713_02_T1",
    "LE07": "LE07_L2SP_033032_20100606_20200914_02_T1",
    "LT05": "LT05_L2SP_033032_19880617_20201015_02_T1",
    "LT04": "LT04_L2SP_033032_19880625_20210622_02_T2",
}


def spec_of(product_id: str, level: str | None = None) -> SceneSpec:
    facts = cat.describe(product_id, TODAY)
    assert facts is not None, product_id
    pid = product_id if level is None else product_id.replace("_L2SP_", f"_{level}_")
    return SceneSpec(pid, facts["corners"], facts["acquired"], facts["cloud_cover"], facts["entity_id"])


def build_forms(spec: SceneSpec, root, products=("l1", "sr_ndvi")) -> dict:
    """The product in the three source forms (plus the extracted USGS folder)."""
    tgz = build_espa_tarball(spec, list(products), root / "espa", size=SIZE)
    bundle = build_usgs_bundle(spec, root / "usgs", size=SIZE)
    espa_folder, usgs_folder = root / "espa_x" / spec.product_id, root / "usgs_x" / spec.product_id
    for archive, folder in ((tgz, espa_folder), (bundle, usgs_folder)):
        if not folder.exists():
            with tarfile.open(archive) as tar:
                tar.extractall(folder, filter="data")
    return {"tgz": tgz, "usgs_tar": bundle, "espa_folder": espa_folder, "usgs_folder": usgs_folder}


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    root = tmp_path_factory.mktemp("products")
    out = {sensor: (spec_of(pid), build_forms(spec_of(pid), root)) for sensor, pid in SCENES.items()}
    sr = spec_of(SCENES["LC08"], level="L2SR")
    out["L2SR"] = (sr, build_forms(sr, root / "l2sr", products=("l1",)))  # same ESPA file name as the L2SP one
    return out


def expected(spec: SceneSpec, suffix: str, decode: bool = True) -> np.ndarray:
    dn = scene_content(spec, SIZE).array(suffix)
    enc = _bands.encoding_of(suffix)
    if not decode or enc.scale is None:
        return dn
    values = dn.astype(np.float32) * np.float32(enc.scale) + np.float32(enc.offset)
    return np.where(dn == enc.fill, np.float32(np.nan), values)


FORMS = ["tgz", "usgs_tar", "espa_folder", "usgs_folder"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("sensor", list(SCENES))
def test_open_scene_names_grid_scaling_and_fill(products, sensor, form):
    spec, forms = products[sensor]
    family = _bands.family_of(spec.product_id)
    ds = open_scene(forms[form])
    grid = scene_content(spec, SIZE).grid
    thermal = "lwir11" if family == "oli" else "lwir"
    names = {"blue", "green", "red", "nir08", "swir16", "swir22", thermal, "qa_pixel", "qa_radsat", "st_qa", "emis"}
    names |= {"coastal", "qa_aerosol"} if family == "oli" else {"atmos_opacity", "cloud_qa"}
    if form in ("tgz", "espa_folder"):
        names.add("ndvi")
    assert names <= set(ds.data_vars)
    assert ds.rio.crs == CRS.from_epsg(grid.epsg)
    assert ds.rio.transform() == grid.transform
    assert ds.sizes == {"y": grid.height, "x": grid.width}
    np.testing.assert_allclose(ds.x.values, grid.centres_x())
    assert ds.time.values == np.datetime64(spec.acquired.replace(tzinfo=None), "ns")
    assert ds.attrs["product_id"] == spec.product_id
    assert (ds.attrs["wrs_path"], ds.attrs["wrs_row"]) == (33, 32)
    assert ds.attrs["cloud_cover"] == pytest.approx(spec.cloud_cover)
    assert -90 < ds.attrs["sun_elevation"] < 90 and 0 <= ds.attrs["sun_azimuth"] <= 360
    assert ds.attrs["processing_level"] == "L2SP"
    red_suffix = "SR_B4" if family == "oli" else "SR_B3"
    assert ds.red.dtype == np.float32 and ds.qa_pixel.dtype == np.uint16
    np.testing.assert_allclose(ds.red.values, expected(spec, red_suffix), rtol=1e-6, equal_nan=True)
    assert np.isnan(ds.red.values).any()  # fill outside the footprint
    np.testing.assert_array_equal(ds.qa_pixel.values, expected(spec, "QA_PIXEL"))
    np.testing.assert_allclose(ds[thermal].values, expected(spec, "ST_B10" if family == "oli" else "ST_B6"), rtol=1e-6)
    if "ndvi" in ds:
        np.testing.assert_allclose(ds.ndvi.values, expected(spec, "SR_NDVI"), rtol=1e-6, atol=1e-7)


def test_scaling_formulas_match_the_documented_ones(products):
    spec, forms = products["LC08"]
    ds = open_scene(forms["tgz"], bands=["red", "lwir11"])
    dn_red, dn_st = scene_content(spec, SIZE).array("SR_B4"), scene_content(spec, SIZE).array("ST_B10")
    i = np.argwhere(dn_red > 0)[0]
    assert float(ds.red.values[tuple(i)]) == pytest.approx(dn_red[tuple(i)] * 0.0000275 - 0.2, rel=1e-6)
    assert float(ds.lwir11.values[tuple(i)]) == pytest.approx(dn_st[tuple(i)] * 0.00341802 + 149.0, rel=1e-6)
    assert ds.red.encoding["scale_factor"] == 2.75e-05 and ds.red.encoding["_FillValue"] == 0


@pytest.mark.parametrize("form", ["tgz", "usgs_folder"])
def test_raw_integers_keep_their_encoding_attributes(products, form):
    spec, forms = products["LE07"]
    ds = open_scene(forms[form], bands=["red", "lwir", "qa_pixel"], mask_and_scale=False)
    assert ds.red.dtype == np.uint16 and ds.lwir.dtype == np.uint16
    assert ds.red.attrs["scale_factor"] == 2.75e-05 and ds.red.attrs["add_offset"] == -0.2
    assert ds.red.attrs["_FillValue"] == 0 and ds.qa_pixel.attrs["_FillValue"] == 1
    assert ds.lwir.attrs["scale_factor"] == 0.00341802 and ds.lwir.attrs["add_offset"] == 149.0
    np.testing.assert_array_equal(ds.red.values, expected(spec, "SR_B3", decode=False))
    # the accessor decodes raw integers the same way
    decoded = ds.lsru.normalized_difference("red", "red")
    assert decoded.dtype == np.float32


def test_l2sr_has_no_thermal_band(products):
    forms = products["L2SR"][1]
    ds = open_scene(forms["tgz"])
    assert "lwir11" not in ds and "red" in ds
    assert ds.attrs["processing_level"] == "L2SR"
    with pytest.raises(InvalidInputError, match="ST_B10"):
        open_scene(forms["usgs_tar"], bands=["lwir11"])


def test_band_names_aliases_and_suffixes(products):
    forms = products["LC09"][1]
    ds = open_scene(forms["usgs_tar"], bands=["nir", "SR_B4", "swir1", "lwir"])
    assert list(ds.data_vars) == ["nir08", "red", "swir16", "lwir"]
    with pytest.raises(InvalidInputError, match="coastal"):
        open_scene(products["LT05"][1]["tgz"], bands=["coastal"])


def test_open_touches_only_requested_bands_and_reads_no_pixels(products, monkeypatch):
    _, forms = products["LC08"]
    opened = []
    real = lsru_open._access.open_raster

    def spy(ref):
        opened.append(ref.member or ref.path)
        return real(ref)

    monkeypatch.setattr(lsru_open._access, "open_raster", spy)  # the one module that opens bytes
    before = lsru_open.pixel_reads()
    ds = open_scene(forms["usgs_folder"], bands=["red", "qa_pixel"], chunks={"y": 50})
    assert lsru_open.pixel_reads() == before
    assert len(opened) == 1  # one header for the grid
    opened.clear()
    ds.red.compute()
    assert all(name.endswith("SR_B4.TIF") for name in opened)
    assert lsru_open.pixel_reads() - before == ds.red.data.npartitions == 3


def test_graph_pickles_without_handles(products):
    _, forms = products["LC08"]
    ds = open_scene(forms["tgz"], bands=["red"])
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone.red.values, ds.red.values)


def test_single_file_and_errors(products, tmp_path):
    spec, forms = products["LC08"]
    one_file = next(forms["usgs_folder"].glob("*_MTL.txt"))
    assert open_scene(one_file, bands=["red"]).attrs["product_id"] == spec.product_id
    with pytest.raises(InvalidInputError, match="no such product"):
        open_scene(tmp_path / "missing.tar.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="MTL"):
        open_scene(tmp_path / "empty")


# --------------------------------------------------------------------------------------------------------
# Stacks
# --------------------------------------------------------------------------------------------------------


def test_stack_of_two_utm_zones_on_one_grid(tmp_path):
    zone13 = spec_of("LC08_L2SP_035032_20230531_20230604_02_T1")  # -107.4: zone 13
    zone12 = spec_of("LC09_L2SP_036032_20230530_20230615_02_T1")  # -109.0: zone 12
    zone13b = spec_of("LC08_L2SP_035032_20230616_20230703_02_T1")
    paths = [build_espa_tarball(s, ["l1"], tmp_path, size=SIZE) for s in (zone13b, zone12, zone13)]
    before = lsru_open.pixel_reads()
    ds = open_stack(paths, bands=["red", "qa_pixel"])
    assert lsru_open.pixel_reads() == before
    assert ds.rio.crs == CRS.from_epsg(32613)  # two products of three are in zone 13
    assert list(ds.product_id.values) == [zone12.product_id, zone13.product_id, zone13b.product_id]  # sorted by time
    assert (np.diff(ds.time.values) > np.timedelta64(0)).all()
    # the zone-13 product is read without resampling: its pixels sit unchanged in the stack
    grid13 = scene_content(zone13, SIZE).grid
    col = round((grid13.left - ds.rio.transform().c) / grid13.res)
    row = round((ds.rio.transform().f - grid13.top) / grid13.res)
    window = ds.red.isel(time=1, y=slice(row, row + grid13.height), x=slice(col, col + grid13.width)).values
    np.testing.assert_allclose(window, expected(zone13, "SR_B4"), rtol=1e-6, equal_nan=True)
    # the zone-12 product is warped: same as a nearest-neighbour reprojection of its raster
    grid12 = scene_content(zone12, SIZE).grid
    dst = np.full((ds.sizes["y"], ds.sizes["x"]), 0, dtype=np.uint16)
    reproject(scene_content(zone12, SIZE).array("QA_PIXEL"), dst, src_transform=grid12.transform,
              src_crs=CRS.from_epsg(32612), dst_transform=ds.rio.transform(), dst_crs=ds.rio.crs,
              resampling=Resampling.nearest, src_nodata=1, dst_nodata=1)
    got = ds.qa_pixel.isel(time=0).values
    assert (got != 1).sum() > 1000
    assert (got == dst).mean() > 0.995  # chunk-wise warping may differ on a few edge pixels
    # an explicit CRS warps everything
    utm12 = open_stack(paths, bands=["red"], crs="EPSG:32612", chunks={"y": 64, "x": 64})
    assert utm12.rio.crs == CRS.from_epsg(32612)
    assert np.isfinite(utm12.red.isel(time=1).values).sum() > 1000


def test_fifty_scene_stack_reads_no_pixels_until_computed(tmp_path):
    from lsru_geo.emulator._wrs2 import grid

    cell = grid().index(33, 32)
    scenes = cat.generate(cat.DATASETS["landsat_ot_c2_l2"], np.array([cell]), dt.date(2021, 1, 1), TODAY, TODAY)
    ids = scenes.display_ids()
    ids = [pid for pid in ids if "_L2SP_" in pid][:50]
    assert len(ids) == 50
    paths = [build_espa_tarball(spec_of(pid), ["sr_ndvi"], tmp_path, size=48) for pid in ids]
    from lsru_geo import _gzindex

    for path in paths:
        _gzindex.ensure_index(path)  # as the download workers do
    before, inflated = lsru_open.pixel_reads(), _gzindex.bytes_inflated()
    ds = open_stack(tmp_path, bands=["ndvi", "qa_pixel"])
    assert ds.sizes["time"] == 50 and len(paths) == 50
    assert lsru_open.pixel_reads() == before  # building the stack read headers only
    assert _gzindex.bytes_inflated() == inflated  # ...and MTLs, all kept in the indexes: nothing inflated
    with dask.config.set(scheduler="threads"):
        ds.ndvi.isel(time=0).compute()
    assert lsru_open.pixel_reads() > before


def test_groupby_solar_day_mosaics_adjacent_rows(tmp_path):
    upper = spec_of("LC08_L2SP_033032_20230602_20230614_02_T1")
    lower = spec_of("LC08_L2SP_033033_20230602_20230604_02_T1")
    other_day = spec_of("LC08_L2SP_033032_20230618_20230702_02_T2")
    paths = [build_usgs_bundle(s, tmp_path, size=SIZE) for s in (upper, lower, other_day)]
    plain = open_stack(paths, bands=["red"])
    assert plain.sizes["time"] == 3
    mosaic = open_stack(paths, bands=["red"], groupby="solar_day")
    assert mosaic.sizes["time"] == 2
    assert mosaic.product_id.values[0] == ",".join(sorted([upper.product_id, lower.product_id], key=lambda p: (
        scene_content(upper, SIZE).acquired if p == upper.product_id else scene_content(lower, SIZE).acquired, p)))
    both = mosaic.red.isel(time=0).values
    first, second = (plain.red.isel(time=i).values for i in (0, 1))
    expect = np.where(np.isnan(first), second, first)
    np.testing.assert_array_equal(np.isnan(both), np.isnan(expect))
    np.testing.assert_allclose(both, expect, equal_nan=True)


def test_stack_from_a_geodataframe_with_local_paths(products):
    import geopandas as gpd
    from shapely.geometry import box

    frame = gpd.GeoDataFrame(
        {"display_id": [SCENES["LC08"], SCENES["LC09"]],
         "local_path": [str(products["LC08"][1]["tgz"]), str(products["LC09"][1]["usgs_folder"])]},
        geometry=[box(0, 0, 1, 1)] * 2, crs="EPSG:4326",
    )
    ds = open_stack(frame, bands=["red", "nir08"])
    assert ds.sizes["time"] == 2 and list(ds.spacecraft_id.values) == ["LANDSAT_8", "LANDSAT_9"]
    with pytest.raises(InvalidInputError, match="local_path"):
        open_stack(frame.rename(columns={"local_path": "where"}))


def test_stack_mixing_landsat_7_and_8_shares_common_names(products):
    paths = [products["LE07"][1]["tgz"], products["LC08"][1]["tgz"]]
    ds = open_stack(paths, bands=["red", "nir08", "lwir", "qa_pixel"])
    assert set(ds.data_vars) == {"red", "nir08", "lwir", "qa_pixel"}
    spec7 = products["LE07"][0]
    grid7 = scene_content(spec7, SIZE).grid
    col = round((grid7.left - ds.rio.transform().c) / grid7.res)
    row = round((ds.rio.transform().f - grid7.top) / grid7.res)
    lwir = ds.lwir.isel(time=0, y=slice(row, row + grid7.height), x=slice(col, col + grid7.width)).values
    np.testing.assert_allclose(lwir, expected(spec7, "ST_B6"), rtol=1e-6, equal_nan=True)


def test_accessor_on_a_real_scene(products):
    spec, forms = products["LC08"]
    ds = open_scene(forms["tgz"], bands=["red", "nir08", "qa_pixel"])
    qa = scene_content(spec, SIZE).array("QA_PIXEL")
    flags = ds.lsru.flags()
    np.testing.assert_array_equal(flags.fill.values, qa == 1)
    np.testing.assert_array_equal(flags.cloud.values, (qa & 8) > 0)
    masked = ds.lsru.mask()
    assert masked.qa_pixel.dtype == np.uint16  # QA left alone
    bad = ds.lsru.cloud_mask().values
    assert bad.any() and (~bad).any()
    assert np.isnan(masked.red.values[bad]).all()
    ndvi = masked.lsru.ndvi()
    assert ndvi.dtype == np.float32 and ndvi.name == "ndvi"
    assert ndvi.rio.crs == ds.rio.crs and ndvi.attrs.get("units") == "1"  # clip/reproject still work on it
    assert np.nanmax(ndvi.values) <= 1 and np.nanmin(ndvi.values) >= -1
    # a time stack keeps the time dimension through the accessor
    stack = open_stack([forms["tgz"], products["LC09"][1]["usgs_folder"]], bands=["red", "nir08", "qa_pixel"])
    assert stack.lsru.mask().lsru.ndvi().dims == ("time", "y", "x") and stack.sizes["time"] == 2


def test_rasterio_sees_the_same_grid(products):
    _, forms = products["LT05"]
    ds = open_scene(forms["espa_folder"], bands=["red"])
    with rasterio.open(next(forms["espa_folder"].glob("*_SR_B3.tif"))) as src:
        assert ds.rio.transform() == src.transform and ds.rio.crs == src.crs
        assert Affine(*tuple(src.transform)[:6]) == ds.rio.transform()
