"""No request for invalid input: the public entry points refuse fuzzed bad arguments before touching the network.

Each example changes one argument of an otherwise valid call to an invalid value, expects InvalidInputError whose
message names the argument, and reads the emulator's request log, cleared before the call. For ``Usgs.search`` and for
everything ``Espa.order`` can judge on its own (ids, product-code shape, extent, resolution, projection shape, option
types), the log must stay empty. What only the service's catalogue can judge (a format, resampling method or product
ESPA does not offer, a projection parameter outside ESPA's schema) may cost read-only GETs of that catalogue, never a
POST. Each test runs ``FAST_EXAMPLES`` times in the default suite and ``SLOW_EXAMPLES`` as its ``<name>_slow`` twin.
"""

import math

import pandas as pd
import pytest
import shapely
from fuzzing import sized
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from lsru_geo import Espa, InvalidInputError, Usgs
from lsru_geo._datasets import COLLECTION_2, RETIRED
from lsru_geo._espa_wire import C1_PRODUCTS
from lsru_geo.emulator._espa_validation import FORMATS, PROJECTIONS, RESAMPLING_METHODS, SENSORS

FAST_EXAMPLES, SLOW_EXAMPLES = 100, 2000
# the emu fixture is reset once per test, not per example: each example clears the request log itself
BASE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
fuzz = sized(FAST_EXAMPLES, SLOW_EXAMPLES, BASE)


MONTPELLIER = (3.5, 43.4, 4.0, 44.0)
SEARCH = {"collection": "landsat_ot_c2_l2", "bbox": MONTPELLIER, "begin": "2019-06-01", "end": "2019-06-30"}
SCENE = "LC08_L2SP_196030_20190629_20210414_02_T1"
ORDER = {"scene_list": [SCENE], "products": ["l1"]}
OFFERED = SENSORS["olitirs8_collection_2_l2"].products

extreme = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf]), st.just(1).map(lambda one: one * 10**400))
junk = st.one_of(st.none(), st.booleans(), st.text(max_size=5), st.lists(st.integers(), max_size=2), st.just({}))
non_number = st.one_of(
    st.none(), st.text(alphabet="abc", min_size=1, max_size=3), st.lists(st.integers(), max_size=2), st.just({})
)


def bad(name, strategy, expected):
    """``(changes, expected message fragment)`` pairs for one argument."""
    return st.tuples(strategy.map(lambda value: {name: value}), st.just(expected))


def reversed_pair(low, high):
    """Two values ``a > b`` within ``low..high``."""
    return (
        st.tuples(st.floats(low, high), st.floats(low, high))
        .filter(lambda p: p[0] != p[1])
        .map(sorted)
        .map(lambda p: (p[1], p[0]))
    )


# -- Usgs.search -------------------------------------------------------------------------------------------------

