"""Synthetic raster content of emulated Landsat Collection 2 Level-2 products.

Everything here is pure computation plus GeoTIFF encoding; :mod:`._products` decides which files a
product holds and packs them. The module is independent of the rest of ``lsru_geo`` (stdlib, numpy,
rasterio, pyproj and shapely only).

Model
-----
* **Grid.** A north-up rectangle in the scene's UTM zone (always ``EPSG:326zz``: real C2 products south of
  the equator use the northern zone with negative northings) that contains the footprint. The pixel size is
  ``30 m * k`` with ``k = max(1, round(NOMINAL_SCENE_EXTENT_M / 30 / size))`` and the pixel edges sit on
  multiples of the pixel size, so all scenes of one zone built with one ``size`` share a grid. (Real C2
  products put pixel *centres* on multiples of 30 m, so their edges sit 15 m off; edge alignment is kept
  here because it nests for every ``k``. MTL corner coordinates are pixel centres, as in real MTLs.)
  ``NOMINAL_SCENE_EXTENT_M`` rather than each footprint's own extent sets ``k``, so that ``k`` depends
  on ``size`` alone.
* **Land** is anchored to the ground, not to the product: water, soil/vegetation mixture, fields and terrain
  are value noise on lattices in UTM metres of the zone, so every acquisition (and every overlapping
  scene of the same zone) sees the same landscape. Season changes the greenness and the snow line.
* **Atmosphere** (clouds, shadows, aerosol, water vapour, pixel noise) is seeded from the product id, so it
  changes from one acquisition to the next. The cloud threshold is the footprint quantile that gives the
  catalogue's cloud cover; shadows are the cloud mask moved away from the sun.
* Spectra, temperatures and the QA bit patterns follow the real products (see ``espa-api.md`` section 5).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.features import geometry_mask
from rasterio.io import MemoryFile
from rasterio.transform import Affine
from shapely.geometry import Polygon

# ---------------------------------------------------------------------------------------------------------
# Band and sensor catalogue
# ---------------------------------------------------------------------------------------------------------

SR_SCALE, SR_OFFSET = 2.75e-05, -0.2
ST_SCALE, ST_OFFSET = 0.00341802, 149.0
#: The C2 index fill is unverified (espa-api.md 4.3); -9999 is the Collection-1 value, kept here.
INDEX_FILL = -9999


@dataclass(frozen=True)
class BandInfo:
    """How one raster of a product is stored.

    Attributes
    ----------
    suffix : str
        File name part after the product id, without extension (``"SR_B4"``).
    dtype : str
        numpy dtype name.
    nodata : int or None
        Fill value written to the GeoTIFF ``nodata`` tag; ``None`` when the band has none (bit fields
        such as ``QA_RADSAT``).
    scale, offset : float or None
        ``physical = DN * scale + offset``; ``None`` for bit fields.
    units, long_name : str
        Written as band metadata and into the ESPA XML.
    mtl_key : str or None
        The MTL key stem: ``FILE_NAME_<mtl_key>`` / ``DATA_TYPE_<mtl_key>``; ``None`` for ESPA-only bands.
    valid_range : tuple of int or None
        Documented valid DN range.
    category : str
        ``"image"`` or ``"qa"`` (ESPA XML ``category``).
    """

    suffix: str
    dtype: str
    nodata: int | None
    scale: float | None
    offset: float | None
    units: str
    long_name: str
    mtl_key: str | None
    valid_range: tuple[int, int] | None
    category: str = "image"


def _sr(n: int) -> BandInfo:
    return BandInfo(
        f"SR_B{n}",
        "uint16",
        0,
        SR_SCALE,
        SR_OFFSET,
        "reflectance",
        f"surface reflectance band {n}",
        f"BAND_{n}",
        (7273, 43636),
    )


def _st(band: str) -> BandInfo:
    return BandInfo(
        f"ST_{band}", "uint16", 0, ST_SCALE, ST_OFFSET, "kelvin", "surface temperature", f"BAND_ST_{band}", (293, 65535)
    )


def _int16(
    suffix: str,
    scale: float,
    units: str,
    long_name: str,
    mtl_key: str | None,
    valid: tuple[int, int] | None = None,
    category: str = "image",
) -> BandInfo:
    return BandInfo(suffix, "int16", -9999, scale, 0.0, units, long_name, mtl_key, valid, category)


_RADIANCE = "W/(m2 sr um)"
BANDS: dict[str, BandInfo] = {
    b.suffix: b
    for b in [
        *(_sr(n) for n in range(1, 8)),
        _st("B10"),
        _st("B6"),
        _int16("ST_TRAD", 0.001, _RADIANCE, "thermal radiance", "THERMAL_RADIANCE"),
        _int16("ST_URAD", 0.001, _RADIANCE, "upwelled radiance", "UPWELL_RADIANCE"),
        _int16("ST_DRAD", 0.001, _RADIANCE, "downwelled radiance", "DOWNWELL_RADIANCE"),
        _int16("ST_ATRAN", 0.0001, "unitless", "atmospheric transmittance", "ATMOSPHERIC_TRANSMITTANCE"),
        _int16("ST_EMIS", 0.0001, "unitless", "emissivity", "EMISSIVITY"),
        _int16("ST_EMSD", 0.0001, "unitless", "emissivity standard deviation", "EMISSIVITY_STDEV"),
        _int16("ST_CDIST", 0.01, "kilometers", "distance to cloud", "CLOUD_DISTANCE"),
        _int16(
            "ST_QA", 0.01, "kelvin", "surface temperature uncertainty", "QUALITY_L2_SURFACE_TEMPERATURE", category="qa"
        ),
        _int16("SR_ATMOS_OPACITY", 0.001, "unitless", "atmospheric opacity", "ATMOSPHERIC_OPACITY"),
        BandInfo(
            "SR_QA_AEROSOL", "uint8", 1, None, None, "bit field", "aerosol quality", "QUALITY_L2_AEROSOL", None, "qa"
        ),
        BandInfo(
            "SR_CLOUD_QA",
            "uint8",
            None,
            None,
            None,
            "bit field",
            "surface reflectance cloud quality",
            "QUALITY_L2_SURFACE_REFLECTANCE_CLOUD",
            None,
            "qa",
        ),
        BandInfo("QA_PIXEL", "uint16", 1, None, None, "bit field", "pixel quality", "QUALITY_L1_PIXEL", None, "qa"),
        BandInfo(
            "QA_RADSAT",
            "uint16",
            None,
            None,
            None,
            "bit field",
            "radiometric saturation",
            "QUALITY_L1_RADIOMETRIC_SATURATION",
            None,
            "qa",
        ),
        *(
            _int16(f"SR_{name}", 0.0001, "unitless", f"{name} spectral index", None, (-10000, 10000))
            for name in ("NDVI", "EVI", "SAVI", "MSAVI", "NDMI", "NBR", "NBR2", "NDSI")
        ),
        # ET dtypes are not documented: 16-bit (the real files have the size of 16-bit rasters), ETF scaled
        # 0.0001 like a 2026 client reads it; ETA/ETUN in mm scaled 0.001 (daily ET stays below 32.7 mm).
        _int16("ETA", 0.001, "mm", "actual evapotranspiration", None, (0, 32767)),
        _int16("ETF", 0.0001, "unitless", "evapotranspiration fraction", None, (0, 15000)),
        _int16("ETUN", 0.001, "mm", "actual evapotranspiration uncertainty", None, (0, 32767)),
    ]
}

_ST_ANCILLARY = ("ST_TRAD", "ST_URAD", "ST_DRAD", "ST_ATRAN", "ST_EMIS", "ST_EMSD", "ST_CDIST")


@dataclass(frozen=True)
class Sensor:
    """Facts about one Landsat instrument as its Level-2 products show them."""

    code: str  # product-id prefix, "LC08"
    spacecraft: str  # MTL SPACECRAFT_ID
    sensor_id: str  # MTL SENSOR_ID
    sr_bands: tuple[tuple[str, str], ...]  # (suffix, common name)
    thermal: str  # "ST_B10" / "ST_B6"
    thermal_um: float  # centre wavelength, for Planck radiances
    sr_extras: tuple[str, ...]
    cirrus: bool  # QA_PIXEL cirrus bits exist
    saturating: tuple[int, ...]  # SR band numbers that saturate over bright cloud (QA_RADSAT bits n-1)
    espa_key: str  # ESPA sensor-key stem

    @property
    def is_oli(self) -> bool:
        """True for Landsat 8/9."""
        return self.code in ("LC08", "LC09")

    def level2_suffixes(self, level: str) -> list[str]:
        """Raster suffixes of a USGS Level-2 product, in the MTL's ``FILE_NAME_*`` order."""
        sr = [s for s, _ in self.sr_bands]
        st = [self.thermal, *_ST_ANCILLARY] if level == "L2SP" else []
        if self.is_oli:
            out = sr + st + ["SR_QA_AEROSOL"] + (["ST_QA"] if st else [])
        else:  # TM/ETM+ list the thermal band between SR_B5 and SR_B7
            out = sr[:5] + st[:1] + sr[5:] + st[1:] + ["SR_ATMOS_OPACITY", "SR_CLOUD_QA"]
            out += ["ST_QA"] if st else []
        return [*out, "QA_PIXEL", "QA_RADSAT"]


