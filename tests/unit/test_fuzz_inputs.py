"""Fuzzed input: every value ends in a result or in one of our typed errors, whose message names the argument.

Kinds covered: bboxes (antimeridian-crossing and polar ones included), months, cloud cover, dates, Landsat ids (alone
and as ESPA order inputs), AOIs (invalid, empty, antimeridian-crossing, polar), ESPA product lists, projection dicts,
extents and resolutions. Each test runs ``FAST_EXAMPLES`` times in the default suite and ``SLOW_EXAMPLES`` times as its
``<name>_slow`` twin under the ``slow`` marker; ``--hypothesis-show-statistics`` prints how many examples ran and, as
events, how many were refused.
"""

import datetime as dt
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from fuzzing import sized
from hypothesis import event
from hypothesis import strategies as st

from lsru_geo import InvalidInputError
from lsru_geo._espa import _check_ids
from lsru_geo._espa_wire import (
    C1_PRODUCTS,
    PIXEL_SIZE_RANGES,
    check_extent,
    check_products,
    check_projection,
    check_projection_form,
    check_resolution,
    map_c1_products,
)
from lsru_geo._inputs import check_bbox, check_cloud, check_dates, check_months, to_date, to_geometry
from lsru_geo.emulator._espa_validation import PROJECTIONS  # the schema the emulator serves at GET /projections
from lsru_geo.utils import is_valid, parse_id

FAST_EXAMPLES, SLOW_EXAMPLES = 150, 2000
fuzz = sized(FAST_EXAMPLES, SLOW_EXAMPLES)


def refused(kind, call, *args):
    """``call(*args)``, or the InvalidInputError it raised (counted as an event), for kinds with both outcomes."""
    try:
        result = call(*args)
    except InvalidInputError as error:
        event(f"{kind}: refused")
        return error
    event(f"{kind}: accepted")
    return result


past_float = st.sampled_from([1, -1]).map(
    lambda sign: sign * 10**400
)  # past any float (a short repr in the statistics)
extreme = st.one_of(st.sampled_from([2**63, float("nan"), float("inf"), float("-inf"), -0.0, 1e308]), past_float)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    extreme,
    st.text(max_size=50),
    st.binary(max_size=10),
)
anything = st.one_of(
    scalar,
    st.lists(st.one_of(st.integers(), st.floats(), extreme, st.text(max_size=5)), max_size=6),
    st.tuples(scalar, scalar, scalar, scalar),
    st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8)), max_size=4),
    st.sets(st.integers(-2, 14), max_size=4),
)


# -- bbox, months, cloud cover ---------------------------------------------------------------------------


@fuzz(st.one_of(anything, st.text(alphabet="0123456789.,-", min_size=4, max_size=8)))
def test_bboxes_from_anything(value):
    outcome = refused("bbox", check_bbox, value)
    if isinstance(outcome, InvalidInputError):
        message = str(outcome)
        assert message.startswith("bbox")
        try:  # the message names the value: as given, or as the floats that are out of range or reversed
            floats = tuple(float(v) for v in value)
        except (TypeError, ValueError, OverflowError):
            floats = ()
        assert repr(value) in message or (
            len(floats) == 4
            and any(f"{text}" in message for text in (floats, f"left={floats[0]}", f"bottom={floats[1]}"))
        )
        return
    left, bottom, right, top = outcome
    assert all(isinstance(v, float) and math.isfinite(v) for v in outcome)
    assert -180 <= left <= right <= 180 and -90 <= bottom <= top <= 90


longitude = st.one_of(st.floats(-200, 200), st.sampled_from([-180, 180, -179.9, 179.9, 180.0001, -180.0001]))
latitude = st.one_of(st.floats(-100, 100), st.sampled_from([-90, 90, 89.999, -89.999, 90.0001, -90.0001]))


@fuzz(longitude, latitude, longitude, latitude)
def test_antimeridian_and_polar_bboxes(left, bottom, right, top):
    box = (left, bottom, right, top)
    if not (-180 <= left <= 180 and -180 <= right <= 180):
        expected = "longitudes must be within -180..180"
    elif not (-90 <= bottom <= 90 and -90 <= top <= 90):
        expected = "latitudes must be within -90..90"  # past a pole
    elif left > right or bottom > top:
        expected = "is reversed"  # left > right: across the antimeridian, which a bbox cannot say
    else:
        event("bbox: accepted")
        assert check_bbox(box) == tuple(float(v) for v in box)
        return
    event(f"bbox: refused ({expected})")
    with pytest.raises(InvalidInputError, match=expected):
        check_bbox(box)


