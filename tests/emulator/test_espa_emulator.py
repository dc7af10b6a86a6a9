"""The emulator's ESPA API over real HTTP, against shared/docs/espa-api.md sections 1-4."""

import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import re
import tarfile

import numpy as np
import pytest
import requests

from lsru_geo.emulator import Emulator, User
from lsru_geo.emulator import _catalogue as cat

DEMO = ("demo", "demo-password")
OTHER = User(username="other", token="other-token", password="other-password", email="other@example.com")
STEP = 10.0  # processing_seconds in these tests
L2_PRODUCTS = [
    "l1",
    "sr_ndvi",
    "sr_evi",
    "sr_savi",
    "sr_msavi",
    "sr_ndmi",
    "sr_nbr",
    "sr_nbr2",
    "sr_ndsi",
    "stats",
    "et",
]
NORMAL = ["submitted", "oncache", "tasked", "processing", "complete"]
STAGED = ["submitted", "onorder", "oncache", "tasked", "processing", "complete"]
ORDERID = re.compile(r"^espa-demo@example\.com-\d{8}-\d{6}-\d{3}$")
L2_PATTERN = "^lc08_l2s[pr]_[0-9]{6}_[0-9]{8}_[0-9]{8}_02_t[12]$"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")


def catalogue_ids(alias, start, end, cells=range(2000, 2060)):
    scenes = cat.generate(cat.DATASETS[alias], np.array(list(cells)), start, end, dt.date.today())
    return scenes.display_ids()


L2 = catalogue_ids("landsat_ot_c2_l2", dt.date(2023, 5, 1), dt.date(2023, 6, 30))
L2SP = [i for i in L2 if i[5:9] == "L2SP" and i.startswith("LC08")]
L2SR = [
    i
    for i in catalogue_ids("landsat_ot_c2_l2", dt.date(2019, 1, 1), dt.date(2022, 12, 31), range(2000, 2010))
    if i[5:9] == "L2SR"
]
L1TP = [
    i
    for i in catalogue_ids("landsat_ot_c2_l1", dt.date(2023, 5, 1), dt.date(2023, 6, 30))
    if i.startswith("LC08_L1TP_")
]
LE07_RESTRICTED = catalogue_ids("landsat_etm_c2_l2", dt.date(2016, 5, 30), dt.date(2016, 6, 12), range(0, 20000, 700))
RESTRICTED = LE07_RESTRICTED[:1]


def far_east_scene():
    """An L2SP scene east of 160 E, where 10:00 local time is the previous UTC day."""
    wrs = cat.grid()
    cells = np.flatnonzero(wrs.corners[:, :, 0].mean(axis=1) > 160)[::40]
    ids = catalogue_ids("landsat_ot_c2_l2", dt.date(2023, 1, 1), dt.date(2023, 1, 31), cells)
    return next(i for i in ids if i.startswith("LC08_L2SP"))


# matches the C2 L2 regex, but the emulated archive has no such scene (row 999 does not exist)
NOT_IN_ARCHIVE = "LC08_L2SP_033999_20230517_20230524_02_T1"


@pytest.fixture(scope="module")
def server():
    with Emulator(users=[User(), OTHER], processing_seconds=STEP, raster_size=48) as emulator:
        yield emulator


@pytest.fixture
def emu(server):
    """The module's emulator, reset, with its options restored after the test."""
    server.reset()
    saved = dataclasses.replace(server.options)
    yield server
    for f in dataclasses.fields(saved):
        setattr(server.options, f.name, getattr(saved, f.name))
    server.clock.speed = 1.0


class Api:
    """A tiny ESPA client: requests with basic auth, JSON bodies on any method."""

    def __init__(self, emu, version="v1", auth=DEMO):
        self.base, self.auth = f"{emu.url}/api/{version}/", auth

    def call(self, method, path, body=None, **kw):
        kw.setdefault("auth", self.auth)
        return requests.request(method, self.base + path, json=body, **kw)

    def get(self, path, body=None, **kw):
        return self.call("GET", path, body, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)

    def order(self, inputs, products=("l1",), sensor="olitirs8_collection_2_l2", **options):
        body = {sensor: {"inputs": list(inputs), "products": list(products)}, "format": "gtiff", **options}
        response = self.post("order", body)
        assert response.status_code == 201, response.text
        return response.json()["orderid"]

    def items(self, orderid, body=None):
        return self.get(f"item-status/{orderid}", body).json()[orderid]

    def statuses(self, orderid):
        return {i["name"]: i["status"] for i in self.items(orderid)}

    def status(self, orderid):
        return self.get(f"order-status/{orderid}").json()["status"]


@pytest.fixture
def api(emu):
    return Api(emu)


