import json
import pathlib
import re

import numpy as np
import pytest
import shapely

from lsru_geo import ApiError, AuthenticationError, NotFoundError, RateLimitError, ServerError
from lsru_geo import _m2m_wire as wire
from lsru_geo._http import is_retryable
from lsru_geo._m2m_wire import COLUMNS, decode_scene_page, scene_search_payload, scenes_frame, snake_case, unwrap

SAMPLES = pathlib.Path(__file__).resolve().parents[3] / "shared" / "docs" / "samples" / "m2m"
URL = "https://m2m.cr.usgs.gov/api/api/json/stable/scene-search"


def envelope(data=None, code=None, message=None):
    return json.dumps(
        {"requestId": 1, "version": "stable", "data": data, "errorCode": code, "errorMessage": message}
    ).encode()


def test_data_is_returned():
    assert unwrap(envelope([1, 2]), 200, URL) == [1, 2]
    assert unwrap(envelope(None), 200, URL) is None  # unknown dataset on `dataset`: null data, no error


@pytest.mark.parametrize(
    ("code", "status", "kind", "retryable"),
    [
        ("AUTH_INVALID", 200, AuthenticationError, False),
        ("AUTH_EXPIRED", 200, AuthenticationError, False),
        ("AUTH_UNAUTHROIZED", 200, AuthenticationError, False),  # the service's own spelling
        ("UNAUTHORIZED_USER", 200, AuthenticationError, False),
        ("RATE_LIMIT_USER", 200, RateLimitError, True),
        ("RATE_LIMIT", 200, RateLimitError, True),
        ("NOT_FOUND", 200, NotFoundError, False),
        ("DATASET_INVALID", 200, ApiError, False),
        ("SERVER_ERROR", 200, ServerError, False),
        (None, 503, ServerError, True),
        (None, 502, ServerError, True),
        (None, 500, ServerError, False),
        (None, 429, RateLimitError, True),
        (None, 401, AuthenticationError, False),
    ],
)
def test_error_codes_first_then_status(code, status, kind, retryable):
    body = envelope(None, code, "the message") if code else b"<html>Service Unavailable</html>"
    with pytest.raises(kind) as info:
        unwrap(body, status, URL)
    assert type(info.value) is kind
    assert info.value.code == code and info.value.status == status and info.value.service == "m2m"
    assert is_retryable(info.value) is retryable


def test_message_kept_and_printed():
    with pytest.raises(AuthenticationError) as info:
        unwrap(envelope(None, "AUTH_INVALID", "User credential verification failed"), 200, URL)
    assert str(info.value) == "m2m (HTTP 200, AUTH_INVALID): User credential verification failed"


def test_download_rate_limit_is_not_waited_out():
    with pytest.raises(RateLimitError) as info:
        unwrap(envelope(None, "RATE_LIMIT_USER_DL", "too many"), 200, URL)
    assert info.value.retry_after > 900


def test_real_auth_expired_body():
    body = (SAMPLES / "issue_kapadia_usgs_59_AUTH_EXPIRED.response.json").read_bytes()
    with pytest.raises(AuthenticationError, match="expired due to inactivity") as info:
        unwrap(body, 200, URL)
    assert info.value.code == "AUTH_EXPIRED"


def test_non_json_success_is_an_error():
    with pytest.raises(ApiError, match="not an M2M JSON envelope"):
        unwrap(b"<html>maintenance</html>", 200, URL)


def test_payload_keeps_zero_cloud_and_sends_metadata_type():
    payload = scene_search_payload(
        "landsat_ot_c2_l2",
        spatial=None,
        begin=None,
        end=None,
        max_cloud_cover=0,
        months=[6],
        starting_number=1,
        max_results=10,
        metadata_type="summary",
    )
    assert payload["sceneFilter"]["cloudCoverFilter"] == {"min": 0, "max": 0, "includeUnknown": False}
    assert payload["sceneFilter"]["seasonalFilter"] == [6]
    assert payload["metadataType"] == "summary"
    payload = scene_search_payload(
        "x",
        spatial=None,
        begin=None,
        end=None,
        max_cloud_cover=100,
        months=None,
        starting_number=1,
        max_results=10,
        metadata_type="full",
    )
    assert payload["sceneFilter"] == {}


def test_frame_from_the_documented_scene_record():
    record = json.loads((SAMPLES / "docs_scene_metadata_landsat_ot_c2_l2.response.json").read_text())["data"]
    frame = scenes_frame([record], "landsat_ot_c2_l2", full_metadata=True)
    row = frame.iloc[0]
    assert list(frame.columns[: len(COLUMNS)]) == COLUMNS
    assert frame.crs.to_epsg() == 4326
    assert (row.display_id, row.entity_id) == ("LC08_L2SP_012025_20201231_20210308_02_T1", "LC80120252020366LGN00")
    assert (row.satellite, row.sensor, row.processing_level, row.path, row.row) == (8, "OLI_TIRS", "L2SP", 12, 25)
    assert str(row.acquired.date()) == "2020-12-31" and str(row.processed.date()) == "2021-03-08"
    assert row.cloud_cover == pytest.approx(41.90)
    assert row.collection == 2 and row.collection_category == "T1"
    assert row.geometry.equals(shapely.Polygon(record["spatialCoverage"]["coordinates"][0]))
    assert row.landsat_product_identifier_l1 == "LC08_L1TP_012025_20201231_20210308_02_T1"
    assert row.browse_url.startswith("https://landsatlook.usgs.gov/gen-browse?size=rrb")