_OLI = (
    ("SR_B1", "coastal"),
    ("SR_B2", "blue"),
    ("SR_B3", "green"),
    ("SR_B4", "red"),
    ("SR_B5", "nir"),
    ("SR_B6", "swir1"),
    ("SR_B7", "swir2"),
)
_TM = (
    ("SR_B1", "blue"),
    ("SR_B2", "green"),
    ("SR_B3", "red"),
    ("SR_B4", "nir"),
    ("SR_B5", "swir1"),
    ("SR_B7", "swir2"),
)
_LEDAPS = ("SR_ATMOS_OPACITY", "SR_CLOUD_QA")
SENSORS: dict[str, Sensor] = {
    s.code: s
    for s in [
        Sensor(
            "LC08", "LANDSAT_8", "OLI_TIRS", _OLI, "ST_B10", 10.9, ("SR_QA_AEROSOL",), True, (1, 2, 3, 4), "olitirs8"
        ),
        Sensor(
            "LC09", "LANDSAT_9", "OLI_TIRS", _OLI, "ST_B10", 10.9, ("SR_QA_AEROSOL",), True, (1, 2, 3, 4), "olitirs9"
        ),
        Sensor("LE07", "LANDSAT_7", "ETM", _TM, "ST_B6", 11.34, _LEDAPS, False, (1, 2, 3), "etm7"),
        Sensor("LT05", "LANDSAT_5", "TM", _TM, "ST_B6", 11.45, _LEDAPS, False, (1, 2, 3), "tm5"),
        Sensor("LT04", "LANDSAT_4", "TM", _TM, "ST_B6", 11.45, _LEDAPS, False, (1, 2, 3), "tm4"),
    ]
}

# ---------------------------------------------------------------------------------------------------------
# Grid
# ---------------------------------------------------------------------------------------------------------

#: A full WRS-2 product is about 7,700 x 7,700 pixels of 30 m. Deriving the pixel size from this constant
#: rather than from each scene's own extent makes it depend on ``size`` alone, so scenes share grids.
NOMINAL_SCENE_EXTENT_M = 231_000.0


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid in UTM.

    Attributes
    ----------
    epsg : int
        ``32600 + zone``.
    zone : int
        UTM zone number.
    res : float
        Pixel size in metres (a multiple of 30).
    left, top : float
        Outer edge of the upper-left pixel, multiples of ``res``.
    width, height : int
        Columns and rows.
    """

    epsg: int
    zone: int
    res: float
    left: float
    top: float
    width: int
    height: int

    @property
    def crs(self) -> CRS:
        """The grid's CRS."""
        return CRS.from_epsg(self.epsg)

    @property
    def transform(self) -> Affine:
        """The GeoTIFF geotransform."""
        return Affine(self.res, 0.0, self.left, 0.0, -self.res, self.top)

    @property
    def right(self) -> float:
        """Outer edge of the last column."""
        return self.left + self.width * self.res

    @property
    def bottom(self) -> float:
        """Outer edge of the last row."""
        return self.top - self.height * self.res

    def centres_x(self) -> np.ndarray:
        """Easting of each column's pixel centre."""
        return self.left + (np.arange(self.width) + 0.5) * self.res

    def centres_y(self) -> np.ndarray:
        """Northing of each row's pixel centre."""
        return self.top - (np.arange(self.height) + 0.5) * self.res


def pixel_size(size: int) -> float:
    """Pixel size in metres for about ``size`` pixels across a full scene (a multiple of 30)."""
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    return 30.0 * max(1, round(NOMINAL_SCENE_EXTENT_M / 30.0 / size))


def _normalised_lons(corners: Sequence[tuple[float, float]]) -> np.ndarray:
    lons = np.array([c[0] for c in corners], dtype=float)
    # footprints across the antimeridian come with lons on both sides (or > 180): unwrap, then wrap once
    if lons.max() - lons.min() > 180.0:
        lons = np.where(lons < 0, lons + 360.0, lons)
    return lons