def validation_errors(response):
    assert response.status_code == 400, response.text
    (errors,) = response.json()["messages"]["errors"]
    ((key, messages),) = errors.items()
    assert key == f"{len(messages)} validation errors"
    return messages


# -- routing, auth, envelopes ------------------------------------------------------------------------------


def test_versions_and_operations(emu, api):
    response = requests.get(emu.url + "/api", auth=DEMO)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert response.json() == {"v0": "Version 0 of the ESPA API", "v1": "Version 1 of the ESPA API"}
    assert requests.get(emu.url + "/api/", auth=DEMO).json() == response.json()
    v1 = requests.get(emu.url + "/api/v1", auth=DEMO).json()
    assert v1["description"] == "Version 1 of the ESPA API"
    assert v1["operations"]["/api/v1/order"]["methods"] == ["POST"]
    assert v1["operations"]["/api/v1/available-products"]["methods"] == ["HEAD", "POST"]  # advertised, yet 405
    v0 = requests.get(emu.url + "/api/v0/", auth=DEMO).json()
    assert v0["description"] == "Version 0 of the ESPA API" and "/api/v0/list-orders/<email>" in v0["operations"]
    response = requests.get(emu.url + "/api/v9", auth=DEMO)
    assert (response.status_code, response.json()) == (
        404,
        {"messages": {"errors": ["Invalid api version 9. Options: 0, 1"]}},
    )
    response = requests.get(emu.url + "/api/v7/user")  # the version filter runs before authentication
    assert (response.status_code, response.json()) == (404, {"messages": {"errors": ["Invalid API version 7"]}})


@pytest.mark.parametrize("auth", [None, ("demo", "wrong"), ("nobody", "demo-password")])
@pytest.mark.parametrize("path", ["/api", "/api/v1/user", "/api/v0/list-orders", "/api/v1/available-products/x"])
def test_bad_credentials_are_401_everywhere(emu, auth, path):
    response = requests.get(emu.url + path, auth=auth)
    assert response.status_code == 401
    assert response.json() == {"messages": {"errors": ["Invalid username/password"]}}
    assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/foo",
        "/api/v1/projections/",
        "/api/foo",
        "/api/v1/order-status",
        "/api/v1/item-status/a/b/c",
        "/api/v1/info/nothing",
    ],
)
def test_unknown_paths_are_404_before_auth(emu, path):
    response = requests.get(emu.url + path)
    assert (response.status_code, response.json()) == (
        404,
        {"messages": {"errors": [f"{path} not found on the server"]}},
    )


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "available-products"),
        ("PUT", "available-products/x"),
        ("POST", "user"),
        ("PUT", "projections"),
        ("POST", "item-status/x"),
        ("DELETE", "order"),
        ("POST", "list-orders"),
    ],
)
def test_wrong_method_is_405(api, method, path):
    response = api.call(method, path, {"inputs": ["x"]})
    assert (response.status_code, response.json()) == (
        405,
        {"messages": {"errors": ["Invalid method. Try GET instead"]}},
    )


def test_user(emu, api):
    assert api.get("user").json() == {
        "email": "demo@example.com",
        "first_name": "Demo",
        "last_name": "User",
        "roles": ["active"],
        "username": "demo",
    }
    assert api.get("user/").json()["username"] == "demo"
    assert Api(emu, auth=("other", "other-password")).get("user").json()["email"] == "other@example.com"


def test_head_is_served_like_get(api):
    response = api.call("HEAD", "formats")
    assert response.status_code == 200 and int(response.headers["Content-Length"]) > 10 and not response.content


def test_service_faults(emu, api):
    emu.faults.add("espa", "order", "code", code="ERS_DOWN")
    response = api.post("order", {})
    assert (response.status_code, response.json()) == (503, {"messages": {"warnings": ["ERS connection failed"]}})
    emu.faults.add("espa", "user", "code", code="PROVIDER_ERROR")
    assert api.get("user").json() == {
        "msg": "there's been a problem retrieving your information. admins have been notified"
    }
    emu.faults.add("espa", "formats", "code", code="SYSTEM_ERROR")
    response = api.get("formats")
    assert (response.status_code, response.json()["messages"]["errors"]) == (
        500,
        ["System experienced an exception. Admins have been notified"],
    )
    assert api.get("formats").status_code == 200  # times=1 by default
    assert [e.endpoint for e in emu.log.select("espa")][:2] == ["order", "user"]


# -- information resources ---------------------------------------------------------------------------------


