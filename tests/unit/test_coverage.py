"""Coverage math on known geometries: equal-area fractions, unions, greedy picks, observation grids."""

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from lsru_geo import InvalidInputError
from lsru_geo import _coverage as cov


def objects(*geoms):
    return np.array(geoms, dtype=object)


def fractions(aoi, *footprints):
    area = cov.prepare_aoi(aoi)
    return area.fraction(area.clip(objects(*footprints)))


def union_fraction(aoi, *footprints):
    area = cov.prepare_aoi(aoi)
    return cov.group_fractions(area.clip(objects(*footprints)), np.zeros(len(footprints), dtype=int), area)[0]


# -- known fractions ---------------------------------------------------------------------------------------


def test_a_scene_over_half_the_aoi_covers_half_and_two_halves_cover_all():
    aoi = box(10, 40, 11, 41)
    west, east = box(9, 39, 10.5, 42), box(10.5, 39, 12, 42)
    assert fractions(aoi, west, east) == pytest.approx([0.5, 0.5], abs=1e-6)
    assert union_fraction(aoi, west, east) == pytest.approx(1.0, abs=1e-9)


def test_containing_disjoint_missing_and_empty_footprints():
    aoi = box(10, 40, 11, 41)
    got = fractions(aoi, box(9, 39, 12, 42), box(50, 50, 51, 51), None, shapely.Polygon(), box(-170, -41, -169, -40))
    assert got.tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0, 0.0])


def test_areas_are_equal_area_not_planar_degrees():
    # in degrees the southern half of 0-60N is half the box; on the ground it is sin(30)/sin(60) = 0.577
    aoi = box(0, 0, 10, 60)
    south = box(-1, -1, 11, 30)
    assert fractions(aoi, south)[0] == pytest.approx(math.sin(math.radians(30)) / math.sin(math.radians(60)), abs=0.005)


def test_aoi_in_a_projected_crs_gives_the_same_fractions():
    aoi = box(3.6, 43.5, 3.9, 43.9)
    utm = gpd.GeoSeries([aoi], crs=4326).to_crs(32631)
    footprint = box(3.0, 43.0, 3.75, 44.0)
    assert fractions(utm, footprint)[0] == pytest.approx(fractions(aoi, footprint)[0], abs=2e-3)
    assert fractions(gpd.GeoDataFrame(geometry=utm), footprint)[0] == pytest.approx(0.5, abs=5e-3)


def test_geojson_and_lines_and_points():
    feature = {"type": "Feature", "geometry": box(10, 40, 11, 41).__geo_interface__, "properties": {}}
    assert fractions(feature, box(9, 39, 10.5, 42))[0] == pytest.approx(0.5, abs=1e-6)
    line = shapely.LineString([(10.2, 40.5), (10.8, 40.5)])
    assert fractions(line, box(9, 39, 10.5, 42))[0] == pytest.approx(0.5, abs=0.01)
    points = shapely.MultiPoint([(10.2, 40.5), (10.7, 40.5)])
    assert fractions(points, box(9, 39, 10.5, 42), box(9, 39, 12, 42)).tolist() == [0.5, 1.0]
    assert fractions(shapely.Point(10.2, 40.5), box(9, 39, 10.5, 42))[0] == 1.0


# -- antimeridian and poles --------------------------------------------------------------------------------

FIJI = shapely.MultiPolygon([box(179, -17, 180, -16), box(-180, -17, -179, -16)])


def test_aoi_across_the_antimeridian():
    west, east = box(179, -18, 180, -15), box(-180, -18, -179, -15)
    straddling = shapely.MultiPolygon([box(179.5, -18, 180, -15), box(-180, -18, -179.5, -15)])
    assert fractions(FIJI, west, east, straddling).tolist() == pytest.approx([0.5, 0.5, 0.5], abs=1e-6)
    assert union_fraction(FIJI, west, east) == pytest.approx(1.0, abs=1e-6)
    area = cov.prepare_aoi(FIJI)
    assert abs(area.centre[0]) > 179  # centred on the antimeridian, not on Greenwich
    assert area.size == pytest.approx(2 * 107_000 * 111_000, rel=0.05)


def test_projected_aoi_across_the_antimeridian_keeps_its_shape():
    pacific = gpd.GeoSeries([FIJI], crs=4326).to_crs(3832)  # one polygon in PDC Mercator
    pacific = gpd.GeoSeries([pacific.union_all().buffer(1)], crs=3832)
    assert fractions(pacific, box(179, -18, 180, -15))[0] == pytest.approx(0.5, abs=1e-3)


def test_polar_aoi_does_not_crash_and_measures_the_cap():
    cap = box(-180, 80, 180, 90)
    area = cov.prepare_aoi(cap)
    assert area.geometry.is_valid
    # WGS84 cap above 80N: 3.909e12 m2 (a 6371 km sphere would give 3.87e12)
    assert area.size == pytest.approx(3.909e12, rel=0.01)
    halves = box(-180, 80, 0, 90), box(0, 80, 180, 90)
    assert fractions(cap, *halves).tolist() == pytest.approx([0.5, 0.5], abs=1e-3)
    assert union_fraction(cap, *halves) == pytest.approx(1.0, abs=1e-3)
    assert fractions(cap, box(-10, -60, 10, -50))[0] == 0.0  # on the other side of the globe


def test_south_pole_and_whole_world_aois():
    assert fractions(box(-180, -90, 180, -85), box(-180, -90, 180, -85))[0] == pytest.approx(1.0, abs=1e-3)
    world = cov.prepare_aoi(box(-180, -90, 180, 90))
    assert world.crs.to_epsg() == 6933 and world.size == pytest.approx(5.1e14, rel=0.01)
    got = world.fraction(world.clip(objects(box(0, 0, 1, 1), FIJI)))
    assert (got > 0).all() and (got < 1e-3).all()


