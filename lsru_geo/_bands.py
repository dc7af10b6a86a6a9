"""Collection 2 Level-2 band tables: file suffix, common name, storage and scaling of every raster.

Pure data and lookups, no I/O (``espa-api.md`` sections 4.3 and 5). A product's rasters are named
``<product id>_<SUFFIX>.tif`` (ESPA, lower-case extension) or ``.TIF`` (USGS bundles); the suffix decides
what the raster holds, and the sensor family decides the common name of the ``SR_B*``/``ST_B*`` bands:

========  =====================  ==============================================================
family    product ids            spectral bands
========  =====================  ==============================================================
``oli``   ``LC08``, ``LC09``     B1 coastal, B2 blue, B3 green, B4 red, B5 nir08, B6 swir16,
                                 B7 swir22, ST_B10 lwir11
``tm``    ``LT04``, ``LT05``,    B1 blue, B2 green, B3 red, B4 nir08, B5 swir16, B7 swir22,
          ``LE07``               ST_B6 lwir
========  =====================  ==============================================================

Level-1 products (``L1TP``/``L1GT``/``L1GS``) name their rasters ``_B4.TIF``, ``_B10.TIF``, ``_B6_VCID_1.TIF``
(ETM+), ``_QA_PIXEL.TIF``...; they get the same common names (plus ``pan``, ``cirrus``, ``lwir12`` and, on
ETM+, ``lwir`` = ``B6_VCID_1`` low gain and ``lwir_high_gain`` = ``B6_VCID_2``). Their digital numbers
are calibrated per scene from the MTL (:mod:`._decode`), so their encoding has no fixed scale.

Examples
--------
>>> band_suffix("red", "LC08_L1TP_033032_20230618_20230702_02_T1")
'B4'
>>> band_suffix("red", "LC08")
'SR_B4'
>>> band_suffix("red", "LE07")
'SR_B3'
>>> common_name("ST_B10", "LC09"), common_name("SR_NDVI", "LT05")
('lwir11', 'ndvi')
>>> encoding_of("SR_B4").scale, encoding_of("SR_B4").offset, encoding_of("SR_B4").fill
(2.75e-05, -0.2, 0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .exceptions import InvalidInputError

SR_SCALE, SR_OFFSET = 2.75e-05, -0.2
ST_SCALE, ST_OFFSET = 0.00341802, 149.0
#: Fill of the ESPA spectral indices: -9999 as in Collection 1 (the C2 value is not documented, espa-api.md 4.3).
INDEX_FILL = -9999

#: Product-id prefix -> sensor family.
FAMILIES = {"LC08": "oli", "LC09": "oli", "LO08": "oli", "LO09": "oli", "LE07": "tm", "LT05": "tm", "LT04": "tm"}

#: Suffix -> common name of the spectral and thermal bands, per family.
SPECTRAL_NAMES = {
    "oli": {
        "SR_B1": "coastal",
        "SR_B2": "blue",
        "SR_B3": "green",
        "SR_B4": "red",
        "SR_B5": "nir08",
        "SR_B6": "swir16",
        "SR_B7": "swir22",
        "ST_B10": "lwir11",
    },
    "tm": {
        "SR_B1": "blue",
        "SR_B2": "green",
        "SR_B3": "red",
        "SR_B4": "nir08",
        "SR_B5": "swir16",
        "SR_B7": "swir22",
        "ST_B6": "lwir",
    },
}

#: Level-1 suffix -> common name, per family (``tm`` covers ETM+ too: only ETM+ has ``B8`` and ``B6_VCID_*``).
L1_NAMES = {
    "oli": {
        "B1": "coastal",
        "B2": "blue",
        "B3": "green",
        "B4": "red",
        "B5": "nir08",
        "B6": "swir16",
        "B7": "swir22",
        "B8": "pan",
        "B9": "cirrus",
        "B10": "lwir11",
        "B11": "lwir12",
    },
    "tm": {
        "B1": "blue",
        "B2": "green",
        "B3": "red",
        "B4": "nir08",
        "B5": "swir16",
        "B6": "lwir",
        "B6_VCID_1": "lwir",
        "B6_VCID_2": "lwir_high_gain",
        "B7": "swir22",
        "B8": "pan",
    },
}
#: Level-1 thermal suffixes per family (brightness temperature rather than reflectance).
L1_THERMAL = {"oli": frozenset({"B10", "B11"}), "tm": frozenset({"B6", "B6_VCID_1", "B6_VCID_2"})}
#: Level-1 rasters whose name does not depend on the sensor (solar/view angles: int16 hundredths of a degree).
L1_OTHER_NAMES = {
    "QA_PIXEL": "qa_pixel",
    "QA_RADSAT": "qa_radsat",
    **{angle: angle.lower() for angle in ("SAA", "SZA", "VAA", "VZA")},
}

#: Suffix -> name of the rasters whose name does not depend on the sensor.
OTHER_NAMES = {
    "QA_PIXEL": "qa_pixel",
    "QA_RADSAT": "qa_radsat",
    "SR_QA_AEROSOL": "qa_aerosol",
    "SR_CLOUD_QA": "cloud_qa",
    "SR_ATMOS_OPACITY": "atmos_opacity",
    "ST_QA": "st_qa",
    "ST_TRAD": "trad",
    "ST_URAD": "urad",
    "ST_DRAD": "drad",
    "ST_ATRAN": "atran",
    "ST_EMIS": "emis",
    "ST_EMSD": "emsd",
    "ST_CDIST": "cdist",
    "ETA": "eta",
    "ETF": "etf",
    "ETUN": "etun",
}

#: ESPA spectral-index product code -> raster suffix (``sr_ndvi`` -> ``SR_NDVI``, variable ``ndvi``).
INDEX_PRODUCTS = {
    code: f"SR_{code[3:].upper()}"
    for code in ("sr_ndvi", "sr_evi", "sr_savi", "sr_msavi", "sr_ndmi", "sr_nbr", "sr_nbr2", "sr_ndsi")
}
INDEX_NAMES = {suffix: suffix[3:].lower() for suffix in INDEX_PRODUCTS.values()}

#: Other spellings users reach for, mapped to the common name (per family where it matters).
ALIASES = {
    "nir": "nir08",
    "swir1": "swir16",
    "swir2": "swir22",
    "thermal": "lwir",
    "st": "lwir",
    "pixel_qa": "qa_pixel",
    "radsat_qa": "qa_radsat",
}

#: Rasters holding bit fields: kept as integers even when decoding (NaN has no place in a bit field).
BIT_FIELDS = frozenset({"QA_PIXEL", "QA_RADSAT", "SR_QA_AEROSOL", "SR_CLOUD_QA"})


@dataclass(frozen=True)
class BandEncoding:
    """How one raster stores its values.

    Attributes
    ----------
    dtype : str
        numpy dtype name of the stored integers.
    fill : int or None
        Fill value (no data); ``None`` when the raster has none.
    scale, offset : float or None
        ``value = DN * scale + offset``; ``None`` for bit fields.
    units : str
        Units of the decoded value.
    long_name : str
        Description for the variable's attributes.
    """

    dtype: str
    fill: int | None
    scale: float | None
    offset: float | None
    units: str
    long_name: str
    calibrated: bool = False  # Level-1 DNs: scaled per scene from the MTL, not by a fixed scale

    @property
    def is_bit_field(self) -> bool:
        """True for QA rasters (no scaling)."""
        return self.scale is None and not self.calibrated


def _int16(scale: float, units: str, long_name: str) -> BandEncoding:
    return BandEncoding("int16", -9999, scale, 0.0, units, long_name)


_RADIANCE = "W/(m2 sr um)"
_FIXED = {
    "QA_PIXEL": BandEncoding("uint16", 1, None, None, "bit field", "pixel quality"),
    "QA_RADSAT": BandEncoding("uint16", None, None, None, "bit field", "radiometric saturation"),
    "SR_QA_AEROSOL": BandEncoding("uint8", 1, None, None, "bit field", "aerosol quality"),
    "SR_CLOUD_QA": BandEncoding("uint8", None, None, None, "bit field", "surface reflectance cloud quality"),
    "SR_ATMOS_OPACITY": _int16(0.001, "1", "atmospheric opacity"),
    "ST_QA": _int16(0.01, "K", "surface temperature uncertainty"),
    "ST_TRAD": _int16(0.001, _RADIANCE, "thermal radiance"),
    "ST_URAD": _int16(0.001, _RADIANCE, "upwelled radiance"),
    "ST_DRAD": _int16(0.001, _RADIANCE, "downwelled radiance"),
    "ST_ATRAN": _int16(0.0001, "1", "atmospheric transmittance"),
    "ST_EMIS": _int16(0.0001, "1", "emissivity"),
    "ST_EMSD": _int16(0.0001, "1", "emissivity standard deviation"),
    "ST_CDIST": _int16(0.01, "km", "distance to cloud"),
    # ET storage is undocumented; these are the scalings the emulator and a 2026 client use
    "ETA": _int16(0.001, "mm", "actual evapotranspiration"),
    "ETF": _int16(0.0001, "1", "evapotranspiration fraction"),
    "ETUN": _int16(0.001, "mm", "actual evapotranspiration uncertainty"),
}
_SUFFIX_RE = re.compile(r"^(SR_B\d|ST_B\d{1,2})$")
_L1_SUFFIX_RE = re.compile(r"^(B\d{1,2}|B6_VCID_[12])$")


def is_level1(product_id: str) -> bool:
    """Whether a product id (or a bare 4-character prefix, taken as Level-2) is a Level-1 product."""
    return product_id[5:7].upper() == "L1"


def is_thermal_l1(suffix: str, product_id: str) -> bool:
    """Whether a Level-1 raster suffix holds a thermal band in this product (``B6`` is SWIR on OLI)."""
    return suffix.upper() in L1_THERMAL[family_of(product_id)]


def _l1_encoding(suffix: str, product_id: str) -> BandEncoding | None:
    if suffix in ("QA_PIXEL", "QA_RADSAT"):
        return _FIXED[suffix]
    if suffix in ("SAA", "SZA", "VAA", "VZA"):
        return BandEncoding("int16", None, 0.01, 0.0, "degree", f"{suffix} angle")
    if _L1_SUFFIX_RE.match(suffix):
        if is_thermal_l1(suffix, product_id):
            return BandEncoding("uint16", 0, None, None, "K", f"brightness temperature band {suffix[1:]}", True)
        return BandEncoding("uint16", 0, None, None, "1", f"top-of-atmosphere reflectance band {suffix[1:]}", True)
    return None


def family_of(product_id: str) -> str:
    """Return the sensor family (``"oli"`` or ``"tm"``) of a product id or its 4-character prefix.

    Raises
    ------
    InvalidInputError
        For a sensor without Collection 2 Level-2 products (MSS) or a malformed id.
    """
    family = FAMILIES.get(product_id[:4].upper())
    if family is None:
        raise InvalidInputError(
            f"{product_id!r} is not a Landsat 4-9 Collection 2 Level-2 product (expected LT04, LT05, LE07, LC08, LC09)"
        )
    return family


def encoding_of(suffix: str, product_id: str = "") -> BandEncoding:
    """Return the storage of a raster suffix (``"SR_B4"``, ``"ST_B10"``, ``"QA_PIXEL"``, ``"SR_NDVI"``...).

    A Level-1 ``product_id`` selects the Level-1 table (``"B4"``, ``"B10"``...).

    Raises
    ------
    InvalidInputError
        For an unknown suffix.
    """
    suffix = suffix.upper()
    if is_level1(product_id):
        found = _l1_encoding(suffix, product_id)
        if found is None:
            raise InvalidInputError(f"unknown Collection 2 Level-1 raster {suffix!r}")
        return found
    if suffix in _FIXED:
        return _FIXED[suffix]
    if suffix.startswith("SR_B"):
        return BandEncoding("uint16", 0, SR_SCALE, SR_OFFSET, "1", f"surface reflectance band {suffix[4:]}")
    if suffix.startswith("ST_B"):
        return BandEncoding("uint16", 0, ST_SCALE, ST_OFFSET, "K", "surface temperature")
    if suffix in INDEX_NAMES:
        return BandEncoding("int16", INDEX_FILL, 0.0001, 0.0, "1", f"{suffix[3:]} spectral index")
    raise InvalidInputError(f"unknown Collection 2 Level-2 raster {suffix!r}")


def common_name(suffix: str, product_id: str) -> str:
    """Return the variable name of a raster suffix in a product (``"SR_B5"`` of ``LC08`` -> ``"nir08"``)."""
    suffix = suffix.upper()
    family = family_of(product_id)
    if is_level1(product_id):
        name = L1_NAMES[family].get(suffix) or L1_OTHER_NAMES.get(suffix)
        if name is None:
            raise InvalidInputError(f"unknown Collection 2 Level-1 raster {suffix!r} for {product_id}")
        return name
    name = SPECTRAL_NAMES[family].get(suffix) or OTHER_NAMES.get(suffix) or INDEX_NAMES.get(suffix)
    if name is None:
        raise InvalidInputError(f"unknown Collection 2 Level-2 raster {suffix!r} for {product_id}")
    return name


def band_suffix(name: str, product_id: str) -> str:
    """Return the raster suffix that holds a band of a product.

    Parameters
    ----------
    name : str
        A common name (``"red"``, ``"nir08"``, ``"lwir11"``, ``"qa_pixel"``, ``"ndvi"``...), an alias (``"nir"``,
        ``"swir1"``, ``"swir2"``; ``"lwir"`` is the thermal band of every sensor), or a suffix (``"SR_B4"``).
    product_id : str
        The product (its first four characters choose the sensor family).

    Returns
    -------
    str

    Raises
    ------
    InvalidInputError
        If the sensor has no such band (``"coastal"`` on Landsat 4-7, ``"lwir11"`` on Landsat 7).
    """
    family = family_of(product_id)
    key = name.strip()
    upper = key.upper()
    if is_level1(product_id):
        return _l1_suffix(key, family, product_id)
    if upper in _FIXED or upper in INDEX_NAMES or _SUFFIX_RE.match(upper):
        return upper
    lower = ALIASES.get(key.lower(), key.lower())
    if lower == "lwir":  # the thermal band whatever the sensor calls it
        return "ST_B10" if family == "oli" else "ST_B6"
    for table in (SPECTRAL_NAMES[family], OTHER_NAMES, INDEX_NAMES):
        for suffix, common in table.items():
            if common == lower:
                return suffix
    known = sorted({*SPECTRAL_NAMES[family].values(), *OTHER_NAMES.values(), *INDEX_NAMES.values()})
    raise InvalidInputError(f"{product_id[:4]} products have no band {name!r}; known names: {known}")


def _l1_suffix(key: str, family: str, product_id: str) -> str:
    upper = key.upper()
    if upper in L1_OTHER_NAMES or _L1_SUFFIX_RE.match(upper):
        return upper
    lower = ALIASES.get(key.lower(), key.lower())
    if lower == "lwir":
        return "B10" if family == "oli" else ("B6_VCID_1" if product_id[:4].upper() == "LE07" else "B6")
    for table in (L1_NAMES[family], L1_OTHER_NAMES):
        for suffix, common in table.items():
            if common == lower:
                return suffix
    known = sorted({*L1_NAMES[family].values(), *L1_OTHER_NAMES.values()})
    raise InvalidInputError(f"{product_id[:4]} Level-1 products have no band {key!r}; known names: {known}")


def variable_name(name: str, product_id: str) -> str:
    """Return the variable name a requested band gets: suffixes become common names, aliases are resolved.

    ``"lwir"`` stays ``"lwir"`` on every sensor, so a stack of Landsat 7 and 8 has one thermal variable.
    """
    lower = ALIASES.get(name.strip().lower(), name.strip().lower())
    if lower == "lwir":
        return "lwir"
    return common_name(band_suffix(name, product_id), product_id)