month_item = st.one_of(st.integers(-3, 16), st.booleans(), st.floats(0, 13), st.text(max_size=2), st.none(), extreme)


@fuzz(st.one_of(st.lists(month_item, max_size=8), st.tuples(month_item), anything))
def test_months(value):
    outcome = refused("months", check_months, value)
    items = value if isinstance(value, (list, tuple, set)) else None
    valid = items is not None and all(isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in items)
    if value is None or valid:
        assert outcome == (sorted(set(items)) if items else None)
    else:
        assert isinstance(outcome, InvalidInputError) and "months must be" in str(outcome)
        if items:  # the message names the values refused
            bad = next(m for m in items if not (isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12))
            assert repr(bad) in str(outcome)


@fuzz(st.one_of(anything, st.floats(-50, 150), st.integers(-50, 150), st.text(alphabet="0123456789.-e", max_size=6)))
def test_cloud_cover(value):
    outcome = refused("cloud", check_cloud, value)
    if isinstance(outcome, InvalidInputError):
        assert "max_cloud_cover" in str(outcome) and repr(value) in str(outcome)
    else:
        assert isinstance(outcome, float) and 0 <= outcome <= 100 and not isinstance(value, bool)


# -- dates -------------------------------------------------------------------------------------------------------

date_like = st.one_of(
    anything,
    st.dates().map(str),
    st.datetimes().map(lambda t: t.isoformat()),
    st.datetimes(),
    st.dates(),
    st.datetimes(min_value=dt.datetime(1678, 1, 1), max_value=dt.datetime(2261, 12, 31)).map(pd.Timestamp),
    st.sampled_from([pd.NaT, np.datetime64("NaT"), np.datetime64("2020-02-29"), np.datetime64("-10000-01-01")]),
    st.integers(-(10**6), 10**6).map(lambda days: np.datetime64(days, "D")),
    st.text(alphabet="0123456789-T:Z+ ", max_size=25),
)


@fuzz(date_like, date_like)
def test_dates(begin, end):
    outcome = refused("dates", check_dates, begin, end)
    if isinstance(outcome, InvalidInputError):
        message = str(outcome)
        assert message.startswith(("begin", "end"))
        assert repr(begin) in message or repr(end) in message or " is after end " in message
        return
    first, last = outcome
    assert all(d is None or type(d) is dt.date for d in (first, last))  # never a datetime, NaT or Timestamp
    assert (first is None) == (begin is None) and (last is None) == (end is None)
    assert first is None or last is None or first <= last


# -- Landsat ids -------------------------------------------------------------------------------------------

SENSORS = {"C": (8, 9), "O": (8, 9), "T": (4, 5, 8, 9), "E": (7,), "M": (1, 2, 3, 4, 5)}


@st.composite
def product_ids(draw):
    """A well-formed Collection 1 or 2 product id (any sensor, level and category)."""
    sensor = draw(st.sampled_from(sorted(SENSORS)))
    satellite = draw(st.sampled_from(SENSORS[sensor]))
    level = draw(st.sampled_from(["L1TP", "L1GT", "L1GS", "L2SP", "L2SR"]))
    acquired = draw(st.dates(dt.date(1972, 7, 23), dt.date(2030, 12, 31)))
    processed = draw(st.dates(dt.date(1972, 7, 23), dt.date(2099, 12, 31)))
    path, row = draw(st.integers(1, 233)), draw(st.integers(1, 248))
    collection, category = draw(st.sampled_from(["01", "02"])), draw(st.sampled_from(["T1", "T2", "RT"]))
    dates = f"{acquired:%Y%m%d}_{processed:%Y%m%d}"
    return f"L{sensor}{satellite:02d}_{level}_{path:03d}{row:03d}_{dates}_{collection}_{category}"


def mutate(text, position, replacement):
    position %= len(text) + 1
    return text[:position] + replacement + text[position + 1 :]


id_like = st.one_of(
    st.text(alphabet="LCOTEM0123456789_RSPGN", max_size=45),
    st.text(max_size=45),
    product_ids(),
    st.builds(
        mutate, product_ids(), st.integers(0, 45), st.sampled_from(["", "\n", " ", "\u0663", "\uff12", "x", "__", "L"])
    ),
)