def scene_centre(corners: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Mean of the corners, ``(lon, lat)``, antimeridian-safe, lon in [-180, 180)."""
    lon = float(_normalised_lons(corners).mean())
    return ((lon + 180.0) % 360.0) - 180.0, float(np.mean([c[1] for c in corners]))


def utm_zone(lon: float) -> int:
    """UTM zone number (1-60) of a longitude."""
    return int(((lon + 180.0) % 360.0) // 6.0) + 1


def footprint_utm(corners: Sequence[tuple[float, float]], epsg: int) -> Polygon:
    """Project the footprint polygon to the given UTM CRS."""
    lons = ((_normalised_lons(corners) + 180.0) % 360.0) - 180.0
    lats = [c[1] for c in corners]
    xs, ys = Transformer.from_crs(4326, epsg, always_xy=True).transform(lons, lats)
    return Polygon(zip(xs, ys, strict=True))


def scene_grid(corners: Sequence[tuple[float, float]], size: int) -> Grid:
    """Return the pixel grid of a scene: its footprint's UTM bounding box, snapped outwards to the pixel size.

    Parameters
    ----------
    corners : sequence of (lon, lat)
        Footprint corners UL, UR, LR, LL in EPSG:4326.
    size : int
        Approximate number of pixels across a full scene; ``>= ~7000`` gives true 30 m pixels.

    Returns
    -------
    Grid
    """
    zone = utm_zone(scene_centre(corners)[0])
    epsg = 32600 + zone  # northern zone even south of the equator, as C2 products do
    res = pixel_size(size)
    minx, miny, maxx, maxy = footprint_utm(corners, epsg).bounds
    left, right = math.floor(minx / res) * res, math.ceil(maxx / res) * res
    bottom, top = math.floor(miny / res) * res, math.ceil(maxy / res) * res
    return Grid(epsg, zone, res, left, top, round((right - left) / res), round((top - bottom) / res))


# ---------------------------------------------------------------------------------------------------------
# Sun
# ---------------------------------------------------------------------------------------------------------


def _sun(when: dt.datetime) -> tuple[float, float, float]:
    """Declination (deg), equation of time (minutes) and Earth-Sun distance (AU): NOAA's formulas."""
    when = when.astimezone(dt.timezone.utc)
    jd = (when - dt.datetime(2000, 1, 1, 12, tzinfo=dt.timezone.utc)).total_seconds() / 86400.0 + 2451545.0
    jc = (jd - 2451545.0) / 36525.0
    l0 = (280.46646 + jc * (36000.76983 + jc * 0.0003032)) % 360.0
    m = 357.52911 + jc * (35999.05029 - 0.0001537 * jc)
    ecc = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    mr = math.radians(m)
    centre = (
        math.sin(mr) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + math.sin(2 * mr) * (0.019993 - 0.000101 * jc)
        + math.sin(3 * mr) * 0.000289
    )
    omega = math.radians(125.04 - 1934.136 * jc)
    app_long = l0 + centre - 0.00569 - 0.00478 * math.sin(omega)
    obliq = 23 + (26 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60) / 60
    obliq += 0.00256 * math.cos(omega)
    decl = math.degrees(math.asin(math.sin(math.radians(obliq)) * math.sin(math.radians(app_long))))
    y = math.tan(math.radians(obliq / 2)) ** 2
    l0r = math.radians(l0)
    eqt = 4 * math.degrees(
        y * math.sin(2 * l0r)
        - 2 * ecc * math.sin(mr)
        + 4 * ecc * y * math.sin(mr) * math.cos(2 * l0r)
        - 0.5 * y * y * math.sin(4 * l0r)
        - 1.25 * ecc * ecc * math.sin(2 * mr)
    )
    distance = 1.000001018 * (1 - ecc * ecc) / (1 + ecc * math.cos(mr + math.radians(centre)))
    return decl, eqt, distance


def solar_position(when: dt.datetime, lon: float, lat: float) -> tuple[float, float]:
    """Sun azimuth (clockwise from north) and elevation in degrees, NOAA's simple algorithm (~0.1 deg).

    Parameters
    ----------
    when : datetime.datetime
        Aware time (naive means UTC).
    lon, lat : float
        Degrees.
    """
    when = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    decl, eqt, _ = _sun(when)
    utc = when.astimezone(dt.timezone.utc)
    minutes = utc.hour * 60 + utc.minute + (utc.second + utc.microsecond / 1e6) / 60
    solar_time = (minutes + eqt + 4 * lon) % 1440
    hour_angle = solar_time / 4 - 180
    la, de, ha = math.radians(lat), math.radians(decl), math.radians(hour_angle)
    cos_zen = math.sin(la) * math.sin(de) + math.cos(la) * math.cos(de) * math.cos(ha)
    zen = math.acos(max(-1.0, min(1.0, cos_zen)))
    denom = math.cos(la) * math.sin(zen)
    if abs(denom) < 1e-12:
        azimuth = 180.0
    else:
        cos_az = max(-1.0, min(1.0, (math.sin(la) * math.cos(zen) - math.sin(de)) / denom))
        az = math.degrees(math.acos(cos_az))
        azimuth = (az + 180) % 360 if hour_angle > 0 else (540 - az) % 360
    return azimuth, 90.0 - math.degrees(zen)


def earth_sun_distance(when: dt.datetime) -> float:
    """Earth-Sun distance in astronomical units."""
    return _sun(when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc))[2]


def sun_vector_ecef(when: dt.datetime) -> tuple[float, float, float]:
    """Return the unit vector from the Earth's centre to the Sun in ECEF coordinates (for ``ANG.txt``)."""
    when = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    decl, eqt, _ = _sun(when)
    utc = when.astimezone(dt.timezone.utc)
    hours = utc.hour + utc.minute / 60 + (utc.second + utc.microsecond / 1e6) / 3600
    lon = math.radians(-(hours * 15 - 180 + eqt / 4))  # the sub-solar longitude
    d = math.radians(decl)
    return math.cos(d) * math.cos(lon), math.cos(d) * math.sin(lon), math.sin(d)


# ---------------------------------------------------------------------------------------------------------
# Noise
# ---------------------------------------------------------------------------------------------------------

_ROWS_PER_CHUNK = 1024  # bounds the temporaries of full-size (7,700 px) fields to ~30 MB


def stable_seed(*parts: object) -> int:
    """Return a 64-bit seed from any printable parts, stable across processes (``hash()`` is salted)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _hash01(seed: int, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) values for integer lattice nodes: a splitmix64-style mix, vectorised."""
    with np.errstate(over="ignore"):
        h = ix.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        h = h ^ (iy.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)) ^ np.uint64(seed & 0xFFFF_FFFF_FFFF_FFFF)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return (h >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)


