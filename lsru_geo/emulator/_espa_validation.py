"""ESPA order validation, product availability and the published schemas (``espa-api.md`` 1.4, 1.6, 1.8, 3).

Pure functions: nothing here touches HTTP, the clock or the order book.

The order body is first checked against the draft-03 JSON schema that ``GET /order-schema`` serves (a small
validator for the keywords that schema uses, with ESPA's rewording of the messages), then by ESPA's own
checks (product availability, date restrictions, one projection, extents units, pixel count, item count,
pixel-size range, statistics). Every message is collected and raised together as
:class:`OrderValidationError`, which the service answers as ``{"<N> validation errors": [...]}``.

Choices where the sources are silent or conflicting (each is tested):

* Sensor keys are the Collection 2 ones, ``<tm4|tm5|etm7|olitirs8|olitirs9>_collection_2_<l1|l2>``; an id
  belongs to the ``_l2`` key for ``L2SP``/``L2SR`` and to the ``_l1`` key for ``L1TP``/``L1GT``/``L1GS``. The
  regexes are written in lower case because the body is lower-cased before validation. OLI-only/TIRS-only
  (``LO08``/``LT08``) and MSS ids are ``not_implemented``.
* Level-2 inputs offer ``l1, sr_ndvi ... sr_ndsi, stats, et`` (the 2023 list for LC08) for every sensor,
  LC09 included: the USGS ET product page says Landsat 4-9. Level-1 inputs offer ``l1, stats`` plus
  ``aq_refl`` for OLI, as observed.
* ``formats`` keeps the four formats of the 2020 code; products are GeoTIFF whatever the format.
* ``date_restricted`` follows the Collection-1 ``restricted.yaml`` windows, applied to the SR-derived
  indices: ETM+ days 2016151-2016164 and 2017071-2017076, OLI days 2016050-2016058.
* The Collection-1 rule rejecting non-customised ``l1``-only orders is not applied: a C2 ``l1`` order is
  how a client gets the Level-2 product, and a 2021 client ordered it uncustomised.
* An unknown projection name gets the enum message of the other top-level choices.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

MAX_ITEMS = 5000
PIXEL_COUNT = 200_000_000
METERS_PER_DEGREE = 111317.254174397
# A full Landsat scene with its fill, for the pixel count of an order without image_extents.
DEFAULT_SCENE_PIXELS, DEFAULT_RESOLUTION_M = 8000, 30.0

FORMATS = {"gtiff": "GeoTiff", "envi": "ENVI", "hdf-eos2": "HDF-EOS2", "netcdf": "NetCDF"}
RESAMPLING_METHODS = {"nn": "Nearest Neighbor", "bil": "Bilinear Interpolation", "cc": "Cubic Convolution"}
UNITS = ["dd", "meters"]


def _number(title: str, rank: int, low: float | None = None, high: float | None = None) -> dict:
    field = {"type": "number", "title": title, "display_rank": rank, "required": True}
    if low is not None:
        field.update(minimum=low, maximum=high)
    return field


PROJECTIONS = {
    "aea": {
        "type": "object",
        "title": "Albers Equal Area",
        "pixel_units": ["meters", "dd"],
        "display_rank": 0,
        "properties": {
            "standard_parallel_1": _number("1st Standard Parallel", 2, -90, 90),
            "standard_parallel_2": _number("2nd Standard Parallel", 3, -90, 90),
            "central_meridian": _number("Central Meridian", 1, -180, 180),
            "latitude_of_origin": _number("Latitude of Origin", 0, -90, 90),
            "false_easting": _number("False Easting (meters)", 4),
            "false_northing": _number("False Northing (meters)", 5),
            "datum": {
                "type": "string",
                "title": "Datum",
                "required": True,
                "display_rank": 6,
                "enum": ["wgs84", "nad27", "nad83"],
            },
        },
    },
    "utm": {
        "type": "object",
        "pixel_units": ["meters", "dd"],
        "display_rank": 1,
        "title": "Universal Transverse Mercator",
        "properties": {
            "zone": {
                "type": "integer",
                "title": "UTM Grid Zone Number",
                "display_rank": 0,
                "required": True,
                "minimum": 1,
                "maximum": 60,
            },
            "zone_ns": {
                "type": "string",
                "title": "UTM Hemisphere",
                "display_rank": 1,
                "required": True,
                "enum": ["north", "south"],
            },
        },
    },
    "lonlat": {"type": "null", "pixel_units": "dd", "title": "Geographic", "display_rank": 2},
    "sinu": {
        "type": "object",
        "title": "Sinusoidal",
        "pixel_units": ["meters", "dd"],
        "display_rank": 3,
        "properties": {
            "central_meridian": _number("Central Meridian", 0, -180, 180),
            "false_easting": _number("False Easting (meters)", 1),
            "false_northing": _number("False Northing (meters)", 2),
        },
    },
    "ps": {
        "type": "object",
        "title": "Polar Stereographic",
        "pixel_units": ["meters", "dd"],
        "display_rank": 4,
        "properties": {
            "longitudinal_pole": _number("Longitudinal Pole", 0, -180, 180),
            "latitude_true_scale": {
                "type": "number",
                "title": "Latitude True Scale",
                "display_rank": 1,
                "required": True,
                "abs_rng": [60, 90],
            },
            "false_easting": _number("False Easting (meters)", 2),
            "false_northing": _number("False Northing (meters)", 3),
        },
    },
}


def _extent(title: str, rank: int) -> dict:
    return {"type": "number", "title": title, "display_rank": rank, "required": True}


CORE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-03/schema#",
    "type": "object",
    "additionalProperties": False,
    "max_items": MAX_ITEMS,
    "pixel_count": PIXEL_COUNT,
    "properties": {
        "projection": {
            "properties": PROJECTIONS,
            "type": "object",
            "title": "Reproject Products",
            "display_rank": 1,
            "single_obj": True,
        },
        "image_extents": {
            "type": "object",
            "title": "Modify Image Extents",
            "display_rank": 2,
            "properties": {
                "north": _extent("Upper left Y coordinate", 2),
                "south": _extent("Lower right Y coordinate", 4),
                "east": _extent("Lower right X coordinate", 3),
                "west": _extent("Upper left X coordinate", 1),
                "units": {
                    "type": "string",
                    "title": "Coordinate system units",
                    "display_rank": 0,
                    "required": True,
                    "enum": UNITS,
                },
            },
        },
        "format": {
            "type": "string",
            "title": "Output Format",
            "display_rank": 0,
            "required": True,
            "enum": list(FORMATS),
        },
        "resize": {
            "type": "object",
            "title": "Pixel Resizing",
            "display_rank": 3,
            "properties": {
                "pixel_size": {
                    "type": "number",
                    "title": "Pixel Size",
                    "display_rank": 0,
                    "required": True,
                    "ps_dd_rng": [0.0002695, 0.0449155],
                    "ps_meters_rng": [30, 5000],
                },
                "pixel_size_units": {
                    "type": "string",
                    "title": "Pixel Size Units",
                    "display_rank": 1,
                    "required": True,
                    "enum": UNITS,
                },
            },
        },
        "resampling_method": {
            "type": "string",
            "title": "Resample Method",
            "display_rank": 4,
            "enum": list(RESAMPLING_METHODS),
        },
        "plot_statistics": {"type": "boolean", "title": "Plot Output Product Statistics"},
        "note": {"type": "string", "title": "Order Description (optional)", "required": False, "blank": True},
    },
    "dependencies": {"image_extents": ["projection"]},
}

# -- sensors and products -------------------------------------------------------------------------------

INDICES = ["sr_ndvi", "sr_evi", "sr_savi", "sr_msavi", "sr_ndmi", "sr_nbr", "sr_nbr2", "sr_ndsi"]
L2_PRODUCTS = ["l1", *INDICES, "stats", "et"]


@dataclass(frozen=True)
class Sensor:
    """One ESPA sensor key: which ids it takes and which products it offers."""

    key: str
    prefix: str  # lower-case LXSS
    level: int
    products: tuple[str, ...]
    stats_products: tuple[str, ...]  # products plot_statistics can summarise

    @property
    def pattern(self) -> str:
        if self.level == 2:
            return rf"^{self.prefix}_l2s[pr]_[0-9]{{6}}_[0-9]{{8}}_[0-9]{{8}}_02_t[12]$"
        return rf"^{self.prefix}_l1(tp|gt|gs)_[0-9]{{6}}_[0-9]{{8}}_[0-9]{{8}}_02_(t1|t2|rt)$"


def _sensors() -> dict[str, Sensor]:
    sensors = {}
    for name, prefix in (
        ("tm4", "lt04"),
        ("tm5", "lt05"),
        ("etm7", "le07"),
        ("olitirs8", "lc08"),
        ("olitirs9", "lc09"),
    ):
        l1 = ["l1", "aq_refl", "stats"] if prefix.startswith("lc") else ["l1", "stats"]
        sensors[f"{name}_collection_2_l1"] = Sensor(
            f"{name}_collection_2_l1", prefix, 1, tuple(l1), ("aq_refl",) if "aq_refl" in l1 else ()
        )
        sensors[f"{name}_collection_2_l2"] = Sensor(
            f"{name}_collection_2_l2", prefix, 2, tuple(L2_PRODUCTS), ("l1", *INDICES, "et")
        )
    return sensors


SENSORS = _sensors()
_PATTERNS = {key: re.compile(s.pattern) for key, s in SENSORS.items()}

# Julian-day windows (inclusive) in which SR-derived products may not be ordered, per sensor family.
DATE_RESTRICTED = {
    "etm7": {p: [(2016151, 2016164), (2017071, 2017076)] for p in INDICES},
    "olitirs8": {p: [(2016050, 2016058)] for p in INDICES},
}


def sensor_of(product_id: str) -> str | None:
    """Return the sensor key of a product id (any case), or ``None`` when ESPA does not implement it."""
    lowered = product_id.lower() if isinstance(product_id, str) else ""
    for key, pattern in _PATTERNS.items():
        if pattern.match(lowered):
            return key
    return None


def _julian(product_id: str) -> int | None:
    try:
        day = dt.datetime.strptime(product_id[17:25], "%Y%m%d")
    except ValueError:
        return None
    return day.year * 1000 + day.timetuple().tm_yday


def date_restrictions(sensor: str, inputs: Sequence[str]) -> dict[str, list[str]]:
    """Find the products of ``sensor`` that some of ``inputs`` may not get, with those inputs (as given)."""
    rules = DATE_RESTRICTED.get(sensor.split("_collection")[0], {})
    restricted: dict[str, list[str]] = {}
    for product, windows in rules.items():
        for product_id in inputs:
            day = _julian(product_id)
            if day is not None and any(low <= day <= high for low, high in windows):
                restricted.setdefault(product, []).append(product_id)
    return restricted


def available_products(inputs: Sequence[str]) -> dict:
    """Answer ``available-products``: a ``{"products", "inputs"}`` block per sensor key, and the rest.

    ``not_implemented`` and ``date_restricted`` follow when they are not empty. As in ESPA, a product
    date-restricted for any input of a sensor leaves that sensor's product list.
    """
    answer: dict = {}
    not_implemented = []
    for product_id in inputs:
        key = sensor_of(product_id)
        if key is None:
            not_implemented.append(product_id)
        else:
            answer.setdefault(key, {"products": list(SENSORS[key].products), "inputs": []})["inputs"].append(product_id)
    date_restricted: dict[str, list[str]] = {}
    for key, block in answer.items():
        for product, ids in date_restrictions(key, block["inputs"]).items():
            if product in block["products"]:
                block["products"].remove(product)
                date_restricted.setdefault(product, []).extend(ids)
    if not_implemented:
        answer["not_implemented"] = not_implemented
    if date_restricted:
        answer["date_restricted"] = date_restricted
    return answer


def order_schema() -> dict:
    """Build the full draft-03 order schema, sensor blocks included (``GET /order-schema``)."""
    schema = copy.deepcopy(CORE_SCHEMA)
    for key, sensor in SENSORS.items():
        schema["properties"][key] = {
            "type": "object",
            "properties": {
                "inputs": {
                    "type": "array",
                    "required": True,
                    "uniqueItems": True,
                    "minItems": 1,
                    "maxItems": MAX_ITEMS,
                    "items": {"type": "string", "pattern": sensor.pattern},
                },
                "products": {
                    "type": "array",
                    "uniqueItems": True,
                    "required": True,
                    "restricted": True,
                    "stats": True,
                    "minItems": 1,
                    "items": {"type": "string", "enum": list(sensor.products)},
                },
            },
        }
    schema["oneormoreobjects"] = list(SENSORS)
    return schema


_SCHEMA = order_schema()

# -- validation -----------------------------------------------------------------------------------------


class OrderValidationError(Exception):
    """An order failed validation; ``errors`` holds every message, in ESPA's order."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} validation errors")
        self.errors = errors

    @property
    def response(self) -> dict:
        """The error item ESPA puts in ``messages.errors``: ``{"<N> validation errors": [...]}``."""
        return {f"{len(self.errors)} validation errors": list(self.errors)}


