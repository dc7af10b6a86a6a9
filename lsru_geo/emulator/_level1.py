"""Level-1 Collection 2 products: calibrated DN rasters and the Level-1 MTL (``landsat_*_c2_l1`` bundles).

A Level-1 product is drawn from the same synthetic landscape and atmosphere as the Level-2 products
(:class:`._raster.SceneContent`), observed at the top of the atmosphere: TOA reflectance is the surface
reflectance dimmed by 5% and brightened by a per-band path reflectance (blue hazier than SWIR), quantised with
the product's own rescaling, so that ``TOA = (REFLECTANCE_MULT * DN + REFLECTANCE_ADD) / sin(SUN_ELEVATION)``
gives plausible values (vegetation red ~0.05, NIR ~0.35; clouds ~0.6) and ``0`` is fill outside the
footprint. Thermal DN encode the radiance of a brightness temperature 2 K below the surface temperature,
inverting ``RADIANCE = RADIANCE_MULT * DN + RADIANCE_ADD`` and ``T = K2 / ln(K1 / RADIANCE + 1)``.

Facts used (and where they come from):

* Landsat 8/9 OLI: 16-bit DN, ``REFLECTANCE_MULT_BAND_n = 2.0E-05`` and ``REFLECTANCE_ADD_BAND_n = -0.1`` for
  bands 1-9, thermal ``RADIANCE_MULT = 3.342E-04``, ``RADIANCE_ADD = 0.1`` (values of real C2 L1 MTLs; the
  Landsat 8-9 Data Users Handbook, section 5). Radiance rescaling per reflective band is derived as
  ``REFLECTANCE_* x ESUN / (pi d^2)`` with the commonly used OLI solar irradiances.
* Landsat 4/5 TM and 7 ETM+: 8-bit DN, ``LMIN``/``LMAX`` of Chander, Markham & Helder (2009), *Remote Sensing
  of Environment* 113, 893-903 (TM5 post-2003 values for TM4 too; ETM+ low gain, band 6 VCID_1 low and
  VCID_2 high gain) with ``QCALMIN = 1``, ``QCALMAX = 255``, and reflectance rescaling
  ``pi x RADIANCE_* x d^2 / ESUN`` (what real C2 MTLs hold: e.g. LT05 band 1 ``1.2494E-03``).
* Thermal constants K1/K2 are those of :mod:`._mtl` (the real MTL values per sensor).
* Panchromatic bands (OLI B8, ETM+ B8) have half the pixel size of the others, as real bundles do.

Choices where the contracts are silent: bundles hold the bands, ``QA_PIXEL``, ``QA_RADSAT``, ``ANG.txt`` and
the MTL in ``.txt``, ``.xml`` and ``.json``; the per-pixel angle bands (``SAA``/``SZA``/``VAA``/``VZA``) are
not generated, so the MTL does not list them. ``QA_PIXEL``/``QA_RADSAT`` are the Level-2 ones (C2 Level-1
and Level-2 share them). Real-Time (``RT``) products carry the same content.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from ._raster import BANDS, BandInfo, Grid, SceneContent, earth_sun_distance

#: Common name of each reflective band, per sensor; "pan" and "cirrus" are drawn from the others.
_OLI = {
    "1": "coastal",
    "2": "blue",
    "3": "green",
    "4": "red",
    "5": "nir",
    "6": "swir1",
    "7": "swir2",
    "8": "pan",
    "9": "cirrus",
}
_TM = {"1": "blue", "2": "green", "3": "red", "4": "nir", "5": "swir1", "7": "swir2"}
_ETM = {**_TM, "8": "pan"}

#: Mean exo-atmospheric solar irradiance (W m-2 um-1) per band.
_ESUN = {
    "OLI": {"1": 1895.33, "2": 2004.57, "3": 1820.75, "4": 1549.49, "5": 951.76, "6": 247.55, "7": 85.46,
            "8": 1723.88, "9": 366.97},
    "TM": {"1": 1983.0, "2": 1796.0, "3": 1536.0, "4": 1031.0, "5": 220.0, "7": 83.44},
    "ETM": {"1": 1970.0, "2": 1842.0, "3": 1547.0, "4": 1044.0, "5": 225.7, "7": 82.06, "8": 1369.0},
}  # fmt: skip
#: (LMIN, LMAX) radiance per band (Chander et al. 2009).
_LMINMAX = {
    "TM": {"1": (-1.52, 193.0), "2": (-2.84, 365.0), "3": (-1.17, 264.0), "4": (-1.51, 221.0),
           "5": (-0.37, 30.2), "6": (1.2378, 15.303), "7": (-0.15, 16.5)},
    "ETM": {"1": (-6.2, 293.7), "2": (-6.4, 300.9), "3": (-5.0, 234.4), "4": (-5.1, 241.1), "5": (-1.0, 47.57),
            "6_VCID_1": (0.0, 17.04), "6_VCID_2": (3.2, 12.65), "7": (-0.35, 16.54), "8": (-4.7, 243.1)},
}  # fmt: skip
#: Top-of-atmosphere path reflectance added to the (5% dimmed) surface reflectance.
_PATH = {"coastal": 0.08, "blue": 0.06, "green": 0.035, "red": 0.02, "nir": 0.01, "swir1": 0.003, "swir2": 0.001}
OLI_REFLECTANCE = (2.0e-05, -0.1)
OLI_THERMAL = (3.342e-04, 0.1)
THERMAL_K = {
    "LC08": {"10": (774.8853, 1321.0789), "11": (480.8883, 1201.1442)},
    "LC09": {"10": (799.0284, 1329.2405), "11": (475.6581, 1198.3494)},
    "LE07": {"6_VCID_1": (666.09, 1282.71), "6_VCID_2": (666.09, 1282.71)},
    "LT05": {"6": (607.76, 1260.56)},
    "LT04": {"6": (671.62, 1284.30)},
}


@dataclass(frozen=True)
class Rescaling:
    """``RADIANCE_MULT/ADD`` and ``REFLECTANCE_MULT/ADD`` of one band (reflectance ``None`` for thermal)."""

    radiance: tuple[float, float]
    reflectance: tuple[float, float] | None
    dtype: str

    @property
    def qcal(self) -> tuple[int, int]:
        """Valid DN range (``QUANTIZE_CAL_MIN/MAX``)."""
        return (1, 65535) if self.dtype == "uint16" else (1, 255)


def family(code: str) -> str:
    """``"OLI"``, ``"ETM"`` or ``"TM"`` for a product-id prefix."""
    return {"LC08": "OLI", "LC09": "OLI", "LE07": "ETM"}.get(code, "TM")


def bands(code: str) -> list[str]:
    """Band numbers of a Level-1 product in MTL order (``"6_VCID_1"`` for ETM+ thermal)."""
    if family(code) == "OLI":
        return [str(n) for n in range(1, 12)]
    if family(code) == "ETM":
        return ["1", "2", "3", "4", "5", "6_VCID_1", "6_VCID_2", "7", "8"]
    return ["1", "2", "3", "4", "5", "6", "7"]


def raster_suffixes(code: str) -> list[str]:
    """Raster suffixes of a Level-1 bundle: ``B1`` ... plus ``QA_PIXEL`` and ``QA_RADSAT``."""
    return [f"B{b}" for b in bands(code)] + ["QA_PIXEL", "QA_RADSAT"]


def is_thermal(code: str, band: str) -> bool:
    """Tell whether a band is thermal (TIRS bands 10/11, TM/ETM+ band 6)."""
    return band in THERMAL_K[code]


def rescaling(code: str, band: str, when: dt.datetime) -> Rescaling:
    """Return the rescaling coefficients of one band of a product acquired at ``when``."""
    kind = family(code)
    d2 = earth_sun_distance(when) ** 2
    if kind == "OLI":
        if is_thermal(code, band):
            return Rescaling(OLI_THERMAL, None, "uint16")
        mult, add = OLI_REFLECTANCE
        factor = _ESUN["OLI"][band] / (math.pi * d2)
        return Rescaling((mult * factor, add * factor), (mult, add), "uint16")
    lmin, lmax = _LMINMAX[kind][band]
    ml = (lmax - lmin) / 254.0
    al = lmin - ml
    if is_thermal(code, band):
        return Rescaling((ml, al), None, "uint8")
    factor = math.pi * d2 / _ESUN[kind][band]
    return Rescaling((ml, al), (ml * factor, al * factor), "uint8")


def band_info(code: str, band: str) -> BandInfo:
    """How a Level-1 band is stored (DN, fill 0, no scale tags: the MTL carries the rescaling)."""
    dtype = "uint16" if family(code) == "OLI" else "uint8"
    units = "DN"
    name = "thermal band" if is_thermal(code, band) else "reflective band"
    return BandInfo(f"B{band}", dtype, 0, None, None, units, f"{name} {band}", f"BAND_{band}", None)


def info(code: str, suffix: str) -> BandInfo:
    """:class:`BandInfo` of any raster of a Level-1 bundle."""
    return BANDS[suffix] if suffix.startswith("QA_") else band_info(code, suffix[1:])


def pan_grid(grid: Grid) -> Grid:
    """Return the panchromatic grid: the same extent at half the pixel size."""
    return Grid(grid.epsg, grid.zone, grid.res / 2, grid.left, grid.top, grid.width * 2, grid.height * 2)


def raster(content: SceneContent, suffix: str) -> tuple[np.ndarray, Grid]:
    """One raster of a Level-1 product and its grid (panchromatic bands on :func:`pan_grid`)."""
    code = content.product_id[:4]
    if suffix in ("QA_PIXEL", "QA_RADSAT"):
        return content.array(suffix), content.grid
    band = suffix[1:]
    scale = rescaling(code, band, content.acquired)
    low, high = scale.qcal
    if scale.reflectance is None:
        k1, k2 = THERMAL_K[code][band]
        bt = content.surface_temperature - np.float32(2.0)
        radiance = k1 / (np.exp(k2 / bt) - 1)
        dn = (radiance - scale.radiance[1]) / scale.radiance[0]
    else:
        toa = _toa(content, band, code)
        mult, add = scale.reflectance
        sin_e = max(math.sin(math.radians(content.sun_elevation)), 0.05)
        dn = (toa * np.float32(sin_e) - np.float32(add)) / np.float32(mult)
    dn = np.clip(np.rint(dn), low, high)
    dn[~content.footprint] = 0
    dn = dn.astype(scale.dtype)
    if band == "8":
        return np.repeat(np.repeat(dn, 2, axis=0), 2, axis=1), pan_grid(content.grid)
    return dn, content.grid


def _toa(content: SceneContent, band: str, code: str) -> np.ndarray:
    common = (_OLI if family(code) == "OLI" else _ETM)[band]
    if common == "pan":
        return (_toa_common(content, "green") + _toa_common(content, "red")) / np.float32(2)
    if common == "cirrus":  # 1.37 um: water vapour absorbs the ground signal; only high cloud shows
        return np.float32(0.002) + np.float32(0.08) * content.thickness
    return _toa_common(content, common)


def _toa_common(content: SceneContent, common: str) -> np.ndarray:
    surface = content.reflectance(common)
    surface *= np.float32(0.95)
    surface += np.float32(_PATH[common])
    return surface


__all__ = ["Rescaling", "band_info", "bands", "family", "info", "raster", "raster_suffixes", "rescaling"]
