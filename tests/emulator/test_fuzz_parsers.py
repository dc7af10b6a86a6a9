"""The emulator's request parsers under malformed bodies: always a well-formed answer in the service's shape.

Bodies: random bytes and text, JSON cut short, nesting deeper than the parser goes, numbers past a double (``1e400``,
400-digit integers, ``NaN``, ``Infinity``), and JSON objects holding the parameters each endpoint reads with values of
every type. M2M must answer its envelope with HTTP 200 (``INPUT_FORMAT`` for what is not a JSON object), ESPA its
``{"messages": {"errors": [...]}}`` with a 4xx status; neither may drop the connection nor fail on its side (M2M
``SERVER_ERROR``, ESPA 500). Each test runs ``FAST_EXAMPLES`` times in the default suite and ``SLOW_EXAMPLES`` times as
its ``<name>_slow`` twin under the slow marker.
"""

import json
import math
import sys

import requests
from fuzzing import sized
from hypothesis import assume, event, example
from hypothesis import strategies as st

from lsru_geo.emulator._catalogue import DATASETS
from lsru_geo.emulator._server import MAX_DEPTH, nested_deeper

FAST_EXAMPLES, SLOW_EXAMPLES = 100, 2000
fuzz = sized(FAST_EXAMPLES, SLOW_EXAMPLES)


# -- bodies --------------------------------------------------------------------------------------------------

number = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),  # written as NaN/Infinity, which Python's json reads
    st.sampled_from([2**63, 2**64, -(2**63) - 1, 1e308, -0.0, 5e-324]),
    st.sampled_from([1, -1]).map(lambda sign: sign * 10**400),  # past any double (a short repr in the statistics)
)
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), number, st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)


WEEK = {"start": "2019-06-01", "end": "2019-06-07"}  # the acquisitionFilter of every valid search


def encode(value):
    return json.dumps(value).encode()


def truncate(data, fraction):
    return data[: int(len(data) * fraction)]


def nest(depth, kind):
    opening, closing = {"list": ("[", "]"), "dict": ('{"a":', "}"), "mixed": ('[{"a":', "}]")}[kind]
    return (opening * depth + "1" + closing * depth).encode()