def lowercase_all(value: object, key: str | None = None) -> object:
    """Lower-case every key and string of a JSON body except the value of ``note`` (ESPA's ``lowercase_all``)."""
    if isinstance(value, dict):
        return {str(k).lower(): lowercase_all(v, str(k).lower()) for k, v in value.items()}
    if isinstance(value, list):
        return [lowercase_all(v, key) for v in value]
    if isinstance(value, str) and key != "note":
        return value.lower()
    return value


def validate(order: dict) -> dict:
    """Validate a lower-cased order body; return it as ESPA stores it (``product_opts``).

    Inputs come back upper-cased, and ``plot_statistics`` adds ``stats`` to every sensor's products.

    Raises
    ------
    OrderValidationError
        With every message when anything is wrong.
    """
    errors = list(_schema_errors(order, _SCHEMA, []))
    sensors = [key for key in order if key in SENSORS]
    for key in sensors:
        errors += _restricted_errors(order[key], key)
    if not sensors:
        errors.append("No requests for products were submitted")
    errors += _single_object_errors(order)
    errors += _pixel_unit_errors(order)
    if sensors:
        errors += _extent_errors(order, sensors)
        errors += _item_count_errors(order, sensors)
    errors += _pixel_size_errors(order, "dd") + _pixel_size_errors(order, "meters")
    errors += _stats_errors(order, sensors)
    if errors:
        raise OrderValidationError(errors)
    stored = copy.deepcopy(order)
    for key in sensors:
        stored[key]["inputs"] = [i.upper() for i in stored[key]["inputs"]]
        if stored.get("plot_statistics") and "stats" not in stored[key]["products"]:
            stored[key]["products"].append("stats")
    return stored


