"""The public functions: :func:`open_scene` and :func:`open_stack`."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .. import (
    _bands,
    _xr_accessor,  # noqa: F401  registers the ds.lsru accessor
)
from ..exceptions import InvalidInputError, LsruWarning
from . import _grid
from ._chunks import Layer
from ._decode import decoding_of
from ._graph import BandPlan, attrs_of, chunk_sizes, finish, lazy_variable
from ._products import Product, deduplicate, discover_products, find_product, grid_key, product_grid

PathLike = str | os.PathLike

#: Column of a scenes GeoDataFrame that holds each downloaded product (file or folder).
PATH_COLUMNS = ("local_path", "product_path")


def _requested(product: Product, bands: Sequence[str] | str | None) -> dict[str, str]:
    """Variable name -> raster suffix for the requested bands of a product (all rasters when None).

    Raises
    ------
    InvalidInputError
        For a band the product does not hold, naming the member its MTL lists when it lists one.
    """
    pid = product.product_id
    if bands is None:
        found = {}
        for suffix in product.rasters:
            try:
                found[_bands.common_name(suffix, pid)] = suffix
            except InvalidInputError:
                continue  # a raster this version does not know: skip it rather than fail
        return found
    if isinstance(bands, str):
        bands = [bands]
    wanted = {}
    for name in bands:
        suffix = _bands.band_suffix(name, pid)
        if suffix not in product.rasters:
            if suffix in product.named:
                raise InvalidInputError(
                    f"{product.source} lacks {product.named[suffix]} ({name!r}), which its MTL lists; "
                    f"it holds {sorted(product.rasters)}"
                )
            raise InvalidInputError(f"{product.source} has no {name!r} ({suffix}); it has {sorted(product.rasters)}")
        wanted[_bands.variable_name(name, pid)] = suffix
    return wanted


def _layer(product: Product, suffix: str, target: _grid.Grid) -> tuple[Layer, tuple[float, float, float, float]]:
    """Place a product's raster on the target grid, with its own decoding."""
    source = product_grid(product, suffix)
    aligned, row_off, col_off, box = _grid.placement(source, target)
    decoding = decoding_of(suffix, product.product_id, product.mtl)
    return Layer(product.rasters[suffix], source, aligned, row_off, col_off, decoding), box


