"""Parse Landsat Collection 2 metadata: ``MTL.txt`` (ODL), ``MTL.xml``, ``MTL.json`` and ESPA's ``<id>.xml``.

Pure text parsing, no I/O. The three MTL forms state the same facts; each parses into the same nested
dict ``{group: {key: value}}`` (the outer ``LANDSAT_METADATA_FILE`` group dropped), with numbers as
``int``/``float`` and everything else as ``str``. :func:`scene_facts` picks what an analysis needs.

Examples
--------
>>> text = '''GROUP = LANDSAT_METADATA_FILE
...   GROUP = IMAGE_ATTRIBUTES
...     WRS_PATH = 33
...     DATE_ACQUIRED = 2023-05-17
...     SCENE_CENTER_TIME = "17:40:12.3456780Z"
...     CLOUD_COVER = 23.00
...   END_GROUP = IMAGE_ATTRIBUTES
... END_GROUP = LANDSAT_METADATA_FILE'''
>>> mtl = parse_mtl(text)
>>> mtl["IMAGE_ATTRIBUTES"]["WRS_PATH"], mtl["IMAGE_ATTRIBUTES"]["CLOUD_COVER"]
(33, 23.0)
>>> acquisition_time(mtl)
np.datetime64('2023-05-17T17:40:12.345678000')
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import numpy as np

from .exceptions import InvalidInputError

Mtl = dict[str, dict[str, Any]]

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _value(text: str) -> Any:
    """Return an unquoted MTL value as int or float when it is a number (``02`` stays the int 2), else as text."""
    text = text.strip()
    if _NUMBER.match(text):
        number = float(text)
        return int(number) if re.match(r"^[+-]?\d+$", text) else number
    return text


def parse_mtl_text(text: str) -> Mtl:
    """Parse an ODL ``MTL.txt``: ``GROUP = NAME`` ... ``END_GROUP = NAME`` blocks of ``KEY = value`` lines."""
    groups: Mtl = {}
    stack: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line == "END" or "=" not in line:
            continue
        key, _, value = (part.strip() for part in line.partition("="))
        if key == "GROUP":
            stack.append(value)
            if len(stack) > 1:
                groups.setdefault(value, {})
        elif key == "END_GROUP":
            if stack:
                stack.pop()
        elif stack:
            group = groups.setdefault(stack[-1], {})
            quoted = len(value) >= 2 and value[0] == value[-1] == '"'
            group[key] = value[1:-1] if quoted else _value(value)
    if not groups:
        raise InvalidInputError("not an MTL file: no GROUP blocks found")
    return groups


def parse_mtl_xml(text: str) -> Mtl:
    """Parse an ``MTL.xml`` (``<LANDSAT_METADATA_FILE><GROUP><KEY>value</KEY>...``)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise InvalidInputError(f"not an MTL XML file: {error}") from None
    return {group.tag: {item.tag: _value(item.text or "") for item in group} for group in root}


def parse_mtl_json(text: str) -> Mtl:
    """Parse an ``MTL.json`` (every value is a string there; numbers are converted as in the other forms)."""
    data = json.loads(text)
    data = data.get("LANDSAT_METADATA_FILE", data)
    return {name: {k: _value(v) if isinstance(v, str) else v for k, v in items.items()} for name, items in data.items()}


def parse_mtl(text: str) -> Mtl:
    """Parse any of the three MTL forms, recognised by their first character."""
    head = text.lstrip()[:1]
    if head == "<":
        return parse_mtl_xml(text)
    if head == "{":
        return parse_mtl_json(text)
    return parse_mtl_text(text)


def _get(mtl: Mtl, group: str, key: str, default: Any = None) -> Any:
    return mtl.get(group, {}).get(key, default)


