"""Secrets never pickle: pickled secrets, configurations, clients, orders and dask graphs holding a client are
searched for the bytes of the token, the password and the API key. Unpickled clients read their credentials
again from their configuration, and say clearly when they cannot.
"""

from __future__ import annotations

import pickle

import cloudpickle
import dask
import pytest

from lsru_geo import Espa, Order, Usgs
from lsru_geo._config import load_config
from lsru_geo._secret import Secret
from lsru_geo.exceptions import ConfigError

ORDER_ID = "espa-demo@example.com-12072026-234819-392"


@pytest.fixture
def clients(emu):
    usgs = Usgs()
    usgs.login()
    espa = Espa()
    return {
        "Secret": Secret(emu.env()["LSRU_TOKEN"]),
        "Config": load_config(),
        "Usgs": usgs,
        "Espa": espa,
        "Order": Order(ORDER_ID),
        "Order of an Espa": Order(ORDER_ID, _session=espa._session),
    }


def secret_bytes(emu, usgs):
    env = emu.env()
    return {
        "token": env["LSRU_TOKEN"].encode(),
        "password": env["LSRU_PASSWORD"].encode(),
        "API key": usgs.key.reveal().encode(),
    }


def test_no_pickle_holds_a_secret(emu, clients):
    secrets = secret_bytes(emu, clients["Usgs"])
    usgs = clients["Usgs"]
    graph = dict(dask.delayed(lambda client, n: (client.USER, n))(usgs, 1).__dask_graph__())
    pickles = {
        f"{name} (protocol {protocol})": pickle.dumps(obj, protocol)
        for name, obj in clients.items()
        for protocol in (2, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL)
    }
    pickles.update({f"{name} (cloudpickle)": cloudpickle.dumps(obj) for name, obj in clients.items()})
    pickles["dask graph holding a Usgs"] = cloudpickle.dumps(graph)
    assert len(pickles) == 6 * 4 + 1
    found = [(what, kind) for what, data in pickles.items() for kind, value in secrets.items() if value in data]
    assert found == []
    # and the pickles are not empty shells: they do hold the user name and the URLs
    assert all(b"demo" in data for what, data in pickles.items() if not what.startswith(("Secret", "dask")))


def test_text_forms_of_clients_hold_no_secret(emu, clients):
    secrets = secret_bytes(emu, clients["Usgs"])
    texts = []
    for obj in clients.values():
        texts += [repr(obj), str(obj), str(getattr(obj, "__dict__", ""))]
        for inner in getattr(obj, "__dict__", {}).values():
            texts += [repr(inner), str(getattr(inner, "__dict__", ""))]
    for text in texts:
        assert not any(value.decode() in text for value in secrets.values()), text


def test_unpickled_clients_read_their_credentials_again(emu, clients):
    usgs = pickle.loads(pickle.dumps(clients["Usgs"]))
    assert usgs.key is None  # the API key stayed behind; a new login happens when needed
    scenes = usgs.search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4.0, 44.0), begin="2019-06-01", end="2019-06-30")
    assert len(scenes) > 0 and usgs.key
    espa = pickle.loads(pickle.dumps(clients["Espa"]))
    assert espa.user["username"] == "demo"
    order = pickle.loads(pickle.dumps(clients["Order"]))
    assert order.orderid == ORDER_ID and order.items_status == []  # basic auth rebuilt (else HTTP 401)


def test_unpickled_without_credentials_says_so(emu, clients, monkeypatch):
    data = pickle.dumps(clients["Usgs"]), pickle.dumps(clients["Espa"]), pickle.dumps(clients["Secret"])
    for name in ("LSRU_TOKEN", "LSRU_PASSWORD"):
        monkeypatch.delenv(name)
    usgs, espa, secret = (pickle.loads(d) for d in data)
    with pytest.raises(ConfigError, match="missing token"):
        usgs.login()
    with pytest.raises(ConfigError, match="credentials never are"):
        espa.user  # noqa: B018
    assert not secret and repr(secret) == "Secret(absent)"
    with pytest.raises(ConfigError, match="credentials never are"):
        secret.reveal()
