"""The emulator's M2M API at the wire level, against the contract in shared/docs/m2m-api.md."""

import base64
import json
import threading

import requests

from lsru_geo.emulator import Emulator

JAN_2018 = {"start": "2018-01-01", "end": "2018-01-31"}
BRUSSELS_POINT = {
    "filterType": "mbr",
    "lowerLeft": {"latitude": 50.85, "longitude": 4.38},
    "upperRight": {"latitude": 50.85, "longitude": 4.38},
}


def call(api, endpoint, key=None, body=None, method="POST"):
    response = requests.request(
        method,
        api + endpoint,
        headers={"X-Auth-Token": key} if key else {},
        data=json.dumps(body) if body is not None else None,
    )
    return response.status_code, response.json()


def test_login_token_envelope_and_key_shape(api):
    response = requests.post(api + "login-token", data=json.dumps({"username": "demo", "token": "demo-token"}))
    body = response.json()
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert set(body) == {"requestId", "version", "sessionId", "data", "errorCode", "errorMessage"}
    assert body["version"] == "stable" and body["errorCode"] is None and isinstance(body["requestId"], int)
    claims = json.loads(base64.b64decode(body["data"][: body["data"].index("=") + 1]))
    assert claims["cid"] == 821389 and claims["p"] == ["download", "order"]


def test_login_errors(api):
    assert call(api, "login-token", body={"username": "demo", "token": "wrong"})[1]["errorCode"] == "AUTH_INVALID"
    status, body = call(api, "login-token", body={"username": "demo", "token": "demo-token"}, method="GET")
    assert status == 200 and body["errorCode"] == "INPUT_INVALID" and body["data"] is None
    for endpoint in ("login", "no-such-endpoint"):
        status, body = call(api, endpoint, body={"username": "demo", "password": "x"})
        assert (status, body["errorCode"], body["errorMessage"]) == (200, "NOT_FOUND", "Invalid Endpoint")


def test_key_required_and_checked(api):
    assert call(api, "permissions")[1]["errorCode"] == "AUTH_KEY_INVALID"
    assert call(api, "permissions", key="bogus")[1]["errorCode"] == "AUTH_KEY_INVALID"


def test_get_with_body_works_and_unknown_parameters_are_ignored(api, key):
    body = {
        "datasetName": "LANDSAT_OT_C2_L2",
        "metadata_type": "full",
        "whatever": [1, 2],
        "sceneFilter": {"spatialFilter": BRUSSELS_POINT, "acquisitionFilter": JAN_2018},
    }
    status, answer = call(api, "scene-search", key, body, method="GET")
    data = answer["data"]
    assert status == 200 and data["totalHits"] == 6
    assert all(scene["metadata"] == [] for scene in data["results"])  # misspelled metadataType: silently ignored


def test_scene_record_fidelity(api, key):
    body = {
        "datasetName": "landsat_ot_c2_l2",
        "metadataType": "summary",
        "maxResults": 10,
        "sceneFilter": {"spatialFilter": BRUSSELS_POINT, "acquisitionFilter": JAN_2018},
    }
    scene = call(api, "scene-search", key, body)[1]["data"]["results"][0]
    assert list(scene) == [
        "browse",
        "cloudCover",
        "entityId",
        "displayId",
        "orderingId",
        "metadata",
        "hasCustomizedMetadata",
        "options",
        "selected",
        "spatialBounds",
        "spatialCoverage",
        "temporalCoverage",
        "publishDate",
    ]
    assert isinstance(scene["cloudCover"], str) and len(scene["cloudCover"].split(".")[1]) == 2
    assert scene["displayId"] == "LC08_L2SP_198025_20180131_20201116_02_T2"
    assert scene["entityId"] == "LC81980252018031LGN00"  # the real entity id of this scene
    assert scene["publishDate"] == "Unknown" and scene["orderingId"] is None
    assert list(scene["temporalCoverage"]) == ["endDate", "startDate"]
    assert scene["temporalCoverage"]["startDate"] == "2018-01-31 00:00:00"
    ring = scene["spatialCoverage"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1]
    assert "L1TP" in scene["browse"][0]["browsePath"] or "L1GT" in scene["browse"][0]["browsePath"]
    assert [f["fieldName"] for f in scene["metadata"]][:2] == [
        "Landsat Product Identifier L2",
        "Landsat Product Identifier L1",
    ]
    assert scene["metadata"][5]["value"] == " 198"  # padded, as USGS sends them


