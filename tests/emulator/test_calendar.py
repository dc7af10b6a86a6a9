"""The emulator's acquisition calendar against real acquisitions that the model was not fitted to.

Every fact below is a real Landsat product id (its path, row and UTC acquisition date), with where it was
seen; the emulator's search must list a scene of that satellite, path and row on that date. The ids were found
by code search in public repositories (test data and scripts) and are not used by the emulator's code.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from lsru_geo import Usgs
from lsru_geo.emulator import _catalogue as cat

# (product id, where it was seen)
LANDSAT_7_DATES = [
    # path 90 (157.9 E at the equator): one day earlier than the cycle table, before and after the 2017 drift
    ("LE07_L1TP_090085_20030415_20170125_01_T1", "an R analysis of Australian fire recovery (public repository)"),
    ("LE07_L1TP_090084_20171014_20171015_01_RT", "a deep-learning project's Landsat 7 level-1 folder"),
    ("LE07_L2SP_090084_20210331_20210426_02_T1", "opendatacube/eo-datasets test data (C2 Level-2 fixture)"),
    ("LE07_L1TP_091014_20120313_20200909_02_T2", "a public Landsat index builder's tests"),
    ("LE07_L1TP_092084_20110809_20161206_01_T1", "a public Landsat processing script's docstring"),
    # further west the table's date holds, even at the end of 2021 when the drift had reached ~9:20 MLT
    ("LE07_L2SP_099023_20010409_20200917_02_T1", "a public rasterio tutorial script"),
    ("LE07_L1TP_104078_20130429_20161124_01_T1", "opendatacube/eo-datasets test data (C1 Level-1 tarball)"),
    ("LE07_L1TP_104076_20211231_20220126_01_T1", "a public data-processing configuration (Australian archive)"),
]
LANDSAT_8_ANTARCTIC = [
    ("LC08_L1GT_008113_20241214_20241214_02_RT", "a public glaciology model's download script (December)"),
    ("LC08_L1GT_001113_20131012_20170429_01_T2", "a Pine Island Glacier script (public repository, October)"),
    ("LC08_L1GT_217105_20140109_20201016_02_T2", "a public script's docstring example (January)"),
]
TODAY = dt.date(2026, 12, 1)


def _dates(satellite: int, path: int, row: int, around: dt.date, dataset: str) -> list[str]:
    """Acquisition dates (YYYYMMDD) of one satellite over one cell within 20 days of ``around``."""
    index = cat.grid().index(path, row)
    scenes = cat.generate(
        cat.DATASETS[dataset], np.array([index]), around - dt.timedelta(days=20), around + dt.timedelta(days=20), TODAY
    )
    return sorted(cat._ymd(a) for a, s in zip(scenes.acquired, scenes.satellite, strict=True) if s == satellite)


def _parse(product_id: str) -> tuple[int, int, int, dt.date]:
    return (
        int(product_id[2:4]),
        int(product_id[10:13]),
        int(product_id[13:16]),
        dt.datetime.strptime(product_id[17:25], "%Y%m%d").date(),
    )


@pytest.mark.parametrize(("product_id", "source"), LANDSAT_7_DATES)
def test_landsat_7_dates_follow_its_overpass_time(product_id, source):
    satellite, path, row, day = _parse(product_id)
    assert day.strftime("%Y%m%d") in _dates(satellite, path, row, day, "landsat_etm_c2_l1"), source


def test_the_drift_moves_landsat_7_to_the_previous_utc_date():
    # USGS: 10:14:58 MLT on 2017-08-11, then drifting earlier towards 9:15 (Aug 2017 mission news); the UTC day
    # boundary (00:00 UTC at the equator crossing) moves 15 degrees west per hour, so path 100 (142.4 E), on
    # the cycle table's date before the drift, is acquired a day earlier once the MLT is before ~9:30
    assert cat.mean_local_time(7, np.array([(dt.date(2017, 8, 11) - cat.EPOCH).days]))[0] == pytest.approx(
        10 + 15 / 60, abs=0.01
    )
    assert cat.mean_local_time(7, np.array([(dt.date(2022, 8, 23) - cat.EPOCH).days]))[0] <= 8.75
    before = _dates(7, 100, 80, dt.date(2015, 6, 1), "landsat_etm_c2_l1")
    after = _dates(7, 100, 80, dt.date(2021, 6, 1), "landsat_etm_c2_l1")
    cycle_day = {(dt.datetime.strptime(d, "%Y%m%d").date() - cat.CYCLE_START).days % 16 for d in before}
    cycle_day_after = {(dt.datetime.strptime(d, "%Y%m%d").date() - cat.CYCLE_START).days % 16 for d in after}
    assert len(cycle_day) == len(cycle_day_after) == 1
    assert (cycle_day.pop() - cycle_day_after.pop()) % 16 == 1
    # Landsat 8, kept at 10:00 by inclination manoeuvres, does not move
    l8_before = _dates(8, 100, 80, dt.date(2015, 6, 1), "landsat_ot_c2_l1")
    l8_after = _dates(8, 100, 80, dt.date(2021, 6, 1), "landsat_ot_c2_l1")
    l8_days = {(dt.datetime.strptime(d, "%Y%m%d").date() - cat.CYCLE_START).days % 16 for d in l8_before + l8_after}
    assert l8_before and l8_after and len(l8_days) == 1


@pytest.mark.parametrize(("product_id", "source"), LANDSAT_8_ANTARCTIC)
def test_antarctic_rows_are_acquired_in_the_southern_summer(product_id, source):
    satellite, path, row, day = _parse(product_id)
    assert day.strftime("%Y%m%d") in _dates(satellite, path, row, day, "landsat_ot_c2_l1"), source


@pytest.mark.parametrize(("path", "row"), [(8, 113), (1, 113), (217, 105)])
def test_antarctic_rows_are_not_acquired_in_the_polar_night(path, row):
    # LTAP-8 (https://landsat.usgs.gov/LTAP8): day-lit images have sun elevations greater than five degrees;
    # at 64-75 S the June sun stays below that
    for year in (2014, 2019, 2024):
        assert _dates(8, path, row, dt.date(year, 6, 21), "landsat_ot_c2_l1") == []
        assert _dates(9, path, row, dt.date(year, 6, 21), "landsat_ot_c2_l1") == []


def test_only_day_rows_are_served(emu):
    # LTAP-8: "Night, most ocean, and ascending scenes are only acquired by special request"; the emulated
    # archive holds day (descending) scenes only
    scenes = Usgs().search("landsat_ot_c2_l1", bbox=(3.5, 43.4, 4.0, 44.0), begin="2019-06-01", end="2019-06-30")
    record = Usgs().scene_metadata(scenes.display_id.iloc[0], "landsat_ot_c2_l1")
    assert next(m["value"] for m in record["metadata"] if m["fieldName"] == "Day/Night Indicator") == "DAY"
    assert not ((cat.grid().row > 122) & (cat.grid().row < 246)).any()


def test_scene_centre_time_is_on_the_id_date(emu):
    # a Landsat 7 scene moved to the previous UTC date is imaged late that UTC day (local morning)
    scenes = Usgs().search("landsat_etm_c2_l2", bbox=(150.5, -34.5, 151.0, -34.0), begin="2021-03-01", end="2021-04-30")
    assert len(scenes)
    for display_id, acquired in zip(scenes.display_id, scenes.acquired, strict=True):
        facts = cat.describe(display_id, TODAY)
        assert facts["acquired"].strftime("%Y%m%d") == display_id[17:25]
        local = (facts["acquired"].hour + facts["acquired"].minute / 60 + facts["corners"][0][0] / 15) % 24
        assert 8.5 < local < 11.5
        assert str(acquired)[:10].replace("-", "") == display_id[17:25]
