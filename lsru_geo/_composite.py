"""Composites over time: a NaN-skipping median that equals :func:`numpy.nanmedian`, several times faster.

``np.nanmedian`` handles short axes (fewer than 600 values, i.e. every Landsat time series) through masked
arrays, which is ~10x slower than reading the data. Sorting puts NaN last, so after one sort along time
each pixel's median sits at a position given by its count of valid values: two gathers and a mean, with
the same arithmetic as numpy (the mean of the two middle values), hence the same values. The sort runs on
slabs of a few rows so its temporaries stay in cache.

Lazy on dask arrays: one task per spatial chunk receives that chunk's blocks along time as a list and sorts
them slab by slab, so the stack is never re-chunked (a (time, y, x) copy would double the memory).

Examples
--------
>>> import numpy as np, xarray as xr
>>> x = xr.DataArray(np.array([[1.0, np.nan], [3.0, np.nan], [np.nan, np.nan], [4.0, 7.0]], "float32"),
...                  dims=("time", "x"))
>>> nanmedian(x).values.tolist()
[3.0, 7.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

#: Rows of a (time, rows, ...) slab sorted at once (fits a few MB of cache for 20 x 8 x 8,000 float32).
SLAB_ROWS = 8


def nanmedian_first_axis(values: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Return the median over axis 0 ignoring NaN, equal to ``np.nanmedian(values, axis=0)``.

    ``values`` may also be a list of arrays that together make the first axis (the blocks of a dask array
    along time): they are read slab by slab, never concatenated. All-NaN positions give NaN (without
    numpy's warning). Integer input gives float64, as numpy does.
    """
    parts = [np.asarray(p) for p in values] if isinstance(values, (list, tuple)) else [np.asarray(values)]
    dtype = np.result_type(*parts)
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    if parts[0].ndim == 1:
        return nanmedian_first_axis([p[:, np.newaxis] for p in parts])[0]
    count = sum(p.shape[0] for p in parts)
    if count == 0:
        return np.full(parts[0].shape[1:], np.nan, dtype=dtype)
    out = np.empty(parts[0].shape[1:], dtype=dtype)
    last = count - 1
    for r0 in range(0, out.shape[0], SLAB_ROWS):
        part = np.concatenate([p[:, r0 : r0 + SLAB_ROWS] for p in parts], axis=0, dtype=dtype)
        part.sort(axis=0)  # NaN sort last
        valid = np.count_nonzero(~np.isnan(part), axis=0)
        lo = np.take_along_axis(part, np.maximum((valid - 1) // 2, 0)[np.newaxis], 0)
        hi = np.take_along_axis(part, np.minimum(valid // 2, last)[np.newaxis], 0)
        middle = np.mean(np.concatenate((lo, hi)), axis=0)  # numpy's own mean of the two middle values
        middle[valid == 0] = np.nan
        out[r0 : r0 + SLAB_ROWS] = middle
    return out


def _median_along(values: np.ndarray | list[np.ndarray], axis: int) -> np.ndarray:
    if isinstance(values, list):  # dask blocks along the reduced axis
        return nanmedian_first_axis([np.moveaxis(v, axis, 0) for v in values])
    return nanmedian_first_axis(np.moveaxis(values, axis, 0))


def nanmedian(array: xr.DataArray, dim: str = "time") -> xr.DataArray:
    """Return the NaN-skipping median of a DataArray along ``dim`` (lazy if the data are dask arrays).

    Parameters
    ----------
    array : xarray.DataArray
        For example a masked NDVI stack ``(time, y, x)``.
    dim : str, default "time"
        The dimension reduced.

    Returns
    -------
    xarray.DataArray
        Without ``dim`` and without the coordinates along it; the same attributes and name. Equal to
        ``array.median(dim)`` (``np.nanmedian``).

    Raises
    ------
    KeyError
        If ``array`` has no dimension ``dim``.
    """
    if dim not in array.dims:
        raise KeyError(f"this array has no {dim!r} dimension; it has {list(array.dims)}")
    axis = array.get_axis_num(dim)
    data: Any = array.data
    out_dtype = data.dtype if data.dtype.kind == "f" else np.dtype(np.float64)
    if hasattr(data, "dask"):
        import dask.array as da

        # each task receives the blocks along ``dim`` as a list: no re-chunked copy of the stack
        index = tuple(range(data.ndim))
        kept = tuple(i for i in index if i != axis)
        reduced = da.blockwise(
            _median_along, kept, data, index, axis=axis, concatenate=False, dtype=out_dtype,
            meta=np.empty((0,) * len(kept), dtype=out_dtype),
        )
    else:
        reduced = _median_along(data, axis)
    template = array.isel({dim: 0}, drop=True)
    return template.copy(data=reduced)


__all__ = ["nanmedian", "nanmedian_first_axis"]
