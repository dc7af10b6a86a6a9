"""The ``ds.lsru`` accessor on xarray Datasets opened by :func:`lsru_geo.open_scene` / :func:`lsru_geo.open_stack`.

Registered when :mod:`lsru_geo` is imported. It is thin: the bit logic lives in :mod:`._qa`, and every
method is lazy on dask-backed data.

=================================  ===========================================================================
``ds.lsru.flags()``                Dataset of boolean QA_PIXEL flags (``fill``, ``cloud``, ``clear``, ``water``...)
``ds.lsru.confidence(name)``       0-3 confidence of ``"cloud"``, ``"cloud_shadow"``, ``"snow"``, ``"cirrus"``
``ds.lsru.cloud_mask(...)``        boolean DataArray, True where a pixel is masked (fill, cloud, shadow...)
``ds.lsru.mask(...)``              the Dataset with masked pixels set to NaN (QA variables left as they are)
``ds.lsru.ndvi()``                 ``(nir08 - red) / (nir08 + red)``, float32
``ds.lsru.normalized_difference``  ``(a - b) / (a + b)`` of any two variables
``ds.lsru.composite("median")``    median over time ignoring NaN (as ``np.nanmedian``, faster); QA left out
=================================  ===========================================================================

Examples
--------
>>> import numpy as np, xarray as xr
>>> qa = xr.DataArray(np.array([[21824, 22280], [21952, 1]], dtype="uint16"), dims=("y", "x"))
>>> red = xr.DataArray(np.array([[0.1, 0.5], [0.05, np.nan]], dtype="float32"), dims=("y", "x"))
>>> nir = xr.DataArray(np.array([[0.4, 0.5], [0.02, np.nan]], dtype="float32"), dims=("y", "x"))
>>> ds = xr.Dataset({"qa_pixel": qa, "red": red, "nir08": nir})
>>> ds.lsru.cloud_mask().values.tolist()
[[False, True], [False, True]]
>>> [[round(float(v), 2) for v in row] for row in ds.lsru.mask().lsru.ndvi().values]
[[0.6, nan], [-0.43, nan]]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from . import _qa

#: Variables holding bit fields: never set to NaN by :meth:`LsruAccessor.mask`.
QA_VARIABLES = frozenset({"qa_pixel", "qa_radsat", "qa_aerosol", "cloud_qa"})


@xr.register_dataset_accessor("lsru")
class LsruAccessor:
    """Landsat Collection 2 helpers on a Dataset of common-name variables (``red``, ``nir08``, ``qa_pixel``...)."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    # -- QA_PIXEL ------------------------------------------------------------------------------------------

    def _qa(self) -> xr.DataArray:
        if "qa_pixel" not in self._ds:
            raise KeyError("this Dataset has no 'qa_pixel' variable; open it with bands=[..., 'qa_pixel']")
        return self._ds["qa_pixel"]

    def flags(self) -> xr.Dataset:
        """Return every single-bit QA_PIXEL flag as a boolean variable (same dimensions as ``qa_pixel``).

        Variables: ``fill``, ``dilated_cloud``, ``cirrus`` (Landsat 8/9; always False on 4-7), ``cloud``,
        ``cloud_shadow``, ``snow``, ``clear``, ``water``.
        """
        qa = self._qa()
        return xr.Dataset({name: _qa.flag(qa, name).rename(name) for name in _qa.FLAG_BITS})

    def confidence(self, name: str) -> xr.DataArray:
        """Return the 0-3 confidence (none, low, medium, high) of a condition.

        ``name`` is ``"cloud"``, ``"cloud_shadow"``, ``"snow"`` or ``"cirrus"``.
        """
        return _qa.confidence(self._qa(), name).astype("uint8").rename(f"{name}_confidence")

    def cloud_mask(
        self,
        *,
        cloud: bool = True,
        shadow: bool = True,
        cirrus: bool = True,
        snow: bool = False,
        dilated: bool = True,
        fill: bool = True,
        confidence: str | int | None = None,
    ) -> xr.DataArray:
        """Return a boolean DataArray, True where a pixel is masked out (fill, cloud, shadow...).

        Parameters
        ----------
        cloud, shadow, cirrus, snow, dilated : bool
            Conditions that mask a pixel (their QA_PIXEL bits). Cirrus bits exist on Landsat 8/9 only.
        fill : bool, default True
            Mask fill pixels.
        confidence : {"low", "medium", "high"}, optional
            Also mask pixels whose confidence of a chosen condition reaches this level; see
            :func:`lsru_geo._qa.cloud_mask`.

        Returns
        -------
        xarray.DataArray of bool
            Named ``"cloud_mask"``; use ``ds.where(~mask)`` to keep the usable pixels.
        """
        masked = _qa.cloud_mask(
            self._qa(),
            cloud=cloud,
            shadow=shadow,
            cirrus=cirrus,
            snow=snow,
            dilated=dilated,
            fill=fill,
            confidence_level=confidence,
        )
        return masked.rename("cloud_mask")

    def mask(self, **options: Any) -> xr.Dataset:
        """Return the Dataset with masked pixels set to NaN; QA variables are kept unchanged.

        ``**options`` are those of :meth:`cloud_mask` (``cloud``, ``shadow``, ``cirrus``, ``snow``,
        ``dilated``, ``fill``, ``confidence``). Integer variables (``mask_and_scale=False``) become float,
        as with :meth:`xarray.Dataset.where`.
        """
        keep = ~self.cloud_mask(**options)
        out = self._ds.copy()
        for name, variable in self._ds.data_vars.items():
            if name in QA_VARIABLES or not set(keep.dims) <= set(variable.dims):
                continue
            out[name] = variable.where(keep)
            out[name].attrs = variable.attrs
            out[name].encoding = variable.encoding
        return out

    # -- indices -------------------------------------------------------------------------------------------

    def _value(self, name: str) -> xr.DataArray:
        """Return a variable as physical values (raw integers of ``mask_and_scale=False`` are decoded)."""
        if name not in self._ds:
            raise KeyError(f"this Dataset has no {name!r} variable")
        da = self._ds[name]
        if da.dtype.kind in "iu" and "scale_factor" in da.attrs:
            fill = da.attrs.get("_FillValue")
            decoded = da.astype("float32") * da.attrs["scale_factor"] + da.attrs.get("add_offset", 0.0)
            da = decoded.where(da != fill) if fill is not None else decoded
        return da.astype("float32")

    def normalized_difference(self, a: str, b: str, name: str | None = None) -> xr.DataArray:
        """Return ``(a - b) / (a + b)`` of two variables as float32 (NaN where either is NaN)."""
        va, vb = self._value(a), self._value(b)
        result = xr.apply_ufunc(
            _normalized_difference, va, vb, dask="parallelized", output_dtypes=[np.float32], keep_attrs="drop_conflicts"
        )
        return result.rename(name or f"nd_{a}_{b}")

    def ndvi(self) -> xr.DataArray:
        """Return the NDVI, ``(nir08 - red) / (nir08 + red)``, named ``"ndvi"``."""
        return self.normalized_difference("nir08", "red", name="ndvi")

    # -- composites ----------------------------------------------------------------------------------------

    def composite(self, how: str = "median", dim: str = "time") -> xr.Dataset:
        """Return every non-QA variable reduced over ``dim`` ignoring NaN (lazy on dask data).

        Parameters
        ----------
        how : {"median"}
            ``"median"`` gives the same values as ``np.nanmedian``, several times faster on Landsat time series
            (see :mod:`lsru_geo._composite`; xarray's own ``median`` on dask data averages in float64, so it
            can differ in the last bit of a float32).
        dim : str, default "time"
            The dimension reduced.

        Returns
        -------
        xarray.Dataset
            The variables that have ``dim``, without it and its coordinates; QA bit fields are left out.

        Raises
        ------
        InvalidInputError
            For another ``how``, or when no variable has ``dim``.

        Examples
        --------
        >>> masked = ds.lsru.mask()  # doctest: +SKIP
        >>> composite = masked.assign(ndvi=masked.lsru.ndvi()).lsru.composite("median")  # doctest: +SKIP
        >>> composite.ndvi.plot()  # doctest: +SKIP
        """
        from . import _composite
        from .exceptions import InvalidInputError

        if how != "median":
            raise InvalidInputError(f"composite how must be 'median', got {how!r}")
        kept = [name for name, v in self._ds.data_vars.items() if name not in QA_VARIABLES and dim in v.dims]
        if not kept:
            raise InvalidInputError(f"no non-QA variable of this Dataset has a {dim!r} dimension")
        return xr.Dataset({name: _composite.nanmedian(self._ds[name], dim) for name in kept}, attrs=self._ds.attrs)


def _normalized_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return ``(a - b) / (a + b)`` in float32 with one temporary (NaN where either is NaN or both are 0)."""
    out = np.subtract(a, b, dtype=np.float32)
    total = np.add(a, b, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(out, total, out=out)
    return out