# a valid dataset comes only with a week-long acquisitionFilter (see search_document): an unfiltered search makes the
# emulator generate all 12 million scenes of the archive, half a minute of work for a request a real client never sends
coordinate = st.fixed_dictionaries({"latitude": number, "longitude": number})
SCENE_FILTER = {
    "spatialFilter": st.one_of(
        st.fixed_dictionaries(
            {
                "filterType": st.sampled_from(["mbr", "geojson", "MBR", "x"]),
                "lowerLeft": st.one_of(coordinate, json_value),
                "upperRight": st.one_of(coordinate, json_value),
            }
        ),
        st.fixed_dictionaries(
            {
                "filterType": st.just("geojson"),
                "geoJson": st.fixed_dictionaries(
                    {
                        "type": st.sampled_from(["Polygon", "Point", "MultiPolygon", "LineString", "x"]),
                        "coordinates": json_value,
                    }
                ),
            }
        ),
        json_value,
    ),
    "acquisitionFilter": st.one_of(st.fixed_dictionaries({"start": json_value, "end": json_value}), json_value),
    "cloudCoverFilter": st.one_of(
        st.fixed_dictionaries({"min": json_value, "max": json_value, "includeUnknown": json_value}), json_value
    ),
    "seasonalFilter": st.one_of(st.lists(st.integers(-1, 14), max_size=3), json_value),
    "metadataFilter": json_value,
}
SCENE_IDS = ["LC81960302019180LGN00", "LC08_L2SP_196030_20190629_20210414_02_T1", "LE71960302019188NSG00"]
scene_id = st.one_of(  # whole, cut, or with one character replaced
    st.sampled_from(SCENE_IDS),
    st.builds(lambda text, i, j: text[i:j], st.sampled_from(SCENE_IDS), st.integers(0, 40), st.integers(0, 40)),
    st.builds(
        lambda text, i, c: text[:i] + c + text[i + 1 :],
        st.sampled_from(SCENE_IDS),
        st.integers(0, 40),
        st.sampled_from(["0", "9", "x", "_", "\u0663", " "]),
    ),
)
# A real dataset name comes only in search_document, with a one-week acquisitionFilter: an unfiltered search has the
# emulator generate all 12 million scenes of the archive, half a minute of work (and no parsing question).
M2M_PARAMETERS = {
    "datasetName": st.one_of(st.sampled_from(["LANDSAT_8_C1", "gls_all", ""]), json_value),
    "maxResults": json_value,
    "startingNumber": json_value,
    "metadataType": st.one_of(st.sampled_from(["summary", "full"]), json_value),
    "sortDirection": json_value,
    "entityId": st.one_of(scene_id, json_value),
    "entityIds": st.one_of(st.lists(scene_id, max_size=3), st.text(max_size=30), json_value),
    "idType": st.one_of(st.sampled_from(["entityId", "displayId", "DISPLAYID"]), json_value),
    "listId": json_value,
    "downloads": json_value,
    "label": json_value,
    "username": json_value,
    "token": json_value,
    "sceneFilter": st.one_of(st.fixed_dictionaries({}, optional=SCENE_FILTER), json_value),
}
search_document = st.builds(
    lambda dataset, search, scene_filter: {**search, "datasetName": dataset, "sceneFilter": scene_filter},
    st.sampled_from(["landsat_ot_c2_l2", "LANDSAT_TM_C2_L1", "landsat_etm_c2_l2"]),
    st.fixed_dictionaries(
        {},
        optional={
            **{k: v for k, v in M2M_PARAMETERS.items() if k not in ("datasetName", "sceneFilter")},
            # at most 20 scenes: a week of the whole world with full metadata is 12,000 scenes, an 88 MB answer
            "maxResults": st.one_of(st.integers(-5, 20), json_value.filter(lambda v: not isinstance(v, (int, float)))),
        },
    ),
    st.fixed_dictionaries(
        {"acquisitionFilter": st.just(WEEK)},
        optional={k: v for k, v in SCENE_FILTER.items() if k != "acquisitionFilter"},
    ),
)
ESPA_SENSOR = st.sampled_from(["olitirs8_collection_2_l2", "tm5_collection_2_l1", "etm7_collection_2_l2", "x"])
ESPA_PARAMETERS = {
    "format": st.one_of(st.sampled_from(["gtiff", "envi", "GTIFF"]), json_value),
    "resampling_method": st.one_of(st.sampled_from(["nn", "cc"]), json_value),
    "note": json_value,
    "plot_statistics": json_value,
    "projection": st.one_of(
        st.dictionaries(
            st.sampled_from(["utm", "lonlat", "aea", "ps", "sinu", "x"]),
            st.one_of(st.dictionaries(st.sampled_from(["zone", "zone_ns", "datum", "central_meridian"]), json_value)),
            max_size=2,
        ),
        json_value,
    ),
    "image_extents": st.one_of(
        st.fixed_dictionaries(
            {
                "north": number,
                "south": number,
                "east": number,
                "west": number,
                "units": st.sampled_from(["dd", "meters", "x"]),
            }
        ),
        json_value,
    ),
    "resize": st.one_of(
        st.fixed_dictionaries({"pixel_size": number, "pixel_size_units": st.sampled_from(["dd", "meters", "x"])}),
        json_value,
    ),
    "orderid": json_value,
    "status": json_value,
    "name": json_value,
    "inputs": st.one_of(st.lists(st.sampled_from(["LC08_L2SP_196030_20190629_20210414_02_T1", "x"])), json_value),
}
VALID_ORDER = {
    "olitirs8_collection_2_l2": {"inputs": ["LC08_L2SP_196030_20190629_20210414_02_T1"], "products": ["l1"]},
    "format": "gtiff",
}
VALID_OPTIONS = {  # each either valid or of the wrong type or range
    "projection": st.one_of(
        st.sampled_from([{"lonlat": None}, {"utm": {"zone": 31, "zone_ns": "north"}}]), ESPA_PARAMETERS["projection"]
    ),
    "resampling_method": st.one_of(st.sampled_from(["nn", "bil", "cc"]), json_value),
    "note": st.one_of(st.text(max_size=20), json_value),
    "resize": st.one_of(
        st.builds(
            lambda size: {"pixel_size": size, "pixel_size_units": "meters"}, st.one_of(st.integers(1, 6000), number)
        ),
        json_value,
    ),
}
espa_order = st.builds(
    lambda sensors, options: {**sensors, **options},
    st.dictionaries(
        ESPA_SENSOR,
        st.one_of(
            st.fixed_dictionaries(
                {
                    "inputs": st.one_of(
                        st.lists(st.sampled_from(["LC08_L2SP_196030_20190629_20210414_02_T1", "x"]), max_size=3),
                        json_value,
                    ),
                    "products": st.one_of(st.lists(st.sampled_from(["l1", "sr_ndvi", "x"]), max_size=3), json_value),
                }
            ),
            json_value,
        ),
        max_size=2,
    ),
    st.fixed_dictionaries({}, optional=ESPA_PARAMETERS),
) | st.builds(lambda options: {**VALID_ORDER, **options}, st.fixed_dictionaries({}, optional=VALID_OPTIONS))