def _cells(coords: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    g = coords / spacing
    i0 = np.floor(g).astype(np.int64)
    return i0, (g - i0).astype(np.float32)


def fbm(xs: np.ndarray, ys: np.ndarray, octaves: Sequence[tuple[float, float]], seed: int) -> np.ndarray:
    """Smooth value noise anchored to map coordinates, roughly in [-1, 1].

    Parameters
    ----------
    xs, ys : numpy.ndarray
        Pixel-centre eastings (columns) and northings (rows) in metres.
    octaves : sequence of (spacing_m, weight)
        Lattice spacing and weight of each layer; the result is divided by the sum of the weights.
    seed : int
        Lattice seed; the same seed and coordinates give the same values on any grid.

    Returns
    -------
    numpy.ndarray
        ``float32`` array of shape ``(len(ys), len(xs))``.
    """
    out = np.zeros((len(ys), len(xs)), dtype=np.float32)
    total = sum(w for _, w in octaves)
    for k, (spacing, weight) in enumerate(octaves):
        ix, fx = _cells(xs, spacing)
        iy, fy = _cells(ys, spacing)
        fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)  # smoothstep hides the lattice
        nx, ny = np.arange(ix.min(), ix.max() + 2), np.arange(iy.min(), iy.max() + 2)
        lattice = _hash01(seed + k, nx[None, :], ny[:, None]) * 2 - 1
        cx = ix - nx[0]
        along_x = (lattice[:, cx] * (1 - fx) + lattice[:, cx + 1] * fx) * np.float32(weight / total)
        step = along_x[1:] - along_x[:-1]
        cy = iy - ny[0]
        # rows between two lattice rows are contiguous: add each block as row + fy * step (an outer
        # product), two passes over the output instead of gathering rows
        starts = np.flatnonzero(np.r_[True, cy[1:] != cy[:-1]])
        ends = np.r_[starts[1:], len(cy)]
        buffer = np.empty((int((ends - starts).max()), len(xs)), dtype=np.float32)  # reused: no page faults
        for r0, r1 in zip(starts, ends, strict=True):
            block, tmp = out[r0:r1], buffer[: r1 - r0]
            block += along_x[cy[r0]]
            np.multiply.outer(fy[r0:r1], step[cy[r0]], out=tmp)
            block += tmp
    return out


def cell_noise(xs: np.ndarray, ys: np.ndarray, spacing: float, seed: int) -> np.ndarray:
    """Piecewise-constant [0, 1) values on square cells of ``spacing`` metres (crisp field parcels)."""
    ix, _ = _cells(xs, spacing)
    iy, _ = _cells(ys, spacing)
    nx, ny = np.arange(ix.min(), ix.max() + 1), np.arange(iy.min(), iy.max() + 1)
    table = _hash01(seed, nx[None, :], ny[:, None])
    return table[iy - ny[0]][:, ix - nx[0]]


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by a (2r+1)^2 square, separably, with plain slicing (no scipy)."""
    out = mask.copy()
    for axis in (0, 1):
        src = out.copy()
        for d in range(1, radius + 1):
            if axis == 0:
                out[d:] |= src[:-d]
                out[:-d] |= src[d:]
            else:
                out[:, d:] |= src[:, :-d]
                out[:, :-d] |= src[:, d:]
    return out


def _shift(mask: np.ndarray, drow: int, dcol: int) -> np.ndarray:
    """Move a mask by whole pixels, filling with False (no wrap-around)."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    if abs(drow) >= h or abs(dcol) >= w:
        return out
    rs, rd = (slice(0, h - drow), slice(drow, h)) if drow >= 0 else (slice(-drow, h), slice(0, h + drow))
    cs, cd = (slice(0, w - dcol), slice(dcol, w)) if dcol >= 0 else (slice(-dcol, w), slice(0, w + dcol))
    out[rd, cd] = mask[rs, cs]
    return out


