import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from lsru_geo import InvalidInputError
from lsru_geo._inputs import check_bbox, check_cloud, check_dates, check_months, to_date, to_geometry


@pytest.mark.parametrize(
    ("bbox", "message"),
    [
        ((4.0, 44.0, 3.5, 43.4), "reversed"),
        ((3.5, 44.0, 4.0, 43.4), "reversed"),
        ((-190.0, 43.4, 4.0, 44.0), "longitudes must be within -180..180"),
        ((3.5, -95.0, 4.0, 44.0), "latitudes must be within -90..90"),
        ((3.5, 43.4, 4.0), "4 finite numbers"),
        ((3.5, 43.4, 4.0, float("nan")), "4 finite numbers"),
        ("3.5,43.4,4,44", "4 numbers"),
        (None, "4 numbers"),
    ],
)
def test_bad_bboxes_name_the_value(bbox, message):
    with pytest.raises(InvalidInputError, match=message):
        check_bbox(bbox)


def test_bbox_accepts_any_sequence_of_numbers():
    assert check_bbox(np.array([3.5, 43.4, 4, 44])) == (3.5, 43.4, 4.0, 44.0)
    assert check_bbox([1, 2, 1, 2]) == (1.0, 2.0, 1.0, 2.0)  # a point


def test_dates_from_every_common_type():
    expected = dt.date(2018, 1, 31)
    for value in (
        "2018-01-31",
        dt.datetime(2018, 1, 31, 23, 59),
        expected,
        pd.Timestamp("2018-01-31"),
        np.datetime64("2018-01-31"),
    ):
        assert to_date(value, "begin") == expected
    with pytest.raises(InvalidInputError, match=r"begin \(2018-02-01\) is after end \(2018-01-31\)"):
        check_dates("2018-02-01", "2018-01-31")
    with pytest.raises(InvalidInputError, match="'31/01/2018'"):
        to_date("31/01/2018", "end")


def test_months_and_cloud():
    assert check_months([12, 1, 1]) == [1, 12]
    assert check_months(np.array([6, 7])) == [6, 7]
    assert check_months(None) is None
    for bad in ([0], [13], [1.5], [True], "6", 6):
        with pytest.raises(InvalidInputError, match="month"):
            check_months(bad)
    assert check_cloud(0) == 0.0
    for bad in (-1, 100.5, "lots", None, True):
        with pytest.raises(InvalidInputError, match="max_cloud_cover"):
            check_cloud(bad)


def test_aoi_in_any_form_becomes_lonlat():
    square = shapely.box(3.5, 43.4, 4.0, 44.0)
    as_dict = shapely.geometry.mapping(square)
    feature = {"type": "Feature", "properties": {}, "geometry": as_dict}
    collection = {"type": "FeatureCollection", "features": [feature]}
    utm = gpd.GeoSeries([square], crs=4326).to_crs(32631)
    for aoi in (square, as_dict, feature, collection, utm, gpd.GeoDataFrame(geometry=utm)):
        geometry = to_geometry(aoi)
        assert geometry.geom_type == "Polygon"
        np.testing.assert_allclose(geometry.bounds, square.bounds, atol=1e-6)


@pytest.mark.parametrize(
    ("aoi", "message"),
    [
        (shapely.Polygon(), "empty"),
        ({"type": "Polygon"}, "not valid GeoJSON"),
        (gpd.GeoSeries([shapely.box(0, 0, 1, 1)]), "no CRS"),
        (shapely.box(500000, 4800000, 510000, 4810000), "EPSG:4326"),
        ("POLYGON ((0 0, 1 0, 1 1, 0 0))", "shapely geometry"),
    ],
)
def test_bad_aois(aoi, message):
    with pytest.raises(InvalidInputError, match=message):
        to_geometry(aoi)


def test_invalid_polygon_is_repaired():
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    assert to_geometry(bowtie).is_valid


def test_deeply_nested_geojson_is_a_typed_error():
    from lsru_geo._inputs import to_geometry
    from lsru_geo.exceptions import InvalidInputError

    nested = [[0.0, 0.0]]
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(InvalidInputError, match="not valid GeoJSON"):
        to_geometry({"type": "Polygon", "coordinates": nested})
