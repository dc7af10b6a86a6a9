"""Band tables (suffix <-> common name per sensor family, storage) and MTL parsing of the three forms."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from lsru_geo import _bands, _mtl
from lsru_geo.emulator._mtl import espa_xml, mtl_files
from lsru_geo.emulator._products import SceneSpec, espa_raster_suffixes, scene_content
from lsru_geo.emulator._raster import BANDS, SENSORS
from lsru_geo.exceptions import InvalidInputError

P033R032 = [(-105.103, 41.2409), (-102.944, 40.9267), (-103.445, 39.4284), (-105.558, 39.7359)]
L8 = SceneSpec("LC08_L2SP_033032_20230517_20230524_02_T1", P033R032, dt.datetime(2023, 5, 17, 17, 40, 12, 345678),
               23.0, "LC80330322023137LGN00")
L5 = SceneSpec("LT05_L2SP_033032_20100517_20200823_02_T1", P033R032, dt.datetime(2010, 5, 17, 17, 20, 44), 15.0,
               "LT50330322010137PAC01")


@pytest.mark.parametrize(
    ("sensor", "table"),
    [
        ("LC08", {"SR_B1": "coastal", "SR_B2": "blue", "SR_B3": "green", "SR_B4": "red", "SR_B5": "nir08",
                  "SR_B6": "swir16", "SR_B7": "swir22", "ST_B10": "lwir11"}),
        ("LC09", {"SR_B4": "red", "SR_B5": "nir08", "ST_B10": "lwir11"}),
        ("LE07", {"SR_B1": "blue", "SR_B2": "green", "SR_B3": "red", "SR_B4": "nir08", "SR_B5": "swir16",
                  "SR_B7": "swir22", "ST_B6": "lwir"}),
        ("LT05", {"SR_B3": "red", "SR_B4": "nir08", "ST_B6": "lwir"}),
        ("LT04", {"SR_B3": "red", "ST_B6": "lwir"}),
    ],
)
def test_common_names_per_sensor(sensor, table):
    pid = f"{sensor}_L2SP_033032_20100517_20200823_02_T1"
    for suffix, name in table.items():
        assert _bands.common_name(suffix, pid) == name
        assert _bands.band_suffix(name, pid) == suffix
        assert _bands.band_suffix(suffix.lower(), pid) == suffix
    assert _bands.band_suffix("lwir", pid) == ("ST_B10" if sensor.startswith("LC") else "ST_B6")
    assert _bands.variable_name("lwir", pid) == "lwir"
    assert _bands.variable_name("nir", pid) == "nir08"
    assert _bands.variable_name("SR_B4", pid) == table.get("SR_B4", _bands.common_name("SR_B4", pid))


def test_emulator_sensors_agree_with_the_tables():
    """The emulator writes the suffixes; every one of them must have a name and the documented storage."""
    for code, sensor in SENSORS.items():
        pid = f"{code}_L2SP_033032_20100517_20200823_02_T1"
        for suffix in [*sensor.level2_suffixes("L2SP"), "SR_NDVI", "SR_NBR2", "ETA", "ETF", "ETUN"]:
            enc, info = _bands.encoding_of(suffix), BANDS[suffix]
            assert _bands.common_name(suffix, pid)
            assert (enc.dtype, enc.fill, enc.scale) == (info.dtype, info.nodata, info.scale), suffix
            if info.offset is not None:
                assert enc.offset == info.offset


def test_unknown_names_and_sensors():
    with pytest.raises(InvalidInputError, match="coastal"):
        _bands.band_suffix("coastal", "LT05_L2SP_033032_20100517_20200823_02_T1")
    with pytest.raises(InvalidInputError, match="lwir11"):
        _bands.band_suffix("lwir11", "LE07_L2SP_033032_20100517_20200823_02_T1")
    with pytest.raises(InvalidInputError):
        _bands.family_of("LM05_L1TP_033032_20100517_20200823_02_T1")
    with pytest.raises(InvalidInputError):
        _bands.encoding_of("SR_FOO")
    assert _bands.encoding_of("QA_PIXEL").is_bit_field and not _bands.encoding_of("SR_B1").is_bit_field


@pytest.mark.parametrize("spec", [L8, L5], ids=["LC08", "LT05"])
def test_the_three_mtl_forms_give_the_same_facts(spec):
    texts = mtl_files(scene_content(spec, 64), spec.entity_id)
    parsed = {form: _mtl.parse_mtl(text) for form, text in texts.items()}
    facts = {form: _mtl.scene_facts(mtl) for form, mtl in parsed.items()}
    assert facts["MTL.txt"] == facts["MTL.xml"] == facts["MTL.json"]
    f = facts["MTL.txt"]
    assert f.product_id == spec.product_id and f.processing_level == "L2SP"
    assert (f.wrs_path, f.wrs_row) == (33, 32)
    assert f.cloud_cover == pytest.approx(spec.cloud_cover)
    assert f.time == np.datetime64(spec.acquired.replace(tzinfo=None), "ns")
    assert f.time.dtype == np.dtype("datetime64[ns]")
    assert -105 < f.centre_lon < -103
    assert f.solar_day == np.datetime64(spec.acquired.date())  # ~10:00 local solar time
    assert parsed["MTL.txt"]["PROJECTION_ATTRIBUTES"]["UTM_ZONE"] == 13
    names = _mtl.mtl_file_names(parsed["MTL.json"])
    assert f"{spec.product_id}_QA_PIXEL.TIF" in names and all(n.endswith(".TIF") for n in names)


def test_odl_values_and_errors():
    text = 'GROUP = L\n GROUP = A\n  N = 02\n  F = -0.2\n  E = 2.75e-05\n  S = "x = y"\n'
    text += " END_GROUP = A\nEND_GROUP = L\nEND\n"
    mtl = _mtl.parse_mtl_text(text)
    assert mtl == {"A": {"N": 2, "F": -0.2, "E": 2.75e-05, "S": "x = y"}}
    with pytest.raises(InvalidInputError):
        _mtl.parse_mtl_text("nothing here")
    with pytest.raises(InvalidInputError, match="DATE_ACQUIRED"):
        _mtl.acquisition_time({"IMAGE_ATTRIBUTES": {}})
    with pytest.raises(InvalidInputError, match="LANDSAT_PRODUCT_ID"):
        _mtl.scene_facts({"IMAGE_ATTRIBUTES": {"DATE_ACQUIRED": "2020-01-01"}})


def test_espa_metadata_lists_the_tarball_rasters():
    suffixes = espa_raster_suffixes(L8, ["sr_ndvi"])
    text = espa_xml(scene_content(L8, 64), suffixes, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    assert _mtl.espa_band_files(text) == [f"{L8.product_id}_{s}.tif" for s in suffixes]


P010R065 = [(-80.7102, -6.35094), (-79.0551, -6.59137), (-79.3787, -8.11298), (-81.0393, -7.87176)]
L9_SOUTH = SceneSpec("LC09_L2SP_010065_20220129_20220131_02_T1", P010R065, dt.datetime(2022, 1, 29, 15, 28, 34),
                     21.12, "LC90100652022029LGN00")


@pytest.mark.parametrize("spec", [L8, L5, L9_SOUTH], ids=["LC08", "LT05", "LC09-south"])
def test_metadata_states_the_raster_grid(spec):
    content = scene_content(spec, 96)
    grid = content.grid
    mtl = _mtl.parse_mtl(mtl_files(content, spec.entity_id)["MTL.txt"])
    text = espa_xml(content, ["QA_PIXEL", "SR_B4"], dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    for epsg, transform, width, height in (_mtl.mtl_grid(mtl), _mtl.espa_grid(text)):
        assert (epsg, width, height) == (grid.epsg, grid.width, grid.height)
        assert transform == pytest.approx(tuple(grid.transform)[:6])
    assert _mtl.espa_grid(text.replace('projection="UTM"', 'projection="AEA"')) is None
    assert _mtl.mtl_grid({"PROJECTION_ATTRIBUTES": {"MAP_PROJECTION": "PS"}}) is None