def test_frame_types_unknown_cloud_and_multipolygons():
    ring = [[170.0, -10.0], [171.0, -10.0], [171.0, -9.0], [170.0, -9.0], [170.0, -10.0]]
    multi = {"type": "MultiPolygon", "coordinates": [[ring], [[[-180, 0], [-179, 0], [-179, 1], [-180, 0]]]]}
    records = [
        {
            "displayId": "LE07_L2SP_001001_20000101_20200901_02_T1",
            "entityId": "LE70010012000001EDC00",
            "cloudCover": "-1",
            "spatialCoverage": {"type": "Polygon", "coordinates": [ring]},
        },
        {
            "displayId": "LT05_L2SP_001001_20000101_20200901_02_T2",
            "entityId": "LT50010012000001XXX00",
            "cloudCover": 12,
            "spatialCoverage": multi,
        },
    ]
    frame = scenes_frame(records, "x")
    assert np.isnan(frame.cloud_cover[0]) and frame.cloud_cover[1] == 12.0
    assert list(frame.sensor) == ["ETM", "TM"]
    assert list(frame.geometry.geom_type) == ["Polygon", "MultiPolygon"]


def test_empty_frame_has_the_columns_and_dtypes():
    empty = scenes_frame([], "d")
    full = scenes_frame(
        [
            {
                "displayId": "LC08_L2SP_198025_20180131_20200902_02_T2",
                "entityId": "e",
                "cloudCover": "1.00",
                "spatialCoverage": None,
            }
        ],
        "d",
    )
    assert list(empty.columns) == COLUMNS and len(empty) == 0
    assert empty.dtypes.astype(str).to_dict() == full.dtypes.astype(str).to_dict()


def test_snake_case():
    assert snake_case(" Land Cloud Cover ") == "land_cloud_cover"
    assert snake_case("Nadir/Off Nadir") == "nadir_off_nadir"


def test_page_decoding_keeps_what_the_frame_needs_and_raises_errors():
    record = json.loads((SAMPLES / "docs_scene_metadata_landsat_ot_c2_l2.response.json").read_text())["data"]
    body = (
        json.dumps(
            {
                "requestId": 1,
                "data": {"results": [record], "totalHits": 7, "recordsReturned": 1, "nextRecord": 2},
                "errorCode": None,
                "errorMessage": None,
            }
        )
        .replace("/", "\\/")
        .encode()
    )
    page = decode_scene_page(body, 200, URL)
    assert page.totalHits == 7 and page.results[0].displayId == "LC08_L2SP_012025_20201231_20210308_02_T1"
    frame = scenes_frame(page.results, "landsat_ot_c2_l2")
    assert frame.browse_url[0].startswith("https://landsatlook")  # escaped slashes decoded
    with pytest.raises(RateLimitError):
        decode_scene_page(envelope(None, "RATE_LIMIT_USER", "one at a time"), 200, URL)
    with pytest.raises(ServerError):
        decode_scene_page(b"gateway timeout", 504, URL)


def test_irregular_polygons_take_the_general_path():
    six = [[0.0, 0.0], [1.0, 0.0], [2.0, 1.0], [1.0, 2.0], [0.0, 1.0], [0.0, 0.0]]
    five = [[10.0, 0.0], [11.0, 0.0], [11.0, 1.0], [10.0, 1.0], [10.0, 0.0]]
    records = [
        {"displayId": "x", "spatialCoverage": {"type": "Polygon", "coordinates": [six]}},
        {"displayId": "y", "spatialCoverage": {"type": "Polygon", "coordinates": [five]}},
        {"displayId": "z", "spatialCoverage": None},
    ]
    frame = scenes_frame(records, "d")
    assert frame.geometry[0].equals(shapely.Polygon(six)) and frame.geometry[1].equals(shapely.Polygon(five))
    assert frame.geometry[2] is None
    assert frame.satellite.isna().all() and frame.acquired.isna().all()  # not Landsat ids


def test_download_request_answers_give_the_accepted_ids_and_ready_urls():
    answer = {
        "availableDownloads": [{"downloadId": 7, "entityId": "E1", "url": "https://h/1"},
                               {"downloadId": 99, "entityId": "OTHER", "url": "https://h/other"}],  # not ours
        "preparingDownloads": [{"downloadId": 8, "entityId": "E2", "url": None}],
        "newRecords": {"7": "label", "8": "label"},
        "duplicateProducts": [{"downloadId": "9"}],
    }
    ids = wire.requested_download_ids(answer)
    assert ids == {7, 8, 9}
    assert wire.ready_urls(answer["availableDownloads"], ids, "download-request") == {"E1": "https://h/1"}
    assert wire.ready_urls(None, ids, "download-retrieve") == {}


@pytest.mark.parametrize(
    ("answer", "entries", "fragment"),
    [
        ([], None, "not an object"),
        ({"newRecords": {"abc": "label"}}, None, "'abc'"),
        ({"newRecords": ["7"]}, None, "malformed newRecords"),
        ({"duplicateProducts": [{"downloadId": None}]}, None, "not a number"),
        ({"newRecords": {"7": "l"}}, {"available": "x"}, "not a list"),
        ({"newRecords": {"7": "l"}}, [{"downloadId": 7, "url": "https://h/1"}], "without its entityId"),
        ({"newRecords": {"7": "l"}}, [{"downloadId": "seven", "url": "https://h/1", "entityId": "E"}], "'seven'"),
    ],
)
def test_malformed_download_answers_are_api_errors_naming_the_fault(answer, entries, fragment):
    with pytest.raises(ApiError, match=re.escape(fragment)):
        ids = wire.requested_download_ids(answer)
        wire.ready_urls(entries, ids, "download-retrieve")