def test_footprints_far_from_the_aoi_are_never_projected():
    area = cov.prepare_aoi(box(10, 40, 11, 41))
    antipode = box(-170, -41, -169, -40)
    assert area.candidates(objects(antipode, box(10, 40, 10.5, 40.5))).tolist() == [False, True]


# -- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "aoi, message",
    [
        (42, "got int"),
        ("POLYGON ((0 0, 1 0, 1 1, 0 0))", "got str"),
        (shapely.Polygon(), "empty"),
        (gpd.GeoSeries([box(0, 0, 1, 1)]), "no CRS"),
        (gpd.GeoSeries([], crs=4326), "empty"),
        ({"type": "Polygon"}, "not valid GeoJSON"),
        (box(200, 0, 201, 1), "outside"),
    ],
)
def test_bad_aois_raise_invalid_input(aoi, message):
    with pytest.raises(InvalidInputError, match=message):
        cov.prepare_aoi(aoi)


def test_checks_name_the_value_and_what_is_allowed():
    with pytest.raises(
        InvalidInputError, match=r"per must be one of 'date', 'week', 'month', 'quarter', 'year'; got 'fortnight'"
    ):
        cov.check_per("fortnight")
    for bad in (150, -1, True, "50"):
        with pytest.raises(InvalidInputError, match=rf"max_cloud must be a number within 0-100.*got {bad!r}"):
            cov.check_percent(bad, "max_cloud")
    assert cov.check_percent(None, "max_cloud") is None and cov.check_percent(20, "max_cloud") == 20.0
    for bad in (0, 1.5, None):
        with pytest.raises(InvalidInputError, match="min_coverage must be a fraction"):
            cov.check_fraction(bad, "min_coverage")


# -- periods, greedy cover, grids, faces --------------------------------------------------------------------


def test_period_labels():
    times = pd.Series(pd.to_datetime(["2019-06-01 10:00", "2019-06-30 00:00", None]))
    months = cov.period_labels(times, "month")
    assert months[:2].astype(str).tolist() == ["2019-06", "2019-06"] and pd.isna(months[2])
    assert cov.period_labels(times, "date").astype(str).tolist()[:2] == ["2019-06-01", "2019-06-30"]
    aware = pd.Series(pd.to_datetime(["2019-06-30T23:30:00-02:00"]))  # 2019-07-01 in UTC
    assert cov.period_labels(aware, "date").astype(str).tolist() == ["2019-07-01"]


def test_greedy_cover_follows_the_order_skips_redundant_scenes_and_stops():
    area = cov.prepare_aoi(box(10, 40, 11, 41))
    west, east, inner, whole = (
        box(9, 39, 10.5, 42),
        box(10.5, 39, 12, 42),
        box(10.1, 40.1, 10.4, 40.9),
        box(9, 39, 12, 42),
    )
    pieces = area.clip(objects(west, inner, east, whole))
    picked, reached = cov.greedy_cover(pieces, [0, 1, 2, 3], area, 0.99)
    assert picked == [0, 2] and reached == pytest.approx(1.0)  # inner adds nothing; whole is never reached
    picked, reached = cov.greedy_cover(pieces, [0, 1], area, 0.99)
    assert picked == [0] and reached == pytest.approx(0.5)  # cannot complete: keeps what helped
    assert cov.greedy_cover(pieces, [3, 0, 2], area, 0.99)[0] == [3]


def test_observation_grid_counts_and_masks_outside_the_aoi():
    area = cov.prepare_aoi(box(10, 40, 11, 41))
    pieces = area.clip(objects(box(9, 39, 10.5, 42), box(9, 39, 12, 42), box(50, 50, 51, 51)))
    values, x, y = cov.observation_grid(pieces, np.array([1.0, 0.5, 1.0]), area, pixels=64)
    assert values.shape == (len(y), len(x)) and max(values.shape) == 64
    assert (np.diff(y) < 0).all() and (np.diff(x) > 0).all()
    assert set(np.unique(values[np.isfinite(values)])) == {0.5, 1.5}
    assert np.isnan(values).any()  # lon/lat box corners fall outside the projected AOI's grid box
    assert np.nanmean(values == 1.5) == pytest.approx(0.5, abs=0.05)
    with pytest.raises(InvalidInputError, match="at most"):
        cov.observation_grid(pieces, np.ones(3), area, resolution=1.0)
    with pytest.raises(InvalidInputError, match="resolution must be a positive"):
        cov.observation_grid(pieces, np.ones(3), area, resolution=-5)
    line = cov.prepare_aoi(shapely.LineString([(10, 40), (11, 41)]))
    with pytest.raises(InvalidInputError, match="polygonal"):
        cov.observation_grid(pieces, np.ones(3), line)


def test_overlap_faces_count_the_polygons_over_each_face():
    faces, counts = cov.overlap_faces(objects(box(0, 0, 2, 1), box(1, 0, 3, 1), None))
    assert sorted(zip(shapely.area(faces).round(6), counts, strict=True)) == [(1.0, 1), (1.0, 1), (1.0, 2)]
    faces, counts = cov.overlap_faces(objects(box(0, 0, 2, 1), box(1, 0, 3, 1)), clip=box(0.5, 0, 1.5, 1))
    assert sorted(counts) == [1, 2] and shapely.area(faces).sum() == pytest.approx(1.0)
    assert len(cov.overlap_faces(objects(None))[0]) == 0
