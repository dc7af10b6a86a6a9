"""Attacks from outside: servers that trickle, stall or rewrite answers, identifiers that try to leave their URL
segment, pagers that do not advance, and names that try to leave their folder. Every one must end in a typed
error within seconds, with nothing written outside the target and nothing silently short.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from hostile_servers import CaptureServer, RewritingProxy, TrickleServer

from lsru_geo import Espa, Order, Usgs, _m2m
from lsru_geo._download import fetch_md5, url_retrieve
from lsru_geo._http import HttpClient, RetryPolicy, TransferLimits
from lsru_geo.exceptions import (
    ApiError,
    ConfigError,
    DownloadError,
    InvalidInputError,
    StallError,
    UnsafeNameError,
)

QUICK = RetryPolicy(attempts=2, base=0.01, cap=0.02)
BOX = (0, 40, 10, 50)
DATES = {"begin": "2021-01-01", "end": "2021-01-31"}


@pytest.fixture
def stall_in_1s(monkeypatch, tmp_path):
    """A 1 s stall window (instead of 60 s), quick retries, credentials for any host, no ~/.lsru."""
    monkeypatch.setenv("LSRU_STALL_SECONDS", "1")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name, value in {"LSRU_USERNAME": "u", "LSRU_TOKEN": "t", "LSRU_PASSWORD": "p"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(HttpClient, "DEFAULT_RETRY", QUICK)


# -- stalls and deadlines ----------------------------------------------------------------------------------------


def test_a_trickled_download_is_a_stall_retried_then_a_typed_error(stall_in_1s, tmp_path):
    target = tmp_path / "out" / "P1.tar.gz"
    with TrickleServer("body", interval=0.2) as server:
        started = time.monotonic()
        with pytest.raises(DownloadError, match="stalled") as info:
            url_retrieve(server.url + "/P1.tar.gz", target)
        elapsed = time.monotonic() - started
    assert elapsed < 6  # two tries of a 1 s window; without the rule it would take 55 hours (1 MB at 5 B/s)
    assert len(server.requests) == QUICK.attempts  # a stall is retried like a dropped connection
    assert list(info.value.failed) == [str(target)]
    reason = info.value.failed[str(target)]
    assert "gave up after 2 attempt(s): stalled after" in reason and "less than 1024 bytes/s over 1 s" in reason


def test_a_silent_body_is_a_stall(stall_in_1s, tmp_path):
    with TrickleServer("silent") as server:
        started = time.monotonic()
        with pytest.raises(DownloadError, match="stalled"):
            url_retrieve(server.url + "/P1.tar.gz", tmp_path / "P1.tar.gz")
        assert time.monotonic() - started < 6


def test_a_trickled_md5_file_is_a_stall(stall_in_1s):
    with TrickleServer("body") as server:
        started = time.monotonic()
        with pytest.raises(DownloadError, match="stalled"):
            fetch_md5(server.url + "/P1.md5")
        assert time.monotonic() - started < 6


def test_a_trickled_api_answer_is_a_stall(stall_in_1s, monkeypatch):
    with TrickleServer("body") as server:
        monkeypatch.setenv("LSRU_M2M_URL", server.url + "/api/")
        started = time.monotonic()
        with pytest.raises(StallError, match="stalled"):
            Usgs().login()
        assert time.monotonic() - started < 6
        assert len(server.requests) == QUICK.attempts


def test_trickled_headers_meet_the_deadline_of_the_call(stall_in_1s, monkeypatch):
    monkeypatch.setenv("LSRU_DEADLINE_SECONDS", "1.5")
    with TrickleServer("headers", interval=0.1) as server:
        monkeypatch.setenv("LSRU_M2M_URL", server.url + "/api/")
        started = time.monotonic()
        with pytest.raises(StallError, match=r"deadline of 1\.5 s"):
            Usgs().login()
        assert 1.4 < time.monotonic() - started < 4
        assert len(server.requests) == 1  # no retry would fit in what is left of the deadline


def test_limits_per_call_override_the_environment(stall_in_1s, monkeypatch):
    monkeypatch.setenv("LSRU_STALL_SECONDS", "600")
    client = HttpClient("download", retry=RetryPolicy(attempts=1))
    with TrickleServer("body") as server:
        started = time.monotonic()
        with pytest.raises(StallError):
            client.call("GET", server.url, lambda r: r.content, limits=TransferLimits(stall_seconds=0.5))
        assert time.monotonic() - started < 3


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf"])
def test_bad_limit_variables_are_config_errors(monkeypatch, value):
    monkeypatch.setenv("LSRU_STALL_SECONDS", value)
    with pytest.raises(ConfigError, match="LSRU_STALL_SECONDS must be a positive number"):
        TransferLimits.from_env()


def test_a_steady_download_is_not_a_stall(emu, tmp_path, monkeypatch):
    """The stall rule bounds a slow body, not a long one: a 3 MB file at full speed with a 0.3 s window passes."""
    monkeypatch.setenv("LSRU_STALL_SECONDS", "0.3")
    (tmp_path / "big.tar.gz").write_bytes(os.urandom(3_000_000))
    url = emu.files.publish("orders/o1/big.tar.gz", tmp_path / "big.tar.gz")
    assert url_retrieve(url, tmp_path / "out" / "big.tar.gz")
    assert (tmp_path / "out" / "big.tar.gz").read_bytes() == (tmp_path / "big.tar.gz").read_bytes()


# -- identifiers into URLs ---------------------------------------------------------------------------------------


def test_order_ids_reach_the_server_as_one_escaped_segment(stall_in_1s, monkeypatch):
    with CaptureServer({"status": "ordered"}) as server:
        monkeypatch.setenv("LSRU_ESPA_URL", server.url + "/api/v1/")
        espa_ids = ["../../../admin/secret", "a?b=c#d", "espa-me+x@example.com-12072026-234819-392", "a b%2F"]
        assert [Order(orderid).status for orderid in espa_ids] == ["ordered"] * 4
    assert server.requests == [
        "GET /api/v1/order-status/..%2F..%2F..%2Fadmin%2Fsecret HTTP/1.1",
        "GET /api/v1/order-status/a%3Fb%3Dc%23d HTTP/1.1",
        "GET /api/v1/order-status/espa-me+x@example.com-12072026-234819-392 HTTP/1.1",
        "GET /api/v1/order-status/a%20b%252F HTTP/1.1",
    ]


@pytest.mark.parametrize("orderid", ["", " ", ".", "..", "a\nb", "x" * 300, None])
def test_order_ids_that_cannot_be_one_are_refused_before_any_request(stall_in_1s, monkeypatch, orderid):
    with CaptureServer({}) as server:
        monkeypatch.setenv("LSRU_ESPA_URL", server.url + "/api/v1/")
        with pytest.raises(InvalidInputError):
            Order(orderid).status  # noqa: B018
    assert server.requests == []


@pytest.mark.parametrize("version", ["../admin", "stable/../x", "stable?x=1", ""])
def test_api_versions_that_would_leave_their_segment_are_refused(emu, version):
    with pytest.raises(InvalidInputError, match="version"):
        Usgs(version=version)
    assert emu.log.select("m2m", "*") == []


# -- pagers ------------------------------------------------------------------------------------------------------


@pytest.fixture
def proxied(emu, monkeypatch):
    """A rewriting proxy in front of the emulator, the clients pointed at it, pages of 7 scenes."""
    proxy = RewritingProxy(emu.url)
    for name, value in proxy.env(emu.env()).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(_m2m, "PAGE_SIZE", 7)
    yield proxy
    proxy.close()


def _searches(proxy):
    return [e for e in proxy.log if e.path.endswith("/scene-search")]


def _rewrite_page(proxy, number, change, times=None):
    """Rewrite the ``number``-th page (1-based) of each search, ``times`` times at most."""
    done = []

    def rewrite(exchange):
        if exchange.path.endswith("/scene-search") and exchange.status == 200:
            data = json.loads(exchange.body)
            page = data["data"]
            if (
                page
                and page.get("nextRecord") is not None
                and _page_of(page) == number
                and (times is None or len(done) < times)
            ):
                done.append(1)
                change(page)
                exchange.body = json.dumps(data).encode()
        return exchange

    proxy.rewrite = rewrite


def _page_of(page):
    first = page["nextRecord"] - page["recordsReturned"] if page["results"] else page["nextRecord"]
    return (first - 1) // 7 + 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda page: page.update(results=[], recordsReturned=0), "no record at 8"),
        (lambda page: page.update(nextRecord=1), "nextRecord 1 does not advance"),
        (lambda page: page.update(totalHits=10), "past totalHits 10"),
    ],
    ids=["empty page", "nextRecord points back", "past totalHits"],
)
def test_a_pager_that_does_not_advance_is_an_error_after_one_repeat(proxied, change, message):
    usgs = Usgs()
    whole = len(usgs.search("landsat_ot_c2_l2", bbox=BOX, **DATES))
    assert whole > 20
    proxied.log.clear()
    _rewrite_page(proxied, 2, change)
    with pytest.raises(ApiError, match=message):
        usgs.search("landsat_ot_c2_l2", bbox=BOX, **DATES)
    assert len(_searches(proxied)) == 3  # page 1, page 2, page 2 once more


def test_a_repeated_page_is_an_error(proxied):
    usgs = Usgs()
    first_page = []

    def rewrite(exchange):
        if exchange.path.endswith("/scene-search") and exchange.status == 200:
            data = json.loads(exchange.body)
            if not first_page:
                first_page.extend(data["data"]["results"])
            else:
                data["data"]["results"] = first_page
                exchange.body = json.dumps(data).encode()
        return exchange

    proxied.rewrite = rewrite
    with pytest.raises(ApiError, match="repeats scenes already received"):
        usgs.search("landsat_ot_c2_l2", bbox=BOX, **DATES)


def test_one_glitch_is_ridden_out_by_the_repeat(proxied):
    usgs = Usgs()
    whole = usgs.search("landsat_ot_c2_l2", bbox=BOX, **DATES)
    _rewrite_page(proxied, 2, lambda page: page.update(results=[], recordsReturned=0), times=1)
    again = usgs.search("landsat_ot_c2_l2", bbox=BOX, **DATES)
    assert list(again.display_id) == list(whole.display_id)


def test_a_one_point_footprint_does_not_abort_the_search(proxied):
    usgs = Usgs()

    def rewrite(exchange):
        if exchange.path.endswith("/scene-search") and exchange.status == 200:
            data = json.loads(exchange.body)
            data["data"]["results"][0]["spatialCoverage"] = {"type": "Polygon", "coordinates": [[[1.0, 2.0]]]}
            exchange.body = json.dumps(data).encode()
        return exchange

    proxied.rewrite = rewrite
    scenes = usgs.search("landsat_ot_c2_l2", bbox=BOX, **DATES)
    assert len(scenes) > 20 and scenes.geometry.isna().sum() == -(-len(scenes) // 7)  # one per page, kept
    assert scenes.geometry.notna().sum() == len(scenes) - scenes.geometry.isna().sum()


# -- names from servers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("evil", ["../../evil.TIF", "..", "a\x00b.TIF", "x" * 300 + ".TIF", "C:evil.TIF", "a\nb.TIF"])
def test_file_names_from_the_service_pass_the_gate(proxied, tmp_path, evil):
    usgs = Usgs()
    usgs._http.retry = QUICK
    scenes = usgs.search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4.0, 44.0), begin="2019-06-01", end="2019-06-30")

    def rewrite(exchange):
        if exchange.path.endswith("/download-options") and exchange.status == 200:
            data = json.loads(exchange.body)
            for option in data["data"]:
                for secondary in option.get("secondaryDownloads") or []:
                    if secondary["displayId"].endswith("SR_B4.TIF"):
                        secondary["downloadName"] = secondary.get("downloadName") or secondary["displayId"]
                        secondary["displayId"] = evil  # the name the file is saved under
            exchange.body = json.dumps(data).encode()
        return exchange

    proxied.rewrite = rewrite
    with pytest.raises(UnsafeNameError, match="unsafe file name") as info:
        usgs.download(scenes.head(1), tmp_path / "out", bands=["red"], poll=0.05)
    assert repr(evil)[:50] in str(info.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.TIF").exists()
    assert not any(e.path.endswith("/download-request") for e in proxied.log)  # refused before asking


def test_an_unsafe_item_name_fails_that_item_only(proxied, emu, tmp_path, monkeypatch):
    monkeypatch.setattr(emu.options, "processing_seconds", 3600)
    scenes = Usgs().search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4.0, 44.0), begin="2019-06-01", end="2019-06-30")
    order = Espa().order(list(scenes.display_id[:3]), products=["l1"])
    emu.clock.advance(days=1)
    order.wait(poll=0.01, timeout=10)

    def rewrite(exchange):
        if "/item-status/" in exchange.path and exchange.status == 200:
            data = json.loads(exchange.body)
            items = next(iter(data.values()))
            items[0]["product_dload_url"] = items[0]["product_dload_url"].rsplit("/", 1)[0] + "/evil%0A.tar.gz"
            exchange.body = json.dumps(data).encode()
        return exchange

    proxied.rewrite = rewrite
    with pytest.raises(DownloadError) as info:
        order.download_all_complete(tmp_path / "out")
    assert list(info.value.failed) == [str(tmp_path / "out" / "evil%0A.tar.gz")]
    assert "control" in info.value.failed[str(tmp_path / "out" / "evil%0A.tar.gz")]
    assert len([p for p in os.listdir(tmp_path / "out") if p.endswith(".tar.gz")]) == 2  # the others were tried


def test_download_all_complete_tries_every_item_and_takes_unpack_limits(emu, tmp_path, monkeypatch):
    monkeypatch.setattr(emu.options, "processing_seconds", 3600)
    scenes = Usgs().search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4.0, 44.0), begin="2019-06-01", end="2019-06-30")
    order = Espa().order(list(scenes.display_id[:3]), products=["l1"])
    emu.clock.advance(days=1)
    order.wait(poll=0.01, timeout=10)
    tarballs = sorted(url.rsplit("/", 1)[1] for url in order.urls_completed)
    with pytest.raises(DownloadError) as info:
        order.download_all_complete(tmp_path, unpack=True, max_members=2)
    assert sorted(info.value.failed) == [str(tmp_path / name) for name in tarballs]  # each one tried
    assert all("more than 2 members" in reason for reason in info.value.failed.values())
    assert sorted(os.listdir(tmp_path)) == tarballs  # nothing unpacked, the verified tarballs kept
    folders = order.download_all_complete(tmp_path, unpack=True)
    assert sorted(f.name + ".tar.gz" for f in folders) == tarballs and all(f.is_dir() for f in folders)


def test_answers_missing_fields_are_api_errors(proxied, tmp_path):
    usgs = Usgs()
    scenes = usgs.search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4.0, 44.0), begin="2019-06-01", end="2019-06-30")

    def rewrite(exchange):
        if exchange.path.endswith("/download-options") and exchange.status == 200:
            data = json.loads(exchange.body)
            for option in data["data"]:
                option.pop("id", None)
            exchange.body = json.dumps(data).encode()
        return exchange

    proxied.rewrite = rewrite
    with pytest.raises(ApiError, match="download-options answer lacks 'id'"):
        usgs.download(scenes.head(1), tmp_path / "out", poll=0.05)
    assert not (tmp_path / "out").exists()
