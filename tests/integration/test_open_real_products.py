"""open_scene / open_stack on products shaped like real USGS/ESPA ones, built here (real_products.py), not by
the emulator: every packing and name case, crops whose grid differs from the MTL's, Level-1 calibration checked
against the formulas computed here, duplicates, far-apart products, bbox/aoi crops, and hostile metadata run
in a subprocess whose peak memory is asserted."""

from __future__ import annotations

import math
import subprocess
import sys
import tarfile
import textwrap
import warnings

import dask
import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import xarray as xr
from real_products import (
    ETM_K_B6,
    ETM_RADIANCE_B6_1,
    OLI_K_B10,
    OLI_RADIANCE_B10,
    OLI_REFLECTANCE,
    SUN_ELEVATION,
    RepeatedBytes,
    dn,
    write_product,
)

from lsru_geo._open import open_scene, open_stack
from lsru_geo.exceptions import InvalidInputError, LsruWarning, SeparateAreasError

L2 = "LC08_L2SP_190029_20230618_20230702_02_T1"
L2B = "LC09_L2SP_190029_20230626_20230713_02_T1"
L1 = "LC08_L1TP_190029_20240618_20240619_02_RT"
ETM = "LE07_L1TP_190029_20100606_20200914_02_T1"
SIZE = (30, 40)
PACKINGS = [("folder", False), ("folder", True), ("tar", False), ("tar", True), ("tgz", False), ("tgz", True),
            ("tgz_short", True)]


def sr(values: np.ndarray) -> np.ndarray:
    out = values.astype(np.float64) * 2.75e-05 - 0.2
    return np.where(values == 0, np.nan, out)


def toa(values: np.ndarray) -> np.ndarray:
    mult, add = OLI_REFLECTANCE
    out = (mult * values.astype(np.float64) + add) / math.sin(math.radians(SUN_ELEVATION))
    return np.where(values == 0, np.nan, out)


def brightness(values: np.ndarray, radiance: tuple, k: tuple) -> np.ndarray:
    radiance_value = radiance[0] * values.astype(np.float64) + radiance[1]
    with np.errstate(invalid="ignore", divide="ignore"):  # fill: masked below
        out = k[1] / np.log(k[0] / radiance_value + 1)
    return np.where(values == 0, np.nan, out)


