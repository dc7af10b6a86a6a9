"""The Usgs client against the emulator over real HTTP."""

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from lsru_geo import AuthenticationError, InvalidInputError, Usgs, _m2m
from lsru_geo._m2m_wire import COLUMNS
from lsru_geo.exceptions import RenamedWarning

BRUSSELS = (4.38, 50.85, 4.38, 50.85)
MONTPELLIER = (3.5, 43.4, 4.0, 44.0)


def searches(emu):
    return emu.log.select("m2m", "scene-search")


def test_login_logout_and_key(usgs, emu):
    assert usgs.key is None and usgs.key_age is None
    assert usgs.login() is True
    assert usgs.key and usgs.key_dt.tzinfo is not None and usgs.key_age < dt.timedelta(seconds=5)
    assert usgs.key.reveal() not in repr(usgs) and usgs.key.reveal() not in str(vars(usgs))
    usgs.logout()
    assert usgs.key is None
    assert [e.endpoint for e in emu.log.select("m2m")] == ["login-token", "logout"]


def test_bad_token_raises_with_the_service_message(emu, monkeypatch):
    monkeypatch.setenv("LSRU_TOKEN", "not-the-token")
    with pytest.raises(AuthenticationError, match="User credential verification failed") as info:
        Usgs().login()
    assert info.value.code == "AUTH_INVALID"
    assert "not-the-token" not in str(info.value) and "not-the-token" not in repr(info.value)


def test_point_search_over_brussels_finds_the_six_real_scenes(usgs):
    scenes = usgs.search("landsat_ot_c2_l2", bbox=BRUSSELS, begin="2018-01-01", end="2018-01-31")
    # landsatxplore recorded exactly these six WRS-2 scenes for this query in 2021
    assert sorted(scenes.display_id.str[10:25]) == sorted(
        [
            "198025_20180131",
            "199024_20180122",
            "199025_20180122",
            "198025_20180115",
            "199024_20180106",
            "199025_20180106",
        ]
    )
    assert list(scenes.columns) == COLUMNS
    assert scenes.crs.to_epsg() == 4326
    assert scenes.geometry.contains(shapely.Point(4.38, 50.85)).all()
    assert scenes.attrs["total_hits"] == 6
    assert scenes.acquired.is_monotonic_decreasing


def test_bbox_dates_cloud_and_months(usgs):
    box = shapely.box(*MONTPELLIER)
    scenes = usgs.search(
        "landsat_ot_c2_l2",
        bbox=MONTPELLIER,
        begin=dt.date(2019, 1, 1),
        end=dt.datetime(2019, 12, 31),
        max_cloud_cover=35,
        months=[6, 7, 8],
    )
    assert len(scenes) > 5
    assert scenes.geometry.intersects(box).all()
    assert scenes.acquired.dt.month.isin([6, 7, 8]).all() and (scenes.acquired.dt.year == 2019).all()
    assert (scenes.cloud_cover <= 35).all() and scenes.cloud_cover.notna().all()
    everything = usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-01-01", end="2019-12-31")
    expected = everything[everything.acquired.dt.month.isin([6, 7, 8]) & (everything.cloud_cover <= 35)]
    assert sorted(scenes.display_id) == sorted(expected.display_id)


