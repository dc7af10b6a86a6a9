"""Customised ESPA orders: the emulator reprojects, resamples and crops like ESPA, and open_scene reads the result.

Every expectation is computed here independently of the emulator: the grid from the order's parameters, the
values by warping the uncustomised product of the same scene with rasterio (GDAL), as a user would check it.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject, transform_bounds

from lsru_geo import Espa, Usgs, open_scene

MONTPELLIER = (3.5, 43.4, 4.0, 44.0)
UTM31N = {"utm": {"zone": 31, "zone_ns": "north"}}
RESAMPLING = {"nn": Resampling.nearest, "bil": Resampling.bilinear, "cc": Resampling.cubic}
NS = {"espa": "http://espa.cr.usgs.gov/v2"}


@pytest.fixture
def scene_id(emu, monkeypatch):
    monkeypatch.setattr(emu.options, "processing_seconds", 60)
    scenes = Usgs().search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-06-01", end="2019-06-30")
    return scenes.display_id.iloc[0]


def _product(emu, tmp_path, scene_id, name, **options):
    """Order ``l1`` for one scene with ``options``, let it complete, and unpack it into ``tmp_path/name``."""
    order = Espa().order([scene_id], products=["l1"], **options)
    emu.clock.advance(days=1)
    order.wait(poll=0.01, timeout=10)
    (folder,) = order.download_all_complete(tmp_path / name, unpack=True)
    return folder


def _band(folder, suffix):
    return next(folder.glob(f"*_{suffix}.tif"))


def _warped(source_path, dst_crs, dst_transform, shape, resampling):
    """The uncustomised band warped by rasterio onto the ordered grid (fill 0 outside the data)."""
    with rasterio.open(source_path) as src:
        out = np.zeros(shape, dtype=src.dtypes[0])
        reproject(
            rasterio.band(src, 1),
            out,
            src_nodata=src.nodata,
            dst_transform=dst_transform,
            dst_crs=dst_crs,
            dst_nodata=src.nodata,
            resampling=RESAMPLING[resampling],
        )
    return out


def _agree(actual, expected, tolerance):
    """Same fill pattern; values within ``tolerance`` DN on at least 99.5% of the data pixels."""
    assert ((actual == 0) == (expected == 0)).mean() > 0.995
    valid = (actual != 0) & (expected != 0)
    assert valid.sum() > 100
    diff = np.abs(actual[valid].astype(np.int64) - expected[valid].astype(np.int64))
    assert (diff <= tolerance).mean() > 0.995


@pytest.fixture
def native(emu, tmp_path, scene_id):
    return _product(emu, tmp_path, scene_id, "native")


def test_utm_with_another_pixel_size(emu, tmp_path, scene_id, native):
    folder = _product(emu, tmp_path, scene_id, "utm", projection=UTM31N, resolution=1200)
    with rasterio.open(_band(native, "SR_B4")) as src:
        left, bottom, right, top = transform_bounds(src.crs, CRS.from_epsg(32631), *src.bounds, densify_pts=51)
    expected_bounds = (
        math.floor(left / 1200) * 1200,
        math.floor(bottom / 1200) * 1200,
        math.ceil(right / 1200) * 1200,
        math.ceil(top / 1200) * 1200,
    )
    with rasterio.open(_band(folder, "SR_B4")) as red:
        assert red.crs.to_epsg() == 32631
        assert red.res == (1200.0, 1200.0)
        assert tuple(red.bounds) == pytest.approx(expected_bounds)
        values = red.read(1)
        expected = _warped(_band(native, "SR_B4"), red.crs, red.transform, red.shape, "nn")
    np.testing.assert_array_equal(values, expected)  # nearest neighbour: the same DNs, nothing invented


def test_lonlat_in_degrees_fills_outside_the_scene(emu, tmp_path, scene_id, native):
    folder = _product(emu, tmp_path, scene_id, "geo", projection={"lonlat": None}, resolution=0.01, resampling="bil")
    with rasterio.open(_band(folder, "SR_B4")) as red, rasterio.open(_band(folder, "QA_PIXEL")) as qa:
        assert red.crs == CRS.from_epsg(4326)
        assert red.res == pytest.approx((0.01, 0.01))
        values, qa_values = red.read(1), qa.read(1)
        expected = _warped(_band(native, "SR_B4"), red.crs, red.transform, red.shape, "bil")
        # the scene is a tilted rectangle: the corners of its lon/lat bounding box lie outside it
        assert values[0, 0] == 0 and values[-1, -1] == 0 and red.nodata == 0
        assert qa_values[0, 0] == 1 and qa.nodata == 1  # QA_PIXEL fill is bit 0
        assert set(np.unique(qa_values)) <= set(np.unique(rasterio.open(_band(native, "QA_PIXEL")).read(1)))
    _agree(values, expected, tolerance=1)


def _centre_lonlat(native):
    with rasterio.open(_band(native, "SR_B4")) as src:
        west, south, east, north = transform_bounds(src.crs, CRS.from_epsg(4326), *src.bounds)
    return round((west + east) / 2, 2), round((south + north) / 2, 2)


def test_extent_in_degrees_with_cubic_resampling(emu, tmp_path, scene_id, native):
    lon, lat = _centre_lonlat(native)
    box = (lon - 0.15, lat - 0.15, lon + 0.15, lat + 0.15)
    folder = _product(
        emu, tmp_path, scene_id, "dd", projection=UTM31N, resolution=300, extent=box, extent_units="dd", resampling="cc"
    )
    left, bottom, right, top = transform_bounds(CRS.from_epsg(4326), CRS.from_epsg(32631), *box, densify_pts=51)
    with rasterio.open(_band(folder, "SR_B5")) as nir:
        assert nir.crs.to_epsg() == 32631 and nir.res == (300.0, 300.0)
        assert (nir.bounds.left, nir.bounds.top) == pytest.approx((left, top))
        assert nir.width == round((right - left) / 300) and nir.height == round((top - bottom) / 300)
        values = nir.read(1)
        expected = _warped(_band(native, "SR_B5"), nir.crs, nir.transform, nir.shape, "cc")
    _agree(values, expected, tolerance=1)


def test_extent_in_metres_crops_exactly_and_rewrites_the_xml(emu, tmp_path, scene_id, native):
    with rasterio.open(_band(native, "SR_B4")) as src:  # a 30 km box at the scene centre, on 300 m multiples
        cx, cy = (src.bounds.left + src.bounds.right) / 2, (src.bounds.bottom + src.bounds.top) / 2
    west, south = round(cx / 300) * 300 - 15_000, round(cy / 300) * 300 - 15_000
    box = (west, south, west + 30_000, south + 30_000)
    folder = _product(
        emu,
        tmp_path,
        scene_id,
        "m",
        projection=UTM31N,
        resolution=300,
        extent=box,
        extent_units="meters",
        resampling="bil",
    )
    with rasterio.open(_band(folder, "SR_B4")) as red:
        assert tuple(red.bounds) == pytest.approx(box) and red.shape == (100, 100)
        assert red.transform == Affine(300, 0, west, 0, -300, south + 30_000)
        values = red.read(1)
        expected = _warped(_band(native, "SR_B4"), red.crs, red.transform, red.shape, "bil")
    assert (values != 0).all()  # inside the scene: no fill
    _agree(values, expected, tolerance=1)

    scene_xml = ET.parse(next(p for p in folder.glob("*.xml") if not p.name.endswith("_MTL.xml"))).getroot()
    projection = scene_xml.find("espa:global_metadata/espa:projection_information", NS)
    assert projection.get("projection") == "UTM"
    ul = projection.find("espa:corner_point[@location='UL']", NS)
    assert (float(ul.get("x")), float(ul.get("y"))) == (west + 150, south + 30_000 - 150)  # pixel centres
    assert projection.find("espa:utm_proj_params/espa:zone_code", NS).text == "31"
    red_band = scene_xml.find("espa:bands/espa:band[@name='sr_b4']", NS)
    assert (red_band.get("nlines"), red_band.get("nsamps")) == ("100", "100")
    assert red_band.find("espa:pixel_size", NS).get("x") == "300"
    assert red_band.find("espa:resample_method", NS).text == "bilinear"
    qa_band = scene_xml.find("espa:bands/espa:band[@name='qa_pixel']", NS)
    assert qa_band.find("espa:resample_method", NS).text == "nearest neighbor"
    # the MTL is USGS's, untouched: the same bytes as in the uncustomised product
    assert next(folder.glob("*_MTL.txt")).read_bytes() == next(native.glob("*_MTL.txt")).read_bytes()


def test_south_utm_and_other_projections_are_served(emu, tmp_path, scene_id):
    folder = _product(
        emu,
        tmp_path,
        scene_id,
        "aea",
        projection={
            "aea": {
                "standard_parallel_1": 43.0,
                "standard_parallel_2": 62.0,
                "central_meridian": 10.0,
                "latitude_of_origin": 30.0,
                "false_easting": 0.0,
                "false_northing": 0.0,
                "datum": "wgs84",
            }
        },
        resolution=1000,
    )
    with rasterio.open(_band(folder, "SR_B4")) as red:
        assert red.crs.to_dict()["proj"] == "aea" and red.crs.to_dict()["lat_1"] == 43.0
        assert red.res == (1000.0, 1000.0)
        assert (red.read(1) != 0).mean() > 0.4


# -- open_scene on customised products -------------------------------------------------------------------------


def _orders(native):
    """The four kinds of customisation of the acceptance list, as (options, resampling), from the native grid."""
    lon, lat = _centre_lonlat(native)
    with rasterio.open(_band(native, "SR_B4")) as src:  # 60 km on 300 m multiples, across the scene's east edge
        east_edge, cy = src.bounds.right, (src.bounds.bottom + src.bounds.top) / 2
    west, south = round(east_edge / 300) * 300 - 30_000, round(cy / 300) * 300
    return {
        "utm-1200m": {"projection": UTM31N, "resolution": 1200},
        "lonlat-bil": {"projection": {"lonlat": None}, "resolution": 0.01, "resampling": "bil"},
        "dd-extent-cc": {
            "projection": UTM31N,
            "resolution": 300,
            "extent": (lon - 0.15, lat - 0.15, lon + 0.15, lat + 0.15),
            "extent_units": "dd",
            "resampling": "cc",
        },
        "m-extent-bil": {
            "projection": UTM31N,
            "resolution": 300,
            "extent": (west, south, west + 60_000, south + 30_000),
            "extent_units": "meters",
            "resampling": "bil",
        },
    }


@pytest.mark.parametrize("case", ["utm-1200m", "lonlat-bil", "dd-extent-cc", "m-extent-bil"])
def test_open_scene_reads_customised_products(emu, tmp_path, scene_id, native, case):
    options = _orders(native)[case]
    folder = _product(emu, tmp_path, scene_id, case, **options)
    ds = open_scene(folder, bands=["red", "qa_pixel"])
    res = options["resolution"]
    if "lonlat" in options["projection"]:
        assert ds.rio.crs == CRS.from_epsg(4326)
    else:
        assert ds.rio.crs.to_epsg() == 32631
    assert ds.rio.resolution() == pytest.approx((res, -res))
    if options.get("extent_units") == "meters":
        assert ds.rio.bounds() == pytest.approx(options["extent"])  # exactly the ordered box
    elif options.get("extent_units") == "dd":
        left, bottom, right, top = transform_bounds(CRS.from_epsg(4326), ds.rio.crs, *options["extent"], densify_pts=51)
        got = ds.rio.bounds()
        assert (got[0], got[3]) == pytest.approx((left, top))
        assert abs(got[2] - right) <= res / 2 and abs(got[1] - bottom) <= res / 2
    with rasterio.open(_band(folder, "SR_B4")) as red:
        expected = _warped(_band(native, "SR_B4"), red.crs, red.transform, red.shape, options.get("resampling", "nn"))
    values = ds["red"].values
    outside = expected == 0
    assert outside.any() != (case == "dd-extent-cc")  # pixels outside the scene, except in the central box
    if outside.any():
        assert np.isnan(values[outside]).mean() > 0.995
        assert (ds["qa_pixel"].values[outside] & 1).mean() > 0.995  # QA_PIXEL says fill there too
    inside = ~outside & ~np.isnan(values)
    assert inside.mean() > 0.2
    physical = expected[inside] * 2.75e-05 - 0.2
    assert (np.abs(values[inside] - physical) <= 2.75e-05 * 1.01).mean() > 0.995