lon, lat = st.floats(-180, 180), st.floats(-90, 90)
bad_bbox = st.one_of(
    bad("bbox", st.lists(st.floats(-10, 10), max_size=6).filter(lambda v: len(v) != 4), "bbox must be 4"),
    bad("bbox", st.tuples(non_number, lon, lat, lat), "bbox must be 4"),
    bad("bbox", st.tuples(lon, lat, lon, extreme), "bbox must be 4"),
    bad("bbox", st.one_of(st.text(alphabet="0123456789", min_size=4, max_size=4), st.just({})), "bbox must be 4"),
    bad(
        "bbox",
        st.tuples(st.floats(180, 1000, exclude_min=True), lat, lon, lat).map(
            lambda b: (b[0], b[1], b[0] + 1, b[3] + 1)
        ),
        "longitudes",
    ),
    bad(  # past a pole
        "bbox",
        st.tuples(lon, st.one_of(st.floats(90, 500, exclude_min=True), st.floats(-500, -90, exclude_max=True)), lon),
        "latitudes",
    ).map(lambda pair: ({"bbox": (-1.0, min(pair[0]["bbox"][1], 0.0), 1.0, max(pair[0]["bbox"][1], 0.0))}, pair[1])),
    bad(  # across the antimeridian: left > right
        "bbox",
        st.tuples(reversed_pair(-180, 180), lat).map(
            lambda v: (v[0][0], v[1] - 1 if v[1] > -89 else v[1], v[0][1], v[1])
        ),
        "reversed",
    ),
)
bad_aoi = st.one_of(
    bad(
        "aoi",
        st.sampled_from(
            [
                shapely.Polygon(),
                {"type": "Polygon", "coordinates": []},
                {"type": "FeatureCollection", "features": []},
                {"type": "GeometryCollection", "geometries": []},
            ]
        ),
        "aoi is empty",
    ),
    bad(
        "aoi",
        st.tuples(st.floats(180, 400, exclude_min=True), lat).map(lambda p: {"type": "Point", "coordinates": list(p)}),
        "fall outside",
    ),  # longitudes past the antimeridian
    bad("aoi", st.tuples(lon, st.floats(90, 200, exclude_min=True)).map(shapely.Point), "fall outside"),  # past a pole
    bad("aoi", st.tuples(lon, extreme).map(lambda p: {"type": "Point", "coordinates": list(p)}), "aoi"),
    bad("aoi", st.one_of(st.integers(), st.lists(st.floats(), max_size=4), st.text(max_size=5)), "aoi must be"),
    bad("aoi", st.dictionaries(st.sampled_from(["type", "coordinates", "x"]), junk, max_size=2), "aoi is not valid"),
    st.tuples(st.just({"aoi": shapely.Point(3.7, 43.6), "bbox": MONTPELLIER}), st.just("either bbox or aoi")),
)
bad_dates = st.one_of(
    bad("begin", st.text(alphabet="abcxyz/:. ", min_size=1, max_size=12), "begin must be a date"),
    bad(
        "end",
        st.one_of(st.sampled_from([pd.NaT, "2019-02-30", "2019-13-01"]), junk.filter(lambda v: v is not None)),
        "end must be a date",
    ),
    st.tuples(
        st.tuples(st.dates(), st.dates()).filter(lambda d: d[0] != d[1]).map(sorted),
        st.just("is after end"),
    ).map(lambda pair: ({"begin": pair[0][1], "end": pair[0][0]}, pair[1])),
)
month = st.integers(1, 12)
bad_months = st.one_of(
    bad(
        "months",
        st.tuples(
            st.lists(month, max_size=3), st.one_of(st.integers(-5, 0), st.integers(13, 100), st.floats(), junk)
        ).map(lambda v: [*v[0], v[1]]),
        "months must be whole numbers 1-12",
    ),
    bad(
        "months",
        st.one_of(month, st.text(min_size=1, max_size=3), st.binary(min_size=1, max_size=3)),
        "months must be a list",
    ),
)
bad_cloud = bad(
    "max_cloud_cover",
    st.one_of(
        st.floats(100, 1e6, exclude_min=True),
        st.floats(-1e6, 0, exclude_max=True),
        extreme,
        st.booleans(),
        st.text(alphabet="abc%", min_size=1, max_size=4),
        st.none(),
    ),
    "max_cloud_cover",
)
known = {*COLLECTION_2, *RETIRED}
bad_collection = bad(
    "collection",
    st.one_of(st.text(max_size=20), st.sampled_from(["landsat_ot_c2", "LANDSAT_9_C1", "sentinel_2a", ""])).filter(
        lambda name: name.strip().lower() not in known
    ),
    "unknown collection",
)
bad_paging = st.one_of(
    bad(
        "max_results",
        st.one_of(st.integers(max_value=0), st.floats(), st.booleans(), st.text(max_size=3)),
        "max_results",
    ),
    bad("starting_number", st.one_of(st.integers(max_value=0), st.floats(), junk), "starting_number"),
    bad("metadata", st.text(max_size=8).filter(lambda m: m not in ("summary", "full")), "metadata must be one of"),
)


def no_request(emu, call, changes, expected):
    """``call()`` raises InvalidInputError naming the argument, and the emulator saw no request at all."""
    emu.log.clear()
    with pytest.raises(InvalidInputError) as info:
        call()
    assert expected in str(info.value)
    assert emu.log.entries == [], f"{changes} sent {[(e.method, e.endpoint) for e in emu.log.entries]}"
    if currently_in_test_context():  # not in the plain regression tests
        event(f"refused before any request: {', '.join(changes)}")


@fuzz(st.one_of(bad_bbox, bad_aoi, bad_dates, bad_months, bad_cloud, bad_collection, bad_paging))
def test_search_refuses_before_any_request(emu, case):
    changes, expected = case
    arguments = {**SEARCH, **changes}
    if "aoi" in changes and "bbox" not in changes:
        del arguments["bbox"]
    usgs = Usgs()
    no_request(emu, lambda: usgs.search(**arguments), changes, expected)


# -- Espa.order and gdf.lsru.order: what the client judges alone --------------------------------------------------

