"""Shared fixtures: one emulator per test session, and clients pointed at it."""

from __future__ import annotations

import pytest

from lsru_geo._http import RetryPolicy
from lsru_geo.emulator import Emulator

FAST_RETRY = RetryPolicy(attempts=6, base=0.01, cap=0.05)


@pytest.fixture(scope="session")
def emulator():
    """The USGS/ESPA emulator on 127.0.0.1 for the whole session (tests may import it; the library may not)."""
    with Emulator() as server:
        yield server


@pytest.fixture
def emu(emulator, monkeypatch):
    """The session emulator, reset (no sessions, orders or faults), with LSRU_* pointing at it."""
    emulator.reset()
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(emulator.options.cache_dir))  # never read a developer's ~/.lsru
    yield emulator
    emulator.faults.clear()


@pytest.fixture
def usgs(emu, monkeypatch):
    """A logged-out ``Usgs`` client of the emulator, with quick retries (the documented default policy, shortened)."""
    from lsru_geo import Usgs
    from lsru_geo._http import HttpClient

    monkeypatch.setattr(HttpClient, "DEFAULT_RETRY", FAST_RETRY)
    return Usgs()


@pytest.fixture(autouse=True)
def _doctest_environment(request, doctest_namespace):
    """Doctests in lsru_geo run against the emulator, like the README examples."""
    if isinstance(request.node, pytest.DoctestItem):
        request.getfixturevalue("emu")


# `python -m` entry points run their command when imported; keep doctest collection away from them
collect_ignore = ["lsru_geo/__main__.py", "lsru_geo/emulator/__main__.py"]


@pytest.fixture
def api(emu):
    """The emulator's M2M ``stable`` root, for wire tests over plain HTTP (ESPA tests define their own ``api``)."""
    return emu.m2m_url + "stable/"


@pytest.fixture
def key(api):
    """An M2M API key from ``login-token`` with the emulator's demo credentials."""
    import requests

    return requests.post(api + "login-token", json={"username": "demo", "token": "demo-token"}).json()["data"]
