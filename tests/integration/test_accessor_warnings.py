"""Warnings point at the user's line, whichever path reached the check, and are issued once per call."""

import inspect
import warnings

import pandas as pd
import pytest

from lsru_geo import Espa, Usgs
from lsru_geo.exceptions import InsecureConfigWarning, RenamedWarning

L8 = "LC08_L2SP_196030_20190629_20210414_02_T1"
L7 = "LE07_L2SP_196030_20190605_20200827_02_T1"


def here():
    return inspect.currentframe().f_back.f_lineno


def caught_at(record, line):
    return [(w.filename, w.lineno) for w in record] == [(__file__, line)] * len(record) and len(record) > 0


def test_renamed_product_warning_from_the_accessor_points_at_the_caller(emu):
    frame = pd.DataFrame({"display_id": [L8, L7]})  # two sensors, one explanation
    with pytest.warns(RenamedWarning) as record:
        line = here() + 1
        order = frame.lsru.order(products=["sr"])
    assert caught_at(record, line) and len(record) == 1
    assert "'sr' is a Collection 1 product" in str(record[0].message)
    assert sorted(i["name"] for i in order.items_status) == sorted([L8, L7])


def test_same_warning_from_the_client_points_at_the_caller(emu):
    with pytest.warns(RenamedWarning) as record:
        line = here() + 1
        Espa().order([L8, L7], products=["sr", "pixel_qa"])
    assert caught_at(record, line)
    assert sorted(str(w.message).split("'")[1] for w in record) == ["pixel_qa", "sr"]  # each name once


def test_retired_collection_warning_points_at_the_search(usgs):
    with pytest.warns(RenamedWarning, match="retired Collection 1") as record:
        line = here() + 1
        usgs.search("LANDSAT_8_C1", bbox=(3.5, 43.4, 4, 44), begin="2019-06-01", end="2019-06-10")
    assert caught_at(record, line) and len(record) == 1


def test_insecure_file_warning_points_at_the_constructor(emu, tmp_path):
    conf = tmp_path / "lsru.ini"
    conf.write_text("[usgs]\nusername = demo\n")
    conf.chmod(0o644)
    with pytest.warns(InsecureConfigWarning) as record:
        line = here() + 1
        Usgs(conf=str(conf))
    assert caught_at(record, line) and len(record) == 1


def test_no_warning_without_a_reason(emu):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Espa().order([L8], products=["l1"])
