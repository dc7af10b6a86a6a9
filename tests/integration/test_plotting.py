"""Plots and browse images of search results, rendered with Agg and checked as pixels."""

import warnings

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from lsru_geo import ApiError, InvalidInputError, NotFoundError, ServerError, TransportError, plotting
from lsru_geo._http import RetryPolicy

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

MONTPELLIER = (3.5, 43.4, 4.0, 44.0)
AOI = box(3.6, 43.5, 3.9, 43.9)


@pytest.fixture
def scenes(usgs):
    return usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-05-01", end="2019-09-30")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def rendered(figure, path, min_bytes=5_000, min_std=0.05):
    """Save, read back, and check the image is not blank."""
    figure.savefig(path, dpi=80)
    assert path.exists() and path.stat().st_size > min_bytes
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels[..., :3].std() > min_std
    return pixels


def test_footprints_coloured_by_cloud_cover_with_the_aoi(scenes, tmp_path):
    before = scenes.copy()
    ax = scenes.lsru.plot(AOI)
    assert ax.get_title() == f"{len(scenes)} scenes over the AOI" and ax.get_xlabel() == "longitude (°)"
    assert len(ax.figure.axes) == 2  # the map and its colour bar
    rendered(ax.figure, tmp_path / "footprints.png")
    pd.testing.assert_frame_equal(scenes, before)


def test_footprints_coloured_by_overlap_count_zoom_on_the_aoi(scenes, tmp_path):
    ax = scenes.lsru.plot(AOI, column="count")
    left, right = ax.get_xlim()
    assert 3.5 <= left < 3.6 and 3.9 < right <= 4.0
    rendered(ax.figure, tmp_path / "count.png")
    _, own = plt.subplots()
    assert scenes.lsru.plot(column="count", ax=own, legend=False) is own  # no AOI: the whole overlay


def test_footprints_by_another_column_and_bad_columns(scenes, tmp_path):
    ax = scenes.lsru.plot(column="path")
    rendered(ax.figure, tmp_path / "path.png")
    with pytest.raises(InvalidInputError, match=r"column must be one of \['count', 'display_id'.*got 'clouds'"):
        scenes.lsru.plot(column="clouds")
    with pytest.raises(InvalidInputError, match="GeoDataFrame"):
        plotting.plot_footprints(pd.DataFrame(scenes.drop(columns="geometry")))


def test_plots_of_a_selection_and_of_empty_frames(scenes, tmp_path):
    picks = scenes.lsru.best(AOI, per="month")
    ax = picks.lsru.plot(AOI, column="period")  # a Period column: coloured as categories
    rendered(ax.figure, tmp_path / "picks.png")
    _, (left, right) = plt.subplots(2, 1)
    picks.lsru.plot_timeline(ax=left)
    assert right.xaxis.get_ticklabels()[0].get_visible()  # other axes of the figure are left alone
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = scenes.iloc[:0]
        for ax in (empty.lsru.plot(AOI), empty.lsru.plot(AOI, column="count"), empty.lsru.plot_timeline()):
            assert ax.get_title() in ("0 scenes over the AOI", "0 acquisitions")


def test_observation_map(scenes, tmp_path):
    ax = scenes.lsru.plot_observations(AOI, weighted=True)
    assert "expected clear observations" in ax.get_title()
    assert ax.figure.axes[-1].get_ylabel() == "expected clear observations"  # the colour bar
    rendered(ax.figure, tmp_path / "observations.png")
    with pytest.raises(InvalidInputError, match="polygonal"):
        scenes.lsru.plot_observations(AOI.centroid)


def test_timeline_per_satellite(usgs, scenes, tmp_path):
    landsat7 = usgs.search("landsat_etm_c2_l2", bbox=MONTPELLIER, begin="2019-05-01", end="2019-09-30")
    both = pd.concat([scenes, landsat7])
    ax = both.lsru.plot_timeline()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Landsat 7", "Landsat 8"]
    assert ax.get_title() == f"{len(both)} acquisitions"
    rendered(ax.figure, tmp_path / "timeline.png")
    unknown = scenes.assign(cloud_cover=np.where(np.arange(len(scenes)) % 3, scenes.cloud_cover, np.nan))
    ax = unknown.lsru.plot_timeline(by="path", color=None)
    assert len(ax.get_yticklabels()) == scenes.path.nunique()
    ax = unknown.lsru.plot_timeline()
    assert ax.get_legend() is not None  # grey dots for unknown cloud cover
    with pytest.raises(InvalidInputError, match="by must be a column"):
        scenes.lsru.plot_timeline(by="platform")


def test_browse_grid_of_thumbnails(scenes, tmp_path, emu):
    axes = scenes.lsru.browse(n=3, size="thumb")
    assert len(axes) == 3 and all(a.get_images() for a in axes)
    assert axes[0].get_title().startswith(scenes.display_id.iloc[0])
    image = axes[0].get_images()[0].get_array()
    assert 150 <= max(image.shape[:2]) <= 250 and image.shape[2] == 3
    rendered(axes[0].figure, tmp_path / "browse.png", min_bytes=20_000)
    assert len(emu.log.select("browse", "gen-browse")) == 3


def test_browse_into_given_axes_with_full_size_images(scenes):
    _, given = plt.subplots(1, 2)
    axes = scenes.lsru.browse(n=None, ax=given)
    assert list(axes) == list(given)
    assert 800 <= max(given[0].get_images()[0].get_array().shape[:2]) <= 1100
    single = scenes.lsru.browse(ax=given[0], size="thumb")
    assert list(single) == [given[0]]


