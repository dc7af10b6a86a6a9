"""The ESPA API v1 wire format: responses to data or typed errors, order bodies, option checks against the
service's own schema, and item records. Pure functions: nothing here sends a request.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ._http import status_error
from .exceptions import ApiError, InvalidInputError, NotFoundError, OrderRejectedError, ServerError

SERVICE = "espa"
MAX_INPUTS = 5000  # per order, across sensors
TERMINAL_ITEM_STATES = frozenset({"complete", "unavailable", "error", "cancelled", "purged"})
NON_SENSOR_KEYS = frozenset({"not_implemented", "date_restricted", "ordering_restricted"})
# Collection 1 ESPA products that lsru 0.6.2 ordered; on a Collection 2 Level-2 input the Level-2 product itself
# (ordered as "l1", the input product) holds surface reflectance, surface temperature and QA_PIXEL
C1_PRODUCTS = {
    "sr": "surface reflectance is part of the Collection 2 Level-2 product",
    "pixel_qa": "QA_PIXEL is part of the Collection 2 Level-2 product",
    "st": "surface temperature is part of the Collection 2 Level-2 product",
    "toa": "ESPA makes no Collection 2 TOA reflectance; the Level-2 product holds surface reflectance instead",
    "bt": "ESPA makes no Collection 2 brightness temperature; the Level-2 product holds surface temperature instead",
}
PIXEL_SIZE_RANGES = {"meters": (30.0, 5000.0), "dd": (0.0002695, 0.0449155)}
PRODUCT_CODE = re.compile(r"[A-Za-z0-9_]+", re.ASCII)  # every ESPA product code: 'l1', 'sr_ndvi', 'pixel_qa'...


MAX_ORDER_ID = 256


def check_order_id(orderid: Any) -> str:
    """Return an order id stripped of surrounding spaces, refusing what cannot be one.

    ESPA ids look like ``espa-<email>-MMDDYYYY-HHMMSS-mmm``, but ids of other eras exist, so the grammar is not
    enforced: any text goes into a URL as one escaped path segment (:func:`order_resource`), except an empty
    one, ``.``/``..``, control characters and more than 256 characters.
    """
    if not isinstance(orderid, str) or not orderid.strip():
        raise InvalidInputError(f"orderid must be a non-empty string, got {orderid!r:.100}")
    orderid = orderid.strip()
    if orderid in (".", "..") or len(orderid) > MAX_ORDER_ID:
        raise InvalidInputError(f"{orderid!r:.100} is not an ESPA order id (espa-<email>-MMDDYYYY-HHMMSS-mmm)")
    if any(unicodedata.category(c) == "Cc" for c in orderid):
        raise InvalidInputError(f"order id {orderid!r:.100} holds control characters")
    return orderid


def order_resource(resource: str, orderid: str) -> str:
    """Return ``<resource>/<order id>`` with the id percent-escaped as one path segment.

    Examples
    --------
    >>> order_resource("order-status", "espa-me@example.com-0101-1")
    'order-status/espa-me@example.com-0101-1'
    >>> order_resource("order-status", "../../admin?x=1#y")
    'order-status/..%2F..%2Fadmin%3Fx%3D1%23y'
    """
    return f"{resource}/{quote(check_order_id(orderid), safe='@+')}"


def completed_downloads(items: Any) -> list[tuple[str, str | None]]:
    """Return ``(product URL, checksum URL or None)`` of each complete item; malformed items are skipped.

    Examples
    --------
    >>> completed_downloads([{"status": "complete", "product_dload_url": "https://h/a.tar.gz"}, {"status": 1}, 7])
    [('https://h/a.tar.gz', None)]
    """
    found = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping) or item.get("status") != "complete":
            continue
        url, md5_url = item.get("product_dload_url"), item.get("cksum_download_url")
        if isinstance(url, str) and url:
            found.append((url, md5_url if isinstance(md5_url, str) and md5_url else None))
    return found


def flatten_messages(messages: Any) -> list[str]:
    """ESPA error lists hold strings and dicts like ``{"2 validation errors": ["a", "b"]}``: flatten them."""
    if messages is None:
        return []
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, Mapping):
        return [text for value in messages.values() for text in flatten_messages(value)] or list(map(str, messages))
    if isinstance(messages, Iterable):
        return [text for item in messages for text in flatten_messages(item)]
    return [str(messages)]


def parse(content: bytes, status: int, url: str, retry_after: float | None = None) -> Any:
    """The JSON body of an ESPA answer, or the typed error its status and ``messages`` describe."""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    messages = body.get("messages") if isinstance(body, dict) else None
    errors = flatten_messages(messages.get("errors")) if isinstance(messages, dict) else []
    warnings = flatten_messages(messages.get("warnings")) if isinstance(messages, dict) else []
    text = (
        "; ".join(errors or warnings)
        or (content[:200].decode("utf-8", "replace").strip() if body is None else "")
        or f"HTTP {status}"
    )
    fields = {"service": SERVICE, "status": status, "url": url}
    if status == 400 and errors:
        raise OrderRejectedError(text, errors=errors, **fields)
    if status >= 400:
        raise status_error(status, text, service=SERVICE, url=url, retry_after=retry_after)
    if body is None and content:
        raise ApiError(f"the answer is not JSON: {text}", **fields)
    if isinstance(body, dict) and set(body) == {"msg"}:  # a provider exception reported with HTTP 200
        raise ServerError(str(body["msg"]), **fields)
    if warnings == ["No results found."]:
        raise NotFoundError("No results found.", **fields)
    return body


def check_products(products: Any) -> list[str]:
    """Product codes as a list of strings shaped like ESPA's codes; which ones exist is for the service to say.

    Examples
    --------
    >>> check_products(("l1", "sr_ndvi"))
    ['l1', 'sr_ndvi']
    """
    if isinstance(products, (str, bytes, Mapping)) or not isinstance(products, Iterable):
        raise InvalidInputError(f"products must be a non-empty list of product codes, got {products!r:.200}")
    codes = list(products)  # read once: products may be a generator
    if not codes:
        raise InvalidInputError(f"products must be a non-empty list of product codes, got {products!r:.200}")
    bad = [code for code in codes if not isinstance(code, str) or not PRODUCT_CODE.fullmatch(code)]
    if bad:
        raise InvalidInputError(
            f"product codes are words like 'l1' or 'sr_ndvi' (letters, digits, '_'); not allowed: {bad!r:.200}"
        )
    return codes


def map_c1_products(products: Sequence[str], level: int) -> tuple[list[str], list[str]]:
    """Translate lsru 0.6.2's Collection 1 product names for Level-``level`` inputs.

    Returns the products to order and one explanation per mapped name (empty when nothing was mapped).
    """
    ordered: list[str] = []
    notes: list[str] = []
    for product in products:
        name = product.lower()
        if name in C1_PRODUCTS and level == 2:
            notes.append(f"'{product}' is a Collection 1 product: {C1_PRODUCTS[name]}, so 'l1' is ordered")
            name = "l1"
        if name not in ordered:
            ordered.append(name)
    return ordered, notes


def split_inputs(groups: Mapping[str, list[str]], limit: int = MAX_INPUTS) -> list[dict[str, list[str]]]:
    """Split ``{sensor_key: ids}`` into orders of at most ``limit`` inputs in total, keeping sensors together."""
    orders: list[dict[str, list[str]]] = [{}]
    count = 0
    for key, ids in groups.items():
        for start in range(0, len(ids), limit):
            chunk = ids[start : start + limit]
            while chunk:
                room = limit - count
                if room == 0:
                    orders.append({})
                    count, room = 0, limit
                taken, chunk = chunk[:room], chunk[room:]
                orders[-1].setdefault(key, []).extend(taken)
                count += len(taken)
    return [order for order in orders if order]


def check_projection_form(projection: Any) -> None:
    """Check what can be checked of a projection dict without the service's schema.

    That is one name (a string) mapped to ``None`` or to a dict of named parameters, none of them a non-finite
    number; :func:`check_projection` checks the rest against the schema.
    """
    if not isinstance(projection, Mapping) or len(projection) != 1:
        raise InvalidInputError(
            "projection must be a dict with exactly one of the names of Espa.projections "
            f"(like {{'utm': {{'zone': 31, 'zone_ns': 'north'}}}}), got {projection!r:.200}"
        )
    ((name, parameters),) = projection.items()
    if not isinstance(name, str):
        raise InvalidInputError(f"projection names are strings like 'utm' or 'lonlat', got {name!r:.100}")
    if parameters is None:
        return
    if not isinstance(parameters, Mapping):
        raise InvalidInputError(f"projection {name!r} takes a dict of parameters (or None), got {parameters!r:.200}")
    for key, value in parameters.items():
        if not isinstance(key, str):
            raise InvalidInputError(f"projection {name!r} parameter names are strings, got {key!r:.100}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(f"projection parameter {name}.{key} must be a finite number, got {value!r}")


def check_projection(projection: Any, schema: Mapping[str, Any]) -> dict:
    """Check a projection dict (``{"utm": {"zone": 31, "zone_ns": "north"}}``, ``{"lonlat": None}``) against the
    service's projection schema; returns it with lower-cased names.
    """
    if not isinstance(projection, Mapping) or len(projection) != 1:
        raise InvalidInputError(
            f"projection must be a dict with exactly one of {sorted(schema)}, got {projection!r:.200}"
        )
    check_projection_form(projection)
    ((name, parameters),) = projection.items()
    name = name.lower()
    if name not in schema:
        raise InvalidInputError(f"unknown projection {name!r}; allowed: {sorted(schema)}")
    properties = schema[name].get("properties") or {}
    if not properties:
        if parameters not in (None, {}):
            raise InvalidInputError(f"projection {name!r} takes no parameters, got {parameters!r}")
        return {name: None}
    if not isinstance(parameters, Mapping):
        raise InvalidInputError(f"projection {name!r} needs parameters {sorted(properties)}, got {parameters!r}")
    unknown = sorted(set(parameters) - set(properties), key=repr)
    if unknown:
        raise InvalidInputError(f"projection {name!r} has no parameter(s) {unknown}; allowed: {sorted(properties)}")
    checked = {}
    for key, rule in properties.items():
        if key not in parameters:
            if rule.get("required", True):
                raise InvalidInputError(f"projection {name!r} needs parameter {key!r} ({rule.get('title', key)})")
            continue
        checked[key] = _check_parameter(f"{name}.{key}", parameters[key], rule)
    return {name: checked}


def _check_parameter(where: str, value: Any, rule: Mapping[str, Any]) -> Any:
    kind = rule.get("type")
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidInputError(f"projection parameter {where} must be a number, got {value!r:.100}")
        try:
            finite = isinstance(value, numbers.Integral) or math.isfinite(value)
        except OverflowError:  # a fraction beyond the float range
            finite = False
        if not finite:
            raise InvalidInputError(f"projection parameter {where} must be a finite number, got {value!r:.100}")
        if kind == "integer" and not isinstance(value, numbers.Integral) and not float(value).is_integer():
            raise InvalidInputError(f"projection parameter {where} must be a whole number, got {value!r}")
        low, high = rule.get("minimum"), rule.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            raise InvalidInputError(f"projection parameter {where}={value!r} is outside {low}..{high}")
        if "abs_rng" in rule:
            a, b = rule["abs_rng"]
            if not a <= abs(value) <= b:
                raise InvalidInputError(
                    f"absolute value of projection parameter {where}={value!r} must fall between {a} and {b}"
                )
        return int(value) if kind == "integer" or isinstance(value, numbers.Integral) else float(value)
    if kind == "string":
        allowed = rule.get("enum")
        allowed = list(allowed) if allowed is not None else None
        text = str(value).lower()
        if allowed is not None and text not in allowed:
            raise InvalidInputError(f"projection parameter {where}={value!r} is not one of {allowed}")
        return text
    return value


def pixel_units(projection: Mapping[str, Any] | None) -> str:
    """Units of resize and extents for a projection (names in any case): degrees for ``lonlat``, metres otherwise."""
    return "dd" if projection is not None and any(str(name).lower() == "lonlat" for name in projection) else "meters"


def check_resolution(resolution: Any, units: str) -> dict:
    """A ``resize`` block for a pixel size in ``units``, within the service's allowed range."""
    if isinstance(resolution, bool) or not isinstance(resolution, numbers.Real):
        raise InvalidInputError(f"resolution must be a number, got {resolution!r:.100}")
    low, high = PIXEL_SIZE_RANGES[units]
    if not low <= resolution <= high:  # NaN too
        raise InvalidInputError(f"resolution {resolution!r:.100} must fall between {low} and {high} {units}")
    return {"pixel_size": float(resolution), "pixel_size_units": units}


