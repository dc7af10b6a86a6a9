"""The search-side ``gdf.lsru`` methods on real search results from the emulator."""

import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from lsru_geo import InvalidInputError

MONTPELLIER = (3.5, 43.4, 4.0, 44.0)
AOI = box(3.6, 43.5, 3.9, 43.9)
FIJI = shapely.MultiPolygon([box(179.5, -17.5, 180, -16.5), box(-180, -17.5, -179.5, -16.5)])


@pytest.fixture
def scenes(usgs):
    return usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-05-01", end="2019-09-30")


def utm_fraction(footprints, aoi=AOI):
    """Independent check: overlay in UTM 31N (nearly equal-area here), edges straight in lon/lat as in GeoJSON."""
    utm = gpd.GeoSeries(list(footprints), crs=4326).segmentize(0.01).to_crs(32631)
    target = gpd.GeoSeries([aoi], crs=4326).segmentize(0.01).to_crs(32631).iloc[0]
    return (utm.intersection(target).area / target.area).to_numpy()


def test_intersecting_is_a_true_polygon_filter(scenes):
    before = scenes.copy()
    triangle = shapely.Polygon([(3.5, 43.4), (4.0, 43.4), (3.5, 44.0)])
    kept = scenes.lsru.intersecting(triangle)
    expected = shapely.intersects(np.asarray(scenes.geometry.array), triangle)
    assert kept.index.tolist() == scenes.index[expected].tolist()
    assert 0 < len(kept) and kept.crs == scenes.crs and isinstance(kept, gpd.GeoDataFrame)
    pd.testing.assert_frame_equal(scenes, before)  # never mutates its input
    far = scenes.lsru.intersecting(box(100, 10, 101, 11))
    assert len(far) == 0 and list(far.columns) == list(scenes.columns)


def test_intersecting_accepts_every_aoi_form_and_crs(scenes):
    utm = gpd.GeoSeries([AOI], crs=4326).to_crs(32631)
    forms = [
        AOI,
        AOI.__geo_interface__,
        {"type": "Feature", "geometry": AOI.__geo_interface__},
        utm,
        gpd.GeoDataFrame(geometry=utm),
    ]
    results = [scenes.lsru.intersecting(form).index.tolist() for form in forms]
    assert all(r == results[0] for r in results) and results[0]


def test_intersecting_covers_keeps_scenes_covering_the_whole_aoi(scenes):
    covering = scenes.lsru.intersecting(AOI, predicate="covers")
    assert 0 < len(covering) < len(scenes.lsru.intersecting(AOI))
    assert (scenes.lsru.coverage(AOI).loc[covering.index, "coverage"] > 0.9999).all()
    with pytest.raises(InvalidInputError, match=r"predicate must be one of .*got 'near'"):
        scenes.lsru.intersecting(AOI, predicate="near")


def test_intersecting_on_a_reprojected_frame(scenes):
    kept = scenes.to_crs(3857).lsru.intersecting(AOI)
    assert kept.crs.to_epsg() == 3857 and kept.index.tolist() == scenes.lsru.intersecting(AOI).index.tolist()


def test_coverage_per_scene_and_per_date(scenes):
    before = scenes.copy()
    table = scenes.lsru.coverage(AOI)
    pd.testing.assert_frame_equal(scenes, before)
    assert list(table.columns) == ["coverage", "period", "period_coverage"] and table.index.equals(scenes.index)
    np.testing.assert_allclose(table["coverage"], utm_fraction(scenes.geometry), atol=2e-3)
    assert str(table["period"].dtype) == "period[D]"
    for _, rows in table.groupby("period"):
        same_day = scenes.loc[rows.index]
        union = utm_fraction([shapely.union_all(np.asarray(same_day.geometry.array))])[0]
        assert rows["period_coverage"].nunique() == 1
        assert rows["period_coverage"].iloc[0] == pytest.approx(union, abs=2e-3)
        assert rows["period_coverage"].iloc[0] >= rows["coverage"].max() - 1e-9
    assert ((table["coverage"] >= 0) & (table["coverage"] <= 1)).all()


def test_coverage_per_month_and_empty_frames(scenes):
    table = scenes.lsru.coverage(AOI, per="month")
    assert table["period"].astype(str).str.match(r"2019-0[5-9]$").all()
    assert (table["period_coverage"] >= table.groupby("period")["coverage"].transform("max") - 1e-9).all()
    empty = scenes.iloc[:0]
    assert (
        len(empty.lsru.coverage(AOI)) == 0 and len(empty.lsru.best(AOI)) == 0 and len(empty.lsru.intersecting(AOI)) == 0
    )


def test_best_is_a_deterministic_greedy_cover_by_cloud(scenes):
    picks = scenes.lsru.best(AOI, per="month", max_cloud=80)
    assert isinstance(picks, gpd.GeoDataFrame) and picks.crs == scenes.crs
    assert {"period", "coverage", "period_coverage"} <= set(picks.columns) and "period" not in scenes.columns
    assert (picks["cloud_cover"] <= 80).all() and picks.index.isin(scenes.index).all()
    table = scenes.lsru.coverage(AOI, per="month")
    usable = table[(table.coverage > 0) & (scenes.cloud_cover <= 80)]
    for month, chosen in picks.groupby("period", sort=False):
        candidates = scenes.loc[usable.index[usable.period == month]]
        assert chosen["cloud_cover"].iloc[0] == candidates["cloud_cover"].min()  # least cloudy first
        assert chosen["cloud_cover"].is_monotonic_increasing
        union = utm_fraction([shapely.union_all(np.asarray(chosen.geometry.array))])[0]
        assert chosen["period_coverage"].iloc[0] == pytest.approx(union, abs=2e-3)
        everything = utm_fraction([shapely.union_all(np.asarray(candidates.geometry.array))])[0]
        assert union >= 0.99 - 2e-3 or union == pytest.approx(everything, abs=2e-3)  # complete, or all it can
    shuffled = scenes.sample(frac=1.0, random_state=7)
    again = shuffled.lsru.best(AOI, per="month", max_cloud=80)
    assert again.index.tolist() == picks.index.tolist()  # row order does not matter
    pd.testing.assert_frame_equal(again, picks)


