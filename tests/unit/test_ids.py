import datetime as dt

import pytest

from lsru_geo import InvalidInputError
from lsru_geo.utils import is_valid, parse_id

PRODUCT_IDS = {
    "LC08_L2SP_198025_20180131_20200902_02_T2": ("OLI_TIRS", 8, "L2SP", 198, 25, 2, "T2"),
    "LC09_L2SR_033041_20230728_20230830_02_T1": ("OLI_TIRS", 9, "L2SR", 33, 41, 2, "T1"),
    "LO08_L1GT_029030_20151209_20160131_01_RT": ("OLI", 8, "L1GT", 29, 30, 1, "RT"),
    "LT08_L1GS_001002_20151209_20160131_02_T2": ("TIRS", 8, "L1GS", 1, 2, 2, "T2"),
    "LE07_L1TP_029030_20170221_20170319_01_T1": ("ETM", 7, "L1TP", 29, 30, 1, "T1"),
    "LT05_L2SP_173058_20111028_20200820_02_T1": ("TM", 5, "L2SP", 173, 58, 2, "T1"),
    "LT04_L1TP_017036_19821116_20200918_02_T1": ("TM", 4, "L1TP", 17, 36, 2, "T1"),
    "LM01_L1GS_017039_19760131_20160225_01_T2": ("MSS", 1, "L1GS", 17, 39, 1, "T2"),
    "LM05_L1TP_017039_19860131_20200825_02_T2": ("MSS", 5, "L1TP", 17, 39, 2, "T2"),
}


@pytest.mark.parametrize("landsat_id", sorted(PRODUCT_IDS))
def test_product_ids_parse_into_their_fields(landsat_id):
    sensor, satellite, level, path, row, collection, category = PRODUCT_IDS[landsat_id]
    fields = parse_id(landsat_id)
    assert fields["kind"] == "product"
    assert (fields["sensor"], fields["satellite"], fields["processing_level"]) == (sensor, satellite, level)
    assert (fields["path"], fields["row"], fields["collection"], fields["category"]) == (
        path,
        row,
        collection,
        category,
    )
    assert fields["acquired"] == dt.date(int(landsat_id[17:21]), int(landsat_id[21:23]), int(landsat_id[23:25]))
    assert fields["processed"] == dt.datetime.strptime(landsat_id[26:34], "%Y%m%d").date()
    assert is_valid(landsat_id)


def test_legacy_scene_ids_parse():
    fields = parse_id("LC81960302020197LGN00")
    assert fields == {
        "kind": "scene",
        "sensor": "OLI_TIRS",
        "satellite": 8,
        "path": 196,
        "row": 30,
        "acquired": dt.date(2020, 7, 15),
        "ground_station": "LGN",
        "version": 0,
    }
    assert parse_id("LT51730582011301MLK00")["sensor"] == "TM"
    assert parse_id("LE70290302017052EDC01")["version"] == 1


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "LC08",
        "LC08_L2SP_198025_20180131_20200902_02_T3",  # tier
        "LC08_L2XX_198025_20180131_20200902_02_T1",  # level
        "LC08_L2SP_198025_20181331_20200902_02_T1",  # month 13
        "LE08_L2SP_198025_20180131_20200902_02_T1",  # ETM+ was never on Landsat 8
        "LC05_L2SP_198025_20180131_20200902_02_T1",  # nor OLI on Landsat 5
        "lc08_l2sp_198025_20180131_20200902_02_t1",  # ids are upper case
        "LC81960302020400LGN00",  # day 400
        "LC08_L2SP_198025_20180131_20200902_02_T1 ",
        None,
        42,
    ],
)
def test_malformed_ids_are_invalid(bad):
    assert not is_valid(bad)
    with pytest.raises(InvalidInputError, match="not a Landsat id") as info:
        parse_id(bad)
    assert repr(bad) in str(info.value)