def _is_type(value: object, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:  # NaN, Infinity (Python's json reads them) and integers beyond a double are not numbers here (RFC 8259 §6)
        if not math.isfinite(value):
            return False
    except OverflowError:
        return False
    return kind == "number" or isinstance(value, int) or float(value).is_integer()  # draft-03: 5.0 is an integer


def _path(path: Sequence[object]) -> str:
    return ".".join(str(p) for p in path)


def _schema_errors(instance: object, schema: dict, path: list) -> Iterator[str]:
    """Messages for the draft-03 keywords the order schema uses, worded as ESPA rewords jsonschema's."""
    kind = schema.get("type")
    if kind is not None and not _is_type(instance, kind):
        yield f"{instance!r} is not of type {kind!r} in {_path(path)}"
        return
    for keyword, value in schema.items():
        if keyword == "additionalProperties" and value is False:
            extras = [k for k in instance if k not in schema.get("properties", {})]
            if extras:
                verb = "was" if len(extras) == 1 else "were"
                yield f"Additional properties are not allowed ({', '.join(repr(e) for e in extras)} {verb} unexpected)"
        elif keyword == "properties" and isinstance(instance, dict):
            if path == ["projection"]:
                unknown = [k for k in instance if k not in value]
                for name in unknown:
                    yield f"Unrecognized value '{name}' in projection - Allowed values: {list(value)}"
            for name, subschema in value.items():
                if name in instance:
                    yield from _schema_errors(instance[name], subschema, [*path, name])
                elif subschema.get("required"):
                    yield f'Required field "{name}" is missing'
        elif keyword == "dependencies" and isinstance(instance, dict):
            for name, needed in value.items():
                for dependency in needed if name in instance else ():
                    if dependency not in instance:
                        yield f"{dependency!r} is a dependency of {name!r}"
        elif keyword == "enum" and instance not in value:
            if "products" not in path:  # product codes are judged with the sensor's availability instead
                names = ".".join(p for p in path if isinstance(p, str))
                yield f"Unrecognized value '{instance}' in {names} - Allowed values: {list(value)}"
        elif keyword == "minimum" and _is_type(instance, "number") and instance < value:
            yield f"{instance!r} is less than the minimum of {value!r} in {_path(path)}"
        elif keyword == "maximum" and _is_type(instance, "number") and instance > value:
            yield f"{instance!r} is greater than the maximum of {value!r} in {_path(path)}"
        elif keyword == "abs_rng" and _is_type(instance, "number") and not value[0] <= abs(instance) <= value[1]:
            yield f"Absolute value of {_path(path)} must fall between {value[0]} and {value[1]}"
        elif keyword == "minItems" and isinstance(instance, list) and len(instance) < value:
            yield f"Property {_path(path)} requires at least {value} item(s)"
        elif keyword == "maxItems" and isinstance(instance, list) and len(instance) > value:
            yield f"Single sensor input count exceeds maximum of {value} in {_path(path)}"
        elif keyword == "uniqueItems" and value and isinstance(instance, list) and _has_duplicates(instance):
            yield f"{instance!r} has non-unique elements in {_path(path)}"
        elif keyword == "pattern" and isinstance(instance, str) and not re.search(value, instance):
            yield f'Unrecognized ID "{instance}" does not match {value} in {_path(path[:-1])}'
        elif keyword == "items" and isinstance(instance, list):
            for index, element in enumerate(instance):
                yield from _schema_errors(element, value, [*path, index])


def _has_duplicates(values: list) -> bool:
    seen = []
    for v in values:
        if v in seen:
            return True
        seen.append(v)
    return False


def _restricted_errors(block: object, key: str) -> list[str]:
    """Availability of the requested products for one sensor's inputs (ESPA's ``validate_restricted``)."""
    if not isinstance(block, dict):
        return []
    inputs, requested = block.get("inputs"), block.get("products")
    if not isinstance(inputs, list) or not inputs or not isinstance(requested, list) or not requested:
        return []
    ids = [i for i in inputs if isinstance(i, str)]
    requested = [p for p in requested if isinstance(p, str)]
    errors = []
    unknown = [i for i in ids if sensor_of(i) is None]
    if unknown:
        errors.append(f"Requested IDs are not recognized. Remove: {unknown}")
    available = list(SENSORS[key].products)
    restricted = date_restrictions(key, [i for i in ids if sensor_of(i) == key])
    for product in restricted:
        available.remove(product)
    for product, scenes in restricted.items():
        if product in requested:
            errors.append(
                f"Requested {product} products are restricted by date. "
                f"Remove {key} scenes: {[s.upper() for s in scenes]}"
            )
    for product in requested:
        if product not in available and product not in restricted:
            errors.append(
                f"Remove invalid product request '{product}' in {key}.products - Available products: {available}"
            )
    return errors


def _single_object_errors(order: dict) -> list[str]:
    projection = order.get("projection")
    if isinstance(projection, dict) and len(projection) > 1:
        return [f"projection field only accepts one object, not {len(projection)}"]
    return []


def _pixel_units(name: str) -> str:
    units = PROJECTIONS[name]["pixel_units"]
    # ESPA formats its Python tuple, so the message shows ('meters', 'dd') rather than a JSON list
    return str(tuple(units)) if isinstance(units, list) else units


def _pixel_unit_errors(order: dict) -> list[str]:
    projection, extents = order.get("projection"), order.get("image_extents")
    if not isinstance(projection, dict) or not projection or not isinstance(extents, dict) or "units" not in extents:
        return []
    name = next(iter(projection))
    if name not in PROJECTIONS:
        return []
    allowed = PROJECTIONS[name]["pixel_units"]
    if str(extents["units"]) not in (allowed if isinstance(allowed, list) else [allowed]):
        return [
            f'image_extents units must be in "{_pixel_units(name)}" for projection "{name}", not "{extents["units"]}"'
        ]
    return []


def _pixel_count(
    west: float, east: float, south: float, north: float, extent_units: str, pixel: float, pixel_units: str
) -> int:
    """Approximate output pixels of an extent at a pixel size (units converted at the equator)."""
    if extent_units == "dd" and west > 170 and east < -170:  # across the antimeridian
        width = 360 - west + east
    else:
        width = max(east - west, 0)
    height = max(north - south, 0)
    if pixel_units != extent_units:
        pixel = pixel / METERS_PER_DEGREE if extent_units == "dd" else pixel * METERS_PER_DEGREE
    if not width or not height:
        return 0
    count = (width / pixel) * (height / pixel)  # not / pixel**2, which overflows, or underflows to 0, on odd sizes
    return int(count) if math.isfinite(count) else PIXEL_COUNT + 1


def _extent_errors(order: dict, sensors: list[str]) -> list[str]:
    """Output size, resize units and UTM zone checks; skipped when the parts they need are malformed."""
    resize, extents, projection = order.get("resize"), order.get("image_extents"), order.get("projection")
    if resize is None and extents is None:
        return []
    if resize is not None:
        if not isinstance(resize, dict) or set(resize) != {"pixel_size", "pixel_size_units"}:
            return []
        if (
            not isinstance(resize["pixel_size_units"], str)
            or not _is_type(resize["pixel_size"], "number")
            or resize["pixel_size"] <= 0
        ):
            return []
    if extents is not None:
        if not isinstance(extents, dict) or set(extents) != {"north", "south", "east", "west", "units"}:
            return []
        if not isinstance(projection, dict) or not all(
            _is_type(extents[k], "number") for k in ("north", "south", "east", "west")
        ):
            return []
        if not isinstance(extents["units"], str):
            return []
    default_extent = DEFAULT_SCENE_PIXELS * DEFAULT_RESOLUTION_M
    if resize is not None and extents is not None:
        counts = [
            _pixel_count(
                extents["west"],
                extents["east"],
                extents["south"],
                extents["north"],
                extents["units"],
                resize["pixel_size"],
                resize["pixel_size_units"],
            )
        ]
    elif extents is not None:
        counts = [
            _pixel_count(
                extents["west"],
                extents["east"],
                extents["south"],
                extents["north"],
                extents["units"],
                DEFAULT_RESOLUTION_M,
                "meters",
            )
        ]
    else:
        counts = [
            _pixel_count(
                0, default_extent, 0, default_extent, "meters", resize["pixel_size"], resize["pixel_size_units"]
            )
        ]
    errors = []
    if max(counts) > PIXEL_COUNT:
        errors.append(f"pixel count is greater than maximum size of {PIXEL_COUNT} pixels")
    elif min(counts) < 1:
        errors.append("pixel count value falls below acceptable threshold of 1 pixel")
    if isinstance(projection, dict) and projection and resize is not None:
        wanted = "dd" if "lonlat" in projection else "meters"
        if resize["pixel_size_units"] != wanted:
            errors.append(f'resize units must be in "{wanted}" for projection "{next(iter(projection))}"')
    utm = projection.get("utm") if isinstance(projection, dict) else None
    if extents is not None and isinstance(utm, dict) and extents["units"] == "dd":
        zone = utm.get("zone")
        if isinstance(zone, int) and not isinstance(zone, bool) and isinstance(utm.get("zone_ns"), str):
            if max(abs(extents["north"]), abs(extents["south"])) < 80:

                def zone_of(lon: float) -> int:
                    return math.floor((lon + 180) / 6.0) % 60 + 1

                if not zone_of(extents["west"]) - 3 <= zone <= zone_of(extents["east"]) + 3:
                    errors.append(
                        f"image_extents (East: {extents['east']}, West: {extents['west']}) are not near the "
                        f"requested UTM zone ({zone})"
                    )
    return errors


def _item_count_errors(order: dict, sensors: list[str]) -> list[str]:
    count = 0
    for key in sensors:
        block = order[key]
        if isinstance(block, dict) and isinstance(block.get("inputs"), list):
            count += len(block["inputs"])
            if count > MAX_ITEMS:
                return [f"Order exceeds maximum allowable inputs of {MAX_ITEMS}"]
    return []


def _pixel_size_errors(order: dict, units: str) -> list[str]:
    resize = order.get("resize")
    if not isinstance(resize, dict) or resize.get("pixel_size_units") != units:
        return []
    value = resize.get("pixel_size")
    low, high = CORE_SCHEMA["properties"]["resize"]["properties"]["pixel_size"][f"ps_{units}_rng"]
    if _is_type(value, "number") and not low <= value <= high:
        name = {"dd": "Decimal Degrees", "meters": "Meters"}[units]
        return [f"Value of {value} for resize.pixel_size must fall between {low} and {high} {name}"]
    return []


def _stats_errors(order: dict, sensors: list[str]) -> list[str]:
    """``plot_statistics`` with ``stats`` needs a product the statistics can summarise, per sensor."""
    blocks = {k: order[k] for k in sensors if isinstance(order[k], dict) and isinstance(order[k].get("products"), list)}
    asked = any("stats" in b["products"] for b in blocks.values())
    if not asked or order.get("plot_statistics") is not True:
        return []
    errors = []
    for key, block in blocks.items():
        valid = SENSORS[key].stats_products
        if not set(valid) & set(p for p in block["products"] if isinstance(p, str)):
            errors.append(f"You must request valid products for statistics: {list(valid)}")
    return errors
