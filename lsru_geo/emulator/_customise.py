"""ESPA customisation of a product: reprojection, pixel size, resampling and cropping (``espa-api.md`` 1.4, 1.6).

ESPA applies an order's ``projection``, ``resize``, ``resampling_method`` and ``image_extents`` to every raster
of the product with GDAL's warper, fills what lies outside the input data with each band's fill value,
rewrites its ``<id>.xml`` to the new grid and passes USGS's MTL and ANG through unchanged. This module
computes the output grid of an order and warps the emulator's native rasters onto it (rasterio/GDAL), so a
customised product is the uncustomised one warped, exactly what a client comparing the two should find.

Choices where the contracts are silent (each tested in ``tests/integration/test_espa_customisation.py``):

* **CRS.** ``utm`` is ``EPSG:326zz`` (``zone_ns: north``) or ``EPSG:327zz`` (``south``); ``lonlat`` is
  ``EPSG:4326``; ``aea`` and ``ps`` are PROJ strings of the ordered parameters on the ordered datum (``ps``
  on WGS84, pole on the side of ``latitude_true_scale``); ``sinu`` uses the MODIS sphere (R = 6371007.181 m)
  as ESPA's sinusoidal products do.
* **Pixel size.** ``resize.pixel_size`` when ordered; otherwise the native pixel size (metres), or the
  native pixel size divided by 111,319.49 m per degree for ``lonlat`` (ESPA's 30 m <-> 0.0002695 dd).
* **Extent.** With ``image_extents`` the output's upper-left corner is (``west``, ``north``) and it has
  ``round((east - west) / pixel)`` columns and ``round((north - south) / pixel)`` rows (what ``gdalwarp -te
  -tr`` gives), so an extent that is a multiple of the pixel size is reproduced exactly. Extents in ``dd``
  for a projected CRS are the projected bounding box of the densified lon/lat rectangle; extents in
  ``meters`` are in the ordered projection. Without ``image_extents`` the output covers the whole input
  grid, its edges snapped outwards to multiples of the pixel size. A geographic grid across the antimeridian
  keeps running east past 180 degrees (e.g. 178 to 181) rather than wrapping.
* **Resampling.** ``nn``, ``bil``, ``cc`` are GDAL's nearest, bilinear and cubic; bit-field (QA) bands are
  always resampled nearest-neighbour, as the ESPA user guide says. Bands without a fill value (``QA_RADSAT``,
  ``SR_CLOUD_QA``) are filled with 0 outside the data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject, transform_bounds

from ._raster import BandInfo, Grid

METERS_PER_DEGREE = 111_319.49
MODIS_SPHERE = 6_371_007.181
RESAMPLING = {"nn": Resampling.nearest, "bil": Resampling.bilinear, "cc": Resampling.cubic}
RESAMPLE_NAMES = {"nn": "nearest neighbor", "bil": "bilinear", "cc": "cubic convolution"}
KEYS = ("projection", "image_extents", "resize", "resampling_method")
_DATUMS = {"wgs84": "WGS84", "nad27": "NAD27", "nad83": "NAD83"}


@dataclass(frozen=True)
class Target:
    """The output grid of a customised product.

    Attributes
    ----------
    projection : str
        The ordered projection name (``utm``, ``lonlat``, ``aea``, ``ps``, ``sinu``).
    crs : rasterio.crs.CRS
    transform : affine.Affine
        North-up geotransform (upper-left corner of the upper-left pixel).
    width, height : int
    res : float
        Pixel size in ``units``.
    units : str
        ``"meters"`` or ``"degrees"``.
    resampling : str
        ``nn``, ``bil`` or ``cc``.
    zone : int or None
        UTM zone of a ``utm`` target.
    """

    projection: str
    crs: CRS
    transform: Affine
    width: int
    height: int
    res: float
    units: str
    resampling: str
    zone: int | None = None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the outer pixel edges."""
        left, top = self.transform.c, self.transform.f
        return left, top - self.height * self.res, left + self.width * self.res, top

    def to_key(self) -> dict:
        """JSON-able description (part of the product cache key)."""
        return {
            "crs": self.crs.to_wkt(),
            "transform": list(self.transform)[:6],
            "width": self.width,
            "height": self.height,
            "resampling": self.resampling,
        }


def customisation(product_opts: Mapping | None) -> dict | None:
    """Return the customisation keys of an order's ``product_opts``, or ``None`` when the order changes no grid.

    ``resampling_method`` alone (every lsru_geo order sends it) changes nothing without a projection or a
    resize, as on ESPA.
    """
    if not product_opts:
        return None
    picked = {k: product_opts[k] for k in KEYS if product_opts.get(k) is not None}
    if not any(k in picked for k in ("projection", "resize", "image_extents")):
        return None
    return picked