def bodies(parameters, *valid):
    """Request bodies, most of them malformed, for a service whose endpoints read ``parameters``."""
    documents = st.one_of(json_value, st.fixed_dictionaries({}, optional=parameters), *valid)
    return st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        documents.map(encode),
        st.builds(truncate, documents.map(encode), st.floats(0, 1)),  # JSON cut short
        st.builds(nest, st.integers(1, 100_000), st.sampled_from(["list", "dict", "mixed"])),
        st.sampled_from([b"1e400", b"-1e400", b"NaN", b"Infinity", b"9" * 5000, b"\xef\xbb\xbf{}", b'"\\ud800"']),
        st.fixed_dictionaries({}, optional=parameters).map(
            lambda d: json.dumps(d, ensure_ascii=False).encode("latin-1", "replace")
        ),
    )


def parsed(body):
    """What Python's json (the one both emulated services use) makes of ``body``: ``(ok, value)``; documents nested
    more than MAX_DEPTH levels count as malformed, as the emulator's handlers walk them recursively."""
    try:
        value = json.loads(body) if body.strip() else None
    except (ValueError, RecursionError):
        return False, None
    return (False, None) if nested_deeper(value, MAX_DEPTH) else (True, value)


def all_finite(value):
    """Whether every number in a JSON document fits a double and is finite."""
    if isinstance(value, dict):
        return all(map(all_finite, value.values()))
    if isinstance(value, list):
        return all(map(all_finite, value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return abs(value) <= sys.float_info.max and math.isfinite(float(value))
    return True


def search(**parts):
    """A scene-search body over the week of WEEK, with ``parts`` for its top level or its sceneFilter."""
    scene_filter = {"acquisitionFilter": WEEK, **{k: v for k, v in parts.items() if k in SCENE_FILTER}}
    top = {k: v for k, v in parts.items() if k not in SCENE_FILTER}
    return encode({"datasetName": "landsat_ot_c2_l2", "sceneFilter": scene_filter, **top})


def unbounded_search(value):
    """A valid search of more than a week of the whole archive: seconds of work and gigabytes for the emulator, which
    generates every matching scene (hypothesis builds such bodies from the string constants it finds in the code)."""
    if not isinstance(value, dict) or str(value.get("datasetName")).lower() not in DATASETS:
        return False
    scene_filter = value.get("sceneFilter")
    return not (isinstance(scene_filter, dict) and scene_filter.get("acquisitionFilter") == WEEK)


def describe(body):
    ok, value = parsed(body)
    return "not JSON" if not ok else "empty" if value is None else type(value).__name__


# -- M2M -------------------------------------------------------------------------------------------------------

M2M_ENDPOINTS = [
    "scene-search",
    "scene-metadata",
    "dataset",
    "dataset-search",
    "download-options",
    "download-request",
    "download-retrieve",
    "permissions",
    "logout",
    "login-token",
]


@fuzz(body=bodies(M2M_PARAMETERS, search_document), endpoint=st.sampled_from(M2M_ENDPOINTS))
@example(body=nest(100_000, "list"), endpoint="scene-search")  # RecursionError dropped the connection
@example(body=b'{"datasetName": ' + nest(900, "list") + b"}", endpoint="dataset")  # deep, yet parsed
@example(body=search(maxResults=math.inf), endpoint="scene-search")  # OverflowError dropped the connection
@example(body=search(cloudCoverFilter={"min": "a"}), endpoint="scene-search")  # ValueError, after 30 s of work
@example(
    body=search(
        spatialFilter={"filterType": "mbr", "lowerLeft": {"latitude": 0, "longitude": 10**400}, "upperRight": {}}
    ),
    endpoint="scene-search",
)  # OverflowError
@example(body=search(startingNumber=10**30), endpoint="scene-search")  # ValueError from numpy.arange
@example(
    body=search(
        spatialFilter={
            "filterType": "geojson",
            "geoJson": {"type": "LineString", "coordinates": [[-1e308, 0], [1e308, 5]]},
        }
    ),
    endpoint="scene-search",
)  # GEOSException while buffering
@example(
    body=search(spatialFilter={"filterType": "geojson", "geoJson": {"type": "Polygon", "coordinates": True}}),
    endpoint="scene-search",
)  # TypeError
@example(body=encode({"datasetName": "landsat_ot_c2_l2", "entityId": "0"}), endpoint="scene-metadata")  # IndexError
def test_m2m_answers_an_envelope(emulator, body, endpoint):
    assume(not (endpoint == "scene-search" and unbounded_search(parsed(body)[1])))
    emulator.reset()
    api = emulator.m2m_url + "stable/"
    key = requests.post(api + "login-token", json={"username": "demo", "token": "demo-token"}, timeout=30).json()[
        "data"
    ]
    response = requests.post(api + endpoint, headers={"X-Auth-Token": key}, data=body, timeout=30)
    answer = response.json()
    assert response.status_code == 200 and {"errorCode", "errorMessage", "data"} <= set(answer)
    code = answer["errorCode"]
    event(f"m2m: {describe(body)} -> {code}")
    assert code != "SERVER_ERROR", emulator.m2m.last_exception
    assert code is None or (
        isinstance(code, str) and isinstance(answer["errorMessage"], str) and answer["data"] is None
    )
    ok, value = parsed(body)
    if not ok or not (value is None or isinstance(value, dict)):
        assert code == "INPUT_FORMAT"
    else:
        assert code != "INPUT_FORMAT"
    assert emulator.log.entries[-1].status == 200  # answered in full, not dropped


# -- ESPA ------------------------------------------------------------------------------------------------------

ESPA_REQUESTS = [
    ("POST", "order"),
    ("PUT", "order"),
    ("GET", "order"),
    ("GET", "available-products"),
    ("GET", "list-orders"),
    ("GET", "item-status"),
    ("GET", "projections"),
    ("POST", "projections"),
]


@fuzz(body=bodies(ESPA_PARAMETERS, espa_order), method_resource=st.sampled_from(ESPA_REQUESTS))
@example(body=nest(100_000, "dict"), method_resource=("POST", "order"))  # RecursionError: 500
@example(body=nest(1026, "dict"), method_resource=("POST", "order"))  # parsed, then RecursionError in validation: 500
@example(body=nest(500, "list"), method_resource=("GET", "available-products"))
@example(
    body=b'{"olitirs8_collection_2_l2": {"inputs": ["LC08_L2SP_196030_20190629_20210414_02_T1"], "products": ["l1"]}, '
    b'"format": "gtiff", "projection": {"lonlat": null}, '
    b'"image_extents": {"north": NaN, "south": 0, "east": 1, "west": 0, "units": "dd"}}',
    method_resource=("POST", "order"),
)  # ValueError: 500
@example(
    body=encode({"olitirs8_collection_2_l2": None, "resize": {"pixel_size": 5e-324, "pixel_size_units": "dd"}}),
    method_resource=("POST", "order"),
)  # ZeroDivisionError
@example(
    body=encode(
        {
            "resize": {"pixel_size": 1.34e154, "pixel_size_units": "dd"},
            "image_extents": {"north": 0, "south": 0, "east": 0, "west": 0, "units": "dd"},
            "olitirs8_collection_2_l2": None,
        }
    ),
    method_resource=("POST", "order"),
)  # OverflowError
def test_espa_answers_json_messages(emulator, body, method_resource):
    emulator.reset()
    method, resource = method_resource
    response = requests.request(
        method, emulator.espa_url + resource, auth=("demo", "demo-password"), data=body, timeout=30
    )
    event(f"espa {method} {resource}: {describe(body)} -> {response.status_code}")
    assert response.status_code != 500, emulator.espa.last_exception
    assert response.status_code in (200, 201, 202, 400, 404, 405)
    answer = response.json()
    if response.status_code >= 400:
        messages = answer["messages"]
        assert isinstance(messages, dict) and set(messages) <= {"errors", "warnings"} and messages
        assert all(isinstance(v, list) and v for v in messages.values())
    if (method, resource) == ("POST", "order"):
        ok, value = parsed(body)
        if not ok or value is None:
            assert (response.status_code, answer) == (
                400,
                {"messages": {"errors": ["Could not parse request into JSON"]}},
            )
        elif not value or not isinstance(value, dict):
            assert answer == {"messages": {"errors": ["Must supply order JSON"]}}
        else:
            assert response.status_code in (201, 400)
            assert "orderid" in answer if response.status_code == 201 else answer["messages"]["errors"]


@fuzz(espa_order, fast=100, slow=2000)
def test_espa_order_validation_never_fails(emulator, order):
    """Order bodies with every parameter ESPA reads, of every type: placed (201) or refused with messages (400)."""
    emulator.reset()
    response = requests.post(
        emulator.espa_url + "order", auth=("demo", "demo-password"), data=encode(order), timeout=30
    )
    event(f"espa order: {response.status_code}")
    assert response.status_code in (201, 400), emulator.espa.last_exception
    answer = response.json()
    if response.status_code == 201:
        assert answer["status"] == "ordered" and answer["orderid"].startswith("espa-")
        assert all_finite(order)  # NaN, Infinity and numbers past a double are never part of a placed order
    else:
        errors = answer["messages"]["errors"]
        assert errors and all(isinstance(e, (str, dict)) for e in errors)