def acquisition_time(mtl: Mtl) -> np.datetime64:
    """Scene centre time, UTC, as a timezone-naive ``datetime64[ns]`` (``DATE_ACQUIRED`` + ``SCENE_CENTER_TIME``)."""
    date = str(_get(mtl, "IMAGE_ATTRIBUTES", "DATE_ACQUIRED", ""))
    clock = str(_get(mtl, "IMAGE_ATTRIBUTES", "SCENE_CENTER_TIME", "00:00:00")).rstrip("Z")
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", date):
        raise InvalidInputError(f"MTL has no valid DATE_ACQUIRED ({date!r})")
    whole, _, fraction = clock.partition(".")
    nanoseconds = (fraction + "000000000")[:9]  # USGS writes seven decimals
    return np.datetime64(f"{date}T{whole}.{nanoseconds}", "ns")


@dataclass(frozen=True)
class SceneFacts:
    """What an analysis needs from a product's metadata (attribute names are the xarray attribute names)."""

    product_id: str
    spacecraft_id: str
    sensor_id: str
    processing_level: str
    collection_category: str
    wrs_path: int
    wrs_row: int
    time: np.datetime64
    cloud_cover: float
    cloud_cover_land: float
    sun_azimuth: float
    sun_elevation: float
    centre_lon: float

    def attrs(self) -> dict[str, Any]:
        """Return the facts as xarray attributes (the time is a coordinate, the longitude internal)."""
        return {
            "product_id": self.product_id,
            "spacecraft_id": self.spacecraft_id,
            "sensor_id": self.sensor_id,
            "processing_level": self.processing_level,
            "collection_category": self.collection_category,
            "wrs_path": self.wrs_path,
            "wrs_row": self.wrs_row,
            "cloud_cover": self.cloud_cover,
            "cloud_cover_land": self.cloud_cover_land,
            "sun_azimuth": self.sun_azimuth,
            "sun_elevation": self.sun_elevation,
        }

    @property
    def solar_day(self) -> np.datetime64:
        """The local solar date of the acquisition (UTC time shifted by the scene longitude)."""
        shift = np.timedelta64(round(self.centre_lon / 15.0 * 3600), "s")
        return (self.time + shift).astype("datetime64[D]")


def scene_facts(mtl: Mtl) -> SceneFacts:
    """Return the facts of a parsed MTL.

    Raises
    ------
    InvalidInputError
        If the product id or acquisition date is missing.
    """
    product_id = _get(mtl, "PRODUCT_CONTENTS", "LANDSAT_PRODUCT_ID") or _get(
        mtl, "LEVEL2_PROCESSING_RECORD", "LANDSAT_PRODUCT_ID"
    )
    if not product_id:
        raise InvalidInputError("MTL has no LANDSAT_PRODUCT_ID")
    lons = [_get(mtl, "PROJECTION_ATTRIBUTES", f"CORNER_{c}_LON_PRODUCT") for c in ("UL", "UR", "LL", "LR")]
    lons = [float(v) for v in lons if isinstance(v, (int, float))]
    if lons and max(lons) - min(lons) > 180:  # across the antimeridian
        lons = [v + 360 if v < 0 else v for v in lons]
    centre = sum(lons) / len(lons) if lons else 0.0
    image = mtl.get("IMAGE_ATTRIBUTES", {})
    return SceneFacts(
        product_id=str(product_id),
        spacecraft_id=str(image.get("SPACECRAFT_ID", "")),
        sensor_id=str(image.get("SENSOR_ID", "")),
        processing_level=str(_get(mtl, "PRODUCT_CONTENTS", "PROCESSING_LEVEL", str(product_id)[5:9])),
        collection_category=str(_get(mtl, "PRODUCT_CONTENTS", "COLLECTION_CATEGORY", str(product_id)[-2:])),
        wrs_path=int(image.get("WRS_PATH", str(product_id)[10:13])),
        wrs_row=int(image.get("WRS_ROW", str(product_id)[13:16])),
        time=acquisition_time(mtl),
        cloud_cover=float(image.get("CLOUD_COVER", -1)),
        cloud_cover_land=float(image.get("CLOUD_COVER_LAND", -1)),
        sun_azimuth=float(image.get("SUN_AZIMUTH", np.nan)),
        sun_elevation=float(image.get("SUN_ELEVATION", np.nan)),
        centre_lon=((centre + 180.0) % 360.0) - 180.0,
    )


