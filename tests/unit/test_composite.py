"""The fast NaN-median equals numpy's nanmedian: same values, NaN where a pixel has no valid value."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from lsru_geo import _composite


def reference(values: np.ndarray, axis: int = 0) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # All-NaN slice
        return np.nanmedian(values, axis=axis)


@pytest.mark.parametrize("times", [1, 2, 3, 4, 7, 20, 21])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("nan_fraction", [0.0, 0.3, 0.9])
def test_equals_numpy_nanmedian(times, dtype, nan_fraction):
    rng = np.random.default_rng(times * 100 + int(nan_fraction * 10))
    values = rng.normal(size=(times, 23, 17)).astype(dtype)
    values[rng.random(values.shape) < nan_fraction] = np.nan
    values[:, 0, 0] = np.nan  # an all-NaN pixel
    values[: times // 2, 1, 1] = np.nan  # pixels with an even and an odd count of valid values
    values[:, 2, 2] = 1.5  # ties
    got = _composite.nanmedian_first_axis(values)
    expected = reference(values)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)  # NaN positions and values exactly
    assert np.isnan(got[0, 0])


def test_infinities_and_integers_follow_numpy():
    values = np.array([[np.inf, -np.inf, 1.0], [np.inf, np.inf, np.nan], [1.0, np.nan, np.nan],
                       [2.0, 3.0, np.nan]], dtype="float32")
    np.testing.assert_array_equal(_composite.nanmedian_first_axis(values), reference(values))
    ints = np.arange(24, dtype="int16").reshape(4, 6) % 5
    np.testing.assert_array_equal(_composite.nanmedian_first_axis(ints), np.median(ints, axis=0))
    assert _composite.nanmedian_first_axis(ints).dtype == np.float64
    one_d = np.array([3.0, np.nan, 1.0, 2.0])
    assert _composite.nanmedian_first_axis(one_d) == 2.0


def stack(times: int = 9) -> xr.DataArray:
    rng = np.random.default_rng(5)
    values = rng.random((times, 40, 30)).astype("float32")
    values[rng.random(values.shape) < 0.4] = np.nan
    values[:, 3, :] = np.nan
    return xr.DataArray(
        values,
        dims=("time", "y", "x"),
        coords={"time": np.arange(times), "y": np.arange(40.0), "x": np.arange(30.0),
                "product_id": ("time", [f"P{i}" for i in range(times)]), "spatial_ref": 0},
        attrs={"long_name": "NDVI"},
        name="ndvi",
    )


def test_lazy_on_dask_and_equal_to_numpy():
    array = stack()
    lazy = array.chunk({"time": 1, "y": 16, "x": 30})
    result = _composite.nanmedian(lazy)
    assert isinstance(result.data, da.Array)  # nothing computed yet
    assert result.dims == ("y", "x") and "product_id" not in result.coords and "time" not in result.coords
    assert "spatial_ref" in result.coords and result.attrs == {"long_name": "NDVI"} and result.name == "ndvi"
    np.testing.assert_array_equal(result.values, reference(array.values))
    np.testing.assert_array_equal(_composite.nanmedian(array).values, reference(array.values))


def test_other_dimension_and_bad_dimension():
    array = stack().transpose("y", "time", "x")
    np.testing.assert_array_equal(_composite.nanmedian(array).values, reference(array.values, axis=1))
    with pytest.raises(KeyError, match="band"):
        _composite.nanmedian(array, dim="band")


def test_dataset_accessor_composite_skips_qa_variables():
    ndvi = stack()
    ds = xr.Dataset({"ndvi": ndvi, "qa_pixel": ndvi.fillna(1).astype("uint16")}).chunk({"time": 1})
    out = ds.lsru.composite("median")
    assert list(out.data_vars) == ["ndvi"]
    np.testing.assert_array_equal(out.ndvi.values, reference(ndvi.values))
    # xarray's own median on dask averages the middle values in float64: equal to float32 rounding
    np.testing.assert_allclose(out.ndvi.values, ds.ndvi.median("time").values, rtol=1e-6)
    with pytest.raises(ValueError, match="median"):
        ds.lsru.composite("mode")
    with pytest.raises(ValueError, match="'band'"):
        ds.lsru.composite("median", dim="band")