def test_available_products_for_c2_inputs(api):
    l2, l1 = L2SP[0], L1TP[0]
    body = api.get(
        "available-products", {"inputs": [l2, l1, "bad_scene_id", "LM05_L1GS_001001_19900101_20200101_02_T2"]}
    ).json()
    assert body == {
        "olitirs8_collection_2_l2": {"products": L2_PRODUCTS, "inputs": [l2]},
        "olitirs8_collection_2_l1": {"products": ["l1", "aq_refl", "stats"], "inputs": [l1]},
        "not_implemented": ["bad_scene_id", "LM05_L1GS_001001_19900101_20200101_02_T2"],
    }
    assert list(body["olitirs8_collection_2_l2"]) == ["products", "inputs"]  # the C2 key order
    assert api.get(f"available-products/{l2}").json() == {
        "olitirs8_collection_2_l2": {"products": L2_PRODUCTS, "inputs": [l2]}
    }
    # the path form takes one id: a comma list is one unknown id
    assert api.get(f"available-products/{l2},{L2SP[1]}").json() == {"not_implemented": [f"{l2},{L2SP[1]}"]}
    lt05 = {"inputs": ["LT05_L2SP_027027_20110722_20200820_02_T1", "le07_l1tp_027027_20110730_20200910_02_t1"]}
    body = api.get("available-products", lt05).json()
    assert body["tm5_collection_2_l2"]["products"] == L2_PRODUCTS
    assert body["etm7_collection_2_l1"] == {"products": ["l1", "stats"], "inputs": [lt05["inputs"][1]]}


def test_available_products_date_restricted(api):
    restricted = LE07_RESTRICTED[0]
    body = api.get("available-products", {"inputs": [restricted]}).json()
    indices = [p for p in L2_PRODUCTS if p.startswith("sr_")]
    assert body["etm7_collection_2_l2"]["products"] == ["l1", "stats", "et"]
    assert body["date_restricted"] == {p: [restricted] for p in indices}


@pytest.mark.parametrize("body", [None, {}, {"input": ["x"]}, ["x"]])
def test_available_products_without_inputs(api, body):
    response = api.get("available-products", body)
    assert (response.status_code, response.json()) == (400, {"messages": {"errors": ["No input products supplied"]}})


def test_formats_resampling_projections_and_schema(api):
    assert api.get("formats").json() == {
        "formats": {"gtiff": "GeoTiff", "envi": "ENVI", "hdf-eos2": "HDF-EOS2", "netcdf": "NetCDF"}
    }
    assert api.get("resampling-methods").json() == {
        "resampling_methods": {"nn": "Nearest Neighbor", "bil": "Bilinear Interpolation", "cc": "Cubic Convolution"}
    }
    projections = api.get("projections").json()
    assert list(projections) == ["aea", "utm", "lonlat", "sinu", "ps"]
    assert projections["utm"]["properties"]["zone"] == {
        "type": "integer",
        "title": "UTM Grid Zone Number",
        "display_rank": 0,
        "required": True,
        "minimum": 1,
        "maximum": 60,
    }
    assert projections["lonlat"] == {"type": "null", "pixel_units": "dd", "title": "Geographic", "display_rank": 2}
    assert projections["aea"]["properties"]["datum"]["enum"] == ["wgs84", "nad27", "nad83"]
    assert projections["ps"]["properties"]["latitude_true_scale"]["abs_rng"] == [60, 90]
    schema = api.get("order-schema").json()
    assert schema["$schema"] == "http://json-schema.org/draft-03/schema#" and schema["additionalProperties"] is False
    assert schema["dependencies"] == {"image_extents": ["projection"]}
    assert (schema["max_items"], schema["pixel_count"]) == (5000, 200000000)
    assert (
        "olitirs9_collection_2_l2" in schema["oneormoreobjects"] and "tm4_collection_2_l1" in schema["oneormoreobjects"]
    )
    block = schema["properties"]["olitirs8_collection_2_l2"]["properties"]
    assert block["products"]["items"]["enum"] == L2_PRODUCTS and block["inputs"]["maxItems"] == 5000
    assert re.match(block["inputs"]["items"]["pattern"], L2SP[0].lower())
    assert schema["properties"]["resize"]["properties"]["pixel_size"]["ps_meters_rng"] == [30, 5000]


def test_info_status_and_backlog(api):
    assert api.get("info/status").json()["system_message_title"] is None
    assert api.get("info/backlog").json() == 0
    api.order(L2SP[:2])
    assert api.get("info/backlog").json() == 2


# -- placing orders ----------------------------------------------------------------------------------------


