"""An ESPA order is placed once, whatever happens to the POST: retried when it surely failed, adopted when the
service created it but the answer was lost."""

import time

import pytest

from conftest import FAST_RETRY
from lsru_geo import Espa, ServerError, Usgs
from lsru_geo._http import HttpClient

MONTPELLIER = (3.5, 43.4, 4.0, 44.0)


@pytest.fixture
def ids(emu, monkeypatch):
    monkeypatch.setattr(HttpClient, "DEFAULT_RETRY", FAST_RETRY)
    monkeypatch.setattr(HttpClient, "DEFAULT_TIMEOUT", (5.0, 1.0))
    scenes = Usgs().search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-06-01", end="2019-06-30")
    return list(scenes.display_id[:2])


def posts(emu):
    return [(e.status, e.fault) for e in emu.log.select("espa", "order") if e.method == "POST"]


@pytest.mark.parametrize(
    ("fault", "expected_posts"),
    [
        ({"kind": "status", "status": 503}, [(503, "status"), (201, None)]),  # surely not placed: posted again
        ({"kind": "drop"}, [(0, "drop"), (201, None)]),  # closed before any work: posted again
        ({"kind": "drop", "after_bytes": 10}, [(201, "drop")]),  # placed, answer cut: adopted
        ({"kind": "delay", "seconds": 1.5}, [(201, "delay")]),  # placed, answer too late: adopted
    ],
)
def test_one_order_whatever_happens_to_the_post(emu, ids, fault, expected_posts):
    emu.faults.add("espa", "order", times=1, **fault)
    order = Espa().order(ids, ["l1"])
    if fault["kind"] == "delay":
        time.sleep(1.0)  # the held answer is logged when it is finally written
    assert list(emu.espa.book.orders) == [order.orderid]
    assert posts(emu) == expected_posts
    assert {item["name"] for item in order.items_status} == set(ids)


def test_a_post_that_keeps_failing_raises_and_places_nothing(emu, ids):
    emu.faults.add("espa", "order", "status", status=503, times=None)
    with pytest.raises(ServerError, match="503"):
        Espa().order(ids, ["l1"])
    assert emu.espa.book.orders == {} and len(posts(emu)) == FAST_RETRY.attempts
