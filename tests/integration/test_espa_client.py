"""Espa, Order and gdf.lsru.order against the emulator over real HTTP."""

import hashlib
import warnings

import pandas as pd
import pytest
import requests

from lsru_geo import (
    ApiError,
    AuthenticationError,
    Espa,
    InvalidInputError,
    NotFoundError,
    Order,
    OrderRejectedError,
    Usgs,
)
from lsru_geo.exceptions import LsruWarning, RenamedWarning

MONTPELLIER = (3.5, 43.4, 4.0, 44.0)


@pytest.fixture
def fast(emu, monkeypatch):
    """The emulator with an hour per ESPA state: orders progress only when a test advances the clock."""
    monkeypatch.setattr(emu.options, "processing_seconds", 3600)
    return emu


def finish(order, emu):
    emu.clock.advance(days=1)
    return order.wait(poll=0.01, timeout=10)


@pytest.fixture
def espa(fast):
    from conftest import FAST_RETRY

    client = Espa()
    client._session.http.retry = FAST_RETRY
    return client


@pytest.fixture
def scenes(fast):
    return Usgs().search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-06-01", end="2019-07-31")


def posts(emu):
    return [e for e in emu.log.select("espa", "order") if e.method in ("POST", "PUT")]


def test_life_cycle_from_a_dataframe_selection(espa, scenes, fast):
    chosen = scenes[scenes.cloud_cover < 60].head(3)
    order = chosen.lsru.order(products=["l1", "sr_ndvi"], espa=espa, note="life cycle")
    assert isinstance(order, Order) and order.status == "ordered"
    assert order.details["note"] == "life cycle"
    other = scenes.tail(2).lsru.order(products=["sr_nbr"], espa=espa)
    assert order in espa.orders and other in espa.orders
    assert other.cancel() == {"orderid": other.orderid, "status": "cancelled"}
    assert other.status == "cancelled"
    finish(order, fast)
    assert order.is_complete
    frame = order.items_frame()
    assert list(frame.name) == list(chosen.display_id) and (frame.status == "complete").all()
    assert pd.api.types.is_datetime64_any_dtype(frame.completion_date) and frame.completion_date.notna().all()
    urls = order.urls_completed
    assert len(urls) == 3 and all(url.endswith(".tar.gz") and f"/orders/{order.orderid}/" in url for url in urls)
    tarball = requests.get(urls[0]).content
    md5 = requests.get(urls[0][: -len(".tar.gz")] + ".md5").text
    assert md5 == f"{hashlib.md5(tarball).hexdigest()} {urls[0].rsplit('/', 1)[1]}"


def test_cancel_rules(espa, scenes, fast):
    order = scenes.head(1).lsru.order(products=["l1"], espa=espa)
    finish(order, fast)
    with pytest.raises(OrderRejectedError, match='already in a "complete" state'):
        order.cancel()


def test_collection_1_products_map_with_an_explanation(espa, scenes, fast):
    with pytest.warns(RenamedWarning) as caught:
        order = espa.order(list(scenes.display_id[:2]), products=["sr", "pixel_qa", "sr_ndvi"])
    messages = " ".join(str(w.message) for w in caught)
    assert "'sr' is a Collection 1 product" in messages and "'pixel_qa'" in messages
    options = order.details["product_opts"]
    assert options["olitirs8_collection_2_l2"]["products"] == ["l1", "sr_ndvi"]


def test_sensors_are_grouped_by_the_service_keys(espa, fast):
    usgs = Usgs()
    l8 = usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-06-01", end="2019-06-30").display_id[:2]
    l7 = usgs.search("landsat_etm_c2_l2", bbox=MONTPELLIER, begin="2010-06-01", end="2010-06-30").display_id[:2]
    l5 = usgs.search("landsat_tm_c2_l2", bbox=MONTPELLIER, begin="2005-06-01", end="2005-06-30").display_id[:1]
    order = espa.order(list(l8) + list(l7) + list(l5), products=["l1"])
    options = order.details["product_opts"]
    assert sorted(k for k in options if k.endswith("_l2")) == [
        "etm7_collection_2_l2",
        "olitirs8_collection_2_l2",
        "tm5_collection_2_l2",
    ]
    assert options["etm7_collection_2_l2"]["inputs"] == list(l7)


def test_verbose_prints_the_body_without_credentials(espa, scenes, capsys, fast):
    espa.order(
        list(scenes.display_id[:1]),
        products=["l1"],
        verbose=True,
        projection={"utm": {"zone": 31, "zone_ns": "north"}},
        resolution=60,
        extent=(3.6, 43.5, 3.9, 43.9),
    )
    printed = capsys.readouterr().out
    assert '"olitirs8_collection_2_l2"' in printed and '"zone": 31' in printed and '"pixel_size": 60.0' in printed
    assert '"north": 43.9' in printed
    assert "demo-password" not in printed and "demo-token" not in printed