not_orderable = st.one_of(
    st.sampled_from(
        [
            "LC08_L2SP_196030_20190629_20210414_01_T1",  # Collection 1
            "LC08_L1TP_196030_20190629_20190630_02_RT",  # real time
            "LC81960302019180LGN00",  # pre-collection scene id
            "LM05_L1TP_017039_19860131_20200825_02_T2",  # MSS
            "LO08_L1TP_196030_20190629_20190705_02_T1",  # OLI only
            SCENE + "\n" + SCENE,
            SCENE.replace("0", "\u0660"),
        ]
    ),
    st.text(max_size=40).filter(lambda text: text.strip() != SCENE),
    st.integers(),
    st.none(),
)
bad_ids = st.one_of(
    bad(
        "scene_list",
        st.lists(not_orderable, min_size=1, max_size=4).map(lambda ids: [SCENE, *ids]),
        "cannot be ordered",
    ),
    bad("scene_list", st.sampled_from([[], (), set()]), "scene_list is empty"),
    bad("scene_list", st.one_of(st.just(SCENE), st.integers(), st.none()), "scene_list must be a list"),
)
bad_products = st.one_of(
    bad("products", st.sampled_from([[], "l1", b"l1", {"l1": 1}, None, 5]), "products must be a non-empty list"),
    bad(
        "products",
        st.tuples(
            st.lists(st.sampled_from(OFFERED), max_size=2),
            st.one_of(
                st.text(max_size=6).filter(lambda code: not (code.isascii() and code.replace("_", "a").isalnum())),
                st.integers(),
                st.none(),
                st.lists(st.just("l1"), max_size=1),
            ),
        ).map(lambda v: [*v[0], v[1]]),
        "product codes are words",
    ),
)
bad_options = st.one_of(
    bad("format", st.one_of(st.integers(), st.none(), st.lists(st.just("gtiff"), max_size=1)), "format and resampling"),
    bad("resampling", st.one_of(st.integers(), st.none(), st.booleans()), "format and resampling"),
    bad("note", st.one_of(st.integers(), st.lists(st.text(max_size=3), max_size=2), st.binary(max_size=3)), "note"),
    bad(
        "extent_units", st.one_of(st.text(max_size=6).filter(lambda u: u not in ("dd", "meters")), junk), "extent_units"
    ),
)
utm = {"utm": {"zone": 31, "zone_ns": "north"}}
bad_geometry_options = st.one_of(
    bad("extent", st.tuples(lon, lat, lon, lat), "extent requires a projection"),  # without projection=
    st.tuples(
        st.one_of(
            st.lists(st.floats(-10, 10), max_size=6).filter(lambda v: len(v) != 4),
            st.tuples(st.floats(-10, 10), st.floats(-10, 10), st.floats(-10, 10), extreme),
            st.tuples(reversed_pair(-180, 180), st.just((40.0, 41.0))).map(lambda v: (v[0][0], 40.0, v[0][1], 41.0)),
            st.tuples(st.floats(-180, 179), st.floats(90, 200, exclude_min=True)).map(
                lambda v: (v[0], 0, v[0] + 1, v[1])
            ),
            junk.filter(lambda v: v is not None),
        ).map(lambda extent: {"extent": extent, "projection": {"lonlat": None}}),
        st.just("extent"),
    ),
    st.tuples(
        st.tuples(
            st.sampled_from([None, {"lonlat": None}, utm]),
            st.one_of(st.floats(-1e4, 0.0002), st.floats(5000.1, 1e9), extreme, junk.filter(lambda v: v is not None)),
        ).map(lambda v: {"projection": v[0], "resolution": v[1]}),
        st.just("resolution"),
    ),
    bad(
        "projection",
        st.one_of(
            st.sampled_from([{}, {"utm": utm["utm"], "lonlat": None}, [], "utm", 31]),
            st.dictionaries(
                st.one_of(st.integers(), st.none(), st.tuples(st.text(max_size=2))), junk, min_size=1, max_size=1
            ),
            st.tuples(
                st.sampled_from(list(PROJECTIONS)), st.one_of(st.integers(), st.text(max_size=3), st.lists(st.none()))
            ).map(lambda v: {v[0]: v[1]}),
            st.tuples(st.sampled_from(["utm", "aea", "ps"]), st.integers(), st.integers()).map(
                lambda v: {v[0]: {v[1]: v[2]}}
            ),
            st.tuples(
                st.sampled_from(["zone", "central_meridian", "false_easting"]), st.sampled_from([math.nan, math.inf])
            ).map(lambda v: {"utm" if v[0] == "zone" else "sinu": {v[0]: v[1]}}),
        ),
        "projection",
    ),
)


@fuzz(st.one_of(bad_ids, bad_products, bad_options, bad_geometry_options))
def test_order_refuses_before_any_request(emu, case):
    changes, expected = case
    espa = Espa()
    no_request(emu, lambda: espa.order(**{**ORDER, **changes}), changes, expected)