def test_fetch_browse_errors_are_typed(scenes, emu, monkeypatch):
    monkeypatch.setattr(plotting, "BROWSE_RETRY", RetryPolicy(attempts=3, base=0.01, cap=0.02))
    url = scenes.browse_url.iloc[0]
    assert plotting.fetch_browse(url, size="thumb").dtype == np.uint8
    emu.faults.add("browse", "gen-browse", "status", status=503, times=1)
    assert plotting.fetch_browse(url, size="thumb").ndim == 3  # retried
    with pytest.raises(NotFoundError) as info:
        plotting.fetch_browse(url.replace("LC08_L1TP", "LC08_L1XX"))
    assert info.value.status == 404 and info.value.service == "browse"
    emu.faults.add("browse", "gen-browse", "status", status=500, times=None)
    with pytest.raises(ServerError):
        plotting.fetch_browse(url, size="thumb")
    emu.faults.clear()
    emu.faults.add("browse", "gen-browse", "status", status=200, message="<html>maintenance</html>")
    with pytest.raises(ApiError, match="not a PNG or JPEG"):
        plotting.fetch_browse(url, size="thumb")
    emu.faults.add("browse", "gen-browse", "delay", seconds=1.0, times=None)
    with pytest.raises(TransportError):
        scenes.lsru.browse(n=1, size="thumb", timeout=0.2)


def test_browse_refuses_bad_arguments(scenes):
    with pytest.raises(InvalidInputError, match=r"size must be one of \('rrb', 'thumb'\); got 'large'"):
        scenes.lsru.browse(size="large")
    with pytest.raises(InvalidInputError, match="n must be a whole number >= 1, got 0"):
        scenes.lsru.browse(n=0)
    with pytest.raises(InvalidInputError, match="no 'browse_url' column"):
        scenes.drop(columns="browse_url").lsru.browse()
    with pytest.raises(InvalidInputError, match="no scene of the frame has a browse_url"):
        scenes.assign(browse_url=None).lsru.browse()


def test_with_size_rewrites_only_the_size():
    url = "https://landsatlook.usgs.gov/gen-browse?size=rrb&type=refl&product_id=LC08_L1TP_1"
    assert plotting._with_size(url, "thumb") == url.replace("size=rrb", "size=thumb")
    assert "size=thumb" in plotting._with_size("http://h/gen-browse?product_id=x", "thumb")


def colour_bar(ax):
    (bar,) = [a for a in ax.figure.axes if a is not ax]
    return bar


def test_observation_counts_have_a_discrete_colour_bar_and_km_axes(scenes, tmp_path):
    from matplotlib.colors import BoundaryNorm

    counts = scenes.lsru.observation_count(AOI)
    ax = scenes.lsru.plot_observations(AOI)
    highest = int(np.nanmax(counts.values))
    image = ax.get_images()[0]
    assert isinstance(image.norm, BoundaryNorm) and image.cmap.N == highest + 1  # one colour per count, 0 included
    ticks = colour_bar(ax).get_yticks()
    assert len(ticks) >= 2 and all(float(t).is_integer() and 0 <= t <= highest for t in ticks)
    assert ax.get_xlabel() == "x (km, equal-area projection centred on the AOI)" and ax.get_ylabel() == "y (km)"
    left, right = ax.get_xlim()
    assert 20 < right - left < 40  # the AOI is about 24 km wide: kilometres, not metres
    rendered(ax.figure, tmp_path / "counts.png")
    expected = scenes.lsru.plot_observations(AOI, weighted=True)
    assert not isinstance(expected.get_images()[0].norm, BoundaryNorm)  # expected counts are not whole


def test_overlap_counts_have_whole_ticks(scenes):
    ax = scenes.lsru.plot(AOI, column="count")
    ticks = colour_bar(ax).get_yticks()
    assert len(ticks) >= 2 and all(float(t).is_integer() and t >= 1 for t in ticks)


def test_hundreds_of_footprints_are_drawn_once_per_path_row(usgs, tmp_path):
    many = usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2016-01-01", end="2019-12-31")
    cells = many.groupby(["path", "row"]).size()
    assert len(many) > plotting.GROUP_ABOVE
    ax = many.lsru.plot(AOI)
    assert ax.get_title() == f"{len(many)} scenes in {len(cells)} path/rows over the AOI"
    (shaded, *_) = ax.collections
    assert len(shaded.get_paths()) == len(cells)  # one polygon per path/row, not one per scene
    labels = sorted(t.get_text() for t in ax.texts)
    assert labels == sorted(f"{p}/{r}" for p, r in cells.index)
    ticks = colour_bar(ax).get_yticks()
    assert all(float(t).is_integer() and cells.min() <= t <= cells.max() for t in ticks)
    assert colour_bar(ax).get_ylabel() == "scenes per path/row"
    rendered(ax.figure, tmp_path / "many.png")
    few = many.head(plotting.GROUP_ABOVE)
    assert len(few.lsru.plot().collections[0].get_paths()) == len(few)  # below the threshold: every footprint


def test_projected_rasters_have_km_axes_named_by_their_crs():
    import rioxarray  # noqa: F401 - DataArray.rio
    import xarray as xr

    x = 500_000 + 1000 * np.arange(40)
    y = 2_900_000 - 1000 * np.arange(30)
    ndvi = xr.DataArray(np.linspace(-0.2, 0.8, 1200).reshape(30, 40), dims=("y", "x"), coords={"x": x, "y": y})
    ndvi = ndvi.rio.write_crs("EPSG:32612")
    ax = plotting.plot_raster(ndvi, cmap="RdYlGn", vmin=-0.2, vmax=0.8, label="NDVI")
    assert ax.get_xlabel() == "x (km, WGS 84 / UTM zone 12N)" and ax.get_ylabel() == "y (km)"
    assert ax.get_xlim() == (499.5, 539.5) and ax.get_ylim() == (2870.5, 2900.5)
    assert colour_bar(ax).get_ylabel() == "NDVI"