def test_post_order_then_read_it(emu, api):
    body = {
        "OLITIRS8_collection_2_L2": {"inputs": [i.lower() for i in L2SP[:2]], "products": ["L1", "sr_ndvi"]},
        "format": "GTiff",
        "resampling_method": "nn",
        "note": "Keep THIS Case",
    }
    response = api.post("order", body)
    assert response.status_code == 201
    assert list(response.json()) == ["orderid", "status"] and response.json()["status"] == "ordered"
    orderid = response.json()["orderid"]
    assert ORDERID.match(orderid)
    order = api.get(f"order/{orderid}").json()
    assert list(order) == [
        "completion_date",
        "note",
        "order_date",
        "order_source",
        "order_type",
        "orderid",
        "priority",
        "product_options",
        "product_opts",
        "status",
    ]
    assert order["product_opts"] == {
        "olitirs8_collection_2_l2": {"inputs": L2SP[:2], "products": ["l1", "sr_ndvi"]},
        "format": "gtiff",
        "resampling_method": "nn",
        "note": "Keep THIS Case",
    }
    assert (
        order["note"],
        order["status"],
        order["completion_date"],
        order["order_source"],
        order["order_type"],
        order["priority"],
        order["product_options"],
    ) == ("Keep THIS Case", "ordered", "", "espa", "level2_ondemand", "normal", "")
    assert DATE.match(order["order_date"])
    assert api.get("order", {"orderid": orderid}).json() == order  # GET /order with a body
    assert api.get("order/", {"orderid": orderid}).json() == order
    assert api.get(f"order-status/{orderid}").json() == {"orderid": orderid, "status": "ordered"}
    items = api.get(f"item-status/{orderid}").json()
    assert list(items) == [orderid]
    assert items[orderid] == [
        {
            "name": name,
            "status": "submitted",
            "note": "",
            "completion_date": "",
            "product_dload_url": "",
            "cksum_download_url": "",
        }
        for name in L2SP[:2]
    ]


def test_order_ids_are_unique_within_a_millisecond(emu, api):
    emu.clock.speed = 0.0  # the emulated time stands still
    first, second = api.order(L2SP[:1]), api.order(L2SP[:1])
    assert first != second and first[:-4] == second[:-4]
    assert int(second[-3:]) == (int(first[-3:]) + 1) % 1000


@pytest.mark.parametrize(
    "data,message",
    [
        ("{not json", "Could not parse request into JSON"),
        ("", "Could not parse request into JSON"),
        ("{}", "Must supply order JSON"),
        ("[]", "Must supply order JSON"),
    ],
)
def test_order_body_errors(api, data, message):
    response = requests.post(api.base + "order", data=data, auth=DEMO)
    assert (response.status_code, response.json()) == (400, {"messages": {"errors": [message]}})