@fuzz(id_like)
def test_ids_parse_or_are_refused(text):
    if is_valid(text):
        event("id: valid")
        fields = parse_id(text)
        assert fields["kind"] in ("product", "scene") and text.isascii() and text == text.strip()
        assert len(text) == (40 if fields["kind"] == "product" else 21)
        assert 1 <= fields["path"] <= 999 and isinstance(fields["acquired"], dt.date)
    else:
        event("id: refused")
        with pytest.raises(InvalidInputError) as info:
            parse_id(text)
        assert repr(text) in str(info.value)


@fuzz(product_ids())
def test_well_formed_ids_round_trip(text):
    fields = parse_id(text)  # every generated id names a real sensor of its satellite
    assert fields["kind"] == "product" and fields["path"] == int(text[10:13]) and fields["row"] == int(text[13:16])
    assert fields["acquired"].strftime("%Y%m%d") == text[17:25] and fields["collection"] == int(text[35:37])


def orderable(value):
    """Whether ESPA processes this input (a Collection 2 Tier 1/2 product id of TM, ETM+ or OLI/TIRS)."""
    try:
        fields = parse_id(str(value).strip())
    except InvalidInputError:
        return False
    return (
        fields["kind"] == "product"
        and fields["collection"] == 2
        and fields["category"] != "RT"
        and fields["sensor"] in ("TM", "ETM", "OLI_TIRS")
        and fields["satellite"] in (4, 5, 7, 8, 9)
    )


@fuzz(
    st.one_of(
        st.lists(st.one_of(product_ids(), id_like, scalar, product_ids().map(" {} ".format)), max_size=8), anything
    )
)
def test_espa_inputs(scene_list):
    outcome = refused("espa inputs", _check_ids, scene_list)
    if isinstance(scene_list, str) or not hasattr(scene_list, "__iter__"):
        assert isinstance(outcome, InvalidInputError) and str(outcome).startswith("scene_list must be a list")
        return
    ids = list(dict.fromkeys(str(i).strip() for i in scene_list))
    bad = [i for i in ids if not orderable(i)]
    if not ids:
        assert isinstance(outcome, InvalidInputError) and str(outcome) == "scene_list is empty"
    elif bad:
        assert isinstance(outcome, InvalidInputError)
        assert str(outcome).startswith(f"{len(bad)} input(s) cannot be ordered: {bad[0]!r}")
    else:
        assert outcome == ids


# -- AOIs ----------------------------------------------------------------------------------------------------


def check_aoi(kind, aoi):
    """``to_geometry(aoi)``: a valid, non-empty geometry within lon/lat bounds, or InvalidInputError about the aoi."""
    outcome = refused(kind, to_geometry, aoi)
    if isinstance(outcome, InvalidInputError):
        assert str(outcome).lower().startswith(("aoi", "the aoi"))
        return None
    assert isinstance(outcome, shapely.Geometry) and outcome.is_valid and not outcome.is_empty
    minx, miny, maxx, maxy = outcome.bounds
    assert -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90
    return outcome


coordinate = st.one_of(st.floats(-400, 400, allow_nan=False), extreme, st.sampled_from([180, -180, 90, -90]))


@fuzz(st.lists(st.tuples(coordinate, coordinate), min_size=0, max_size=8))
def test_aois_from_arbitrary_rings(points):
    check_aoi("aoi ring", {"type": "Polygon", "coordinates": [[list(p) for p in points]]})


GEOJSON_TYPES = [
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
]
nested_coordinates = st.recursive(
    st.one_of(st.floats(-200, 200), extreme, st.integers(-200, 200), st.text(max_size=3), st.none(), st.just([])),
    lambda inner: st.lists(inner, min_size=1, max_size=5),
    max_leaves=20,
)
geojson_like = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from([*GEOJSON_TYPES, "Feature", "FeatureCollection", "Box", ""]),
            "coordinates": nested_coordinates,
        }
    ),
    st.fixed_dictionaries({"type": st.just("Feature"), "geometry": st.one_of(st.none(), anything)}),
    st.fixed_dictionaries({"type": st.just("FeatureCollection"), "features": st.lists(anything, max_size=3)}),
    st.dictionaries(st.text(max_size=8), anything, max_size=3),
    anything,
)


@fuzz(geojson_like)
def test_aois_from_arbitrary_geojson(aoi):
    check_aoi("aoi geojson", aoi)


