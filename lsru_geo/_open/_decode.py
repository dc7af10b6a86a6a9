"""Pure decoding of digital numbers into physical values (no I/O).

* Level-2 bands: the fixed Collection 2 scale and offset of :mod:`.._bands` (``DN * scale + offset``).
* Level-1 reflective bands: top-of-atmosphere reflectance corrected for the sun elevation,
  ``rho = (REFLECTANCE_MULT_BAND_n * Q + REFLECTANCE_ADD_BAND_n) / sin(SUN_ELEVATION)``, a linear map too.
* Level-1 thermal bands: brightness temperature in kelvin, ``K2 / ln(K1 / L + 1)`` with
  ``L = RADIANCE_MULT_BAND_n * Q + RADIANCE_ADD_BAND_n``.

Fill (``Q == fill``) becomes NaN. The coefficients come from the MTL groups ``LEVEL1_RADIOMETRIC_RESCALING``
and ``LEVEL1_THERMAL_CONSTANTS`` and ``IMAGE_ATTRIBUTES`` ``SUN_ELEVATION``; they differ per scene, so each
product's layer carries its own :class:`Decoding`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _bands
from ..exceptions import InvalidInputError


@dataclass(frozen=True)
class Decoding:
    """``value = DN * scale + offset``, then ``k2 / ln(k1 / value + 1)`` when ``k1`` is set; ``fill`` -> NaN."""

    scale: float
    offset: float
    fill: int | None
    k1: float | None = None
    k2: float | None = None


def decode(raw: np.ndarray, decoding: Decoding) -> np.ndarray:
    """Return float32 physical values of a DN array."""
    values = raw.astype(np.float32)
    values *= np.float32(decoding.scale)
    values += np.float32(decoding.offset)
    if decoding.k1 is not None:
        radiance = values
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.float32(decoding.k2) / np.log(np.float32(decoding.k1) / radiance + np.float32(1))
        values = values.astype(np.float32, copy=False)
        values[~(radiance > 0)] = np.nan  # no temperature without radiance
    if decoding.fill is not None:
        values[raw == decoding.fill] = np.nan
    return values


def _mtl_band_key(suffix: str) -> str:
    """MTL key ending of a Level-1 raster suffix: ``B4`` -> ``BAND_4``, ``B6_VCID_1`` -> ``BAND_6_VCID_1``."""
    return "BAND_" + suffix[1:]


def _number(mtl: dict, group: str, key: str, product_id: str) -> float:
    value = mtl.get(group, {}).get(key)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInputError(
            f"the MTL of {product_id} has no number {group}/{key} (got {value!r}): cannot calibrate"
        )
    return float(value)


def decoding_of(suffix: str, product_id: str, mtl: dict | None = None) -> Decoding | None:
    """How to decode one raster of a product; None for bit fields.

    Raises
    ------
    InvalidInputError
        If a Level-1 band's coefficients (or the sun elevation) are missing from the MTL.
    """
    enc = _bands.encoding_of(suffix, product_id)
    if enc.is_bit_field:
        return None
    if not enc.calibrated:
        return Decoding(enc.scale, enc.offset or 0.0, enc.fill)
    mtl = mtl or {}
    band = _mtl_band_key(suffix.upper())
    group = "LEVEL1_RADIOMETRIC_RESCALING"
    if _bands.is_thermal_l1(suffix, product_id):
        mult = _number(mtl, group, f"RADIANCE_MULT_{band}", product_id)
        add = _number(mtl, group, f"RADIANCE_ADD_{band}", product_id)
        k1 = _number(mtl, "LEVEL1_THERMAL_CONSTANTS", f"K1_CONSTANT_{band}", product_id)
        k2 = _number(mtl, "LEVEL1_THERMAL_CONSTANTS", f"K2_CONSTANT_{band}", product_id)
        return Decoding(mult, add, enc.fill, k1, k2)
    mult = _number(mtl, group, f"REFLECTANCE_MULT_{band}", product_id)
    add = _number(mtl, group, f"REFLECTANCE_ADD_{band}", product_id)
    elevation = _number(mtl, "IMAGE_ATTRIBUTES", "SUN_ELEVATION", product_id)
    if not 0 < elevation <= 90:
        raise InvalidInputError(
            f"the MTL of {product_id} states SUN_ELEVATION {elevation}: no reflectance for a sun below the horizon"
        )
    sine = math.sin(math.radians(elevation))
    return Decoding(mult / sine, add / sine, enc.fill)
