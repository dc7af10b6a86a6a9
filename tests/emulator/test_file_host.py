"""The emulator's download host over real HTTP: ranges, validators, lazy products and injected faults."""

import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import urllib3

SIZE = 200_000


@pytest.fixture
def published(emu, tmp_path):
    """A random file on the host; returns (url, data, path)."""
    data = os.urandom(SIZE)
    path = tmp_path / "LC080330322023051702T1-SC20231226221722.tar.gz"
    path.write_bytes(data)
    url = emu.files.publish("orders/o1/" + path.name, path)
    return url, data, path


def served(emu, name="*"):
    return [(e.method, e.status, e.bytes_sent, e.fault) for e in emu.log.select("download", name)]


def test_get_serves_the_file_with_length_validators_and_range_support(emu, published):
    url, data, path = published
    assert url == f"{emu.url}/orders/o1/{path.name}"
    response = requests.get(url)
    assert response.status_code == 200 and response.content == data
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "application/x-gzip"
    assert response.headers["ETag"].startswith('"') and response.headers["Last-Modified"].endswith("GMT")
    assert served(emu) == [("GET", 200, SIZE, None)]


def test_head_sends_headers_only_and_needs_no_auth(emu, published):
    url, _, _ = published
    response = requests.head(url)
    assert (response.status_code, response.headers["Content-Length"], response.content) == (200, str(SIZE), b"")
    assert served(emu) == [("HEAD", 200, 0, None)]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=1000-", 1000, SIZE),
        ("bytes=1000-1999", 1000, 2000),
        ("bytes=-500", SIZE - 500, SIZE),
        ("bytes=0-999999", 0, SIZE),
    ],
)
def test_ranges_answer_206_with_content_range_and_count_only_the_bytes_sent(emu, published, header, start, end):
    url, data, _ = published
    response = requests.get(url, headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/{SIZE}"
    assert response.content == data[start:end] and response.headers["Content-Length"] == str(end - start)
    assert emu.log.bytes_sent("download") == end - start


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"])
def test_unsatisfiable_ranges_answer_416_with_the_size(published, header):
    url, _, _ = published
    response = requests.get(url, headers={"Range": header})
    assert (response.status_code, response.headers["Content-Range"], response.content) == (416, f"bytes */{SIZE}", b"")


@pytest.mark.parametrize("header", ["items=0-10", "bytes=0-10,20-30", "bytes=50-10", "bytes=abc"])
def test_malformed_or_multiple_ranges_are_ignored(published, header):
    url, data, _ = published
    response = requests.get(url, headers={"Range": header})
    assert (response.status_code, response.content) == (200, data)


def test_if_range_gives_the_range_only_for_the_same_version(published):
    url, data, path = published
    etag = requests.head(url).headers["ETag"]
    same = requests.get(url, headers={"Range": "bytes=10-", "If-Range": etag})
    assert (same.status_code, same.content) == (206, data[10:])
    path.write_bytes(data[::-1])  # a new version: new ETag and Last-Modified
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    other = requests.get(url, headers={"Range": "bytes=10-", "If-Range": etag})
    assert (other.status_code, other.content) == (200, data[::-1])
    assert other.headers["ETag"] != etag


def test_unknown_and_unpublished_paths_are_404_plain_text(emu, published):
    url, _, _ = published
    missing = requests.get(f"{emu.url}/orders/o1/nothing.tar.gz")
    assert (missing.status_code, missing.headers["Content-Type"]) == (404, "text/plain")
    assert missing.text == "404 Not Found: /orders/o1/nothing.tar.gz\n"
    emu.files.unpublish("orders/o1/" + url.rsplit("/", 1)[1])
    assert requests.get(url).status_code == 404 and requests.head(url).status_code == 404
    assert requests.post(f"{emu.url}/orders/o1/x").status_code == 405


def test_reset_forgets_published_files(emu, published):
    url, _, _ = published
    emu.files.reset()
    assert requests.get(url).status_code == 404


def test_a_callable_source_is_built_once_on_the_first_request_even_when_concurrent(emu, tmp_path):
    calls = []

    def build():
        calls.append(threading.get_ident())
        time.sleep(0.2)  # slow enough that the requests below all arrive while it runs
        path = tmp_path / "built.tar.gz"
        path.write_bytes(b"x" * 1000)
        return path

    url = emu.files.publish("/orders/o2/built.tar.gz", build)
    assert calls == []  # lazily: publishing builds nothing
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda m: requests.request(m, url).status_code, ["HEAD"] + ["GET"] * 7))
    assert statuses == [200] * 8 and len(calls) == 1


def test_a_failing_build_answers_500_and_is_tried_again(emu, tmp_path):
    attempts = []

    def build():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("disk full")
        (tmp_path / "b.tar.gz").write_bytes(b"ok")
        return tmp_path / "b.tar.gz"

    url = emu.files.publish("orders/o3/b.tar.gz", build)
    assert requests.get(url).status_code == 500
    assert requests.get(url).content == b"ok" and len(attempts) == 2


def test_publish_refuses_paths_outside_orders(emu, tmp_path):
    with pytest.raises(ValueError, match="/orders/"):
        emu.files.publish("api/v1/x", tmp_path)