EMPTY = [shapely.Polygon(), shapely.MultiPolygon(), shapely.GeometryCollection(), shapely.Point(), shapely.LineString()]


def wrap_empty(geometry, container, count):
    geojson = shapely.geometry.mapping(geometry) if not geometry.is_empty or geometry.geom_type != "Point" else None
    if container == "shapely":
        return geometry
    if container == "geojson":
        return geojson or {"type": "Point", "coordinates": []}
    if container == "feature":
        return {"type": "Feature", "geometry": geojson, "properties": {}}
    if container == "collection":
        return {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": geojson}] * count}
    if container == "geoseries":
        return gpd.GeoSeries([geometry] * count, crs=4326)
    return gpd.GeoDataFrame({"a": range(count)}, geometry=[None] * count, crs=4326)


@fuzz(
    st.builds(
        wrap_empty,
        st.sampled_from(EMPTY),
        st.sampled_from(["shapely", "geojson", "feature", "collection", "geoseries", "geodataframe"]),
        st.integers(0, 3),
    ),
    fast=60,
    slow=300,
)
def test_empty_aois_are_refused(aoi):
    with pytest.raises(InvalidInputError, match=r"(?i)aoi|empty") as info:
        to_geometry(aoi)
    event(f"empty aoi: refused ({str(info.value)[:30]})")


def ring(center_lon, center_lat, half_width, half_height):
    west, east = center_lon - half_width, center_lon + half_width
    south, north = max(center_lat - half_height, -95.0), min(center_lat + half_height, 95.0)
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


@fuzz(st.floats(170, 190), st.floats(-60, 60), st.floats(0.01, 15), st.floats(0.01, 5), st.booleans())
def test_antimeridian_crossing_aois(center_lon, center_lat, half_width, half_height, wrapped):
    """A box around the antimeridian written with longitudes past 180 is refused; wrapped to -180..180 it is read
    as the plane polygon it is (the long way round), never as an error from shapely."""
    points = ring(center_lon, center_lat, half_width, half_height)
    if wrapped:
        points = [[(x + 180) % 360 - 180, y] for x, y in points]
    geometry = check_aoi("antimeridian aoi", {"type": "Polygon", "coordinates": [points]})
    outside = any(not -180 <= x <= 180 for x, _ in points)
    assert (geometry is None) == outside
    if geometry is not None and wrapped and center_lon - half_width < 180 < center_lon + half_width:
        assert geometry.bounds[0] < 0 < geometry.bounds[2]  # the long way round, as GeoJSON in a plane says


@fuzz(
    st.floats(-180, 180),
    st.one_of(st.floats(80, 95), st.floats(-95, -80), st.sampled_from([90, -90])),
    st.floats(0, 180),
    st.floats(0, 10),
    st.sampled_from(["Polygon", "Point", "LineString"]),
)
def test_polar_aois(center_lon, center_lat, half_width, half_height, kind):
    points = [[max(-180.0, min(180.0, x)), y] for x, y in ring(center_lon, center_lat, half_width, half_height)]
    geojson = {
        "Polygon": {"type": "Polygon", "coordinates": [points]},
        "Point": {"type": "Point", "coordinates": [center_lon, center_lat]},
        "LineString": {"type": "LineString", "coordinates": [*points[:2], [center_lon, center_lat]]},
    }[kind]
    flat = [geojson["coordinates"]] if kind == "Point" else points if kind == "Polygon" else geojson["coordinates"]
    geometry = check_aoi("polar aoi", geojson)
    assert (geometry is None) == any(not -90 <= y <= 90 for _, y in flat)


@fuzz(
    st.lists(st.tuples(st.floats(-3e7, 3e7), st.floats(-3e7, 3e7)), min_size=1, max_size=4),
    st.sampled_from([3857, 3413, 3031, 32631]),
    fast=60,
    slow=400,
)
def test_aois_in_projected_crs(points, epsg):
    """GeoSeries in Web Mercator, polar stereographic or UTM, far outside their areas of use included."""
    check_aoi("projected aoi", gpd.GeoSeries([shapely.MultiPoint(points)], crs=epsg))


# -- ESPA products, projections, extents, resolutions ---------------------------------------------------------

product_name = st.one_of(
    st.sampled_from(["l1", "sr_ndvi", "sr_evi", "stats", "L1", "SR", *C1_PRODUCTS, "aq_refl", "et"]),
    st.text(max_size=8),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=8),
)