def test_best_per_date_with_loose_and_strict_targets(scenes):
    loose = scenes.lsru.best(AOI, per="date", min_coverage=0.3)
    strict = scenes.lsru.best(AOI, per="date", min_coverage=1.0)
    assert set(loose.period) == set(strict.period) == set(scenes.lsru.coverage(AOI).query("coverage > 0").period)
    for day, picks in strict.groupby("period"):
        early = loose[loose.period == day]
        assert early.index.tolist() == picks.index[: len(early)].tolist()  # same visiting order, earlier stop
        assert early.period_coverage.iloc[0] >= 0.3 or len(early) == len(picks)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"per": "fortnight"}, "per must be one of 'date', 'week', 'month', 'quarter', 'year'; got 'fortnight'"),
        ({"max_cloud": 150}, "max_cloud must be a number within 0-100.*got 150"),
        ({"max_cloud": -5}, "max_cloud must be a number within 0-100.*got -5"),
        ({"min_coverage": 0}, "min_coverage must be a fraction greater than 0 and at most 1; got 0"),
    ],
)
def test_best_refuses_bad_arguments(scenes, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        scenes.lsru.best(AOI, **kwargs)


@pytest.mark.parametrize(
    "aoi, message", [(42, "got int"), ([3.6, 43.5, 3.9, 43.9], "got list"), (shapely.Polygon(), "empty")]
)
def test_every_method_refuses_bad_aois(scenes, aoi, message):
    for method in (scenes.lsru.intersecting, scenes.lsru.coverage, scenes.lsru.best, scenes.lsru.observation_count):
        with pytest.raises(InvalidInputError, match=message):
            method(aoi)
    with pytest.raises(InvalidInputError, match="per must be one of"):
        scenes.lsru.coverage(AOI, per="fortnight")


def test_plain_dataframes_are_refused_with_a_clear_error(scenes):
    plain = pd.DataFrame(scenes.drop(columns="geometry"))
    with pytest.raises(InvalidInputError, match="GeoDataFrame"):
        plain.lsru.coverage(AOI)
    with pytest.raises(InvalidInputError, match="'cloud_cover' column"):
        scenes.drop(columns="cloud_cover").lsru.best(AOI)


def test_observation_count(scenes):
    counts = scenes.lsru.observation_count(AOI)
    assert counts.dims == ("y", "x") and max(counts.shape) == 256 and "crs_wkt" in counts["spatial_ref"].attrs
    inside = counts.values[np.isfinite(counts.values)]
    assert inside.max() <= len(scenes) and inside.min() >= 1 and inside.std() > 0
    weighted = scenes.lsru.observation_count(AOI, weighted=True)
    clear = scenes.lsru.observation_count(AOI, max_cloud=20)
    assert (weighted.values <= counts.values + 1e-9)[np.isfinite(counts.values)].all()
    assert (clear.values <= counts.values)[np.isfinite(counts.values)].all() and "20%" in clear.attrs["long_name"]
    assert scenes.lsru.observation_count(AOI, resolution=1000).shape == pytest.approx((45, 25), abs=2)
    with pytest.raises(InvalidInputError, match="max_cloud"):
        scenes.lsru.observation_count(AOI, max_cloud=101)


def test_antimeridian_and_polar_searches_do_not_crash(usgs):
    fiji = usgs.search("landsat_ot_c2_l2", aoi=FIJI, begin="2020-01-01", end="2020-02-29")
    assert (fiji.geometry.geom_type == "MultiPolygon").any()  # footprints split at 180
    table = fiji.lsru.coverage(FIJI)
    assert (table.coverage > 0).all() and (table.period_coverage <= 1).all()
    assert fiji.lsru.best(FIJI, per="month").groupby("period")["period_coverage"].first().gt(0.99).all()
    assert len(fiji.lsru.intersecting(FIJI)) == len(fiji)
    cap = box(-180, 81, 180, 84)
    arctic = usgs.search("landsat_ot_c2_l2", aoi=cap, begin="2020-06-01", end="2020-06-01")
    table = arctic.lsru.coverage(cap)
    assert len(arctic) and (table.coverage > 0).any() and table.period_coverage.between(0, 1).all()


def test_explore_returns_a_folium_map(scenes):
    folium = pytest.importorskip("folium")
    m = scenes.lsru.explore(AOI)
    assert isinstance(m, folium.Map)
    html = m.get_root().render()
    assert scenes.display_id.iloc[0] in html and "crimson" in html  # scenes with tooltips, and the AOI outline
    assert scenes.lsru.explore(column=None, m=m) is m
    assert isinstance(scenes.lsru.best(AOI).lsru.explore(), folium.Map)  # with a Period column
    with pytest.raises(InvalidInputError, match="column must be None or one of"):
        scenes.lsru.explore(column="nope")


def test_explore_without_folium_says_how_to_install(scenes, monkeypatch):
    monkeypatch.setitem(sys.modules, "folium", None)  # makes `import folium` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'lsru-geo\[explore\]'"):
        scenes.lsru.explore()