def order_body(**changes):
    body = {"olitirs8_collection_2_l2": {"inputs": L2SP[:1], "products": ["l1"]}, "format": "gtiff"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


UTM_31 = {"utm": {"zone": 31, "zone_ns": "north"}}
EXTENTS_DD = {"north": 44.0, "south": 43.5, "east": 4.0, "west": 3.5, "units": "dd"}


@pytest.mark.parametrize(
    "changes,messages",
    [
        (
            {"olitirs8_collection_2_l2": {"inputs": L2SP[:1], "products": ["sr"]}},
            [
                "Remove invalid product request 'sr' in olitirs8_collection_2_l2.products - Available products: "
                + str(L2_PRODUCTS)
            ],
        ),
        (
            {"format": "tiff"},
            ["Unrecognized value 'tiff' in format - Allowed values: ['gtiff', 'envi', 'hdf-eos2', 'netcdf']"],
        ),
        ({"format": None}, ['Required field "format" is missing']),
        ({"image_extents": EXTENTS_DD}, ["'projection' is a dependency of 'image_extents'"]),
        (
            {"resize": {"pixel_size": 10, "pixel_size_units": "meters"}},
            [
                "pixel count is greater than maximum size of 200000000 pixels",
                "Value of 10 for resize.pixel_size must fall between 30 and 5000 Meters",
            ],
        ),
        (
            {"resize": {"pixel_size": 0.1, "pixel_size_units": "dd"}, "projection": {"lonlat": None}},
            ["Value of 0.1 for resize.pixel_size must fall between 0.0002695 and 0.0449155 Decimal Degrees"],
        ),
        (
            {"projection": {"utm": {"zone": 61, "zone_ns": "north"}}},
            ["61 is greater than the maximum of 60 in projection.utm.zone"],
        ),
        (
            {"projection": {"utm": {"zone": "31", "zone_ns": "up"}}},
            [
                "'31' is not of type 'integer' in projection.utm.zone",
                "Unrecognized value 'up' in projection.utm.zone_ns - Allowed values: ['north', 'south']",
            ],
        ),
        (
            {
                "projection": {
                    "ps": {"longitudinal_pole": 0, "latitude_true_scale": 45, "false_easting": 0, "false_northing": 0}
                }
            },
            ["Absolute value of projection.ps.latitude_true_scale must fall between 60 and 90"],
        ),
        (
            {"projection": {"aea": {"datum": "wgs84"}}},
            [
                f'Required field "{f}" is missing'
                for f in (
                    "standard_parallel_1",
                    "standard_parallel_2",
                    "central_meridian",
                    "latitude_of_origin",
                    "false_easting",
                    "false_northing",
                )
            ],
        ),
        ({"projection": {"lonlat": None, **UTM_31}}, ["projection field only accepts one object, not 2"]),
        (
            {"projection": {"lonlat": None}, "image_extents": {**EXTENTS_DD, "units": "meters"}},
            [
                'image_extents units must be in "dd" for projection "lonlat", not "meters"',
                "pixel count value falls below acceptable threshold of 1 pixel",
            ],
        ),  # half a metre square
        (
            {"projection": UTM_31, "resize": {"pixel_size": 0.001, "pixel_size_units": "dd"}},
            ['resize units must be in "meters" for projection "utm"'],
        ),
        (
            {"projection": UTM_31, "image_extents": {**EXTENTS_DD, "east": 100.5, "west": 100.0}},
            ["image_extents (East: 100.5, West: 100.0) are not near the requested UTM zone (31)"],
        ),
        (
            {"olitirs8_collection_2_l2": None, "olitirs8_collection": {"inputs": ["x"], "products": ["sr"]}},
            [
                "Additional properties are not allowed ('olitirs8_collection' was unexpected)",
                "No requests for products were submitted",
            ],
        ),
        (
            {"olitirs8_collection_2_l2": {"inputs": [], "products": []}},
            [
                "Property olitirs8_collection_2_l2.inputs requires at least 1 item(s)",
                "Property olitirs8_collection_2_l2.products requires at least 1 item(s)",
            ],
        ),
        (
            {"olitirs8_collection_2_l2": {"inputs": [L1TP[0]], "products": ["l1"]}},
            [f'Unrecognized ID "{L1TP[0].lower()}" does not match {L2_PATTERN} in olitirs8_collection_2_l2.inputs'],
        ),
        (
            {"olitirs8_collection_2_l2": {"inputs": ["LC08_XXXX"], "products": ["l1"]}},
            [
                f'Unrecognized ID "lc08_xxxx" does not match {L2_PATTERN} in olitirs8_collection_2_l2.inputs',
                "Requested IDs are not recognized. Remove: ['lc08_xxxx']",
            ],
        ),
        (
            {
                "olitirs8_collection_2_l2": None,
                "etm7_collection_2_l2": {"inputs": RESTRICTED, "products": ["l1", "sr_ndvi"]},
            },
            [f"Requested sr_ndvi products are restricted by date. Remove etm7_collection_2_l2 scenes: {RESTRICTED}"],
        ),
        (
            {
                "plot_statistics": True,
                "olitirs8_collection_2_l1": {"inputs": L1TP[:1], "products": ["l1", "stats"]},
                "olitirs8_collection_2_l2": None,
            },
            ["You must request valid products for statistics: ['aq_refl']"],
        ),
    ],
)
def test_validation_errors(api, changes, messages):
    assert validation_errors(api.post("order", order_body(**changes))) == messages


def test_more_than_5000_inputs(api):
    ids = [f"LC08_L2SP_{i // 1000:03d}{i % 1000:03d}_20230517_20230524_02_T1" for i in range(5001)]
    messages = validation_errors(
        api.post("order", order_body(olitirs8_collection_2_l2={"inputs": ids, "products": ["l1"]}))
    )
    assert messages == [
        "Single sensor input count exceeds maximum of 5000 in olitirs8_collection_2_l2.inputs",
        "Order exceeds maximum allowable inputs of 5000",
    ]
    # two sensors: each under the per-sensor limit, together over the order limit
    body = order_body(
        olitirs8_collection_2_l2={"inputs": ids[:3000], "products": ["l1"]},
        olitirs9_collection_2_l2={"inputs": [i.replace("LC08", "LC09") for i in ids[:2001]], "products": ["l1"]},
    )
    assert validation_errors(api.post("order", body)) == ["Order exceeds maximum allowable inputs of 5000"]


def test_plot_statistics_adds_stats_and_a_plot_item(api):
    orderid = api.order(L2SP[:2], ["sr_ndvi"], plot_statistics=True)
    opts = api.get(f"order/{orderid}").json()["product_opts"]
    assert opts["olitirs8_collection_2_l2"]["products"] == ["sr_ndvi", "stats"]
    assert [i["name"] for i in api.items(orderid)] == [*L2SP[:2], "plot"]


# -- order life ----------------------------------------------------------------------------------------------


def follow(emu, api, orderid, steps):
    """Statuses of every item after each step of the clock."""
    seen = {name: [status] for name, status in api.statuses(orderid).items()}
    for _ in range(steps):
        emu.clock.advance(seconds=STEP)
        for name, status in api.statuses(orderid).items():
            if seen[name][-1] != status:
                seen[name].append(status)
    return seen


def test_items_move_through_the_real_states(emu, api):
    orderid = api.order(L2SP[:12])
    paths = follow(emu, api, orderid, 6)
    assert all(path in (NORMAL, STAGED) for path in paths.values()), paths
    assert api.status(orderid) == "complete"
    order = api.get(f"order/{orderid}").json()
    completions = [i["completion_date"] for i in api.items(orderid)]
    assert all(DATE.match(c) for c in completions) and order["completion_date"] == max(completions)
    for item in api.items(orderid):
        assert item["product_dload_url"].startswith(f"{emu.url}/orders/{orderid}/")
        assert item["product_dload_url"].endswith(".tar.gz")
        assert item["cksum_download_url"] == item["product_dload_url"][: -len(".tar.gz")] + ".md5"


def test_error_items_keep_the_order_open(emu, api):
    emu.options.error_rate = 1.0
    orderid = api.order(L2SP[:2])
    paths = follow(emu, api, orderid, 8)
    assert all(p[-2:] == ["processing", "error"] for p in paths.values())
    assert {i["note"] for i in api.items(orderid)} == {
        "Error processing the product (emulated failure); contact USGS User Services"
    }
    emu.clock.advance(days=30)
    assert api.status(orderid) == "ordered"  # ESPA completes an order only when items are complete or unavailable
    assert api.get("info/backlog").json() == 0  # an error is not an open unit


def test_retry_items_go_back_and_complete(emu, api):
    emu.options.retry_rate = 1.0
    orderid = api.order(L2SP[:2])
    paths = follow(emu, api, orderid, 12)
    for path in paths.values():
        retry = path.index("retry")
        assert path[retry - 1] == "processing" and path[retry + 1] == "submitted" and path[-1] == "complete"
    assert api.status(orderid) == "complete"


def test_unavailable_items(emu, api):
    emu.options.unavailable_rate = 1.0
    orderid = api.order(L2SP[:2])
    assert set(api.statuses(orderid).values()) == {"submitted"}
    emu.clock.advance(seconds=STEP)
    assert {(i["status"], i["note"]) for i in api.items(orderid)} == {
        ("unavailable", "Input not available for processing")
    }
    assert api.status(orderid) == "complete"  # unavailable items count as done


def test_unavailable_share_and_inputs_the_archive_lacks(emu, api):
    emu.options.unavailable_rate = 0.5
    orderid = api.order([*L2SP[:24], NOT_IN_ARCHIVE])
    emu.clock.advance(seconds=STEP * 6)
    items = {i["name"]: i for i in api.items(orderid)}
    assert (items[NOT_IN_ARCHIVE]["status"], items[NOT_IN_ARCHIVE]["note"]) == (
        "unavailable",
        "Input not found in archive",
    )
    outcomes = [items[name]["status"] for name in L2SP[:24]]
    assert set(outcomes) == {"complete", "unavailable"}  # a share, not all or none


def test_et_on_l2sr_and_level1_inputs_are_unavailable(emu, api):
    sensor = {"LC08": "olitirs8_collection_2_l2", "LC09": "olitirs9_collection_2_l2"}[L2SR[0][:4]]
    orderid = api.order(L2SR[:1], ["et"], sensor=sensor)
    level1 = api.order(L1TP[:1], ["l1"], sensor="olitirs8_collection_2_l1")
    emu.clock.advance(seconds=STEP)
    (item,) = api.items(orderid)
    assert (item["status"], item["note"]) == ("unavailable", "et requires surface temperature; L2SR inputs have none")
    assert api.items(level1)[0]["status"] == "unavailable"


def test_purge_blanks_items_and_withdraws_files(emu, api):
    emu.options.purge_days = 1
    orderid = api.order(L2SP[:1])
    emu.clock.advance(seconds=STEP * 6)
    (item,) = api.items(orderid)
    assert item["status"] == "complete"
    emu.clock.advance(hours=23)
    assert api.status(orderid) == "complete"
    emu.clock.advance(hours=2)
    assert api.status(orderid) == "purged"
    assert api.items(orderid) == [
        {
            "name": L2SP[0],
            "status": "purged",
            "note": "",
            "completion_date": "",
            "product_dload_url": "",
            "cksum_download_url": "",
        }
    ]
    assert api.get(f"order/{orderid}").json()["completion_date"] != ""
    assert requests.get(item["product_dload_url"]).status_code == 404
    assert api.get("list-orders", {"status": ["complete", "ordered"]}).json() == []


# -- cancelling ------------------------------------------------------------------------------------------------


def test_cancel(emu, api):
    orderid = api.order(L2SP[:2])
    response = api.put("order", {"orderid": orderid, "status": "cancelled"})
    assert (response.status_code, response.json()) == (202, {"orderid": orderid, "status": "cancelled"})
    assert api.status(orderid) == "cancelled"
    assert {(i["status"], i["note"]) for i in api.items(orderid)} == {("cancelled", "Cancelled")}
    response = api.put("order", {"orderid": orderid, "status": "cancelled"})
    assert (response.status_code, response.json()) == (
        400,
        {"messages": {"errors": [f'Order {orderid} is already in a "cancelled" state']}},
    )
    emu.clock.advance(seconds=STEP * 10)
    assert set(api.statuses(orderid).values()) == {"cancelled"}


def test_cancel_lets_running_items_finish_first(emu, api):
    orderid = api.order(L2SP[:8])
    emu.clock.advance(seconds=STEP * 2.5)  # tasked, or still oncache for staged inputs
    before = api.statuses(orderid)
    assert api.put("order", {"orderid": orderid, "status": "cancelled"}).status_code == 202
    running = [n for n, s in before.items() if s in ("tasked", "processing")]
    assert running
    after = api.statuses(orderid)
    assert all(after[n] == before[n] for n in running) and all(
        after[n] == "cancelled" for n in before if n not in running
    )
    emu.clock.advance(seconds=STEP * 3)
    assert set(api.statuses(orderid).values()) == {"cancelled"}
    assert all(i["product_dload_url"] == "" for i in api.items(orderid))


def test_cancel_rules(emu, api):
    done = api.order(L2SP[:1])
    emu.clock.advance(seconds=STEP * 6)
    response = api.put("order", {"orderid": done, "status": "cancelled"})
    assert (response.status_code, response.json()) == (
        400,
        {"messages": {"errors": [f'Order {done} is already in a "complete" state']}},
    )
    theirs = Api(emu, auth=("other", "other-password")).order(L2SP[:1])
    response = api.put("order", {"orderid": theirs, "status": "cancelled"})
    assert (response.status_code, response.json()) == (
        403,
        {"messages": {"errors": [f"User demo is not allowed to cancel order {theirs}"]}},
    )
    for body, message in (
        ({"status": "cancelled"}, "No orderid supplied"),
        (None, "No orderid supplied"),
        ({"orderid": theirs, "status": "complete"}, "Invalid status supplied"),
    ):
        response = api.put("order", body)
        assert (response.status_code, response.json()) == (400, {"messages": {"errors": [message]}})
    response = api.put("order", {"orderid": "espa-nobody", "status": "cancelled"})
    assert (response.status_code, response.json()) == (200, {"messages": {"warnings": ["No results found."]}})


def test_open_unit_limit(emu, api):
    emu.options.open_unit_limit = 3
    api.order(L2SP[:2])
    response = api.post("order", order_body(olitirs8_collection_2_l2={"inputs": L2SP[2:4], "products": ["l1"]}))
    assert (response.status_code, response.json()) == (
        400,
        {
            "messages": {
                "errors": ["Order will exceed open scene limit of 3, please reduce number of ordered scenes by 1"]
            }
        },
    )
    assert api.post("order", order_body()).status_code == 201  # 2 + 1 fits
    emu.clock.advance(seconds=STEP * 6)  # everything completed: no open unit left
    assert (
        api.post("order", order_body(olitirs8_collection_2_l2={"inputs": L2SP[2:5], "products": ["l1"]})).status_code
        == 201
    )


# -- listing -------------------------------------------------------------------------------------------------------


def test_list_orders_and_filters(emu, api):
    assert api.get("list-orders").json() == []
    first = api.order(L2SP[:1])
    emu.clock.advance(seconds=STEP * 6)
    second = api.order(L2SP[1:2])
    third = api.order(L2SP[2:3])
    api.put("order", {"orderid": third, "status": "cancelled"})
    theirs = Api(emu, auth=("other", "other-password")).order(L2SP[:1])
    assert api.get("list-orders").json() == [third, second, first]  # newest first, own orders only
    assert api.get("list-orders/").json() == [third, second, first]
    assert api.get("list-orders", {"status": "complete"}).json() == [first]
    assert api.get("list-orders", {"status": ["complete", "ordered"]}).json() == [second, first]
    assert api.get("list-orders", {"status": "ordered", "whatever": 1}).json() == [second]
    assert api.get("list-orders/other@example.com").json() == [theirs]
    assert api.get("list-orders/other", {"status": "complete"}).json() == []
    response = api.get("list-orders/ghost@example.com")
    assert (response.status_code, response.json()) == (
        200,
        {"messages": {"warnings": ["Username/email ghost@example.com not found"]}},
    )
    assert api.get("list-orders", ["complete"]).status_code == 400


def test_item_status_filters(emu, api):
    emu.options.unavailable_rate = 0.0
    orderid = api.order([*L2SP[:2], NOT_IN_ARCHIVE])
    emu.clock.advance(seconds=STEP * 6)
    assert [i["name"] for i in api.items(orderid, {"status": "complete"})] == L2SP[:2]
    assert [i["name"] for i in api.items(orderid, {"status": ["unavailable"]})] == [NOT_IN_ARCHIVE]
    assert [i["name"] for i in api.items(orderid, {"name": L2SP[1]})] == [L2SP[1]]
    assert [i["name"] for i in api.get(f"item-status/{orderid}/{L2SP[0]}").json()[orderid]] == [L2SP[0]]
    assert api.get(f"item-status/{orderid}/LC08_NOPE").json() == {orderid: []}
    assert api.get("item-status/espa-nobody").json() == {}
    every = api.get("item-status").json()
    assert list(every) == [orderid] and len(every[orderid]) == 3
    response = api.get(f"item-status/{orderid}", ["complete"])
    assert (response.status_code, response.json()) == (400, {"messages": {"errors": ["Invalid filters supplied"]}})


def test_unknown_order_ids(api):
    for path in ("order/espa-nobody", "order-status/espa-nobody"):
        response = api.get(path)
        assert (response.status_code, response.json()) == (200, {"messages": {"warnings": ["No results found."]}})
    response = api.get("order")
    assert (response.status_code, response.json()) == (400, {"messages": {"errors": ["No orderid supplied"]}})


def test_v0_routes_behave_like_v1(emu):
    v0 = Api(emu, "v0")
    assert v0.get("available-products", {"inputs": L2SP[:1]}).json() == {
        "olitirs8_collection_2_l2": {"products": L2_PRODUCTS, "inputs": L2SP[:1]}
    }
    orderid = v0.order(L2SP[:1], ["et"])
    assert v0.get("list-orders").json() == [orderid] == Api(emu).get("list-orders").json()
    emu.clock.advance(seconds=STEP * 6)
    assert v0.status(orderid) == "complete" and v0.items(orderid)[0]["status"] == "complete"
    assert v0.post("available-products", {"inputs": ["x"]}).status_code == 405
    assert v0.put("order", {"orderid": orderid, "status": "cancelled"}).status_code == 400


# -- product files ---------------------------------------------------------------------------------------------


def test_completed_items_serve_espa_tarballs_with_matching_md5(emu, api):
    orderid = api.order([L2SP[0], far_east_scene()], ["l1", "sr_ndvi"])
    emu.clock.advance(seconds=STEP * 6)
    item, far_east = api.items(orderid)
    with tarfile.open(fileobj=io.BytesIO(requests.get(far_east["product_dload_url"]).content), mode="r:gz") as tar:
        assert f"{far_east['name']}_SR_NDVI.tif" in tar.getnames()
    url = item["product_dload_url"]
    name = url.rsplit("/", 1)[1]
    completed = dt.datetime.strptime(item["completion_date"], "%Y-%m-%d %H:%M:%S.%f")
    pid = item["name"]
    assert name == f"{pid[:4]}{pid[10:16]}{pid[17:25]}02{pid[-2:]}-SC{completed:%Y%m%d%H%M%S}.tar.gz"
    data = requests.get(url).content
    assert data[:2] == b"\x1f\x8b"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getnames()
    assert f"{pid}_SR_NDVI.tif" in members and f"{pid}_SR_B4.tif" in members and f"{pid}_MTL.txt" in members
    assert all("/" not in m for m in members)
    md5 = requests.get(item["cksum_download_url"]).text
    assert md5 == f"{hashlib.md5(data).hexdigest()} {name}"
    head = requests.head(url)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)


def test_plot_item_delivers_the_statistics_tarball(emu, api):
    orderid = api.order(L2SP[:2], ["sr_ndvi"], plot_statistics=True)
    emu.clock.advance(seconds=STEP * 4.5)
    statuses = api.statuses(orderid)
    if set(statuses[n] for n in L2SP[:2]) == {"complete"}:  # both scenes went the short way
        assert statuses["plot"] == "processing"
    emu.clock.advance(seconds=STEP * 2)
    plot = api.items(orderid)[-1]
    assert plot["status"] == "complete" and api.status(orderid) == "complete"
    assert plot["product_dload_url"] == f"{emu.url}/orders/{orderid}/{orderid}-statistics.tar.gz"
    data = requests.get(plot["product_dload_url"]).content
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
        csv_text = tar.extractfile("stats/sr_ndvi_stats.csv").read().decode()
    assert csv_text.splitlines()[0] == "FILENAME,MINIMUM,MAXIMUM,MEAN,STDDEV,VALID_FRACTION"
    assert len(csv_text.splitlines()) == 3
    assert (
        requests.get(plot["cksum_download_url"]).text == f"{hashlib.md5(data).hexdigest()} {orderid}-statistics.tar.gz"
    )
