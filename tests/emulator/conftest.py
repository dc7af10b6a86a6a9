"""Fixtures of the emulator's M2M wire tests: the API root and a logged-in key, over plain HTTP."""

import pytest
import requests


@pytest.fixture
def api(emu):
    """The emulator's M2M ``stable`` root (test modules of other services define their own ``api``)."""
    return emu.m2m_url + "stable/"


@pytest.fixture
def key(api):
    """An API key from ``login-token`` with the emulator's demo credentials."""
    return requests.post(api + "login-token", json={"username": "demo", "token": "demo-token"}).json()["data"]