def test_slashes_are_escaped_like_usgs(api, key):
    text = requests.post(
        api + "scene-search",
        headers={"X-Auth-Token": key},
        json={
            "datasetName": "landsat_ot_c2_l2",
            "maxResults": 1,
            "sceneFilter": {"spatialFilter": BRUSSELS_POINT, "acquisitionFilter": JAN_2018},
        },
    ).text
    assert "https:\\/\\/" in text


def test_paging_next_record_rule(api, key):
    base = {
        "datasetName": "landsat_ot_c2_l2",
        "sceneFilter": {"spatialFilter": BRUSSELS_POINT, "acquisitionFilter": JAN_2018},
    }
    first = call(api, "scene-search", key, {**base, "maxResults": 4})[1]["data"]
    last = call(api, "scene-search", key, {**base, "maxResults": 4, "startingNumber": 5})[1]["data"]
    assert (first["recordsReturned"], first["nextRecord"], first["totalHits"]) == (4, 5, 6)
    assert (last["recordsReturned"], last["nextRecord"], last["startingNumber"]) == (2, 6, 5)  # nextRecord == totalHits
    assert first["totalHitsAccuracy"] == "exact"
    ids = [s["displayId"] for s in first["results"] + last["results"]]
    assert len(set(ids)) == 6
    empty = call(
        api,
        "scene-search",
        key,
        {**base, "sceneFilter": {"acquisitionFilter": {"start": "1950-01-01", "end": "1950-12-31"}}},
    )[1]["data"]
    assert (empty["results"], empty["recordsReturned"], empty["totalHits"], empty["nextRecord"]) == ([], 0, 0, 0)


def test_default_page_size_is_100_and_cap_50000(api, key):
    data = call(
        api,
        "scene-search",
        key,
        {
            "datasetName": "landsat_ot_c2_l2",
            "sceneFilter": {"acquisitionFilter": {"start": "2023-01-01", "end": "2023-01-02"}},
        },
    )[1]["data"]
    assert data["recordsReturned"] == 100 and data["totalHits"] > 100


def test_geojson_filters_nested_and_coordinate_objects(api, key):
    ring = [[4.3, 50.8], [4.5, 50.8], [4.5, 50.9], [4.3, 50.8]]
    nested = {"filterType": "geojson", "geoJson": {"type": "Polygon", "coordinates": [ring]}}
    flat = {
        "filterType": "geoJson",
        "geoJson": {"type": "Polygon", "coordinates": [{"longitude": x, "latitude": y} for x, y in ring]},
    }
    results = []
    for spatial in (nested, flat):
        data = call(
            api,
            "scene-search",
            key,
            {
                "datasetName": "landsat_ot_c2_l2",
                "sceneFilter": {"spatialFilter": spatial, "acquisitionFilter": JAN_2018},
            },
        )[1]["data"]
        results.append(sorted(s["displayId"] for s in data["results"]))
    assert results[0] == results[1] and len(results[0]) >= 6


def test_mbr_box_and_sort_direction(api, key):
    body = {
        "datasetName": "landsat_ot_c2_l2",
        "maxResults": 1000,
        "sceneFilter": {
            "spatialFilter": {
                "filterType": "mbr",
                "lowerLeft": {"latitude": 40, "longitude": -120},
                "upperRight": {"latitude": 50, "longitude": -100},
            },
            "acquisitionFilter": JAN_2018,
        },
    }
    desc = call(api, "scene-search", key, body)[1]["data"]["results"]
    asc = call(api, "scene-search", key, {**body, "sortDirection": "ASC"})[1]["data"]["results"]
    assert [s["displayId"] for s in desc] == [s["displayId"] for s in asc][::-1]
    dates = [s["temporalCoverage"]["startDate"] for s in desc]
    assert dates == sorted(dates, reverse=True)