def mtl_file_names(mtl: Mtl) -> list[str]:
    """Raster file names the MTL lists (``PRODUCT_CONTENTS`` ``FILE_NAME_*`` ending in ``.TIF``)."""
    contents = mtl.get("PRODUCT_CONTENTS", {})
    return [str(v) for k, v in contents.items() if k.startswith("FILE_NAME_") and str(v).upper().endswith(".TIF")]


def mtl_grid(mtl: Mtl) -> tuple[int, tuple[float, ...], int, int] | None:
    """Return the reflective-band grid an MTL states: ``(epsg, transform, width, height)``, or None.

    The MTL gives the UTM zone, the pixel size and the centres of the corner pixels; Collection 2 products
    use the northern zone even south of the equator (negative northings), hence ``326zz``. None when the
    product is not in UTM or a value is missing.
    """
    proj = mtl.get("PROJECTION_ATTRIBUTES", {})
    try:
        if proj.get("MAP_PROJECTION", "UTM") != "UTM":
            return None
        zone, res = int(proj["UTM_ZONE"]), float(proj["GRID_CELL_SIZE_REFLECTIVE"])
        width, height = int(proj["REFLECTIVE_SAMPLES"]), int(proj["REFLECTIVE_LINES"])
        x, y = float(proj["CORNER_UL_PROJECTION_X_PRODUCT"]), float(proj["CORNER_UL_PROJECTION_Y_PRODUCT"])
    except (KeyError, TypeError, ValueError):
        return None
    epsg = 32600 + zone if zone > 0 else 32700 - zone
    return epsg, (res, 0.0, x - res / 2, 0.0, -res, y + res / 2), width, height


def espa_grid(text: str) -> tuple[int, tuple[float, ...], int, int] | None:
    """Return the grid an ESPA metadata file states for its first band: ``(epsg, transform, width, height)``.

    ESPA writes the corner points (pixel centres when ``grid_origin`` is ``CENTER``) and the UTM zone
    (negative south of the equator, ``327zz``). None for other projections or missing values.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    found: dict[str, Any] = {}
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "projection_information":
            found["projection"] = element.get("projection")
        elif tag == "corner_point":
            found[element.get("location")] = (element.get("x"), element.get("y"))
        elif tag == "grid_origin":
            found["origin"] = (element.text or "").strip()
        elif tag == "zone_code":
            found["zone"] = (element.text or "").strip()
        elif tag == "band" and "size" not in found:
            found["size"] = (element.get("nsamps"), element.get("nlines"))
        elif tag == "pixel_size" and "res" not in found:
            found["res"] = (element.get("x"), element.get("y"))
    try:
        if found.get("projection") != "UTM":
            return None
        zone = int(found["zone"])
        rx, ry = float(found["res"][0]), float(found["res"][1])
        x, y = float(found["UL"][0]), float(found["UL"][1])
        width, height = int(found["size"][0]), int(found["size"][1])
    except (KeyError, TypeError, ValueError):
        return None
    if found.get("origin", "CENTER").upper() == "CENTER":
        x, y = x - rx / 2, y + ry / 2
    epsg = 32600 + zone if zone > 0 else 32700 - zone
    return epsg, (rx, 0.0, x, 0.0, -ry, y), width, height


def espa_band_files(text: str) -> list[str]:
    """Raster file names an ESPA metadata file (``<product id>.xml``, schema v2) lists, one per ``<band>``."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise InvalidInputError(f"not an ESPA metadata file: {error}") from None
    names = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "file_name" and element.text:
            names.append(element.text.strip())
    return names
