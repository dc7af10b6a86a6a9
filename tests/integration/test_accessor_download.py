"""gdf.lsru.download, .open and .open_stack on search results, against the emulator."""

import numpy as np
import pytest

from lsru_geo import InvalidInputError

MONTPELLIER = (3.5, 43.4, 4.0, 44.0)


@pytest.fixture
def scenes(usgs, emu, monkeypatch):
    monkeypatch.setattr(emu.options, "m2m_prepare_seconds", 0)
    return usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-06-01", end="2019-06-30").head(3)


def test_download_bands_then_open_and_stack(scenes, usgs, tmp_path):
    located = scenes.lsru.download(tmp_path, bands=["red", "nir08", "qa_pixel"], usgs=usgs, poll=0.05)
    assert "local_path" not in scenes.columns  # the input frame is left alone
    assert list(located.local_path) == [str(tmp_path / pid) for pid in scenes.display_id]
    one = located.head(1).lsru.open(bands=["red", "qa_pixel"])
    assert set(one.data_vars) == {"red", "qa_pixel"} and one.attrs["product_id"] == scenes.display_id.iloc[0]
    again = located.lsru.open(row=located.index[1], bands=["red"])
    assert again.attrs["product_id"] == scenes.display_id.iloc[1]
    stack = located.lsru.open_stack(bands=["red", "nir08"])
    assert stack.sizes["time"] == 3 and np.all(np.diff(stack.time.values) >= np.timedelta64(0))
    ndvi = stack.lsru.ndvi().isel(time=0).compute()
    assert np.nanmax(ndvi.values) <= 1 and np.nanmin(ndvi.values) >= -1 and np.isfinite(ndvi.values).any()


def test_whole_bundles_open_in_place(scenes, usgs, tmp_path):
    located = scenes.head(1).lsru.download(tmp_path, usgs=usgs, poll=0.05)
    assert located.local_path.iloc[0].endswith(".tar")
    ds = located.lsru.open(bands=["swir16"])
    assert float(ds.swir16.mean()) > 0


def test_open_needs_local_paths(scenes):
    with pytest.raises(InvalidInputError, match="download the scenes first"):
        scenes.lsru.open()
    located = scenes.assign(local_path="x")
    with pytest.raises(InvalidInputError, match="pass row="):
        located.lsru.open()
    with pytest.raises(InvalidInputError, match="no row 'z'"):
        located.lsru.open(row="z")