def _upsample(coarse: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a block-reduced array back to ``shape`` (edges clamped)."""

    def axis(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        pos = np.clip((np.arange(n) + 0.5) / factor - 0.5, 0, m - 1)
        i0 = np.minimum(np.floor(pos).astype(np.int64), max(m - 2, 0))
        return i0, (pos - i0).astype(np.float32)

    iy, fy = axis(shape[0], coarse.shape[0])
    ix, fx = axis(shape[1], coarse.shape[1])
    iy1, ix1 = np.minimum(iy + 1, coarse.shape[0] - 1), np.minimum(ix + 1, coarse.shape[1] - 1)
    rows = coarse[:, ix] * (1 - fx) + coarse[:, ix1] * fx
    return (rows[iy] * (1 - fy)[:, None] + rows[iy1] * fy[:, None]).astype(np.float32)


def _planck(wavelength_um: float, kelvin: np.ndarray | float) -> np.ndarray:
    """Black-body spectral radiance in W/(m2 sr um)."""
    c1, c2 = 1.191042e8, 1.4387752e4  # 2hc^2 in W um^4/(m2 sr), hc/k in um K
    return c1 / (wavelength_um**5 * (np.exp(c2 / (wavelength_um * np.asarray(kelvin, np.float32))) - 1))


# ---------------------------------------------------------------------------------------------------------
# Scene content
# ---------------------------------------------------------------------------------------------------------

#: Surface reflectance by cover type and common band name (typical values of each class).
_COMMON = ("coastal", "blue", "green", "red", "nir", "swir1", "swir2")
_SPECTRA = {  # coastal, blue, green, red, nir, swir1, swir2
    "water": (0.045, 0.040, 0.035, 0.020, 0.008, 0.004, 0.002),
    "soil": (0.070, 0.090, 0.130, 0.180, 0.240, 0.300, 0.260),
    "veg": (0.025, 0.030, 0.070, 0.035, 0.380, 0.190, 0.085),
    "snow": (0.900, 0.890, 0.870, 0.840, 0.700, 0.100, 0.060),
    "cloud": (0.560, 0.550, 0.560, 0.580, 0.600, 0.450, 0.330),
}
_SPECTRUM = {name: dict(zip(_COMMON, values, strict=True)) for name, values in _SPECTRA.items()}
_HAZE = dict(zip(_COMMON, (0.05, 0.04, 0.025, 0.015, 0.008, 0.002, 0.001), strict=True))  # residual per unit AOT
_EMISSIVITY = {"water": 0.990, "snow": 0.985, "veg": 0.980, "soil": 0.955}

#: QA_PIXEL bit values (espa-api.md 5.3).
QA_FILL, QA_DILATED, QA_CIRRUS, QA_CLOUD, QA_SHADOW, QA_SNOW, QA_CLEAR, QA_WATER = 1, 2, 4, 8, 16, 32, 64, 128
CLOUD_CONF_LOW, CLOUD_CONF_HIGH = 1 << 8, 3 << 8
SHADOW_CONF_LOW, SHADOW_CONF_HIGH = 1 << 10, 3 << 10
SNOW_CONF_LOW, SNOW_CONF_HIGH = 1 << 12, 3 << 12
CIRRUS_CONF_LOW = 1 << 14

CLOUD_HEIGHT_M = 2000.0  # sets how far shadows fall from their clouds
DILATION_M = 90.0  # CFMask dilates clouds by 3 pixels of 30 m
CDIST_CAP_KM = 300.0


class SceneContent:
    """Lazily computed, cached rasters of one scene on one grid.

    Parameters
    ----------
    product_id : str
        C2 L2 product id; its sensor, level and id seed the atmosphere.
    corners : sequence of (lon, lat)
        Footprint UL, UR, LR, LL.
    acquired : datetime.datetime
        Scene centre time, aware UTC.
    cloud_cover : float
        Percent of the footprint covered by cloud.
    size : int
        Approximate pixels per side (see :func:`scene_grid`).

    Notes
    -----
    The class masks (``footprint``, ``water``, ``snow``, ``cloud``, ``dilated``, ``shadow``) are public so
    that tests and metadata can check the QA bands against what was drawn. :meth:`array` gives any band.
    At full size (~7,400 x 6,700 px) each float field is ~200 MB; building every band of a scene peaks
    around 4 GB of memory and takes about a minute (gzip included) on two cores.
    """

    def __init__(
        self,
        product_id: str,
        corners: Sequence[tuple[float, float]],
        acquired: dt.datetime,
        cloud_cover: float,
        size: int,
    ) -> None:
        self.product_id = product_id
        self.sensor = SENSORS[product_id[:4]]
        self.level = product_id[5:9]
        self.corners = tuple((float(x), float(y)) for x, y in corners)
        self.acquired = acquired
        self.cloud_cover = float(cloud_cover)
        self.grid = scene_grid(self.corners, size)
        self.centre = scene_centre(self.corners)
        self.sun_azimuth, self.sun_elevation = solar_position(acquired, *self.centre)
        self._seed = stable_seed("atmosphere", product_id)
        self._land_seed = stable_seed("land", self.grid.zone)
        self._arrays: dict[str, np.ndarray] = {}

    # -- coordinates and season ----------------------------------------------------------------------------

    @cached_property
    def _xs(self) -> np.ndarray:
        return self.grid.centres_x()

    @cached_property
    def _ys(self) -> np.ndarray:
        return self.grid.centres_y()

    @property
    def _season(self) -> float:
        """+1 at the local height of summer, -1 in mid-winter (flat near the equator)."""
        doy = self.acquired.timetuple().tm_yday
        phase = math.cos(2 * math.pi * (doy - 200) / 365.25)
        lat = self.centre[1]
        return (phase if lat >= 0 else -phase) * min(1.0, abs(lat) / 25.0)

    @property
    def air_temperature(self) -> float:
        """Near-surface air temperature of the scene (K), from latitude and season."""
        lat = abs(self.centre[1])
        return 301.0 - 0.45 * lat + 0.3 * min(lat, 50.0) * self._season  # 40N: -2 C in Jan, 22 C in Jul

    # -- class fields ----------------------------------------------------------------------------------------

    @cached_property
    def footprint(self) -> np.ndarray:
        """True inside the footprint (pixel centres)."""
        poly = footprint_utm(self.corners, self.grid.epsg)
        return geometry_mask(
            [poly], out_shape=(self.grid.height, self.grid.width), transform=self.grid.transform, invert=True
        )

    @cached_property
    def terrain(self) -> np.ndarray:
        """Ground-anchored relief/wetness field in ~[-1, 1]: low is water, high is bright rock and snow."""
        octaves = ((60_000, 1.0), (18_000, 0.55), (5_000, 0.3), (1_500, 0.15))
        return fbm(self._xs, self._ys, octaves, self._land_seed)

    @cached_property
    def water(self) -> np.ndarray:
        """Lakes, rivers and sea: the low terrain (including water hidden under clouds)."""
        return self.footprint & (self.terrain < -0.30)

    @cached_property
    def snow(self) -> np.ndarray:
        """Snow above a snow line that drops with latitude and in winter (none in summer or the tropics)."""
        lat = abs(self.centre[1])
        winter = max(0.0, -self._season) + min(1.0, max(0.0, (lat - 60.0) / 15.0))  # ice caps poleward of 60
        line = 1.2 - 1.6 * winter * min(1.0, max(0.0, (lat - 30.0) / 30.0))
        return self.footprint & ~self.water & (self.terrain > line)

    @cached_property
    def veg_fraction(self) -> np.ndarray:
        """Green vegetation cover 0-1: ground-anchored potential (patches and field parcels) x season."""
        veg = fbm(self._xs, self._ys, ((20_000, 1.0), (6_000, 0.6), (2_000, 0.35), (600, 0.2)), self._land_seed + 101)
        parcels = cell_noise(self._xs, self._ys, 480.0, self._land_seed + 202)
        veg *= np.float32(1.1)
        parcels *= np.float32(0.35)
        veg += parcels
        veg += np.float32(0.55 - 0.35 * 0.5)
        np.clip(veg, 0, 1, out=veg)
        veg *= np.float32(0.65 + 0.35 * self._season)  # greenness
        return veg

    @cached_property
    def noise(self) -> np.ndarray:
        """Per-pixel standard normal texture (sub-pixel heterogeneity and sensor noise), per acquisition."""
        rng = np.random.default_rng(self._seed)
        return rng.standard_normal((self.grid.height, self.grid.width), dtype=np.float32)

    @cached_property
    def aerosol(self) -> np.ndarray:
        """Aerosol optical thickness at 550 nm, 0.03-0.45."""
        f = fbm(self._xs, self._ys, ((80_000, 1.0), (25_000, 0.5)), self._seed + 11)
        f *= np.float32(0.25)
        f += np.float32(0.15)
        return np.clip(f, 0.03, 0.45, out=f)

    @cached_property
    def transmittance(self) -> np.ndarray:
        """Thermal-band atmospheric transmittance 0.55-0.95 (a water-vapour field)."""
        f = fbm(self._xs, self._ys, ((90_000, 1.0), (30_000, 0.5)), self._seed + 12)
        wet = 0.08 * max(0.0, self._season) + (0.06 if abs(self.centre[1]) < 25 else 0.0)
        f *= np.float32(0.12)
        f += np.float32(0.84 - wet)
        return np.clip(f, 0.55, 0.95, out=f)

    @cached_property
    def _clouds(self) -> tuple[np.ndarray, np.ndarray]:
        """(cloud mask, thickness 0-1); the cloud field itself is dropped (240 MB at full size)."""
        octaves = ((30_000, 1.0), (10_000, 0.6), (3_000, 0.35), (900, 0.18), (270, 0.08))
        field = fbm(self._xs, self._ys, octaves, self._seed + 13)
        step = max(1, self.grid.height // 600)  # a strided sample is plenty for quantiles
        inside = field[::step, ::step][self.footprint[::step, ::step]]
        if inside.size == 0 or self.cloud_cover <= 0:
            empty = np.zeros(field.shape, dtype=bool)
            return empty, np.zeros(field.shape, dtype=np.float32)
        top = float(np.quantile(inside, 0.999))
        if self.cloud_cover >= 100:
            threshold = float(field.min()) - 1e-6
        else:
            threshold = float(np.quantile(inside, 1.0 - self.cloud_cover / 100.0))
        cloud = self.footprint & (field > threshold)
        field -= np.float32(threshold)
        field /= np.float32(max(top - threshold, 1e-3))  # relative to the scene's densest cloud
        np.clip(field, 0, 1, out=field)
        field[~cloud] = 0
        return cloud, field

    @property
    def cloud(self) -> np.ndarray:
        """Cloud (QA_PIXEL bit 3): the footprint's top ``cloud_cover`` percent of a cloud field."""
        return self._clouds[0]

    @property
    def thickness(self) -> np.ndarray:
        """Cloud optical thickness proxy 0-1 (0 outside clouds), relative to the scene's densest cloud."""
        return self._clouds[1]

    @property
    def dilation_radius(self) -> int:
        """Dilated-cloud ring width in pixels (at least one)."""
        return max(1, round(DILATION_M / self.grid.res))

    @cached_property
    def dilated(self) -> np.ndarray:
        """The ring CFMask adds around clouds (QA_PIXEL bit 1)."""
        return _dilate(self.cloud, self.dilation_radius) & ~self.cloud & self.footprint

    @property
    def shadow_offset(self) -> tuple[int, int]:
        """(rows, columns) from a cloud to its shadow: away from the sun, longer when the sun is low.

        On coarse grids the physical offset (~1 km) is under two pixels and the shadow would hide under
        the dilated ring, so the offset is stretched to clear the ring by two pixels.
        """
        length = CLOUD_HEIGHT_M / math.tan(math.radians(max(self.sun_elevation, 5.0))) / self.grid.res
        length = max(length, self.dilation_radius + 2.0)
        az = math.radians(self.sun_azimuth)
        return round(length * math.cos(az)), round(-length * math.sin(az))

    @cached_property
    def shadow(self) -> np.ndarray:
        """Cloud shadow (QA_PIXEL bit 4) on ground that is neither cloud nor dilated cloud."""
        moved = _shift(self.cloud, *self.shadow_offset)
        return moved & self.footprint & ~self.cloud & ~self.dilated

    @cached_property
    def saturated(self) -> np.ndarray:
        """The brightest cloud tops, where the visible bands saturate (QA_RADSAT)."""
        return self.cloud & (self.thickness > 0.9)

    @cached_property
    def cloud_distance_km(self) -> np.ndarray:
        """Distance to the nearest cloud pixel in km (exact EDT on a <=192-cell block grid, upsampled)."""
        h, w = self.cloud.shape
        if not self.cloud.any():
            return np.full((h, w), CDIST_CAP_KM, dtype=np.float32)
        c = max(1, math.ceil(max(h, w) / 192))
        ch, cw = math.ceil(h / c), math.ceil(w / c)
        padded = np.zeros((ch * c, cw * c), dtype=bool)
        padded[:h, :w] = self.cloud
        blocks = padded.reshape(ch, c, cw, c).any(axis=(1, 3))
        # 1-D distance along each column, then the exact 2-D combination along rows (Felzenszwalb's
        # decomposition, done by brute force: the block grid is small)
        idx = np.arange(ch, dtype=np.float32)[:, None]
        above = np.maximum.accumulate(np.where(blocks, idx, -np.inf), axis=0)
        below = np.minimum.accumulate(np.where(blocks, idx, np.inf)[::-1], axis=0)[::-1]
        col = np.minimum(idx - above, below - idx)
        j = np.arange(cw, dtype=np.float32)
        d2 = np.min((j[:, None] - j[None, :])[None] ** 2 + (col**2)[:, None, :], axis=2)
        dist = np.minimum(np.sqrt(d2) * (c * self.grid.res / 1000.0), CDIST_CAP_KM).astype(np.float32)
        return np.where(self.cloud, np.float32(0), _upsample(dist, c, (h, w)))

    @cached_property
    def _cloud_alpha(self) -> np.ndarray:
        """How much of each pixel's signal comes from cloud: opaque cores, translucent dilated rims."""
        alpha = self.thickness * np.float32(0.3)
        alpha += np.float32(0.7)
        alpha[~self.cloud] = 0
        alpha[self.dilated] = 0.25
        return alpha

    @cached_property
    def _cloud_brightness(self) -> np.ndarray:
        bright = self.thickness * np.float32(0.3)
        bright += np.float32(0.85)
        return bright

    @cached_property
    def _mix(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel weights of the soil spectrum (rock is brighter uphill) and of the vegetation spectrum."""
        veg = self.veg_fraction
        soil = self.terrain * np.float32(0.3)
        soil += np.float32(0.85)
        soil *= np.float32(1) - veg
        return soil, veg

    @cached_property
    def _texture(self) -> np.ndarray:
        texture = self.noise * np.float32(0.04)
        texture += np.float32(1)
        return texture

    @cached_property
    def _outside(self) -> np.ndarray:
        return ~self.footprint

    # -- physical quantities -------------------------------------------------------------------------------

    def reflectance(self, common: str) -> np.ndarray:
        """Surface reflectance of one band (a new float32 array, undefined outside the footprint)."""
        soil_w, veg_w = self._mix
        refl = soil_w * np.float32(_SPECTRUM["soil"][common])
        tmp = np.multiply(veg_w, np.float32(_SPECTRUM["veg"][common]))
        refl += tmp
        refl[self.water] = _SPECTRUM["water"][common]
        refl[self.snow] = _SPECTRUM["snow"][common]
        refl *= self._texture
        np.multiply(self.aerosol, np.float32(_HAZE[common]), out=tmp)
        refl += tmp
        refl[self.shadow] *= np.float32(0.3)
        # blend towards the cloud spectrum by the cloud fraction of the pixel
        np.multiply(self._cloud_brightness, np.float32(_SPECTRUM["cloud"][common]), out=tmp)
        tmp -= refl
        tmp *= self._cloud_alpha
        refl += tmp
        sat = self.saturated
        refl[sat] = np.maximum(refl[sat], np.float32(1.0))
        return refl

    @cached_property
    def surface_temperature(self) -> np.ndarray:
        """Surface (or cloud-top) temperature in kelvin (float32)."""
        ta = np.float32(self.air_temperature)
        sun = np.float32(max(0.0, math.sin(math.radians(self.sun_elevation))))
        t = (np.float32(1) - self.veg_fraction) * (np.float32(9.0) * sun)  # bare soil heats up in the sun
        t += ta + np.float32(1.5)
        t -= np.float32(4.0) * self.terrain  # lapse rate: higher ground is colder
        t[self.water] = ta - np.float32(1.5)
        t[self.snow] = min(ta, np.float32(271.0)) - np.float32(1.0)
        t += np.float32(0.5) * self.noise
        t[self.shadow] -= np.float32(3.0)
        cloud_top = ta - np.float32(22.0) - np.float32(25.0) * self.thickness
        cloud_top -= t
        cloud_top *= self._cloud_alpha
        t += cloud_top
        return t

    def emissivity(self) -> np.ndarray:
        """Broadband thermal emissivity (float32) from the cover mixture."""
        f = self.veg_fraction
        e = np.float32(_EMISSIVITY["soil"]) + np.float32(_EMISSIVITY["veg"] - _EMISSIVITY["soil"]) * f
        e = np.where(self.water, np.float32(_EMISSIVITY["water"]), e)
        return np.where(self.snow, np.float32(_EMISSIVITY["snow"]), e).astype(np.float32)

    # -- encoded bands ---------------------------------------------------------------------------------------

    def array(self, suffix: str) -> np.ndarray:
        """Return the encoded raster of one band, e.g. ``"SR_B4"``, ``"QA_PIXEL"`` or ``"SR_NDVI"`` (cached)."""
        if suffix not in self._arrays:
            self._arrays[suffix] = self._encode(suffix)
        return self._arrays[suffix]

    def release(self, suffix: str) -> None:
        """Forget a cached band (a full-size band is ~100 MB); it is recomputed if asked for again."""
        self._arrays.pop(suffix, None)

    def _encode(self, suffix: str) -> np.ndarray:
        common = dict(self.sensor.sr_bands).get(suffix)
        if common is not None:
            return self._quantise(self.reflectance(common), SR_SCALE, SR_OFFSET, (7273, 43636), 0, "uint16")
        if suffix.startswith("ST_") or suffix in ("ETA", "ETF", "ETUN"):
            self._require_st(suffix)
            if suffix == self.sensor.thermal:
                return self._quantise(self.surface_temperature.copy(), ST_SCALE, ST_OFFSET, (1, 65535), 0, "uint16")
            return self._et(suffix) if suffix.startswith("ET") else self._encode_st_ancillary(suffix)
        if suffix in ("QA_PIXEL", "QA_RADSAT") or suffix in self.sensor.sr_extras:
            return getattr(self, "_" + suffix.lower())()
        if suffix.startswith("SR_") and suffix[3:] in _INDEX_FUNCS:
            return self._index(suffix[3:])
        raise KeyError(f"{self.product_id} has no band {suffix!r}")

    def _require_st(self, suffix: str) -> None:
        if self.level != "L2SP":
            raise KeyError(f"{self.product_id} is {self.level} (no surface temperature): no {suffix}")
        if suffix not in BANDS or (suffix.startswith("ST_B") and suffix != self.sensor.thermal):
            raise KeyError(f"{self.product_id} has no band {suffix!r}")

    def _quantise(
        self, values: np.ndarray, scale: float, offset: float, valid: tuple[int, int], fill: int, dtype: str
    ) -> np.ndarray:
        """DN = round((value - offset) / scale), clipped to ``valid``, ``fill`` outside the footprint.

        ``values`` must be a float32 array the caller owns: it is overwritten (full-size bands are big).
        """
        values -= np.float32(offset)
        values /= np.float32(scale)
        np.rint(values, out=values)
        np.clip(values, valid[0], valid[1], out=values)
        dn = values.astype(dtype)
        dn[self._outside] = fill
        return dn

    def sr(self, common: str) -> np.ndarray:
        """Return the decoded (quantised) reflectance of a common band name, NaN outside the footprint."""
        suffix = {c: s for s, c in self.sensor.sr_bands}[common]
        dn = self.array(suffix)
        out = dn.astype(np.float32) * np.float32(SR_SCALE) + np.float32(SR_OFFSET)
        return np.where(dn == 0, np.float32(np.nan), out)

    def _encode_st_ancillary(self, suffix: str) -> np.ndarray:
        ta = self.air_temperature
        um = self.sensor.thermal_um
        atran = self.transmittance
        sky = _planck(um, ta - 8.0) * (1 - atran)  # path radiance grows as transmittance falls
        if suffix == "ST_ATRAN":
            value = atran
        elif suffix == "ST_URAD":
            value = sky
        elif suffix == "ST_DRAD":
            value = sky * np.float32(1.6)
        elif suffix == "ST_EMIS":
            value = self.emissivity()
        elif suffix == "ST_EMSD":
            value = np.where(self.water, np.float32(0.002), np.float32(0.01) - np.float32(0.006) * self.veg_fraction)
            value = np.where(self.snow, np.float32(0.004), value)
        elif suffix == "ST_TRAD":
            e = self.emissivity()
            ground = e * _planck(um, self.surface_temperature) + (1 - e) * sky * np.float32(1.6)
            value = atran * ground + sky
        elif suffix == "ST_CDIST":
            value = self.cloud_distance_km
        else:  # ST_QA: uncertainty grows near clouds, in clouds and in moist air
            value = (
                np.float32(1.2)
                + np.float32(4.0) * np.exp(-self.cloud_distance_km / np.float32(5.0))
                + np.float32(6.0) * (1 - atran)
                + np.float32(8.0) * self.cloud
            )
        scale = BANDS[suffix].scale or 1.0
        value = np.array(value, dtype=np.float32)  # a copy: the cached fields must survive quantisation
        return self._quantise(value, scale, 0.0, (-32767, 32767), -9999, "int16")

    def _qa_pixel(self) -> np.ndarray:
        oli = self.sensor.cirrus
        base = CLOUD_CONF_LOW + SHADOW_CONF_LOW + SNOW_CONF_LOW + (CIRRUS_CONF_LOW if oli else 0)
        qa = np.full(self.cloud.shape, base + QA_CLEAR, dtype=np.uint16)
        qa[self.water] += QA_WATER
        qa[self.snow] += QA_SNOW + (SNOW_CONF_HIGH - SNOW_CONF_LOW)
        qa[self.shadow] += QA_SHADOW + (SHADOW_CONF_HIGH - SHADOW_CONF_LOW)
        if not oli:
            # L4-7 set "clear" on clear land only (the documented clear water value is 5504, i.e. no
            # clear bit; USGS lists it as a known issue), so water, snow and shadow lose it
            qa[self.water | self.snow | self.shadow] -= QA_CLEAR
        qa[self.dilated & ((qa & QA_CLEAR) > 0)] -= QA_CLEAR  # clear means neither cloud nor dilated
        qa[self.dilated] += QA_DILATED
        # a cloud hides the ground: cloud pixels carry no water/snow/shadow bits
        qa[self.cloud] = base + QA_CLOUD + (CLOUD_CONF_HIGH - CLOUD_CONF_LOW)
        qa[~self.footprint] = QA_FILL
        return qa

    def _qa_radsat(self) -> np.ndarray:
        bits = sum(1 << (n - 1) for n in self.sensor.saturating)
        return np.where(self.saturated, bits, 0).astype(np.uint16)

    def _sr_qa_aerosol(self) -> np.ndarray:
        # bit 1 valid retrieval, 2 water, 5 interpolated, 6-7 aerosol level
        level = np.clip(np.floor(self.aerosol / np.float32(0.12)).astype(np.uint8) + 1, 1, 3) << 6
        qa = np.where(self.water, 4 + 32, 2).astype(np.uint8) | level.astype(np.uint8)
        qa = np.where(self.cloud, (32 | level).astype(np.uint8), qa)
        return np.where(self.footprint, qa, 1).astype(np.uint8)

    def _sr_cloud_qa(self) -> np.ndarray:
        # bit 0 dark dense vegetation, 1 cloud, 2 shadow, 3 adjacent cloud, 4 snow, 5 water; no fill value
        qa = np.zeros(self.cloud.shape, dtype=np.uint8)
        ddv = ~self.water & ~self.cloud & (self.veg_fraction > 0.75) & self.footprint
        for bit, mask in (
            (1, ddv),
            (2, self.cloud),
            (4, self.shadow),
            (8, self.dilated),
            (16, self.snow & ~self.cloud),
            (32, self.water & ~self.cloud),
        ):
            qa[mask] |= np.uint8(bit)
        return qa

    def _sr_atmos_opacity(self) -> np.ndarray:
        return self._quantise(self.aerosol.copy(), 0.001, 0.0, (0, 32767), -9999, "int16")

    def _index(self, name: str) -> np.ndarray:
        bands = {c: self.sr(c) for c in _INDEX_FUNCS[name][1]}
        with np.errstate(divide="ignore", invalid="ignore"):
            value = _INDEX_FUNCS[name][0](**bands)
        dn = np.clip(np.rint(value * 10000), -10000, 10000)
        dn = np.where(dn == INDEX_FILL, INDEX_FILL + 1, dn)  # a valid -0.9999 must not read as fill
        return np.where(np.isfinite(value) & self.footprint, dn, INDEX_FILL).astype(np.int16)

    def _et(self, suffix: str) -> np.ndarray:
        """SSEBop-like: ET fraction from the ST band between a cold and a hot reference temperature."""
        st = self.array(self.sensor.thermal)
        ts = st.astype(np.float32) * np.float32(ST_SCALE) + np.float32(ST_OFFSET)
        cold = self.air_temperature - 1.0
        etf = np.clip((cold + 14.0 - ts) / np.float32(14.0), 0, 1.05)
        etr = 2.0 + 4.5 * max(0.0, 0.5 + 0.5 * self._season)  # reference ET, mm/day
        valid = self.footprint & ~self.cloud & ~self.dilated & ~self.shadow  # SSEBop masks clouds
        if suffix == "ETF":
            value, scale = etf, 0.0001
        elif suffix == "ETA":
            value, scale = etf * np.float32(etr), 0.001
        else:
            value, scale = np.float32(0.15) * etf * np.float32(etr) + np.float32(0.2), 0.001
        dn = np.clip(np.rint(value / np.float32(scale)), 0, 32767)
        return np.where(valid, dn, -9999).astype(np.int16)

    # -- summaries for the metadata --------------------------------------------------------------------------

    def cloud_cover_land(self) -> float:
        """Percent cloud over the footprint's land pixels (MTL ``CLOUD_COVER_LAND``; -1 with no land)."""
        land = self.footprint & ~self.water  # ``water`` includes water hidden under clouds
        n = int(land.sum())
        return 100.0 * float((self.cloud & land).sum()) / n if n else -1.0

    def saturated_bands(self) -> set[int]:
        """SR band numbers with saturated pixels (MTL ``SATURATION_BAND_n``)."""
        return set(self.sensor.saturating) if self.saturated.any() else set()


def _ndvi(nir: np.ndarray, red: np.ndarray) -> np.ndarray:
    return (nir - red) / (nir + red)


def _evi(nir: np.ndarray, red: np.ndarray, blue: np.ndarray) -> np.ndarray:
    return 2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1)


def _savi(nir: np.ndarray, red: np.ndarray) -> np.ndarray:
    return 1.5 * (nir - red) / (nir + red + 0.5)


def _msavi(nir: np.ndarray, red: np.ndarray) -> np.ndarray:
    return (2 * nir + 1 - np.sqrt((2 * nir + 1) ** 2 - 8 * (nir - red))) / 2


def _normalised(a: str, b: str) -> Callable[..., np.ndarray]:
    def index(**bands: np.ndarray) -> np.ndarray:
        return (bands[a] - bands[b]) / (bands[a] + bands[b])

    return index


#: Index name -> (function of reflectances, the common band names it reads). Formulas of the USGS spectral
#: index product guide (the same ones lsru users compute themselves).
_INDEX_FUNCS = {
    "NDVI": (_ndvi, ("nir", "red")),
    "EVI": (_evi, ("nir", "red", "blue")),
    "SAVI": (_savi, ("nir", "red")),
    "MSAVI": (_msavi, ("nir", "red")),
    "NDMI": (_normalised("nir", "swir1"), ("nir", "swir1")),
    "NBR": (_normalised("nir", "swir2"), ("nir", "swir2")),
    "NBR2": (_normalised("swir1", "swir2"), ("swir1", "swir2")),
    "NDSI": (_normalised("green", "swir1"), ("green", "swir1")),
}

# ---------------------------------------------------------------------------------------------------------
# GeoTIFF encoding
# ---------------------------------------------------------------------------------------------------------

#: Rasters at least this wide and high are tiled 512 x 512 (cheap windowed reads later); smaller ones are
#: striped. All are uncompressed, like ESPA's GeoTIFFs.
TILE_FROM = 1024


def geotiff_bytes(array: np.ndarray, grid: Grid, info: BandInfo) -> bytes:
    """Encode one band as an uncompressed GeoTIFF with CRS, nodata, scale/offset and a description.

    ``grid`` is a :class:`Grid` or any grid with ``crs``, ``transform``, ``width`` and ``height`` (the
    customised grids of :mod:`._customise`).

    The bytes depend only on the inputs (GDAL writes no timestamp), so tarballs stay reproducible.
    """
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": info.dtype,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": info.nodata,
    }
    if grid.width >= TILE_FROM and grid.height >= TILE_FROM:
        profile.update(tiled=True, blockxsize=512, blockysize=512)
    with MemoryFile() as memfile:
        with memfile.open(**profile) as dst:
            dst.write(array, 1)
            if info.scale is not None:
                dst.scales = (info.scale,)
                dst.offsets = (info.offset or 0.0,)
            dst.set_band_description(1, info.long_name)
            dst.update_tags(1, units=info.units)
        return memfile.read()


__all__ = [
    "BANDS",
    "SENSORS",
    "BandInfo",
    "Grid",
    "SceneContent",
    "Sensor",
    "earth_sun_distance",
    "fbm",
    "geotiff_bytes",
    "pixel_size",
    "scene_centre",
    "scene_grid",
    "solar_position",
    "stable_seed",
    "sun_vector_ecef",
    "utm_zone",
]
