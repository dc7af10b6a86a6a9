"""QA_PIXEL decoding: the documented reference values (espa-api.md 5.3) for both sensor families, masks on
numpy, dask and xarray, and the ds.lsru accessor."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from lsru_geo import (
    _qa,
    _xr_accessor,  # noqa: F401  registers ds.lsru
)
from lsru_geo.exceptions import InvalidInputError

FILL, CLEAR_LAND, CLEAR_WATER, HIGH_CLOUD = 1, 21824, 21952, 22280  # Landsat 8/9
TM_CLEAR_LAND, TM_CLEAR_WATER = 5440, 5504  # Landsat 4-7


def test_reference_values_decode_as_documented():
    qa = np.array([FILL, CLEAR_LAND, CLEAR_WATER, HIGH_CLOUD, TM_CLEAR_LAND, TM_CLEAR_WATER], dtype=np.uint16)
    flags = _qa.flags(qa)
    assert flags["fill"].tolist() == [True, False, False, False, False, False]
    assert flags["clear"].tolist() == [False, True, True, False, True, False]  # L4-7 water lacks the clear bit
    assert flags["water"].tolist() == [False, False, True, False, False, True]
    assert flags["cloud"].tolist() == [False, False, False, True, False, False]
    assert not flags["cirrus"].any() and not flags["snow"].any() and not flags["cloud_shadow"].any()
    assert _qa.confidence(qa, "cloud").tolist() == [0, 1, 1, 3, 1, 1]
    assert _qa.confidence(qa, "cloud_shadow").tolist() == [0, 1, 1, 1, 1, 1]
    assert _qa.confidence(qa, "snow").tolist() == [0, 1, 1, 1, 1, 1]
    assert _qa.confidence(qa, "cirrus").tolist() == [0, 1, 1, 1, 0, 0]  # no cirrus bits on L4-7


def test_each_flag_is_its_bit():
    for name, bit in _qa.FLAG_BITS.items():
        qa = np.array([1 << bit, 0xFFFF ^ (1 << bit)], dtype=np.uint16)
        assert _qa.flag(qa, name).tolist() == [True, False]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, [True, False, False, True, False, True, True]),
        ({"fill": False}, [False, False, False, True, False, True, True]),
        ({"shadow": False}, [True, False, False, True, False, False, True]),
        ({"dilated": False}, [True, False, False, True, False, True, False]),
        ({"snow": True}, [True, False, False, True, True, True, True]),
        ({"cloud": False, "dilated": False, "shadow": False}, [True, False, False, False, False, False, False]),
    ],
)
def test_cloud_mask_options(options, expected):
    snow = 21824 - 64 + 32 + (3 << 12) - (1 << 12)  # snow bit, high snow confidence, not clear
    shadow = 21824 - 64 + 16 + (3 << 10) - (1 << 10)
    dilated = 21824 - 64 + 2
    qa = np.array([FILL, CLEAR_LAND, CLEAR_WATER, HIGH_CLOUD, snow, shadow, dilated], dtype=np.uint16)
    assert _qa.cloud_mask(qa, **options).tolist() == expected


def test_confidence_levels_extend_the_mask():
    medium_cloud = CLEAR_LAND - 64 + (1 << 8)  # cloud confidence 2, no cloud bit
    cirrus_high = CLEAR_LAND - 64 + (2 << 14) + 4  # cirrus bit and high cirrus confidence
    qa = np.array([CLEAR_LAND, medium_cloud, cirrus_high], dtype=np.uint16)
    assert _qa.cloud_mask(qa).tolist() == [False, False, True]
    assert _qa.cloud_mask(qa, confidence_level="medium").tolist() == [False, True, True]
    assert _qa.cloud_mask(qa, confidence_level="high").tolist() == [False, False, True]
    assert _qa.cloud_mask(qa, cirrus=False).tolist() == [False, False, False]
    assert _qa.cloud_mask(qa, confidence_level="low").tolist() == [True, True, True]  # USGS marks clear pixels low
    with pytest.raises(InvalidInputError):
        _qa.cloud_mask(qa, confidence_level="very")
    with pytest.raises(InvalidInputError):
        _qa.flag(qa, "clouds")


def test_masks_stay_lazy_on_dask_and_xarray():
    qa = da.from_array(np.array([[FILL, HIGH_CLOUD], [CLEAR_LAND, CLEAR_WATER]], dtype=np.uint16), chunks=1)
    mask = _qa.cloud_mask(qa)
    assert isinstance(mask, da.Array)
    assert mask.compute().tolist() == [[True, True], [False, False]]
    arr = xr.DataArray(qa, dims=("y", "x"))
    assert isinstance(_qa.flag(arr, "water").data, da.Array)


def test_accessor_flags_mask_and_ndvi():
    qa = np.array([[FILL, HIGH_CLOUD], [CLEAR_LAND, CLEAR_WATER]], dtype=np.uint16)
    red = np.array([[np.nan, 0.5], [0.1, 0.05]], dtype=np.float32)
    nir = np.array([[np.nan, 0.5], [0.4, 0.02]], dtype=np.float32)
    ds = xr.Dataset({"qa_pixel": (("y", "x"), qa), "red": (("y", "x"), red), "nir08": (("y", "x"), nir)})
    flags = ds.lsru.flags()
    assert set(flags.data_vars) == set(_qa.FLAG_BITS) and flags.water.values.tolist() == [[False, False], [False, True]]
    assert ds.lsru.confidence("cloud").values.tolist() == [[0, 3], [1, 1]]
    assert ds.lsru.cloud_mask().name == "cloud_mask"
    masked = ds.lsru.mask()
    assert masked.qa_pixel.values.tolist() == qa.tolist()
    assert np.isnan(masked.red.values[0]).all() and np.isfinite(masked.red.values[1]).all()
    ndvi = masked.lsru.ndvi().values
    np.testing.assert_allclose(ndvi[1], [(0.4 - 0.1) / 0.5, (0.02 - 0.05) / 0.07], rtol=1e-6)
    with pytest.raises(KeyError, match="qa_pixel"):
        ds.drop_vars("qa_pixel").lsru.mask()


def test_accessor_decodes_raw_integers():
    raw = xr.DataArray(np.array([0, 10000, 30000], dtype=np.uint16), dims="x",
                       attrs={"scale_factor": 2.75e-05, "add_offset": -0.2, "_FillValue": 0})
    ds = xr.Dataset({"red": raw, "nir08": raw * 2})
    ds["nir08"].attrs = raw.attrs
    ndvi = ds.lsru.ndvi().values
    assert np.isnan(ndvi[0])
    red = 10000 * 2.75e-05 - 0.2
    nir = 20000 * 2.75e-05 - 0.2
    assert ndvi[1] == pytest.approx((nir - red) / (nir + red), rel=1e-5)


@pytest.mark.parametrize("level", [None, "medium", "high"])
def test_cloud_mask_equals_the_or_of_its_flags_for_every_qa_value(level):
    import itertools

    qa = np.arange(1 << 16, dtype=np.uint16)
    names = ("cloud", "shadow", "cirrus", "snow", "dilated", "fill")
    flag_of = {"cloud": "cloud", "shadow": "cloud_shadow", "cirrus": "cirrus", "snow": "snow",
               "dilated": "dilated_cloud", "fill": "fill"}
    for choice in itertools.product((False, True), repeat=len(names)):
        options = dict(zip(names, choice, strict=True))
        expected = np.zeros(qa.shape, bool)
        for name, wanted in options.items():
            if wanted:
                expected |= _qa.flag(qa, flag_of[name])
                if level is not None and name in ("cloud", "shadow", "cirrus", "snow"):
                    expected |= _qa.confidence(qa, flag_of[name]) >= _qa.level_value(level)
        np.testing.assert_array_equal(_qa.cloud_mask(qa, confidence_level=level, **options), expected, str(options))