def open_scene(
    source: PathLike,
    bands: Sequence[str] | str | None = None,
    mask_and_scale: bool = True,
    chunks: int | Mapping[str, int] | None = None,
) -> xr.Dataset:
    """Open one Collection 2 product (Level-2 or Level-1) lazily, read in place.

    Parameters
    ----------
    source : path-like
        A gzip tar (``.tar.gz``/``.tgz``: an ESPA order, a gzipped USGS bundle), a plain tar (a USGS bundle
        ``<id>.tar``), an extracted product folder (files flat or under one top folder), or one file of such a
        folder; names and extensions in any case. Everything is read in place.
    bands : str or list of str, optional
        Common names (``"red"``, ``"nir08"``, ``"lwir11"``/``"lwir"``, ``"qa_pixel"``, ``"ndvi"``...), aliases
        (``"nir"``, ``"swir1"``) or file suffixes (``"SR_B4"``, ``"B4"``). Level-1 products use the same names
        (plus ``"pan"``, ``"cirrus"``, ``"lwir12"``; ETM+ ``"lwir"`` is ``B6_VCID_1``, ``"lwir_high_gain"``
        ``B6_VCID_2``). All rasters of the product by default, but the 15 m pan band, which has its own grid
        and opens alone. Only these rasters are ever opened.
    mask_and_scale : bool, default True
        Decode to float32 physical values (reflectance ``DN * 2.75e-05 - 0.2``, temperature
        ``DN * 0.00341802 + 149`` K, indices ``DN * 0.0001``) with fill as NaN; the packing is kept in each
        variable's ``encoding``. False keeps the stored integers, with ``scale_factor``, ``add_offset`` and
        ``_FillValue`` attributes. QA bit fields stay integers either way. Level-1 bands decode with their
        MTL's coefficients: top-of-atmosphere reflectance ``(REFLECTANCE_MULT * Q + REFLECTANCE_ADD) /
        sin(SUN_ELEVATION)``, brightness temperature ``K2 / ln(K1 / L + 1)`` K with ``L = RADIANCE_MULT * Q +
        RADIANCE_ADD``; raw they are digital numbers (``units="DN"``).
    chunks : int or dict, optional
        Chunk size in pixels: an int (square), ``{"y": rows, "x": cols}`` (-1 = whole axis), or None for
        strips of 1024 whole rows (contiguous bytes, the cheapest read from a ``.tar.gz``).

    Returns
    -------
    xarray.Dataset
        Dask-backed variables on ``(y, x)`` named by common name, pixel-centre ``x``/``y`` coordinates, the
        CRS in ``spatial_ref`` (``ds.rio.crs``), a scalar ``time`` coordinate (scene centre, UTC) and the MTL
        facts as attributes (``product_id``, ``wrs_path``, ``wrs_row``, ``cloud_cover``, ``sun_azimuth``,
        ``sun_elevation``, ``processing_level``...).

    Raises
    ------
    InvalidInputError
        If the source holds no Collection 2 product (or several), lacks a requested band (naming the member its
        MTL lists), or mixes the pan band with 30 m bands.
    OversizedMetadataError
        For a metadata member above 4 MiB, or a stated or actual raster size beyond any Landsat product.

    Examples
    --------
    >>> ds = lsru_geo.open_scene("LC08...T1-SC2024....tar.gz", bands=["red", "nir08", "qa_pixel"])  # doctest: +SKIP
    >>> ndvi = ds.lsru.mask().lsru.ndvi()  # doctest: +SKIP
    """
    product = find_product(source)
    wanted = _requested(product, bands)
    if bands is None:  # the pan band has its own grid: only when asked for
        wanted = {var: s for var, s in wanted.items() if grid_key(product, s) == "main"}
    keys = {grid_key(product, s) for s in wanted.values()}
    if len(keys) > 1:
        raise InvalidInputError(
            f"{product.product_id}: the pan band is on a 15 m grid, the others on 30 m; open pan alone, or stack "
            "them with open_stack([...], resolution=15 or 30)"
        )
    grid = product_grid(product, next(iter(wanted.values()), None))
    rows, cols = chunk_sizes(chunks)
    data_vars = {}
    for var, suffix in wanted.items():
        enc = _bands.encoding_of(suffix, product.product_id)
        placed = _layer(product, suffix, grid)
        plan = BandPlan(var, enc, ((placed,),))
        array = lazy_variable(plan, grid, rows, cols, mask_and_scale, "nearest", stacked=False)
        attrs, encoding = attrs_of(enc, mask_and_scale)
        data_vars[var] = xr.Variable(("y", "x"), array, attrs, encoding)
    coords = {"y": grid.y(), "x": grid.x(), "time": product.facts.time}
    ds = xr.Dataset(data_vars, coords=coords, attrs=product.facts.attrs())
    return finish(ds, grid)


def _sources_list(sources: Any) -> list[Product]:
    """Products from a folder, a path, a list of paths/products, or a frame with a ``local_path`` column."""
    if hasattr(sources, "columns"):
        column = next((c for c in PATH_COLUMNS if c in sources.columns), None)
        if column is None:
            raise InvalidInputError(
                f"the frame needs a column {PATH_COLUMNS[0]!r} (or {PATH_COLUMNS[1]!r}) "
                "with each product's file or folder"
            )
        paths = list(sources[column])
        missing = [
            i for i, p in zip(sources.index, paths, strict=True) if p is None or (isinstance(p, float) and np.isnan(p))
        ]
        if missing:
            raise InvalidInputError(f"rows {missing[:5]} have no {column}; download them or drop them first")
        return [find_product(p) for p in paths]
    if isinstance(sources, (str, os.PathLike)):
        path = Path(sources)
        return discover_products(path) if path.is_dir() else [find_product(path)]
    products = [s if isinstance(s, Product) else find_product(s) for s in sources]
    if not products:
        raise InvalidInputError("no products to stack")
    return products