def test_cloud_filter_and_unknown_cover(api, key):
    base = {
        "datasetName": "landsat_ot_c2_l2",
        "maxResults": 50000,
        "sceneFilter": {"acquisitionFilter": {"start": "2022-06-01", "end": "2022-06-10"}},
    }
    everything = call(api, "scene-search", key, base)[1]["data"]["results"]
    unknown = [s for s in everything if s["cloudCover"] == "-1.00"]
    assert unknown, "the catalogue has a few scenes without a cloud score"
    for include in (False, True):
        body = {
            **base,
            "sceneFilter": {
                **base["sceneFilter"],
                "cloudCoverFilter": {"min": 10, "max": 20, "includeUnknown": include},
            },
        }
        got = call(api, "scene-search", key, body)[1]["data"]["results"]
        known = [s for s in got if s["cloudCover"] != "-1.00"]
        assert all(10 <= float(s["cloudCover"]) <= 20 for s in known)
        assert len(got) - len(known) == (len(unknown) if include else 0)


def test_seasonal_filter(api, key):
    body = {
        "datasetName": "landsat_tm_c2_l2",
        "maxResults": 5000,
        "sceneFilter": {
            "spatialFilter": BRUSSELS_POINT,
            "seasonalFilter": [12, 1],
            "acquisitionFilter": {"start": "2000-01-01", "end": "2003-12-31"},
        },
    }
    months = {
        s["temporalCoverage"]["startDate"][5:7] for s in call(api, "scene-search", key, body)[1]["data"]["results"]
    }
    assert months == {"12", "01"}
    _status, bad = call(api, "scene-search", key, {**body, "sceneFilter": {"seasonalFilter": [13]}})
    assert bad["errorCode"] == "INPUT_PARAMETER_INVALID"


def test_missions_respect_real_dates(api, key):
    def count(dataset, start, end):
        body = {
            "datasetName": dataset,
            "sceneFilter": {"spatialFilter": BRUSSELS_POINT, "acquisitionFilter": {"start": start, "end": end}},
        }
        return call(api, "scene-search", key, body)[1]["data"]["totalHits"]

    assert count("landsat_ot_c2_l2", "2012-01-01", "2013-04-10") == 0
    assert count("landsat_ot_c2_l2", "2013-04-11", "2013-06-30") > 0
    assert count("landsat_tm_c2_l2", "2012-01-01", "2012-12-31") == 0  # Landsat 5 TM stopped in November 2011
    assert count("landsat_etm_c2_l2", "1999-01-01", "1999-05-27") == 0


def test_antimeridian_footprints_are_split(api, key):
    body = {
        "datasetName": "landsat_ot_c2_l2",
        "maxResults": 200,
        "sceneFilter": {
            "spatialFilter": {
                "filterType": "mbr",
                "lowerLeft": {"latitude": -20, "longitude": 179.5},
                "upperRight": {"latitude": -15, "longitude": 180},
            },
            "acquisitionFilter": {"start": "2020-01-01", "end": "2020-01-31"},
        },
    }
    results = call(api, "scene-search", key, body)[1]["data"]["results"]
    multi = [s for s in results if s["spatialCoverage"]["type"] == "MultiPolygon"]
    assert multi
    for scene in multi:
        xs = [x for part in scene["spatialCoverage"]["coordinates"] for x, _ in part[0]]
        assert max(xs) <= 180 and min(xs) >= -180 and 180 in xs and -180 in xs