@pytest.mark.parametrize("lower", [False, True], ids=["upper", "lower"])
@pytest.mark.parametrize(("packing", "top"), PACKINGS, ids=[f"{p}{'-top' if t else ''}" for p, t in PACKINGS])
def test_level2_opens_in_every_packing_on_the_raster_grid(tmp_path, packing, top, lower):
    # the MTL states the full 7801 x 7681 scene; the rasters are a 30 x 40 crop (ESPA customisation)
    path = write_product(tmp_path, L2, packing=packing, top=top, lower=lower)
    ds = open_scene(path, bands=["red", "nir08", "qa_pixel"])
    assert (ds.sizes["y"], ds.sizes["x"]) == SIZE
    assert tuple(ds.rio.transform())[:6] == (30.0, 0.0, 300000.0, 0.0, -30.0, 5000000.0)
    np.testing.assert_allclose(ds.red.values, sr(dn("SR_B4", *SIZE)), rtol=2e-6, atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(ds.qa_pixel.values, dn("QA_PIXEL", *SIZE))
    assert ds.attrs["processing_level"] == "L2SP"


def test_a_band_the_mtl_lists_but_the_archive_lacks_is_named_at_open(tmp_path):
    path = write_product(tmp_path, L2, packing="tgz", top=True, missing=("SR_B5",))
    with pytest.raises(InvalidInputError, match=rf"{path.name}.*{L2}_SR_B5.TIF"):
        open_scene(path, bands=["red", "nir08"])
    assert "nir08" not in open_scene(path).data_vars  # by default: the bands present


@pytest.mark.parametrize("packing", ["folder", "tgz"])
def test_level1_is_calibrated_with_the_mtl_coefficients(tmp_path, packing):
    path = write_product(tmp_path, L1, packing=packing, lower=packing == "tgz", top=True)
    ds = open_scene(path)
    assert set(ds.data_vars) == {"blue", "green", "red", "nir08", "lwir11", "qa_pixel"}
    assert ds.attrs["processing_level"] == "L1TP"
    np.testing.assert_allclose(ds.red.values, toa(dn("B4", *SIZE)), rtol=2e-6, atol=1e-6, equal_nan=True)
    expected_bt = brightness(dn("B10", *SIZE), OLI_RADIANCE_B10, OLI_K_B10)
    np.testing.assert_allclose(ds.lwir11.values, expected_bt, rtol=2e-6, atol=1e-6, equal_nan=True)
    assert np.isnan(ds.red.values[:, :2]).all() and ds.red.dtype == np.float32
    assert ds.red.attrs["units"] == "1" and ds.lwir11.attrs["units"] == "K"
    raw = open_scene(path, bands=["red", "lwir"], mask_and_scale=False)
    np.testing.assert_array_equal(raw.red.values, dn("B4", *SIZE))
    assert raw.red.dtype == np.uint16 and raw.red.attrs["_FillValue"] == 0 and raw.lwir.attrs["units"] == "DN"
    # the accessor's masks and indices work on Level-1 variables
    masked = ds.lsru.mask()
    cloudy = (dn("QA_PIXEL", *SIZE) & 8) > 0
    assert np.isnan(masked.red.values[cloudy]).all()
    ndvi = masked.lsru.ndvi().values
    red, nir = toa(dn("B4", *SIZE)), toa(dn("B5", *SIZE))
    want = np.where(cloudy, np.nan, (nir - red) / (nir + red))
    np.testing.assert_allclose(ndvi, want, rtol=1e-4, atol=1e-6, equal_nan=True)


def test_etm_plus_level1_thermal_uses_band_6_vcid_1(tmp_path):
    bands = ["B3", "B4", "B6_VCID_1", "QA_PIXEL"]
    path = write_product(tmp_path, ETM, packing="tar", bands=bands)
    ds = open_scene(path, bands=["red", "lwir"])
    want = brightness(dn("B6_VCID_1", *SIZE), ETM_RADIANCE_B6_1, ETM_K_B6)
    np.testing.assert_allclose(ds.lwir.values, want, rtol=2e-6, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(ds.red.values, toa(dn("B3", *SIZE)), rtol=2e-6, atol=1e-6, equal_nan=True)


def test_level1_stack_and_mixed_levels_refused(tmp_path):
    one = write_product(tmp_path, L1, packing="tgz")
    two = write_product(tmp_path, L2, packing="folder")
    stack = open_stack([one], bands=["red"])
    np.testing.assert_allclose(stack.red.values[0], toa(dn("B4", *SIZE)), rtol=2e-6, atol=1e-6, equal_nan=True)
    assert list(stack.processing_level.values) == ["L1TP"]
    with pytest.raises(InvalidInputError, match="Level-1 and Level-2"):
        open_stack([one, two], bands=["red"])


def test_duplicates_in_three_forms_give_one_time_step_each(tmp_path):
    for pid, seed in ((L2, 0), (L2B, 1)):
        for packing in ("folder", "tar", "tgz"):
            (tmp_path / packing).mkdir(exist_ok=True)
            path = write_product(tmp_path / packing, pid, packing=packing, seed=seed)
            path.rename(tmp_path / path.name) if packing != "folder" else path.rename(tmp_path / f"{pid}")
    with pytest.warns(LsruWarning, match="4 product"):
        ds = open_stack(tmp_path, bands=["red"])
    assert list(ds.product_id.values) == [L2, L2B]
    np.testing.assert_allclose(ds.red.values[1], sr(dn("SR_B4", *SIZE, seed=1)), rtol=2e-6, atol=1e-6, equal_nan=True)


def test_products_on_different_continents_raise_a_typed_error(tmp_path):
    europe = write_product(tmp_path, L2, packing="tgz")  # zone 33, ~12.4 E 45.1 N
    america = write_product(tmp_path, L2B, packing="folder", epsg=32618, ul=(500000.0, 4500000.0))  # ~75 W 40.6 N
    with pytest.raises(SeparateAreasError, match="2 separate areas") as caught:
        open_stack([europe, america], bands=["red"])
    assert caught.value.groups == [[L2], [L2B]]
    assert isinstance(caught.value, InvalidInputError)
    # a way out: pick one area
    ds = open_stack([europe, america], bands=["red"], bbox=(12.3, 44.9, 12.5, 45.1))
    assert ds.sizes["time"] == 2 and ds.sizes["x"] < 1000


def test_aoi_crops_the_stack_to_its_bounds(tmp_path):
    path = write_product(tmp_path, L2, packing="tar", size=(100, 120))
    box = shapely.box(300000 + 30 * 10 + 5, 5000000 - 30 * 50, 300000 + 30 * 40, 5000000 - 30 * 20 - 7)
    aoi = gpd.GeoDataFrame(geometry=[box], crs=32633)
    ds = open_stack([path], bands=["red"], aoi=aoi)
    # snapped outwards to whole pixels of the product: columns 10..39, rows 20..49 (densified reprojection
    # through lon/lat may add at most one pixel on each side)
    left, bottom, right, top = ds.rio.bounds()
    assert 300000 + 30 * 9 <= left <= 300000 + 30 * 10 and 300000 + 30 * 40 <= right <= 300000 + 30 * 41
    assert 5000000 - 30 * 21 <= top <= 5000000 - 30 * 20 + 30 and 5000000 - 30 * 51 <= bottom <= 5000000 - 30 * 50
    col, row = round((left - 300000) / 30), round((5000000 - top) / 30)
    full = sr(dn("SR_B4", 100, 120))
    window = full[row : row + ds.sizes["y"], col : col + ds.sizes["x"]]
    np.testing.assert_allclose(ds.red.values[0], window, rtol=2e-6, atol=1e-6, equal_nan=True)
    geojson = shapely.geometry.mapping(aoi.to_crs(4326).geometry[0])
    same = open_stack([path], bands=["red"], aoi=geojson)
    assert same.sizes == ds.sizes
    with pytest.raises(InvalidInputError, match="at most one"):
        open_stack([path], bands=["red"], aoi=geojson, bbox=(0, 0, 1, 1))


# --------------------------------------------------------------------------------------------------------
# Hostile metadata: subprocesses with their peak memory asserted
# --------------------------------------------------------------------------------------------------------

_OPEN = textwrap.dedent(
    """
    import resource, sys
    from lsru_geo import open_scene
    from lsru_geo.exceptions import LsruError
    try:
        open_scene(sys.argv[1], bands=["red"]).red.values
        outcome = "opened"
    except LsruError as error:
        outcome = type(error).__name__ + ": " + str(error)[:300]
    print(outcome)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def open_in_subprocess(path) -> tuple[str, int]:
    result = subprocess.run([sys.executable, "-c", _OPEN, str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    outcome, maxrss_kib = result.stdout.strip().splitlines()[-2:]
    return outcome, int(maxrss_kib) * 1024


def test_an_mtl_lying_about_a_huge_grid_is_refused_in_bounded_memory(tmp_path):
    path = write_product(tmp_path, L2, packing="tgz", top=True, stated=(10**7, 10**7))
    outcome, peak = open_in_subprocess(path)
    assert outcome.startswith("OversizedMetadataError") and "10,000,000" in outcome
    assert peak < 1 << 30


def test_an_oversized_mtl_member_is_refused_unread_in_bounded_memory(tmp_path):
    path = write_product(tmp_path, L2, packing="tar", top=True)
    big = tmp_path / "big.tar.gz"
    with tarfile.open(path) as src, tarfile.open(big, "w:gz", compresslevel=1) as dst:
        for member in src.getmembers():
            if member.name.endswith("_MTL.txt"):
                member.size = 600 << 20  # 600 MB of metadata-like text
                dst.addfile(member, RepeatedBytes(member.size, b"    REFLECTANCE_ADD_BAND_1 = -0.100000\n"))
            else:
                dst.addfile(member, src.extractfile(member))
    outcome, peak = open_in_subprocess(big)
    assert outcome.startswith("OversizedMetadataError") and "629,145,600 bytes" in outcome
    assert peak < 1 << 30


def test_a_raster_header_beyond_any_landsat_product_is_refused(tmp_path):
    path = write_product(tmp_path, L2, packing="folder")
    huge = path / f"{L2}_SR_B4.TIF"  # red, the band opened
    huge.unlink()
    with rasterio.open(huge, "w", driver="GTiff", height=10**5, width=10**5, count=1, dtype="uint16",
                       crs="EPSG:32633", transform=rasterio.transform.from_origin(300000, 5000000, 30, 30),
                       tiled=True, blockxsize=512, blockysize=512, sparse_ok=True, compress="deflate"):
        pass
    outcome, peak = open_in_subprocess(path)
    assert outcome.startswith("OversizedMetadataError") and "100,000" in outcome
    assert peak < 1 << 30




def test_the_15_m_pan_band_opens_alone_or_through_a_stack(tmp_path):
    path = write_product(tmp_path, L1, packing="tar", bands=["B4", "B8", "QA_PIXEL"])
    with pytest.raises(InvalidInputError, match="15 m grid"):
        open_scene(path, bands=["red", "pan"])
    pan = open_scene(path, bands="pan")
    np.testing.assert_allclose(pan.pan.values, toa(dn("B8", *SIZE)), rtol=2e-6, atol=1e-6, equal_nan=True)
    assert "pan" not in open_scene(path).data_vars  # by default: the bands on the main grid


def test_a_raster_outside_the_scene_its_mtl_states_warns_and_uses_the_raster(tmp_path):
    # the MTL of this product states a scene in the same UTM zone 600 km east of the rasters
    path = write_product(tmp_path, L2, packing="tgz", ul=(300000.0, 5000000.0), stated=(7801, 7681),
                         mtl_ul=(900000.0, 5000000.0))
    with pytest.warns(LsruWarning, match="outside the scene its MTL states"):
        ds = open_scene(path, bands="red")
    assert ds.rio.transform().c == 300000.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", LsruWarning)
        (tmp_path / "crop").mkdir()
        open_scene(write_product(tmp_path / "crop", L2, packing="tgz"), bands="red")  # a crop inside it: silent


def _tile_straddling_stack(root, packing, shifts=(0, 5, 11)):
    """Three products whose 16-row tiles sit at different row offsets (``shifts``) of the stack's grid."""
    pids = [f"LC08_L2SP_033032_2023{m:02d}01_20230710_02_T1" for m in (3, 4, 5)]
    return [
        write_product(root / packing, pid, packing=packing, size=(150, 70), ul=(300000.0, 5000000.0 - 30 * shift),
                      seed=n)
        for n, (pid, shift) in enumerate(zip(pids, shifts, strict=True))
    ]


def test_a_stack_from_tar_gz_reads_each_stored_tile_once_and_equals_the_folders(tmp_path):
    from lsru_geo import _gzindex
    from lsru_geo._open import _chunks

    folders = _tile_straddling_stack(tmp_path, "folder")
    tarballs = _tile_straddling_stack(tmp_path, "tgz")
    for tgz in tarballs:
        _gzindex.ensure_index(tgz)
    chunks = {"y": 40}  # every chunk boundary falls inside a 16-row tile row of some product
    expected = open_stack(folders, bands=["red", "qa_pixel"], chunks=chunks).compute()

    def returned_by(compute):
        _gzindex.clear_caches()
        _chunks.clear_edges()
        before, reads = _gzindex.bytes_returned(), _chunks.pixel_reads()
        with dask.config.set(scheduler="sync"):
            values = compute()
        return _gzindex.bytes_returned() - before, values, _chunks.pixel_reads() - reads

    stack = open_stack(tarballs, bands=["red", "qa_pixel"], chunks=chunks)
    shared, got, reads = returned_by(stack.compute)
    xr.testing.assert_identical(got, expected)
    assert _chunks._edges.size == 0  # every kept edge was taken by its neighbour
    budget = _chunks._edges.budget
    try:
        _chunks._edges.budget = 0  # nothing kept: each straddled tile row is read by both chunks
        unshared, again, _ = returned_by(stack.compute)
    finally:
        _chunks._edges.budget = budget
    xr.testing.assert_identical(again, expected)
    whole, _, whole_reads = returned_by(open_stack(tarballs, bands=["red", "qa_pixel"], chunks={"y": -1}).compute)
    assert reads == 26 and whole_reads == 6  # 161 rows: products meet 4, 4 and 5 chunks of 40 rows, 2 bands
    # what a task reads besides its tiles (TIFF header, tile offsets), from the same products on one grid
    # read in chunks of whole tile rows (nothing straddled)
    same_grid = _tile_straddling_stack(tmp_path / "aligned", "tgz", shifts=(0, 0, 0))
    one, _, one_reads = returned_by(open_stack(same_grid, bands=["red", "qa_pixel"], chunks={"y": -1}).compute)
    many, _, many_reads = returned_by(open_stack(same_grid, bands=["red", "qa_pixel"], chunks={"y": 32}).compute)
    per_task = (many - one) / (many_reads - one_reads)
    # every tile once, as one whole read per band does, plus what each further task reads besides tiles
    assert shared == pytest.approx(whole + (reads - whole_reads) * per_task, rel=0.01), (shared, whole, per_task)
    assert unshared > shared + 5 * 16 * 70 * 2  # without kept edges, straddled tile rows are read twice
