import json

import pytest

from lsru_geo import ApiError, AuthenticationError, NotFoundError, OrderRejectedError, RateLimitError, ServerError
from lsru_geo._espa import Espa
from lsru_geo._espa_wire import flatten_messages, map_c1_products, parse, split_inputs
from lsru_geo.exceptions import LsruWarning

URL = "https://espa.cr.usgs.gov/api/v1/order"


def body(obj):
    return json.dumps(obj).encode()


def test_validation_errors_are_flattened():
    messages = [{"2 validation errors": ['Required field "format" is missing', "Unrecognized value 'x'"]}, "Plain"]
    assert flatten_messages(messages) == ['Required field "format" is missing', "Unrecognized value 'x'", "Plain"]
    with pytest.raises(OrderRejectedError) as info:
        parse(body({"messages": {"errors": messages}}), 400, URL)
    assert info.value.errors == flatten_messages(messages) and info.value.status == 400


@pytest.mark.parametrize(
    ("status", "payload", "kind", "text"),
    [
        (
            401,
            {"messages": {"errors": ["Invalid username/password"]}},
            AuthenticationError,
            "Invalid username/password",
        ),
        (403, {"messages": {"errors": ["Access Denied"]}}, AuthenticationError, "Access Denied"),
        (404, {"messages": {"errors": ["/api/v1/foo not found on the server"]}}, NotFoundError, "not found"),
        (405, {"messages": {"errors": ["Invalid method. Try GET instead"]}}, ApiError, "Try GET"),
        (429, None, RateLimitError, "HTTP 429"),
        (503, {"messages": {"warnings": ["ERS connection failed"]}}, ServerError, "ERS connection failed"),
        (
            200,
            {"msg": "there's been a problem retrieving your information. admins have been notified"},
            ServerError,
            "problem",
        ),
        (200, {"messages": {"warnings": ["No results found."]}}, NotFoundError, "No results found."),
    ],
)
def test_status_and_messages_to_errors(status, payload, kind, text):
    with pytest.raises(kind, match=text) as info:
        parse(body(payload) if payload is not None else b"", status, URL)
    assert type(info.value) is kind and info.value.service == "espa"


def test_success_bodies():
    assert parse(body({"orderid": "x", "status": "ordered"}), 201, URL) == {"orderid": "x", "status": "ordered"}
    assert parse(body(["a", "b"]), 200, URL) == ["a", "b"]
    with pytest.raises(ApiError, match="not JSON"):
        parse(b"<html>", 200, URL)


def test_collection_1_products():
    assert map_c1_products(["sr", "pixel_qa", "sr_ndvi"], level=2)[0] == ["l1", "sr_ndvi"]
    assert len(map_c1_products(["sr", "toa", "bt", "st"], level=2)[1]) == 4
    assert map_c1_products(["l1"], level=1) == (["l1"], [])


def test_split_inputs_keeps_at_most_5000_per_order():
    groups = {
        "olitirs8_collection_2_l2": [f"a{i}" for i in range(7000)],
        "etm7_collection_2_l2": [f"b{i}" for i in range(4000)],
    }
    orders = split_inputs(groups)
    assert [sum(map(len, o.values())) for o in orders] == [5000, 5000, 1000]
    assert [x for o in orders for x in o.get("olitirs8_collection_2_l2", [])] == groups["olitirs8_collection_2_l2"]
    assert orders[1] == {
        "olitirs8_collection_2_l2": groups["olitirs8_collection_2_l2"][5000:],
        "etm7_collection_2_l2": groups["etm7_collection_2_l2"][:3000],
    }


def test_plan_leaves_out_what_espa_cannot_process():
    available = {
        "olitirs8_collection_2_l2": {"products": ["l1", "sr_ndvi"], "inputs": ["A", "B"]},
        "not_implemented": ["LO08_L2SP_000000_20200101_20200101_02_T1"],
        "ordering_restricted": {"tm4_collection_2_l2": ["C"]},
    }
    with pytest.warns(LsruWarning) as caught:
        groups, wanted = Espa._plan(available, ["l1"])
    assert groups == {"olitirs8_collection_2_l2": ["A", "B"]} and wanted == {"olitirs8_collection_2_l2": ["l1"]}
    assert {"cannot process" in str(w.message) or "restricts" in str(w.message) for w in caught} == {True}