@fuzz(
    st.one_of(
        st.lists(st.one_of(product_name, scalar), max_size=6), st.lists(product_name, min_size=1, max_size=6), anything
    )
)
def test_products(products):
    outcome = refused("products", check_products, products)
    if isinstance(outcome, InvalidInputError):
        message = str(outcome)
        if message.startswith("product codes are"):  # names the codes refused
            codes = list(products)
            bad = [c for c in codes if not (isinstance(c, str) and c.isascii() and c.replace("_", "a").isalnum())]
            assert bad and repr(bad)[:150] in message
        else:
            assert message.startswith("products must be a non-empty list") and repr(products)[:150] in message
        return
    assert outcome == list(products) and all(isinstance(p, str) and p.isascii() and p.strip() == p for p in outcome)
    for level in (1, 2):
        ordered, notes = map_c1_products(outcome, level)
        mapped = ["l1" if level == 2 and p.lower() in C1_PRODUCTS else p.lower() for p in outcome]
        assert ordered == list(dict.fromkeys(mapped))
        assert len(notes) == (sum(p.lower() in C1_PRODUCTS for p in outcome) if level == 2 else 0)


PARAMETERS = sorted({key for schema in PROJECTIONS.values() for key in schema.get("properties", {})})
parameter_value = st.one_of(
    st.integers(-200, 200),
    st.floats(-200, 200),
    extreme,
    st.sampled_from(["north", "south", "NORTH", "wgs84", "nad27", "up", ""]),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
parameters = st.one_of(
    st.none(),
    st.dictionaries(
        st.one_of(st.sampled_from(PARAMETERS), st.text(max_size=5), st.integers()), parameter_value, max_size=8
    ),
    st.fixed_dictionaries({key: parameter_value for key in PROJECTIONS["aea"]["properties"]}),
    st.fixed_dictionaries({key: parameter_value for key in PROJECTIONS["ps"]["properties"]}),
    st.fixed_dictionaries({key: parameter_value for key in PROJECTIONS["sinu"]["properties"]}),
    st.fixed_dictionaries(
        {"zone": st.one_of(st.integers(-5, 70), st.floats(0, 61), extreme), "zone_ns": parameter_value}
    ),
    scalar,
)
projection_name = st.one_of(
    st.sampled_from([*PROJECTIONS, "UTM", "LonLat", "mercator", ""]), st.text(max_size=6), st.integers(), st.none()
)
projection_like = st.one_of(st.dictionaries(projection_name, parameters, max_size=3), anything)


@fuzz(projection_like)
def test_projection_dicts(projection):
    outcome = refused("projection", check_projection, projection, PROJECTIONS)
    try:
        check_projection_form(projection)
        form = True
    except InvalidInputError as error:
        form = False
        assert "projection" in str(error)
    if isinstance(outcome, InvalidInputError):
        assert "projection" in str(outcome)
        return
    assert form  # the check without the schema never refuses what the schema accepts
    ((name, checked),) = outcome.items()
    assert name == next(iter(projection)).lower() and name in PROJECTIONS
    for key, rule in PROJECTIONS[name].get("properties", {}).items():
        value = checked[key]  # every parameter is required in ESPA's schema
        if rule["type"] in ("number", "integer"):
            assert not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            assert rule["type"] == "number" or isinstance(value, int)
            assert rule.get("minimum", -math.inf) <= value <= rule.get("maximum", math.inf)
            low, high = rule.get("abs_rng", (0, math.inf))
            assert low <= abs(value) <= high
        else:
            assert value in rule["enum"]


extent_value = st.one_of(st.floats(-200, 200), st.integers(-(10**7), 10**7), extreme, st.text(max_size=3), st.none())


@fuzz(
    st.one_of(st.lists(extent_value, min_size=3, max_size=5), st.tuples(*[st.floats(-200, 200)] * 4), anything),
    st.sampled_from(["dd", "meters", "km", "DD", None]),
    st.sampled_from([None, {"lonlat": None}, {"utm": {"zone": 31, "zone_ns": "north"}}]),
)
def test_extents(extent, units, projection):
    outcome = refused("extent", check_extent, extent, units, projection)
    if isinstance(outcome, InvalidInputError):
        assert "extent" in str(outcome)
        return
    assert projection is not None and units in ("dd", "meters") and outcome["units"] == units
    values = [outcome[k] for k in ("west", "south", "east", "north")]
    assert all(isinstance(v, float) and math.isfinite(v) for v in values)
    assert outcome["west"] < outcome["east"] and outcome["south"] < outcome["north"]  # never across the antimeridian
    if units == "dd":
        assert -180 <= outcome["west"] and outcome["east"] <= 180 and -90 <= outcome["south"] and outcome["north"] <= 90


@fuzz(
    st.one_of(anything, st.floats(0, 6000), st.floats(0, 0.05), st.integers(0, 6000)), st.sampled_from(["dd", "meters"])
)
def test_resolutions(resolution, units):
    outcome = refused("resolution", check_resolution, resolution, units)
    if isinstance(outcome, InvalidInputError):
        assert "resolution" in str(outcome)
        return
    low, high = PIXEL_SIZE_RANGES[units]
    assert outcome == {"pixel_size": float(resolution), "pixel_size_units": units} and low <= resolution <= high


# -- regressions the fuzzing found ---------------------------------------------------------------------------

FOUND = [
    (check_cloud, (10**400,), "max_cloud_cover"),  # OverflowError
    (check_bbox, ([10**400, 0, 1, 1],), "bbox must be 4 numbers"),  # OverflowError
    (check_bbox, ("0000",), "bbox must be 4 numbers"),  # read as (0, 0, 0, 0)
    (check_bbox, ({"1": 0, "2": 0, "3": 1, "4": 1},), "bbox must be 4 numbers"),  # read its keys
    (to_date, (np.datetime64("NaT"), "begin"), "begin must be a date"),  # ValueError
    (to_date, (np.datetime64("-10000-01-01"), "begin"), "begin must be a date"),  # ValueError
    (to_date, (pd.NaT, "end"), "end must be a date"),  # returned NaT, sent as "NaT"
    (check_months, (b"\x01\x02",), "months must be a list"),  # read as [1, 2]
    (check_months, ({1: "a"},), "months must be a list"),  # read its keys
    (to_geometry, ({"type": "Point", "coordinates": [10**400, 0]},), "aoi is not valid GeoJSON"),  # OverflowError
    (
        to_geometry,
        ({"type": "Polygon", "coordinates": [[[0, 0], [0, 0], [0, math.nan], [0, 0]]]},),
        "not finite",
    ),  # GEOS
    (parse_id, ("LC08_L2SP_198025_20180131_20200902_02_T2\n",), "is not a Landsat id"),  # $ matched before \n
    (
        parse_id,
        ("LC08_L2SP_\u0661\u0669\u0668025_20180131_20200902_02_T2",),
        "is not a Landsat id",
    ),  # \d matched Arabic digits
    (check_projection, ({"utm": {"zone": math.inf, "zone_ns": "north"}}, PROJECTIONS), "finite"),  # OverflowError
    (check_projection, ({"utm": {"zone": math.nan, "zone_ns": "north"}}, PROJECTIONS), "finite"),  # ValueError
    (
        check_projection,
        ({"sinu": {"central_meridian": 0, "false_easting": math.nan, "false_northing": 0}}, PROJECTIONS),
        "finite",
    ),
    (check_projection, ({"utm": {1: 0, "x": 0}}, PROJECTIONS), "parameter names are strings"),  # TypeError in sorted()
    (check_extent, ([math.nan] * 4, "meters", {"utm": {}}), "finite"),  # NaN accepted
    (check_extent, ([-math.inf, -math.inf, math.inf, math.inf], "meters", {"utm": {}}), "finite"),  # accepted
    (check_extent, ([10**400, 0, 1, 1], "meters", {"utm": {}}), "4 numbers"),  # OverflowError
    (check_extent, ([0, 0, 1, 1], ["dd"], {"lonlat": None}), "extent_units"),  # TypeError: unhashable
    (check_products, ((p for p in []),), "non-empty list"),  # generators were read twice
    (check_products, ([None],), "not allowed: \\[None\\]"),  # was sent as 'None'
]


@pytest.mark.parametrize(("call", "args", "message"), FOUND, ids=lambda v: getattr(v, "__name__", None))
def test_regressions_found_by_fuzzing(call, args, message):
    with pytest.raises(InvalidInputError, match=message):
        call(*args)


def test_products_generator_is_read_once():
    assert check_products(p for p in ("l1", "sr_ndvi")) == ["l1", "sr_ndvi"]