def check_extent(extent: Any, units: str, projection: Mapping[str, Any] | None) -> dict:
    """An ``image_extents`` block from ``(left, bottom, right, top)``; ESPA requires a projection with it."""
    if projection is None:
        raise InvalidInputError("extent requires a projection (ESPA crops only reprojected products); pass projection=")
    if not isinstance(units, str) or units not in PIXEL_SIZE_RANGES:
        raise InvalidInputError(f"extent_units must be 'dd' or 'meters', got {units!r:.100}")
    if isinstance(extent, (str, bytes, Mapping)):
        raise InvalidInputError(f"extent must be 4 numbers (left, bottom, right, top), got {extent!r:.200}")
    try:
        left, bottom, right, top = (float(v) for v in extent)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInputError(f"extent must be 4 numbers (left, bottom, right, top), got {extent!r:.200}") from None
    if not all(math.isfinite(v) for v in (left, bottom, right, top)):
        raise InvalidInputError(f"extent must be 4 finite numbers (left, bottom, right, top), got {extent!r:.200}")
    box = (left, bottom, right, top)  # extent itself may be a generator, already read
    if left >= right or bottom >= top:
        raise InvalidInputError(f"extent {box} is empty or reversed: it must be (left, bottom, right, top)")
    if units == "dd" and not (
        -180 <= left <= 180 and -180 <= right <= 180 and -90 <= bottom <= 90 and -90 <= top <= 90
    ):
        raise InvalidInputError(f"extent {box} in decimal degrees must lie within -180..180, -90..90")
    return {"north": top, "south": bottom, "east": right, "west": left, "units": units}


