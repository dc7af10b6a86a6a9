"""The emulator's LandsatLook browse images: URLs from search results, PNG bytes, sizes, errors."""

import datetime as dt
import io
import zlib

import numpy as np
import pytest
import requests

from lsru_geo.emulator import _catalogue as cat
from lsru_geo.emulator._browse import _content_id, encode_png

Image = pytest.importorskip("PIL.Image")  # to decode what the emulator encodes (pillow comes with matplotlib)
MONTPELLIER = (3.5, 43.4, 4.0, 44.0)


@pytest.fixture
def scenes(usgs):
    return usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-06-01", end="2019-07-31")


def get(url, **kwargs):
    return requests.get(url, timeout=10, **kwargs)


def decoded(response):
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_search_results_point_at_served_pngs(scenes, emu):
    url = scenes.browse_url.iloc[0]
    assert url.startswith(f"{emu.url}/gen-browse?size=rrb&type=refl&product_id=LC08_L1")
    response = get(url)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    image = decoded(response)
    assert image.dtype == np.uint8 and image.shape[2] == 3
    assert 800 <= max(image.shape[:2]) <= 1100 and image.std() > 20
    thumb = decoded(get(url.replace("size=rrb", "size=thumb")))
    assert 150 <= max(thumb.shape[:2]) <= 250
    assert [(e.service, e.endpoint, e.status) for e in emu.log.select("browse")] == [("browse", "gen-browse", 200)] * 2


def test_images_are_deterministic_and_differ_between_scenes(scenes, emu):
    urls = scenes.browse_url.iloc[:2].str.replace("size=rrb", "size=thumb")
    first = get(urls.iloc[0]).content
    emu.browse.reset()
    assert get(urls.iloc[0]).content == first
    assert get(urls.iloc[1]).content != first


def test_the_quicklook_shows_the_products_clouds_and_a_black_border(scenes):
    # white share inside the footprint follows the catalogue's cloud cover (clouds seeded from the L2 product id)
    for url, cloud in zip(scenes.browse_url.iloc[:6], scenes.cloud_cover.iloc[:6], strict=True):
        image = decoded(get(url.replace("size=rrb", "size=thumb"))).astype(int)
        footprint = image.sum(axis=2) > 0
        white = (image.min(axis=2) > 235) & footprint
        assert 100 * white.sum() / footprint.sum() == pytest.approx(cloud, abs=8)
        assert (image[0, 0] == 0).all() and (image[-1, -1] == 0).all()  # outside the tilted footprint


def test_the_browse_draws_the_level2_twin(scenes):
    l1_id = scenes.browse_url.iloc[0].rsplit("product_id=", 1)[1]
    facts = cat.describe(l1_id, dt.date.today())
    assert _content_id(facts, dt.date.today()) == scenes.display_id.iloc[0]


def test_mss_and_level1_only_scenes_have_browse_images(usgs):
    mss = usgs.search("landsat_mss_c2_l1", bbox=MONTPELLIER, begin="1990-06-01", end="1990-06-30")
    response = get(mss.browse_url.iloc[0].replace("size=rrb", "size=thumb"))
    assert response.status_code == 200 and decoded(response).std() > 10


@pytest.mark.parametrize(
    "query, status, text",
    [
        ("size=rrb&type=refl&product_id=LC08_L1TP_197029_20190823_20210420_02_T9", 404, "no browse image"),
        ("size=rrb&type=refl&product_id=garbage", 404, "no browse image"),
        ("size=huge&type=refl&product_id=x", 400, "size must be one of"),
        ("size=rrb&type=therm&product_id=x", 400, "type must be 'refl'"),
        ("size=rrb&type=refl", 400, "product_id is required"),
    ],
)
def test_bad_requests(emu, query, status, text):
    response = get(f"{emu.url}/gen-browse?{query}")
    assert response.status_code == status and text in response.text
    assert response.headers["Content-Type"] == "text/plain"


def test_methods_head_and_faults(scenes, emu):
    url = scenes.browse_url.iloc[0].replace("size=rrb", "size=thumb")
    assert requests.post(url, timeout=10).status_code == 405
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) > 1000 and not head.content
    emu.faults.add("browse", "gen-browse", "status", status=503)
    assert get(url).status_code == 503 and get(url).status_code == 200


def test_encode_png_round_trips_grey_rgb_and_rgba():
    rng = np.random.default_rng(0)
    for shape in ((7, 5), (7, 5, 3), (7, 5, 4)):
        array = rng.integers(0, 256, shape, dtype=np.uint8)
        png = encode_png(array)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), array)
        assert zlib.crc32(png[12:29]) == int.from_bytes(png[29:33], "big")  # IHDR checksum
