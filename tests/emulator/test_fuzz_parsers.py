"""The emulator's request parsers under malformed bodies: always a well-formed answer in the service's shape."""

import json

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode()),
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(body=bodies, endpoint=st.sampled_from(["scene-search", "scene-metadata", "dataset", "download-options", "download-request"]))
def test_m2m_answers_an_envelope(emulator, body, endpoint):
    api = emulator.m2m_url + "stable/"
    key = requests.post(api + "login-token", json={"username": "demo", "token": "demo-token"}).json()["data"]
    response = requests.post(api + endpoint, headers={"X-Auth-Token": key}, data=body, timeout=30)
    answer = response.json()
    assert response.status_code == 200 and "errorCode" in answer and "data" in answer
    assert answer["errorCode"] is None or isinstance(answer["errorMessage"], str)


@SETTINGS
@given(body=bodies, method_resource=st.sampled_from([("POST", "order"), ("GET", "available-products"), ("GET", "list-orders"),
                                                     ("GET", "item-status"), ("PUT", "order")]))
def test_espa_answers_json_messages(emulator, body, method_resource):
    method, resource = method_resource
    response = requests.request(method, emulator.espa_url + resource, auth=("demo", "demo-password"), data=body, timeout=30)
    assert response.status_code in (200, 201, 202, 400, 404, 405)
    answer = response.json()
    if response.status_code >= 400:
        assert isinstance(answer["messages"], dict) and ("errors" in answer["messages"] or "warnings" in answer["messages"])
