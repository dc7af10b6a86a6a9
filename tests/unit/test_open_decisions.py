"""Pure decisions of the reader, tested directly: file-name grammar, Level-1 band names, decoding formulas,
metadata limits, grid snapping and separate-area grouping."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from lsru_geo import _bands
from lsru_geo._ids import split_file_name
from lsru_geo._open._access import Member, RasterRef, read_text
from lsru_geo._open._decode import Decoding, decode, decoding_of
from lsru_geo._open._grid import Grid, areas, check_one_area, check_side, snap
from lsru_geo.exceptions import InvalidInputError, OversizedMetadataError, SeparateAreasError

L1 = "LC08_L1TP_190029_20240618_20240619_02_RT"
L1_ETM = "LE07_L1GT_190029_20100606_20200914_02_T2"
L1_TM = "LT05_L1GS_190029_19900606_20200914_02_T2"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"{L1}_B4.TIF", (L1, "B4", "tif")),
        (f"top/{L1.lower()}_qa_pixel.tif", (L1, "QA_PIXEL", "tif")),
        (f"{L1}_B6_VCID_1.Tif", (L1, "B6_VCID_1", "tif")),
        (f"{L1}_MTL.txt", (L1, "MTL", "txt")),
        (f"{L1}_SR_B4.tiff", (L1, "SR_B4", "tif")),
        (f"{L1}.xml", (L1, "", "xml")),
        (f"{L1}_B4.TIF.ovr", None),
        ("LC08_L1TP_190029_20240618_20240619_02_B4.TIF", None),
        ("readme.txt", None),
    ],
)
def test_file_names_any_case_and_folder(name, expected):
    assert split_file_name(name) == expected


@pytest.mark.parametrize(
    ("pid", "name", "suffix", "variable"),
    [
        (L1, "red", "B4", "red"),
        (L1, "lwir", "B10", "lwir"),
        (L1, "lwir12", "B11", "lwir12"),
        (L1, "pan", "B8", "pan"),
        (L1, "cirrus", "B9", "cirrus"),
        (L1, "B6", "B6", "swir16"),  # B6 is SWIR on OLI
        (L1, "qa_radsat", "QA_RADSAT", "qa_radsat"),
        (L1_ETM, "red", "B3", "red"),
        (L1_ETM, "lwir", "B6_VCID_1", "lwir"),
        (L1_ETM, "lwir_high_gain", "B6_VCID_2", "lwir_high_gain"),
        (L1_TM, "lwir", "B6", "lwir"),
        (L1_TM, "swir2", "B7", "swir22"),
    ],
)
def test_level1_band_names(pid, name, suffix, variable):
    assert _bands.band_suffix(name, pid) == suffix
    assert _bands.variable_name(name, pid) == variable


def test_level1_unknown_band_names_what_exists():
    with pytest.raises(InvalidInputError, match="Level-1 products have no band 'ndvi'"):
        _bands.band_suffix("ndvi", L1)


def test_decode_linear_and_brightness_temperature_formulas():
    raw = np.array([0, 1, 7273, 43636, 65535], dtype="uint16")
    got = decode(raw, Decoding(2.75e-05, -0.2, 0))
    want = raw.astype(np.float64) * 2.75e-05 - 0.2
    np.testing.assert_allclose(got[1:], want[1:], rtol=1e-6, atol=1e-7)
    assert np.isnan(got[0]) and got.dtype == np.float32
    ml, al, k1, k2 = 3.342e-04, 0.1, 774.8853, 1321.0789
    got = decode(raw, Decoding(ml, al, 0, k1, k2))
    radiance = ml * raw[1:].astype(np.float64) + al
    np.testing.assert_allclose(got[1:], k2 / np.log(k1 / radiance + 1), rtol=2e-6)
    assert np.isnan(got[0])


def test_brightness_temperature_of_a_nonpositive_radiance_is_nan():
    got = decode(np.array([1, 3, 2000], dtype="uint16"), Decoding(1.0, -1000.0, 0, 774.0, 1321.0))
    assert np.isnan(got[:2]).all()  # radiance -999 (below -K1: log of a fraction) and -997
    np.testing.assert_allclose(got[2], 1321.0 / math.log(774.0 / 1000.0 + 1), rtol=1e-6)


def mtl(elevation=45.0):
    return {
        "IMAGE_ATTRIBUTES": {"SUN_ELEVATION": elevation},
        "LEVEL1_RADIOMETRIC_RESCALING": {
            "REFLECTANCE_MULT_BAND_4": 2.0e-05,
            "REFLECTANCE_ADD_BAND_4": -0.1,
            "RADIANCE_MULT_BAND_10": 3.342e-04,
            "RADIANCE_ADD_BAND_10": 0.1,
            "RADIANCE_MULT_BAND_6_VCID_2": 0.037205,
            "RADIANCE_ADD_BAND_6_VCID_2": 3.16,
        },
        "LEVEL1_THERMAL_CONSTANTS": {
            "K1_CONSTANT_BAND_10": 774.8853,
            "K2_CONSTANT_BAND_10": 1321.0789,
            "K1_CONSTANT_BAND_6_VCID_2": 666.09,
            "K2_CONSTANT_BAND_6_VCID_2": 1282.71,
        },
    }


def test_level1_decodings_from_the_mtl():
    sine = math.sin(math.radians(30.0))
    red = decoding_of("B4", L1, mtl(30.0))
    assert red == Decoding(2.0e-05 / sine, -0.1 / sine, 0)
    raw = np.array([0, 10000, 30000], dtype="uint16")
    np.testing.assert_allclose(decode(raw, red)[1:], (2.0e-05 * raw[1:] - 0.1) / sine, rtol=2e-6)
    assert decoding_of("B10", L1, mtl()) == Decoding(3.342e-04, 0.1, 0, 774.8853, 1321.0789)
    assert decoding_of("B6_VCID_2", L1_ETM, mtl()) == Decoding(0.037205, 3.16, 0, 666.09, 1282.71)
    assert decoding_of("QA_PIXEL", L1, mtl()) is None
    assert decoding_of("SR_B4", "LC08_L2SP_190029_20240618_20240619_02_T1") == Decoding(2.75e-05, -0.2, 0)


def test_level1_decoding_needs_its_coefficients_and_a_sun_above_the_horizon():
    with pytest.raises(InvalidInputError, match="REFLECTANCE_MULT_BAND_5"):
        decoding_of("B5", L1, mtl())
    with pytest.raises(InvalidInputError, match="SUN_ELEVATION"):
        decoding_of("B4", L1, mtl(-3.0))


def test_text_members_above_the_limit_are_refused_unread(tmp_path):
    path = tmp_path / "x_MTL.txt"
    path.write_text("GROUP = A\n")
    with open(path, "r+b") as fh:
        fh.truncate(5 << 20)  # sparse: reading it whole would be the bug
    member = Member("x_MTL.txt", path.stat().st_size, RasterRef("file", str(path)))
    with pytest.raises(OversizedMetadataError, match="5,242,880 bytes"):
        read_text(member)
    assert read_text(Member("x", 10, RasterRef("file", str(path))), limit=6 << 20).startswith("GROUP")


def test_dimension_limits():
    check_side(7681, 7801, "a scene")
    with pytest.raises(OversizedMetadataError, match="10,000,000 x 10"):
        check_side(10**7, 10, "a lie")
    with pytest.raises(OversizedMetadataError):
        check_side(0, 10, "empty")


def test_snapping_outwards_onto_the_reference_pixels():
    ref = Grid("", (30.0, 0.0, 15.0, 0.0, -30.0, 915.0), 10, 10)
    grid = snap(20.0, 100.0, 101.0, 900.0, (30.0, 30.0), ref, "EPSG:32633")
    assert grid.transform[2] == 15.0 and grid.transform[5] == 915.0
    assert (grid.width, grid.height) == (3, 28)  # 15..105, 915..75
    assert grid.bounds[2] >= 101.0 and grid.bounds[1] <= 100.0


def test_areas_group_neighbours_and_far_products():
    boxes = [(10, 44, 13, 46), (12.8, 45.5, 15, 47.5), (-76, 40, -73, 42)]
    assert areas(boxes) == [[0, 1], [2]]
    with pytest.raises(SeparateAreasError) as caught:
        check_one_area(boxes, ["a", "b", "c"])
    assert caught.value.groups == [["a", "b"], ["c"]] and "bbox=" in str(caught.value)
    clone = pickle.loads(pickle.dumps(caught.value))
    assert clone.groups == caught.value.groups and str(clone) == str(caught.value)
    check_one_area(boxes[:2], ["a", "b"])  # one area
    check_one_area([(0, 0, 3, 3), (3.6, 0, 6, 3)], ["a", "b"])  # a small gap: the grid stays mostly full