def order_body(
    groups: Mapping[str, list[str]],
    products: Mapping[str, list[str]],
    *,
    format: str,
    resampling: str,
    note: str | None,
    projection: dict | None,
    extent: dict | None,
    resize: dict | None,
) -> dict:
    """The JSON body of ``POST /order``."""
    body: dict[str, Any] = {key: {"inputs": list(ids), "products": list(products[key])} for key, ids in groups.items()}
    body["format"] = format
    body["resampling_method"] = resampling
    if note is not None:
        body["note"] = note
    if projection is not None:
        body["projection"] = projection
    if extent is not None:
        body["image_extents"] = extent
    if resize is not None:
        body["resize"] = resize
    return body


def order_inputs(order: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Inputs per sensor key of an order body, or of an order as ``GET /order/<id>`` returns it.

    Examples
    --------
    >>> order_inputs({"olitirs8_collection": {"inputs": ["LC08_A"], "products": ["l1"]}, "format": "gtiff"})
    {'olitirs8_collection': frozenset({'LC08_A'})}
    """
    options = order.get("product_opts", order)
    if not isinstance(options, Mapping):
        return {}
    return {
        key: frozenset(map(str, value["inputs"]))
        for key, value in options.items()
        if isinstance(value, Mapping) and isinstance(value.get("inputs"), list)
    }