def test_more_than_5000_inputs_are_split(espa, fast):
    ids = Usgs().search("landsat_ot_c2_l2", begin="2022-03-01", end="2022-03-04", max_results=5003).display_id
    assert len(ids) == 5003
    orders = espa.order(list(ids), products=["sr_ndvi"])
    assert isinstance(orders, list) and len(orders) == 2
    sizes = [
        sum(len(block["inputs"]) for key, block in o.details["product_opts"].items() if key.endswith("_l2"))
        for o in orders
    ]
    assert sizes == [5000, 3]


BAD_ORDERS = [
    ({"scene_list": []}, "empty"),
    ({"scene_list": "LC08_L2SP_196030_20190629_20210414_02_T1"}, "list of Landsat product ids"),
    ({"scene_list": ["LC08_L2SP_196030"]}, "not a Landsat product id"),
    ({"scene_list": ["LC81960302019180LGN00"]}, "pre-collection scene id"),
    ({"scene_list": ["LC08_L1TP_196030_20190629_20190706_01_T1"]}, "Collection 1 id"),
    ({"scene_list": ["LC08_L1TP_196030_20190629_20190630_02_RT"]}, "Real-Time"),
    ({"scene_list": ["LM05_L1TP_017039_19860131_20200825_02_T2"]}, "cannot be processed by ESPA"),
    ({"products": []}, "non-empty list of product codes"),
    ({"products": "l1"}, "non-empty list of product codes"),
    ({"products": ["aq_refl"]}, r"\['aq_refl'\] are not available for olitirs8_collection_2_l2"),
    ({"format": "jpeg"}, r"unknown format 'jpeg'; allowed: \['envi', 'gtiff', 'hdf-eos2', 'netcdf'\]"),
    ({"resampling": "lanczos"}, "unknown resampling 'lanczos'"),
    ({"projection": {"mercator": {}}}, "unknown projection 'mercator'"),
    ({"projection": {"utm": {"zone": 61, "zone_ns": "north"}}}, r"utm.zone=61 is outside 1..60"),
    ({"projection": {"utm": {"zone": 31}}}, "needs parameter 'zone_ns'"),
    ({"projection": {"utm": {"zone": 31, "zone_ns": "up"}}}, r"utm.zone_ns='up' is not one of \['north', 'south'\]"),
    (
        {
            "projection": {
                "ps": {"longitudinal_pole": 0, "latitude_true_scale": 30, "false_easting": 0, "false_northing": 0}
            }
        },
        "must fall between 60 and 90",
    ),
    ({"projection": {"utm": {"zone": 31, "zone_ns": "north"}, "lonlat": None}}, "exactly one of"),
    ({"extent": (3.6, 43.5, 3.9, 43.9)}, "extent requires a projection"),
    ({"extent": (3.9, 43.5, 3.6, 43.9), "projection": {"lonlat": None}}, "empty or reversed"),
    ({"extent": (3.6, 43.5, 3.9, 43.9), "projection": {"lonlat": None}, "extent_units": "km"}, "extent_units"),
    ({"resolution": 10}, r"resolution 10 must fall between 30.0 and 5000.0 meters"),
    ({"resolution": 30, "projection": {"lonlat": None}}, "between 0.0002695 and 0.0449155 dd"),
    ({"note": 42}, "note must be a string"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_ORDERS)
def test_bad_orders_are_refused_before_posting(espa, fast, changes, message):
    arguments = {"scene_list": ["LC08_L2SP_196030_20190629_20210414_02_T1"], "products": ["l1"], **changes}
    with pytest.raises(InvalidInputError, match=message):
        espa.order(**arguments)
    assert posts(fast) == []


def test_service_side_rejection_keeps_every_message(espa, scenes, fast, monkeypatch):
    monkeypatch.setattr(fast.options, "open_unit_limit", 2)
    with pytest.raises(OrderRejectedError, match="open scene limit") as info:
        espa.order(list(scenes.display_id[:3]), products=["l1"])
    assert info.value.status == 400 and info.value.errors


def test_date_restricted_inputs_are_dropped_with_a_warning(espa, fast):
    l7 = Usgs().search("landsat_etm_c2_l2", bbox=MONTPELLIER, begin="2016-05-25", end="2016-06-20").display_id
    restricted = [i for i in l7 if "20160531" <= i[17:25] <= "20160612"]
    allowed = [i for i in l7 if i not in restricted]
    assert restricted and allowed
    with pytest.warns(LsruWarning, match="restricted by date"):
        order = espa.order(list(l7), products=["sr_ndvi"])
    assert order.details["product_opts"]["etm7_collection_2_l2"]["inputs"] == allowed
    with pytest.warns(LsruWarning), pytest.raises(InvalidInputError, match="none of the inputs can be ordered"):
        espa.order(restricted, products=["sr_ndvi"])


def test_item_states_error_retry_unavailable(espa, scenes, fast, monkeypatch):
    outcomes = {}
    for rate in ("error_rate", "retry_rate", "unavailable_rate"):
        monkeypatch.setattr(fast.options, rate, 1.0)
        order = espa.order(list(scenes.display_id[:2]), products=["l1"])
        seen = set()
        for _ in range(24):
            seen |= set(order.items_frame().status)
            fast.clock.advance(hours=1)
        order.wait(poll=0.01, timeout=10)
        outcomes[rate] = (seen | set(order.items_frame().status), order.status, order.urls_completed)
        monkeypatch.setattr(fast.options, rate, 0.0)
    assert "error" in outcomes["error_rate"][0] and outcomes["error_rate"][2] == []
    assert (
        "retry" in outcomes["retry_rate"][0]
        and outcomes["retry_rate"][1] == "complete"
        and len(outcomes["retry_rate"][2]) == 2
    )
    assert "unavailable" in outcomes["unavailable_rate"][0] and outcomes["unavailable_rate"][1] == "complete"
    assert outcomes["unavailable_rate"][2] == []


def test_purge_blanks_urls(espa, scenes, fast):
    order = finish(espa.order(list(scenes.display_id[:1]), products=["l1"]), fast)
    url = order.urls_completed[0]
    fast.clock.advance(days=fast.options.purge_days + 1)
    assert order.status == "purged"
    assert order.urls_completed == [] and set(order.items_frame().status) == {"purged"}
    assert requests.get(url).status_code == 404


def test_wait_times_out(espa, scenes, fast):
    order = espa.order(list(scenes.display_id[:1]), products=["l1"])
    with pytest.raises(TimeoutError, match="0 of 1 items finished"):
        order.wait(poll=0.05, timeout=0.3)


def test_wait_rides_out_rate_limits_and_server_errors(espa, scenes, fast):
    order = espa.order(list(scenes.display_id[:1]), products=["l1"])
    fast.faults.add("espa", "item-status", "status", status=429, retry_after=0.05, times=2)
    fast.faults.add("espa", "item-status", "status", status=503, times=1)
    assert finish(order, fast).is_complete
    assert [e.status for e in fast.log.select("espa", "item-status")][:3] == [429, 429, 503]


def test_wrong_password(fast, monkeypatch):
    monkeypatch.setenv("LSRU_PASSWORD", "nope")
    with pytest.raises(AuthenticationError, match="Invalid username/password") as info:
        Espa().formats
    assert info.value.status == 401 and "nope" not in str(info.value)


def test_missing_password_is_a_config_error(fast, monkeypatch):
    monkeypatch.delenv("LSRU_PASSWORD")
    from lsru_geo import ConfigError

    with pytest.raises(ConfigError, match="missing password"):
        Espa()


def test_unknown_order_and_error_shapes(espa, fast):
    with pytest.raises(NotFoundError, match="No results found"):
        Order("espa-demo@example.com-01012020-000000-000").status
    with pytest.raises(NotFoundError, match="not found on the server"):
        espa._session.request("GET", "no-such-resource")
    with pytest.raises(ApiError, match="Invalid method. Try GET instead") as info:
        espa._session.request("POST", "available-products", {"inputs": ["LC08_L2SP_196030_20190629_20210414_02_T1"]})
    assert info.value.status == 405
    with pytest.raises(InvalidInputError):
        Order("")


def test_credentials_go_only_to_the_espa_host(espa, fast):
    session = espa._session.http.session
    prepared = session.prepare_request(requests.Request("GET", espa.host + "user"))
    assert prepared.headers["Authorization"].startswith("Basic ")
    elsewhere = session.prepare_request(requests.Request("GET", "http://localhost:1/file"))
    assert "Authorization" not in elsewhere.headers
    assert "demo-password" not in repr(espa) and "demo-password" not in repr(session.auth)


def test_user_and_schema_properties(espa, fast):
    assert espa.user["username"] == "demo"
    assert set(espa.resampling_methods) == {"nn", "bil", "cc"}
    assert espa.projections["utm"]["properties"]["zone"]["maximum"] == 60


def test_accessor_contract(scenes):
    assert hasattr(scenes, "lsru")
    assert not hasattr(pd.DataFrame({"x": [1]}), "lsru")
    with pytest.raises(AttributeError, match="display_id"):
        pd.DataFrame({"x": [1]}).lsru
