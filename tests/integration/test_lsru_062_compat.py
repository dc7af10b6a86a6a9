"""A third-party client, the unmodified lsru 0.6.2 (PyPI), against the emulator's ESPA API.

Only lsru's host is changed: ``_EspaBase.__init__`` hard-codes ``self.host = 'https://espa.cr.usgs.gov/api/v1'``
for every ``Espa`` and ``Order`` it creates, so the test wraps that constructor and points ``host`` at the
emulator. Credentials come from an lsru configuration file, as lsru reads them.
"""

import datetime as dt
import tarfile
import warnings

import numpy as np
import pytest

lsru = pytest.importorskip("lsru")

from lsru_geo.emulator import Emulator  # noqa: E402
from lsru_geo.emulator import _catalogue as cat  # noqa: E402

STEP = 5.0


def l2_ids(start, end, dataset="landsat_ot_c2_l2", cells=range(3000, 3040)):
    scenes = cat.generate(cat.DATASETS[dataset], np.array(list(cells)), start, end, dt.date.today())
    return [i for i in scenes.display_ids() if i[5:9] == "L2SP"]


SCENES = [i for i in l2_ids(dt.date(2022, 7, 1), dt.date(2022, 8, 31)) if i.startswith("LC08")][:3]
RESTRICTED = l2_ids(dt.date(2016, 5, 30), dt.date(2016, 6, 12), "landsat_etm_c2_l2", range(0, 20000, 700))[
    :1
]  # sr_* date-restricted
LE07 = l2_ids(dt.date(2016, 7, 1), dt.date(2016, 7, 31), "landsat_etm_c2_l2")[:1]


@pytest.fixture(scope="module")
def server():
    with Emulator(processing_seconds=STEP, raster_size=48) as emulator:
        yield emulator


@pytest.fixture
def conf(server, tmp_path, monkeypatch):
    """An lsru config file with the demo credentials, and lsru's ESPA host moved to the emulator."""
    server.reset()
    path = server.write_config(tmp_path / "lsru.conf")  # [usgs] username/password, what lsru reads
    original = lsru._EspaBase.__init__

    def init(self, conf):
        original(self, conf)
        self.host = f"{server.url}/api/v1"

    monkeypatch.setattr(lsru._EspaBase, "__init__", init)
    return str(path)


def test_lsru_places_lists_inspects_and_downloads(server, conf, tmp_path):
    espa = lsru.Espa(conf=conf)
    assert espa.user["username"] == "demo"
    assert "gtiff" in espa.formats["formats"] and "utm" in espa.projections
    assert espa.resampling_methods["resampling_methods"]["nn"] == "Nearest Neighbor"
    # lsru sends available-products as GET with a JSON body and drops not_implemented before ordering
    order = espa.order([*SCENES, "not_a_scene_id"], products=["l1"])
    assert isinstance(order, lsru.Order) and order.orderid.startswith("espa-demo@example.com-")
    assert order.status == "ordered" and not order.is_complete
    assert [o.orderid for o in espa.orders] == [order.orderid]
    items = order.items_status
    assert [i["name"] for i in items] == SCENES and {i["status"] for i in items} == {"submitted"}
    assert order.urls_completed == []

    server.clock.advance(seconds=STEP * 6)
    assert order.status == "complete" and order.is_complete
    urls = order.urls_completed
    assert len(urls) == 3 and all(
        u.startswith(f"{server.url}/orders/{order.orderid}/") and u.endswith(".tar.gz") for u in urls
    )
    order.download_all_complete(str(tmp_path))
    for url in urls:
        with tarfile.open(tmp_path / url.rsplit("/", 1)[1]) as tar:
            assert any(m.endswith("_SR_B4.tif") for m in tar.getnames())
    assert [o.orderid for o in espa.orders] == [order.orderid]  # lsru lists complete and ordered orders


def test_lsru_cancels_and_strips_date_restricted_scenes(server, conf):
    espa = lsru.Espa(conf=conf)
    kept = espa.order(SCENES[:1], products=["l1"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # lsru removes the scene that available-products reports under date_restricted for sr_ndvi
        second = espa.order([*SCENES[1:2], *LE07, *RESTRICTED], products=["sr_ndvi"])
    assert any("date restriction" in str(w.message) for w in caught)
    assert [i["name"] for i in second.items_status] == [*SCENES[1:2], *LE07]
    assert second.cancel() == {"orderid": second.orderid, "status": "cancelled"}
    assert second.status == "cancelled"
    assert {i["status"] for i in second.items_status} == {"cancelled"}
    assert [o.orderid for o in espa.orders] == [kept.orderid]  # lsru asks for complete and ordered only
