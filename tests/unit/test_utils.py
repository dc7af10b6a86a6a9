import json
import pathlib

import pytest
import shapely

from lsru_geo import InvalidInputError
from lsru_geo._m2m_wire import scenes_frame
from lsru_geo.utils import bounds, geom_from_metadata

SAMPLE = (
    pathlib.Path(__file__).resolve().parents[3]
    / "shared"
    / "docs"
    / "samples"
    / "m2m"
    / "docs_scene_metadata_landsat_ot_c2_l2.response.json"
)


def test_bounds_of_dicts_features_and_shapely():
    geom = {
        "type": "Polygon",
        "coordinates": [[[3.34481, 43.96708], [6.17992, 45.23413], [5.55366, 43.56654], [3.34481, 43.96708]]],
    }
    assert bounds(geom) == (3.34481, 43.56654, 6.17992, 45.23413)
    assert bounds({"type": "Feature", "properties": {}, "geometry": geom}) == bounds(geom)
    assert bounds(shapely.Point(1, 2)) == (1.0, 2.0, 1.0, 2.0)
    with pytest.raises(InvalidInputError):
        bounds({"type": "Polygon"})
    with pytest.raises(InvalidInputError, match="empty"):
        bounds(shapely.Polygon())


def test_geom_from_metadata_raw_record_and_row():
    record = json.loads(SAMPLE.read_text())["data"]
    from_record = geom_from_metadata(record)
    assert from_record == record["spatialCoverage"]
    row = scenes_frame([record], "landsat_ot_c2_l2").iloc[0]
    assert shapely.geometry.shape(geom_from_metadata(row)).equals(shapely.geometry.shape(from_record))
    with pytest.raises(InvalidInputError, match="no footprint"):
        geom_from_metadata({"displayId": "x"})
