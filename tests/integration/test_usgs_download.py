"""Level-2 products straight from USGS: the emulator's download endpoints and Usgs.download."""

import json
import tarfile

import pytest
import requests

from lsru_geo import DownloadError, InvalidInputError, RateLimitError

MONTPELLIER = (3.5, 43.4, 4.0, 44.0)


@pytest.fixture
def quick(emu, monkeypatch):
    monkeypatch.setattr(emu.options, "m2m_prepare_seconds", 3600)  # bundles get ready when a test moves the clock
    return emu


@pytest.fixture
def scenes(usgs, quick):
    return usgs.search("landsat_ot_c2_l2", bbox=MONTPELLIER, begin="2019-06-01", end="2019-06-30")


def test_bundle_download_waits_for_preparation(usgs, scenes, quick, tmp_path, monkeypatch):
    monkeypatch.setattr(quick.options, "m2m_prepare_seconds", 0.5)
    paths = usgs.download(scenes.head(2), tmp_path, poll=0.05, timeout=20)
    assert [p.name for p in paths] == [f"{d}.tar" for d in scenes.display_id[:2]]
    with tarfile.open(paths[0]) as tar:
        names = tar.getnames()
    display_id = scenes.display_id.iloc[0]
    assert (
        f"{display_id}_SR_B4.TIF" in names
        and f"{display_id}_MTL.json" in names
        and f"{display_id}_QA_PIXEL.TIF" in names
    )
    assert all("/" not in n for n in names)
    retrieves = quick.log.select("m2m", "download-retrieve")
    assert len(retrieves) >= 2  # polled while preparing


def test_band_files_by_usgs_or_common_name(usgs, scenes, quick, tmp_path):
    paths = usgs.download(scenes.head(1), tmp_path, bands=["red", "NIR08", "qa_pixel", "ST_B10.TIF"], poll=0.05)
    display_id = scenes.display_id.iloc[0]
    assert sorted(p.name for p in paths) == sorted(
        f"{display_id}_{s}" for s in ("SR_B4.TIF", "SR_B5.TIF", "QA_PIXEL.TIF", "ST_B10.TIF", "MTL.txt", "MTL.json")
    )
    assert {p.parent for p in paths} == {tmp_path / display_id}
    mtl = json.loads((tmp_path / display_id / f"{display_id}_MTL.json").read_text())
    assert mtl["LANDSAT_METADATA_FILE"]["PRODUCT_CONTENTS"]["LANDSAT_PRODUCT_ID"] == display_id


def test_download_by_product_ids(usgs, scenes, quick, tmp_path):
    paths = usgs.download(list(scenes.display_id[:1]), tmp_path, bands=["green"], poll=0.05)
    assert paths[0].name.endswith("_SR_B3.TIF")


def test_second_call_skips_and_counts_no_bytes(usgs, scenes, quick, tmp_path):
    usgs.download(scenes.head(1), tmp_path, bands=["red"], poll=0.05)
    sent = quick.log.bytes_sent("download")
    again = usgs.download(scenes.head(1), tmp_path, bands=["red"], poll=0.05)
    assert len(again) == 3 and quick.log.bytes_sent("download") == sent
    requests_made = quick.log.select("m2m", "download-request")[-1]
    assert requests_made.status == 200


def test_bad_requests_fail_early(usgs, scenes, quick, tmp_path):
    with pytest.raises(InvalidInputError, match="no band 'COASTALISH'"):
        usgs.download(scenes.head(1), tmp_path, bands=["coastalish"])
    with pytest.raises(InvalidInputError, match="non-empty list"):
        usgs.download(scenes.head(1), tmp_path, bands="red")
    with pytest.raises(InvalidInputError, match=r"lack the column\(s\) \[.dataset., .entity_id.\]"):
        usgs.download(scenes[["display_id", "geometry"]], tmp_path)
    assert quick.log.select("m2m", "download-request") == []