def test_scene_metadata_dataset_and_misc(api, key):
    body = {
        "datasetName": "landsat_ot_c2_l2",
        "entityId": "LC08_L2SP_198025_20180131_20201116_02_T2",
        "idType": "displayId",
        "metadataType": "full",
    }
    scene = call(api, "scene-metadata", key, body)[1]["data"]
    assert scene["entityId"] == "LC81980252018031LGN00" and scene["orderingId"] == scene["entityId"]
    assert scene["selected"] is None and scene["hasCustomizedMetadata"] is False and len(scene["metadata"]) > 20
    same = call(api, "scene-metadata", key, {"datasetName": "landsat_ot_c2_l2", "entityId": "LC81980252018031LGN00"})[
        1
    ]["data"]
    assert same["displayId"] == scene["displayId"]
    missing = call(api, "scene-metadata", key, {**body, "entityId": "LC08_L2SP_198025_20180130_20201116_02_T2"})[1]
    assert missing["errorCode"] == "NOT_FOUND"
    assert call(api, "dataset", key, {"datasetName": "nonexistent"})[1]["data"] is None
    dataset = call(api, "dataset", key, {"datasetName": "landsat_ot_c2_l2"})[1]["data"]
    assert dataset["datasetId"] == "5e83d14f2fc39685" and dataset["collectionName"] == "Landsat 8-9 OLI/TIRS C2 L2"
    names = {d["datasetAlias"] for d in call(api, "dataset-search", key, {"datasetName": "c2_l2"})[1]["data"]}
    assert names == {"landsat_ot_c2_l2", "landsat_etm_c2_l2", "landsat_tm_c2_l2"}
    assert call(api, "scene-search", key, {"datasetName": "landsat_99"})[1]["errorCode"] == "DATASET_INVALID"
    assert call(api, "permissions", key)[1]["data"] == ["download", "order"]
    limits = call(api, "rate-limit-summary", key)[1]["data"]
    assert limits["initialLimits"][0]["recentDownloadCount"] == 15000


def test_malformed_json_body(api, key):
    response = requests.post(api + "scene-search", headers={"X-Auth-Token": key}, data=b"{not json")
    assert response.status_code == 200 and response.json()["errorCode"] == "INPUT_FORMAT"


def test_expiry_is_two_hours_sliding(emu, api, key):
    emu.clock.advance(hours=1.9)
    assert call(api, "permissions", key)[1]["errorCode"] is None
    emu.clock.advance(hours=1.9)
    assert call(api, "permissions", key)[1]["errorCode"] is None  # the first call restarted the two hours
    emu.clock.advance(hours=2, seconds=1)
    _status, body = call(api, "permissions", key)
    assert body == {
        "errorCode": "AUTH_EXPIRED",
        "errorMessage": "API key has expired due to inactivity",
        "data": None,
        "requestId": 0,
        "sessionId": None,
        "version": None,
    }


def test_logout_invalidates_the_key(api, key):
    assert call(api, "logout", key, None)[1]["data"] is None
    assert call(api, "permissions", key)[1]["errorCode"] == "AUTH_KEY_INVALID"


def test_one_request_at_a_time_per_user(emu, api, key):
    emu.faults.add("m2m", "permissions", "slow", seconds=0.5, times=1)
    answers = []
    slow = threading.Thread(target=lambda: answers.append(call(api, "permissions", key)[1]))
    slow.start()
    import time

    time.sleep(0.15)
    second = call(api, "dataset", key, {"datasetName": "landsat_ot_c2_l2"})[1]
    slow.join()
    assert second["errorCode"] == "RATE_LIMIT_USER" and second["data"] is None
    assert answers[0]["errorCode"] is None
    assert call(api, "dataset", key, {"datasetName": "landsat_ot_c2_l2"})[1]["errorCode"] is None  # free again


def test_catalogue_is_deterministic_across_emulators(api, key):
    body = {
        "datasetName": "landsat_etm_c2_l2",
        "maxResults": 500,
        "metadataType": "full",
        "sceneFilter": {
            "spatialFilter": BRUSSELS_POINT,
            "acquisitionFilter": {"start": "2005-01-01", "end": "2005-12-31"},
        },
    }
    here = call(api, "scene-search", key, body)[1]["data"]["results"]
    with Emulator() as other:
        there_api = other.m2m_url + "stable/"
        there_key = requests.post(there_api + "login-token", json={"username": "demo", "token": "demo-token"}).json()[
            "data"
        ]
        there = call(there_api, "scene-search", there_key, body)[1]["data"]["results"]
    strip = lambda scenes: [{k: v for k, v in s.items() if k != "browse"} for s in scenes]
    assert strip(here) == strip(there)