def target_crs(projection: Mapping) -> tuple[str, CRS, int | None]:
    """``(name, CRS, UTM zone or None)`` of an ESPA ``projection`` block (``{"utm": {...}}``)."""
    ((name, p),) = projection.items()
    p = p or {}
    if name == "lonlat":
        return name, CRS.from_epsg(4326), None
    if name == "utm":
        zone = int(p["zone"])
        return name, CRS.from_epsg((32700 if p["zone_ns"] == "south" else 32600) + zone), zone
    if name == "aea":
        datum = _DATUMS.get(str(p.get("datum", "wgs84")).lower(), "WGS84")
        return (
            name,
            CRS.from_proj4(
                f"+proj=aea +lat_1={p['standard_parallel_1']} +lat_2={p['standard_parallel_2']} "
                f"+lat_0={p['latitude_of_origin']} +lon_0={p['central_meridian']} +x_0={p['false_easting']} "
                f"+y_0={p['false_northing']} +datum={datum} +units=m +no_defs"
            ),
            None,
        )
    if name == "ps":
        pole = 90 if float(p["latitude_true_scale"]) > 0 else -90
        return (
            name,
            CRS.from_proj4(
                f"+proj=stere +lat_0={pole} +lat_ts={p['latitude_true_scale']} +lon_0={p['longitudinal_pole']} "
                f"+x_0={p['false_easting']} +y_0={p['false_northing']} +datum=WGS84 +units=m +no_defs"
            ),
            None,
        )
    if name == "sinu":
        return (
            name,
            CRS.from_proj4(
                f"+proj=sinu +lon_0={p['central_meridian']} +x_0={p['false_easting']} +y_0={p['false_northing']} "
                f"+R={MODIS_SPHERE} +units=m +no_defs"
            ),
            None,
        )
    raise ValueError(f"unknown projection {name!r}")


def target_grid(options: Mapping, grid: Grid) -> Target:
    """Return the output grid of an order's customisation (:func:`customisation`) for a product on ``grid``."""
    source = CRS.from_epsg(grid.epsg)
    if options.get("projection"):
        name, crs, zone = target_crs(options["projection"])
    else:  # resize alone keeps the product's own UTM grid
        name, crs, zone = "utm", source, grid.zone
    geographic = crs.is_geographic
    units = "degrees" if geographic else "meters"
    resize = options.get("resize")
    if resize:
        res = float(resize["pixel_size"])
    else:
        res = grid.res / METERS_PER_DEGREE if geographic else grid.res
    resampling = str(options.get("resampling_method") or "nn")
    extents = options.get("image_extents")
    if extents:
        west, south, east, north = (float(extents[k]) for k in ("west", "south", "east", "north"))
        if extents["units"] == "dd" and east < west:  # across the antimeridian
            east += 360.0
        if extents["units"] == "dd" and not geographic:
            box = transform_bounds(CRS.from_epsg(4326), crs, west, south, east, north, densify_pts=51)
            west, south, east, north = box
        width = max(1, round((east - west) / res))
        height = max(1, round((north - south) / res))
        return Target(name, crs, Affine(res, 0, west, 0, -res, north), width, height, res, units, resampling, zone)
    left, bottom, right, top = transform_bounds(
        source, crs, grid.left, grid.bottom, grid.right, grid.top, densify_pts=51
    )
    if geographic and right < left:  # a scene across the antimeridian: longitudes run on past 180
        right += 360.0
    left, bottom = math.floor(left / res) * res, math.floor(bottom / res) * res
    right, top = math.ceil(right / res) * res, math.ceil(top / res) * res
    width, height = max(1, round((right - left) / res)), max(1, round((top - bottom) / res))
    return Target(name, crs, Affine(res, 0, left, 0, -res, top), width, height, res, units, resampling, zone)


def warp(array: np.ndarray, grid: Grid, info: BandInfo, target: Target) -> np.ndarray:
    """One native band warped onto ``target``: fill outside the data, QA bands nearest-neighbour."""
    fill = info.nodata if info.nodata is not None else 0
    method = RESAMPLING["nn" if info.scale is None else target.resampling]  # bit fields: nearest, always
    out = np.full((target.height, target.width), fill, dtype=array.dtype)
    reproject(
        source=array,
        destination=out,
        src_transform=grid.transform,
        src_crs=CRS.from_epsg(grid.epsg),
        src_nodata=fill,
        dst_transform=target.transform,
        dst_crs=target.crs,
        dst_nodata=fill,
        resampling=method,
    )
    return out


def corner_centres(target: Target) -> dict[str, tuple[float, float, float, float]]:
    """Centres of the four corner pixels: ``{"UL": (x, y, lat, lon), ...}`` (ESPA's ``grid_origin`` CENTER)."""
    from pyproj import Transformer

    left, bottom, right, top = target.bounds
    half = target.res / 2
    xy = {
        "UL": (left + half, top - half),
        "UR": (right - half, top - half),
        "LL": (left + half, bottom + half),
        "LR": (right - half, bottom + half),
    }
    to_geo = Transformer.from_crs(target.crs, CRS.from_epsg(4326), always_xy=True)
    out = {}
    for name, (x, y) in xy.items():
        lon, lat = to_geo.transform(x, y)
        out[name] = (x, y, lat, lon)
    return out


__all__ = ["Target", "corner_centres", "customisation", "target_crs", "target_grid", "warp"]