def _group(products: list[Product], groupby: str | None) -> list[list[Product]]:
    """Sort products by time; with ``"solar_day"``, merge those of one local solar day, platform and path."""
    ordered = sorted(products, key=lambda p: (p.facts.time, p.product_id))
    if groupby is None:
        return [[p] for p in ordered]
    if groupby != "solar_day":
        raise InvalidInputError(f"groupby must be None or 'solar_day', got {groupby!r}")
    groups: dict[tuple, list[Product]] = {}
    for p in ordered:
        key = (p.facts.solar_day, p.facts.spacecraft_id, p.facts.wrs_path)
        groups.setdefault(key, []).append(p)
    return sorted(groups.values(), key=lambda g: (g[0].facts.time, g[0].product_id))


def open_stack(
    sources: Any,
    bands: Sequence[str] | str | None = None,
    crs: Any = None,
    resolution: float | tuple[float, float] | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    chunks: int | Mapping[str, int] | None = None,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    aoi: Any = None,
    mask_and_scale: bool = True,
    groupby: str | None = None,
    resampling: str = "nearest",
) -> xr.Dataset:
    """Open many products lazily as one Dataset with a sorted ``time`` dimension on one grid.

    Parameters
    ----------
    sources : path-like, sequence or GeoDataFrame
        A folder (every product archive, product folder and loose product file in it), a list of paths (as
        :func:`open_scene` takes), or a (Geo)DataFrame with a ``local_path`` column (``product_path`` is also
        accepted) holding each row's downloaded product. A product found several times (a folder and its
        ``.tar``/``.tar.gz``) is stacked once, from the cheapest copy (folder, then ``.tar``, then
        ``.tar.gz``), with an :class:`~lsru_geo.exceptions.LsruWarning` saying how many were skipped.
    bands : str or list of str, optional
        As in :func:`open_scene`; by default the bands every product has. ``"lwir"`` names the thermal band
        of every sensor, so a Landsat 7 + 8 stack has one thermal variable.
    crs : CRS-like, optional
        Target CRS. By default the CRS most products share; products in it are read without resampling,
        the others (another UTM zone) warped per chunk.
    resolution : float or (float, float), optional
        Pixel size in target CRS units; by default the products' (30 m).
    bounds : (left, bottom, right, top), optional
        Extent in target CRS units; by default the union of the products. Snapped outwards to the pixel
        edges of the first product in the target CRS.
    chunks : int or dict, optional
        Spatial chunks as in :func:`open_scene` (each time step is its own chunk).
    bbox : (west, south, east, north), optional
        Extent in degrees (lon/lat), cropped to as ``bounds`` would be.
    aoi : shapely geometry, GeoJSON dict, GeoSeries or GeoDataFrame, optional
        An area (shapely geometries and GeoJSON in lon/lat, frames in any CRS); the stack is cropped to its
        bounds. One of ``bounds``, ``bbox`` and ``aoi`` at most.
    mask_and_scale : bool, default True
        As in :func:`open_scene`.
    groupby : {None, "solar_day"}, optional
        ``"solar_day"`` mosaics products of the same local solar day, satellite and WRS path (adjacent rows)
        into one time step: the first product in time order that has a pixel wins.
    resampling : str, default "nearest"
        GDAL resampling of warped products (``"nearest"``, ``"bilinear"``, ``"cubic"``...); QA bands are
        always resampled with ``"nearest"``.

    Returns
    -------
    xarray.Dataset
        Variables on ``(time, y, x)``; per-time coordinates ``product_id``, ``spacecraft_id``, ``wrs_path``,
        ``wrs_row``, ``cloud_cover``, ``sun_azimuth``, ``sun_elevation``, ``processing_level``; the CRS in
        ``spatial_ref``. Building it reads metadata and one raster header per product, never pixels.

    Raises
    ------
    InvalidInputError
        For no products, a product lacking a requested band, a mix of Level-1 and Level-2 products, or bad
        bounds/bbox/aoi.
    SeparateAreasError
        When, without bounds/bbox/aoi, the products fall into separate areas and one grid over them would be
        mostly empty (the error names each area's products).
    """
    products, skipped = deduplicate(_sources_list(sources))
    if skipped:
        warnings.warn(
            f"{skipped} product(s) found more than once (a folder and its archive?) were stacked once each",
            LsruWarning,
            stacklevel=2,
        )
    levels = {p.level for p in products}
    if len(levels) > 1:
        level1 = [p.product_id for p in products if p.level == "L1"][:3]
        raise InvalidInputError(
            f"cannot stack Level-1 and Level-2 products together (Level-1: {level1}...): their values are "
            "different quantities (top-of-atmosphere vs surface reflectance); stack each level on its own"
        )
    if sum(x is not None for x in (bounds, bbox, aoi)) > 1:
        raise InvalidInputError("give at most one of bounds= (target CRS units), bbox= (lon/lat) and aoi=")
    if bands is None:
        common = set.intersection(*(set(_requested(p, None)) for p in products))
        if not common:
            raise InvalidInputError("the products share no band; name the bands to stack")
        bands = sorted(common)
    wanted = [_requested(p, bands) for p in products]
    grids = [product_grid(p, next(iter(w.values()))) for p, w in zip(products, wanted, strict=True)]
    if bounds is None and bbox is None and aoi is None:
        _grid.check_one_area([_grid.lonlat_box(g) for g in grids], [p.product_id for p in products])
    crs = _grid.target_crs(grids, crs)
    if bbox is not None or aoi is not None:
        bounds = _grid.area_bounds(bbox, aoi, crs)
    target = _grid.target_grid(grids, crs, resolution, bounds)
    rows, cols = chunk_sizes(chunks)
    groups = _group(products, groupby)
    position = {id(p): i for i, p in enumerate(products)}
    data_vars = {}
    for var in wanted[0]:
        suffixes = {wanted[position[id(p)]][var] for p in products}
        enc = _bands.encoding_of(sorted(suffixes)[0], products[0].product_id)
        steps = tuple(tuple(_layer(p, wanted[position[id(p)]][var], target) for p in group) for group in groups)
        method = "nearest" if enc.is_bit_field else resampling
        plan = BandPlan(var, enc, steps)
        array = lazy_variable(plan, target, rows, cols, mask_and_scale, method, stacked=True)
        attrs, encoding = attrs_of(enc, mask_and_scale)
        data_vars[var] = xr.Variable(("time", "y", "x"), array, attrs, encoding)
    firsts = [g[0].facts for g in groups]
    per_time = {
        "product_id": [",".join(p.product_id for p in g) for g in groups],
        "spacecraft_id": [f.spacecraft_id for f in firsts],
        "wrs_path": [f.wrs_path for f in firsts],
        "wrs_row": [f.wrs_row for f in firsts],
        "cloud_cover": [f.cloud_cover for f in firsts],
        "sun_azimuth": [f.sun_azimuth for f in firsts],
        "sun_elevation": [f.sun_elevation for f in firsts],
        "processing_level": [f.processing_level for f in firsts],
    }
    coords = {
        "time": np.array([f.time for f in firsts], dtype="datetime64[ns]"),
        "y": target.y(),
        "x": target.x(),
        **{k: ("time", v) for k, v in per_time.items()},
    }
    ds = xr.Dataset(data_vars, coords=coords)
    return finish(ds, target)