@fuzz(
    st.lists(st.one_of(not_orderable, st.just(SCENE)), min_size=1, max_size=5).filter(
        lambda ids: any(i is not None and str(i).strip() != SCENE for i in ids)  # None ids are dropped
    )
)
def test_accessor_order_refuses_before_any_request(emu, ids):
    frame = pd.DataFrame({"display_id": ids})
    no_request(emu, lambda: frame.lsru.order(["l1"]), {"display_id": ids}, "cannot be ordered")


# -- Espa.order: what only the catalogue can tell --------------------------------------------------------------

CATALOGUE = {("GET", "formats"), ("GET", "resampling-methods"), ("GET", "projections"), ("GET", "available-products")}
code = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=10)
catalogue_cases = st.one_of(
    bad("format", st.text(max_size=10).filter(lambda f: f.lower() not in FORMATS), "unknown format"),
    bad("resampling", st.text(max_size=6).filter(lambda r: r.lower() not in RESAMPLING_METHODS), "unknown resampling"),
    bad(
        "products",
        st.lists(
            code.filter(lambda p: p.lower() not in OFFERED and p.lower() not in C1_PRODUCTS), min_size=1, max_size=3
        ),
        "not available",
    ),
    bad(
        "projection", code.filter(lambda p: p.lower() not in PROJECTIONS).map(lambda p: {p: None}), "unknown projection"
    ),
    bad(
        "projection",
        st.one_of(
            st.tuples(st.one_of(st.integers(-100, 0), st.integers(61, 1000)), st.sampled_from(["north", "south"])),
            st.tuples(st.integers(1, 60), st.text(max_size=6).filter(lambda ns: ns.lower() not in ("north", "south"))),
        ).map(lambda v: {"utm": {"zone": v[0], "zone_ns": v[1]}}),
        "projection",
    ),
    bad(
        "projection",
        st.floats(-60, 60, exclude_min=True, exclude_max=True).map(
            lambda scale: {
                "ps": {"longitudinal_pole": 0, "latitude_true_scale": scale, "false_easting": 0, "false_northing": 0}
            }
        ),
        "must fall between 60 and 90",
    ),
)


@fuzz(catalogue_cases, fast=50, slow=500)
def test_order_reads_only_the_catalogue_before_refusing(emu, case):
    changes, expected = case
    espa = Espa()
    emu.log.clear()
    with pytest.raises(InvalidInputError) as info:
        espa.order(**{**ORDER, **changes})
    assert expected in str(info.value)
    sent = {(e.method, e.endpoint) for e in emu.log.entries}
    assert sent <= CATALOGUE, f"{changes} sent {sent - CATALOGUE}"
    event(f"refused after {len(emu.log.entries)} catalogue GET(s): {', '.join(changes)}")


# -- the log sees requests, and the regressions the fuzzing found ---------------------------------------------------


def test_valid_calls_do_reach_the_log(emu):
    """The oracle of the tests above: the same calls with valid arguments are logged."""
    emu.log.clear()
    Usgs().search(**SEARCH, max_results=1)
    assert {e.endpoint for e in emu.log.entries} >= {"login-token", "scene-search"}
    emu.log.clear()
    Espa().order(**ORDER)
    assert ("POST", "order") in {(e.method, e.endpoint) for e in emu.log.entries}


def test_products_from_a_generator_are_ordered(emu):
    """Products were read twice: a generator gave an order with no products at all."""
    order = Espa().order([SCENE], products=(p for p in ["l1", "sr_ndvi"]))
    assert order.details["product_opts"]["olitirs8_collection_2_l2"]["products"] == ["l1", "sr_ndvi"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"extent": (3.6, 43.5, 3.9, 43.9), "projection": {"lonlat": None}, "resolution": math.nan}, "resolution"),
        ({"extent": (math.nan, 43.5, 3.9, 43.9), "projection": {"utm": {"zone": 31, "zone_ns": "north"}}}, "finite"),
        ({"projection": {"utm": {"zone": math.inf, "zone_ns": "north"}}}, "finite"),
        ({"products": [None]}, "product codes are words"),  # was sent as 'None'
    ],
)
def test_order_regressions(emu, changes, expected):
    """Refused with no request at all; extents and projection parameters were once checked after three GETs."""
    no_request(emu, lambda: Espa().order(**{**ORDER, **changes}), changes, expected)


def test_search_regressions(emu):
    for changes, expected in [
        ({"end": pd.NaT}, "end must be a date"),  # sent as "NaT"
        ({"bbox": "0000"}, "bbox must be 4 numbers"),  # read as (0, 0, 0, 0)
        ({"max_cloud_cover": 10**400}, "max_cloud_cover"),  # OverflowError
        ({"months": b"\x06"}, "months must be a list"),  # read as [6]
    ]:
        no_request(emu, lambda changes=changes: Usgs().search(**{**SEARCH, **changes}), changes, expected)