def test_zero_cloud_cover_is_a_filter_not_ignored(usgs):
    clear = usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2015-01-01", end="2020-12-31", max_cloud_cover=0)
    assert (clear.cloud_cover == 0).all()
    assert len(clear) < len(usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2015-01-01", end="2020-12-31"))


@pytest.mark.parametrize("form", ["shapely", "geojson", "feature", "geoseries_utm", "geodataframe"])
def test_aoi_forms_send_a_geojson_filter(usgs, emu, form):
    triangle = shapely.Polygon([(3.5, 43.4), (4.0, 43.4), (3.5, 44.0)])
    aoi = {
        "shapely": triangle,
        "geojson": shapely.geometry.mapping(triangle),
        "feature": {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(triangle)},
        "geoseries_utm": gpd.GeoSeries([triangle], crs=4326).to_crs(32631),
        "geodataframe": gpd.GeoDataFrame(geometry=[triangle], crs=4326),
    }[form]
    scenes = usgs.search("landsat_ot_c2_l2", aoi=aoi, begin="2020-06-01", end="2020-06-30")
    assert len(scenes) > 0
    assert scenes.geometry.intersects(triangle.buffer(1e-6)).all()
    by_box = usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2020-06-01", end="2020-06-30")
    assert set(scenes.display_id) <= set(by_box.display_id)


def test_paging_is_sequential_and_complete(usgs, emu, monkeypatch):
    whole = usgs.search("landsat_ot_c2_l2", bbox=(0, 40, 10, 50), begin="2021-01-01", end="2021-01-31")
    assert whole.attrs["total_hits"] == len(whole) > 20
    emu.log.clear()
    monkeypatch.setattr(_m2m, "PAGE_SIZE", 7)
    paged = usgs.search("landsat_ot_c2_l2", bbox=(0, 40, 10, 50), begin="2021-01-01", end="2021-01-31")
    pd.testing.assert_frame_equal(paged, whole)
    pages = searches(emu)
    assert len(pages) == -(-len(whole) // 7)
    assert all(a.time <= b.time for a, b in zip(pages, pages[1:], strict=False))


def test_max_results_and_starting_number(usgs, monkeypatch):
    whole = usgs.search("landsat_ot_c2_l2", bbox=(0, 40, 10, 50), begin="2021-01-01", end="2021-01-31")
    monkeypatch.setattr(_m2m, "PAGE_SIZE", 4)
    part = usgs.search(
        "landsat_ot_c2_l2", bbox=(0, 40, 10, 50), begin="2021-01-01", end="2021-01-31", starting_number=3, max_results=9
    )
    assert list(part.display_id) == list(whole.display_id[2:11])
    assert part.attrs["total_hits"] == len(whole)


def test_empty_result_keeps_columns(usgs):
    none = usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2010-01-01", end="2010-12-31")  # before Landsat 8
    assert len(none) == 0 and list(none.columns) == COLUMNS and none.crs.to_epsg() == 4326
    assert none.attrs["total_hits"] == 0


def test_full_metadata_columns(usgs):
    scenes = usgs.search("landsat_etm_c2_l2", bbox=MONTPELLIER, begin="2005-06-01", end="2005-06-30", metadata="full")
    assert len(scenes) > 0
    assert (scenes.wrs_path == scenes.path).all() and (scenes.wrs_row == scenes.row).all()
    assert scenes.sensor_identifier.eq("ETM").all()
    assert pd.api.types.is_float_dtype(scenes.land_cloud_cover)
    assert pd.api.types.is_datetime64_any_dtype(scenes.date_acquired)
    assert (scenes.date_acquired == scenes.acquired).all()


@pytest.mark.parametrize(
    "num,name",
    [
        (4, "landsat_tm_c2_l2"),
        (5, "landsat_tm_c2_l2"),
        (7, "landsat_etm_c2_l2"),
        (8, "landsat_ot_c2_l2"),
        (9, "landsat_ot_c2_l2"),
    ],
)
def test_collection_names_and_every_sensor_searches(usgs, num, name):
    assert Usgs.get_collection_name(num) == name
    assert Usgs.get_collection_name(num, level=1) == name.replace("_l2", "_l1")
    year = {4: 1988, 5: 2005, 7: 2005, 8: 2020, 9: 2023}[num]
    scenes = usgs.search(name, bbox=MONTPELLIER, begin=f"{year}-01-01", end=f"{year}-03-31")
    assert num in set(scenes.satellite)


def test_collection_1_names_map_with_a_warning(usgs):
    with pytest.warns(RenamedWarning, match="landsat_ot_c2_l2"):
        scenes = usgs.search("LANDSAT_8_C1", bbox=BRUSSELS, begin="2018-01-01", end="2018-01-31")
    assert len(scenes) == 6 and (scenes.dataset == "landsat_ot_c2_l2").all()


def test_expired_key_logs_in_again_once(usgs, emu):
    usgs.login()
    first_key = usgs.key
    emu.clock.advance(hours=2, seconds=1)
    scenes = usgs.search("landsat_ot_c2_l2", bbox=BRUSSELS, begin="2018-01-01", end="2018-01-31")
    assert len(scenes) == 6 and usgs.key != first_key
    endpoints = [e.endpoint for e in emu.log.select("m2m")]
    assert endpoints == ["login-token", "scene-search", "login-token", "scene-search"]


def test_sliding_expiry_keeps_an_active_key(usgs, emu):
    usgs.login()
    key = usgs.key
    for _ in range(3):
        emu.clock.advance(hours=1.5)
        usgs.search("landsat_ot_c2_l2", bbox=BRUSSELS, begin="2018-01-01", end="2018-01-31")
    assert usgs.key == key  # used every 90 minutes, never idle for two hours


def test_expired_mid_paging_is_renewed(usgs, emu, monkeypatch):
    monkeypatch.setattr(_m2m, "PAGE_SIZE", 5)
    emu.faults.add("m2m", "scene-search", "code", code="AUTH_EXPIRED", times=1)
    usgs.login()
    usgs.request("permissions")  # the fault hits the first search page
    scenes = usgs.search("landsat_ot_c2_l2", bbox=(0, 40, 10, 50), begin="2021-01-01", end="2021-01-31")
    assert scenes.display_id.is_unique and len(scenes) == scenes.attrs["total_hits"]
    assert len(emu.log.select("m2m", "login-token")) == 2


def test_rate_limit_and_server_errors_are_retried(usgs, emu):
    emu.faults.add("m2m", "scene-search", "code", code="RATE_LIMIT_USER", times=2)
    emu.faults.add("m2m", "scene-search", "status", status=503, times=1)
    emu.faults.add("m2m", "scene-search", "status", status=429, retry_after=0.2, times=1)
    emu.faults.add("m2m", "scene-search", "drop", times=1)
    scenes = usgs.search("landsat_ot_c2_l2", bbox=BRUSSELS, begin="2018-01-01", end="2018-01-31")
    assert len(scenes) == 6
    statuses = [(e.status, e.fault) for e in searches(emu)]
    assert statuses[-1] == (200, None) and len(statuses) == 6  # five faults, then the answer
    assert sorted(kind for _, _, kind in emu.faults.injected) == [
        "HTTP 429",
        "HTTP 503",
        "RATE_LIMIT_USER",
        "RATE_LIMIT_USER",
        "drop",
    ]


def test_retry_after_is_honoured(usgs, emu):
    emu.faults.add("m2m", "scene-search", "status", status=429, retry_after=0.6, times=1)
    usgs.search("landsat_ot_c2_l2", bbox=BRUSSELS, begin="2018-01-01", end="2018-01-31")
    first, second = searches(emu)[-2:]
    assert second.time - first.time >= 0.55


def test_errors_that_retrying_cannot_fix_are_raised(usgs, emu):
    emu.faults.add("m2m", "scene-search", "status", status=500, times=1)
    from lsru_geo import ServerError

    with pytest.raises(ServerError) as info:
        usgs.search("landsat_ot_c2_l2", bbox=BRUSSELS, begin="2018-01-01", end="2018-01-31")
    assert info.value.status == 500 and len(searches(emu)) == 1


def test_persistent_failure_gives_up_after_the_policy(usgs, emu):
    emu.faults.add("m2m", "scene-search", "status", status=503, times=None)
    from lsru_geo import ServerError

    with pytest.raises(ServerError):
        usgs.search("landsat_ot_c2_l2", bbox=BRUSSELS, begin="2018-01-01", end="2018-01-31")
    assert len(searches(emu)) == usgs._http.retry.attempts


def test_http_status_variant_of_errors(usgs, emu, monkeypatch):
    monkeypatch.setattr(emu.options, "m2m_http_errors", True)
    monkeypatch.setenv("LSRU_TOKEN", "wrong")
    with pytest.raises(AuthenticationError) as info:
        Usgs().login()
    assert info.value.status == 401 and info.value.code == "AUTH_INVALID"


BAD_SEARCHES = [
    ({"bbox": (4.0, 44.0, 3.5, 43.4)}, "reversed"),
    ({"bbox": (3.5, 43.4, 4.0, 95.0)}, "latitudes"),
    ({"bbox": MONTPELLIER, "begin": "2019-02-01", "end": "2019-01-01"}, "after end"),
    ({"bbox": MONTPELLIER, "begin": "yesterday"}, "begin must be a date"),
    ({"bbox": MONTPELLIER, "months": [0, 13]}, "months"),
    ({"bbox": MONTPELLIER, "max_cloud_cover": 101}, "max_cloud_cover"),
    ({"bbox": MONTPELLIER, "max_cloud_cover": -5}, "max_cloud_cover"),
    ({"bbox": MONTPELLIER, "max_results": 0}, "max_results"),
    ({"bbox": MONTPELLIER, "starting_number": -1}, "starting_number"),
    ({"bbox": MONTPELLIER, "metadata": "everything"}, "metadata"),
    ({"bbox": MONTPELLIER, "aoi": shapely.Point(0, 0)}, "either bbox or aoi"),
    ({"aoi": shapely.box(500000, 4800000, 510000, 4810000)}, "EPSG:4326"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_SEARCHES)
def test_bad_input_fails_before_any_request(usgs, emu, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        usgs.search("landsat_ot_c2_l2", **kwargs)
    assert emu.log.select("m2m") == []


def test_unknown_collection(usgs, emu):
    with pytest.raises(InvalidInputError, match=r"unknown collection 'LANDSAT_10'.*landsat_ot_c2_l2"):
        usgs.search("LANDSAT_10", bbox=MONTPELLIER)
    with pytest.raises(InvalidInputError, match="satellite 6"):
        Usgs.get_collection_name(6)
    assert emu.log.select("m2m") == []


def test_scene_metadata_by_either_id(usgs):
    scenes = usgs.search("landsat_ot_c2_l2", bbox=BRUSSELS, begin="2018-01-01", end="2018-01-31")
    first = scenes.iloc[0]
    by_display = usgs.scene_metadata(first.display_id, "landsat_ot_c2_l2")
    by_entity = usgs.scene_metadata(first.entity_id, "landsat_ot_c2_l2")
    assert by_display["displayId"] == by_entity["displayId"] == first.display_id
    assert len(by_display["metadata"]) > 20
    assert np.isclose(float(by_display["cloudCover"]), first.cloud_cover)


def test_context_manager_logs_out(emu):
    with Usgs() as usgs:
        assert usgs.key
    assert usgs.key is None
    assert [e.endpoint for e in emu.log.select("m2m")] == ["login-token", "logout"]