def test_a_large_sparse_file_is_served_by_ranges_without_loading_it(emu, tmp_path):
    path = tmp_path / "big.tar.gz"
    with open(path, "wb") as f:
        f.truncate(1 << 30)  # 1 GiB, sparse
        f.seek((1 << 30) - 4)
        f.write(b"tail")
    url = emu.files.publish("orders/o4/big.tar.gz", path)
    assert requests.head(url).headers["Content-Length"] == str(1 << 30)
    response = requests.get(url, headers={"Range": "bytes=-4"})
    assert (response.status_code, response.content) == (206, b"tail")
    with requests.get(url, stream=True) as streamed:  # the start of the full body arrives at once
        first = next(streamed.iter_content(1 << 16))
    assert first == b"\0" * len(first) and len(first) > 0


# -- faults --------------------------------------------------------------------------------------------------------


def test_drop_after_bytes_cuts_the_body_and_the_log_counts_what_was_sent(emu, published):
    url, data, _ = published
    emu.faults.add("download", "*.tar.gz", "drop", after_bytes=50_000)
    with requests.get(url, stream=True) as response:
        received = bytearray()
        with pytest.raises(urllib3.exceptions.ProtocolError, match="IncompleteRead"):
            while chunk := response.raw.read1(4096):  # read1: what arrived, even when the rest never comes
                received += chunk
    assert bytes(received) == data[:50_000]
    emu.faults.add("download", "*.tar.gz", "drop", after_bytes=1_000)
    with (
        requests.get(url, headers={"Range": "bytes=100000-"}, stream=True) as response,
        pytest.raises(requests.exceptions.RequestException),
    ):
        response.content  # noqa: B018
    assert served(emu) == [("GET", 200, 50_000, "drop"), ("GET", 206, 1_000, "drop")]
    assert requests.get(url).content == data  # times=1 each: the next request is whole


def test_drop_before_answering(emu, published):
    url, _, _ = published
    emu.faults.add("download", "*", "drop")
    with pytest.raises(requests.ConnectionError):
        requests.get(url)
    deadline = time.monotonic() + 2  # the server logs a drop after closing the socket, so maybe after we return
    while not served(emu) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert served(emu) == [("GET", 0, 0, "drop")]


def test_status_bursts_with_retry_after(emu, published):
    url, _, _ = published
    emu.faults.add("download", "*.tar.gz", "status", status=429, retry_after=2, times=1)
    emu.faults.add("download", "*.tar.gz", "status", status=503, times=2)
    first = requests.get(url)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert [requests.get(url).status_code for _ in range(3)] == [503, 503, 200]


def test_delay_holds_the_answer(emu, published):
    url, _, _ = published
    emu.faults.add("download", "*", "delay", seconds=0.3)
    started = time.perf_counter()
    assert requests.get(url).status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_ignore_range_answers_200_with_the_whole_file(emu, published):
    url, data, _ = published
    emu.faults.add("download", "*.tar.gz", "ignore_range", times=1)
    response = requests.get(url, headers={"Range": "bytes=1000-"})
    assert (response.status_code, response.content, "Content-Range" in response.headers) == (200, data, False)
    assert requests.get(url, headers={"Range": "bytes=1000-"}).status_code == 206  # times=1
    assert served(emu)[0] == ("GET", 200, SIZE, None)


def test_wrong_md5_serves_another_well_formed_digest(emu, tmp_path):
    data = b"product bytes"
    name = "P-SC1.tar.gz"
    (tmp_path / "P-SC1.md5").write_text(f"{hashlib.md5(data).hexdigest()} {name}")
    url = emu.files.publish("orders/o5/P-SC1.md5", tmp_path / "P-SC1.md5")
    emu.faults.add("download", "P-SC1.md5", "wrong_md5", times=1)
    emu.faults.add("download", name, "wrong_md5", times=1)  # matched through the tarball's name as well
    first, second, third = (requests.get(url).text for _ in range(3))
    assert third == f"{hashlib.md5(data).hexdigest()} {name}"
    for wrong in (first, second):
        digest, rest = wrong.split(" ")
        assert len(digest) == 32 and int(digest, 16) >= 0 and digest != third.split()[0] and rest == name
    assert requests.head(url).headers["Content-Length"] == str(len(third))


def test_bandwidth_is_capped_per_connection(emu, tmp_path):
    rate = 400_000
    urls = []
    for i in range(3):
        (tmp_path / f"f{i}.tar.gz").write_bytes(os.urandom(200_000))
        urls.append(emu.files.publish(f"orders/o6/f{i}.tar.gz", tmp_path / f"f{i}.tar.gz"))
    emu.faults.add("download", "f*.tar.gz", "bandwidth", bytes_per_second=rate, times=None)
    started = time.perf_counter()
    assert len(requests.get(urls[0]).content) == 200_000
    one = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(3) as pool:
        sizes = list(pool.map(lambda u: len(requests.get(u).content), urls))
    three = time.perf_counter() - started
    assert sizes == [200_000] * 3
    assert 0.45 <= one <= 1.0  # 200 kB at 400 kB/s
    assert three <= 1.0  # three connections, each at the full cap (a shared cap would take 1.5 s)
    assert emu.log.bytes_sent("download") == 800_000