def test_download_limits_are_enforced(usgs, scenes, quick, tmp_path, monkeypatch):
    monkeypatch.setattr(quick.options, "download_limit_recent", 3)
    with pytest.raises(RateLimitError) as info:
        usgs.download(scenes.head(4), tmp_path, poll=0.05)
    assert info.value.code == "RATE_LIMIT_USER_DL"
    assert len(quick.log.select("m2m", "download-request")) == 1  # a 15-minute limit is not retried in a loop


def test_not_prepared_in_time(usgs, scenes, quick, tmp_path):
    with pytest.raises(DownloadError, match="did not prepare it in time") as info:
        usgs.download(scenes.head(1), tmp_path, poll=0.05, timeout=0.2)
    assert len(info.value.failed) == 1


def key_of(emu):
    return requests.post(emu.m2m_url + "stable/login-token", json={"username": "demo", "token": "demo-token"}).json()[
        "data"
    ]


def call(emu, key, endpoint, body):
    return requests.post(emu.m2m_url + "stable/" + endpoint, headers={"X-Auth-Token": key}, json=body).json()


def test_wire_shapes(scenes, quick):
    key = key_of(quick)
    entity = scenes.entity_id.iloc[0]
    options = call(
        quick,
        key,
        "download-options",
        {
            "datasetName": "landsat_ot_c2_l2",
            "entityIds": f"{entity},{scenes.entity_id.iloc[1]}",
            "includeSecondaryFileGroups": True,
        },
    )["data"]
    mine = [o for o in options if o["entityId"] == entity]
    bundles = [o for o in mine if o["productName"] == "Landsat Collection 2 Level-2 Product Bundle"]
    assert sorted(o["available"] for o in bundles) == [False, True]  # a superseded product is still listed
    current = next(o for o in bundles if o["available"])
    assert current["id"] == "632210d4770592cf" and current["filesize"] > 0
    secondary = current["secondaryDownloads"]
    band = next(s for s in secondary if s["displayId"].endswith("_SR_B4.TIF"))
    assert band["entityId"] == f"L2_{scenes.display_id.iloc[0]}_SR_B4_TIF" and band["datasetId"] == "5f85f041c828327a"
    # the secondary list is repeated under the band-file product as well
    assert any(
        o["productName"] == "Landsat Collection 2 Level-2 Band File" and o["secondaryDownloads"] == secondary
        for o in mine
    )

    answer = call(
        quick,
        key,
        "download-request",
        {
            "downloads": [
                {"entityId": entity, "productId": current["id"]},
                {"entityId": band["entityId"], "productId": band["id"]},
                {"entityId": entity, "productId": band["id"]},  # the scene's id with a band's product: invalid
            ]
        },
    )["data"]
    assert answer["numInvalidScenes"] == 1 and len(answer["failed"]) == 1
    assert len(answer["availableDownloads"]) == 1 and len(answer["preparingDownloads"]) == 1
    assert "/download-staging/" in answer["preparingDownloads"][0]["url"]
    label = next(iter(answer["newRecords"].values()))
    assert label.startswith("m2m_") and len(answer["newRecords"]) == 2
    assert {d["limitType"] for d in answer["remainingLimits"]} == {"user", "ip"}
    again = call(quick, key, "download-request", {"downloads": [{"entityId": entity, "productId": current["id"]}]})[
        "data"
    ]
    assert again["newRecords"] == {} and len(again["duplicateProducts"]) == 1

    waiting = call(quick, key, "download-retrieve", {"label": label})["data"]
    assert len(waiting["available"]) == 1 and len(waiting["requested"]) == 1
    quick.clock.advance(hours=1.01)  # past the preparation, before the key's two idle hours
    ready = call(quick, key, "download-retrieve", {"label": label})["data"]
    assert len(ready["available"]) == 2 and ready["requested"] == []
    url = next(e["url"] for e in ready["available"] if e["entityId"] == entity)
    head = requests.head(url)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == current["filesize"]
    partial = requests.get(url, headers={"Range": "bytes=0-511"})
    assert partial.status_code == 206 and len(partial.content) == 512
    too_long = call(
        quick,
        key,
        "download-request",
        {"downloads": [{"entityId": entity, "productId": current["id"]}], "label": "x" * 51},
    )
    assert too_long["errorCode"] == "INPUT_PARAMETER_INVALID"
