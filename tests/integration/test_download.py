"""The download engine against the emulator's download host, over real HTTP (no mocks).

Bytes are counted on the server (``emu.log``), so "resumes" means "fetched only the missing bytes".
"""

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from lsru_geo._download import (
    DownloadReport,
    FileRequest,
    download_files,
    fetch_md5,
    parse_md5,
    url_retrieve,
    url_retrieve_and_unpack,
)
from lsru_geo._http import RetryPolicy
from lsru_geo.exceptions import (
    ApiError,
    ChecksumError,
    DownloadError,
    InvalidInputError,
    UnsafeArchiveError,
    UnsafeNameError,
)

FAST = RetryPolicy(attempts=6, base=0.01, cap=0.05)
ONCE = RetryPolicy(attempts=1)


@dataclass
class Remote:
    name: str
    url: str
    md5_url: str
    data: bytes
    path: Path  # the file on the server side

    @property
    def md5(self):
        return hashlib.md5(self.data).hexdigest()

    def request(self, **kw):
        return FileRequest(self.url, md5_url=self.md5_url, **kw)

    def replace(self, data):
        """Publish a new version under the same URL (new content, checksum and mtime)."""
        self.data = data
        self.path.write_bytes(data)
        later = time.time_ns() + 10_000_000_000
        os.utime(self.path, ns=(later, later))
        self.path.with_name(self.name[: -len(".tar.gz")] + ".md5").write_text(f"{self.md5} {self.name}")


def publish(emu, tmp_path, name="P1-SC1.tar.gz", size=300_000, order="o1", data=None):
    folder = tmp_path / "server" / order
    folder.mkdir(parents=True, exist_ok=True)
    data = os.urandom(size) if data is None else data
    (folder / name).write_bytes(data)
    stem = name[: -len(".tar.gz")]
    (folder / f"{stem}.md5").write_text(f"{hashlib.md5(data).hexdigest()} {name}")
    url = emu.files.publish(f"orders/{order}/{name}", folder / name)
    md5_url = emu.files.publish(f"orders/{order}/{stem}.md5", folder / f"{stem}.md5")
    return Remote(name, url, md5_url, data, folder / name)


def served(emu, name="*.tar.gz"):
    return [(e.method, e.status, e.bytes_sent, e.fault) for e in emu.log.select("download", name)]


def listing(folder):
    return sorted(os.listdir(folder))


@pytest.fixture
def out(tmp_path):
    return tmp_path / "out"


# -- the plain case ------------------------------------------------------------------------------------------------


def test_files_are_downloaded_verified_and_nothing_else_is_left(emu, tmp_path, out):
    remotes = [publish(emu, tmp_path, f"P{i}-SC1.tar.gz", 100_000 + i) for i in range(3)]
    report = download_files([r.request() for r in remotes], out, workers=2, retry=FAST)
    assert isinstance(report, DownloadReport)
    assert report.downloaded == report.paths == [out / r.name for r in remotes]
    assert (report.skipped, report.failed, report.bytes) == ([], {}, 300_003)
    assert report.seconds > 0 and report.throughput == report.bytes / report.seconds
    assert str(report).startswith("3 downloaded, 0 skipped, 0 failed; 0.3 MB in ")
    assert all((out / r.name).read_bytes() == r.data for r in remotes)
    assert listing(out) == sorted(r.name for r in remotes)  # no .part, .part.json or .lock
    report.raise_for_failures()  # nothing failed: no error


def test_plain_urls_explicit_md5_and_names(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    assert download_files([remote.url], out).downloaded == [out / remote.name]
    renamed = download_files([FileRequest(remote.url, name="renamed.bin", md5=remote.md5.upper())], out)
    assert renamed.downloaded == [out / "renamed.bin"] and (out / "renamed.bin").read_bytes() == remote.data


def test_invalid_names_are_refused_before_any_request(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    for name in ("../escape.bin", "a/b", "..", ""):
        with pytest.raises(InvalidInputError, match="name"):
            download_files([FileRequest(remote.url, name=name)], out)
    with pytest.raises(InvalidInputError):
        download_files([f"{emu.url}/orders/o1/"], out)
    assert served(emu, "*") == [] and not (tmp_path / "escape.bin").exists()


def test_duplicates_are_fetched_once_and_name_clashes_fail(emu, tmp_path, out):
    a = publish(emu, tmp_path, "A-SC1.tar.gz", order="o1")
    clash = publish(emu, tmp_path, "A-SC1.tar.gz", order="o2")
    report = download_files([a.url, a.url, clash.url], out)
    assert report.paths == [out / a.name, out / a.name] and report.downloaded == [out / a.name]
    assert list(report.failed) == [str(out / a.name)]  # failures are keyed by local path
    assert (
        f"{clash.url}: another file of this call, {a.url}, is also named 'A-SC1.tar.gz'"
        in report.failed[str(out / a.name)]
    )
    assert served(emu) == [("GET", 200, 300_000, None)]


def test_fetch_md5_reads_espa_checksum_files(emu, tmp_path):
    remote = publish(emu, tmp_path)
    assert fetch_md5(remote.md5_url) == remote.md5
    assert parse_md5(f"{remote.md5.upper()} {remote.name}") == remote.md5
    with pytest.raises(ChecksumError, match="does not hold an MD5"):
        fetch_md5(remote.url)  # a tarball is no checksum file
    with pytest.raises(DownloadError, match="404"):
        fetch_md5(f"{emu.url}/orders/o1/none.md5")


# -- skipping what is complete -------------------------------------------------------------------------------------


def test_complete_files_are_skipped_by_md5_without_transferring_them(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    download_files([remote.request()], out)
    mtime = (out / remote.name).stat().st_mtime_ns
    emu.log.clear()
    report = download_files([remote.request()], out)
    assert (report.downloaded, report.skipped, report.bytes) == ([], [out / remote.name], 0)
    assert served(emu) == [] and [e.endpoint for e in emu.log.select("download")] == ["P1-SC1.md5"]
    assert (out / remote.name).stat().st_mtime_ns == mtime


def test_complete_files_are_skipped_by_size_with_a_head_or_no_request_at_all(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    download_files([remote.url], out)
    emu.log.clear()
    assert download_files([remote.url], out).skipped == [out / remote.name]
    assert served(emu) == [("HEAD", 200, 0, None)]
    emu.log.clear()
    assert download_files([FileRequest(remote.url, size=len(remote.data))], out).skipped == [out / remote.name]
    assert served(emu) == []


def test_an_existing_file_that_differs_is_downloaded_again(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    out.mkdir()
    (out / remote.name).write_bytes(b"\0" * len(remote.data))  # right size, wrong bytes: only an MD5 can tell
    assert download_files([remote.url], out).skipped == [out / remote.name]
    assert download_files([remote.request()], out).downloaded == [out / remote.name]
    assert (out / remote.name).read_bytes() == remote.data
    (out / remote.name).write_bytes(b"short")
    assert download_files([remote.url], out).downloaded == [out / remote.name]
    assert (out / remote.name).read_bytes() == remote.data


def test_check_complete_false_trusts_existing_files_and_overwrite_replaces_them(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    out.mkdir()
    (out / remote.name).write_bytes(b"stale")
    assert download_files([remote.request()], out, check_complete=False).skipped == [out / remote.name]
    assert (out / remote.name).read_bytes() == b"stale" and served(emu, "*") == []
    report = download_files([remote.request()], out, check_complete=False, overwrite=True)
    assert report.downloaded == [out / remote.name] and (out / remote.name).read_bytes() == remote.data


def test_an_existing_file_is_kept_when_the_remote_is_gone(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    download_files([remote.request()], out)
    emu.files.reset()  # purged order: .md5 and tarball answer 404
    report = download_files([remote.request()], out, retry=FAST)
    assert report.skipped == [out / remote.name] and report.failed == {}


# -- resuming ------------------------------------------------------------------------------------------------------


def test_a_connection_dropped_mid_file_is_resumed_fetching_only_the_missing_bytes(emu, tmp_path, out):
    remote = publish(emu, tmp_path, size=1_000_000)
    emu.faults.add("download", remote.name, "drop", after_bytes=400_000)
    report = download_files([remote.request()], out, retry=FAST)
    assert report.downloaded == [out / remote.name] and (out / remote.name).read_bytes() == remote.data
    assert served(emu) == [("GET", 200, 400_000, "drop"), ("GET", 206, 600_000, None)]
    assert emu.log.bytes_sent("download", remote.name) == report.bytes == 1_000_000
    assert listing(out) == [remote.name]


def test_a_part_left_by_a_failed_call_is_resumed_by_the_next(emu, tmp_path, out):
    remote = publish(emu, tmp_path, size=1_000_000)
    emu.faults.add("download", remote.name, "drop", after_bytes=250_000)
    failed = download_files([remote.request()], out, retry=ONCE)
    assert "connection dropped after 250,000 of 1,000,000 bytes" in failed.failed[str(out / remote.name)]
    assert listing(out) == [remote.name + ".part", remote.name + ".part.json"]
    assert (out / (remote.name + ".part")).read_bytes() == remote.data[:250_000]
    emu.log.clear()
    report = download_files([remote.request()], out)
    assert report.downloaded == [out / remote.name] and (out / remote.name).read_bytes() == remote.data
    assert served(emu) == [("GET", 206, 750_000, None)]
    assert listing(out) == [remote.name]


def test_a_server_that_ignores_range_gets_a_clean_restart(emu, tmp_path, out):
    remote = publish(emu, tmp_path, size=600_000)
    emu.faults.add("download", remote.name, "drop", after_bytes=200_000)
    download_files([remote.request()], out, retry=ONCE)
    emu.faults.add("download", remote.name, "ignore_range")
    emu.log.clear()
    report = download_files([remote.request()], out)
    assert report.downloaded == [out / remote.name] and (out / remote.name).read_bytes() == remote.data
    assert served(emu) == [("GET", 200, 600_000, None)]  # the whole file once, not appended to the part


def test_a_remote_file_changed_since_the_part_was_written_is_fetched_anew(emu, tmp_path, out):
    remote = publish(emu, tmp_path, size=500_000)
    emu.faults.add("download", remote.name, "drop", after_bytes=200_000)
    download_files([remote.request()], out, retry=ONCE)
    remote.replace(os.urandom(500_000))  # same size, new content: only the validators tell
    emu.log.clear()
    report = download_files([remote.request()], out)
    assert (out / remote.name).read_bytes() == remote.data and report.downloaded == [out / remote.name]
    assert served(emu) == [("GET", 200, 500_000, None)]  # If-Range did not match: the new file whole


def test_a_part_of_another_size_is_discarded_when_the_range_answer_disagrees(emu, tmp_path, out):
    remote = publish(emu, tmp_path, size=500_000)
    emu.faults.add("download", remote.name, "drop", after_bytes=200_000)
    download_files([remote.request()], out, retry=ONCE)
    sidecar = out / (remote.name + ".part.json")
    state = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**state, "total": 900_000, "etag": None}))  # a part of an older, bigger version
    emu.log.clear()
    report = download_files([remote.request()], out)
    assert (out / remote.name).read_bytes() == remote.data and report.downloaded == [out / remote.name]
    (_, first, _, _), second = served(emu)
    assert first == 206 and second == ("GET", 200, 500_000, None)  # the 206 is closed unread, the file fetched anew


def test_a_complete_part_is_finished_without_a_body(emu, tmp_path, out):
    remote = publish(emu, tmp_path, size=100_000)
    out.mkdir()
    part = out / (remote.name + ".part")
    part.write_bytes(remote.data)  # as left by a process killed between the last byte and the rename
    head = requests.head(remote.url).headers
    state = {"url": remote.url, "total": 100_000, "etag": head["ETag"], "last_modified": head["Last-Modified"]}
    (out / (remote.name + ".part.json")).write_text(json.dumps(state))
    emu.log.clear()
    assert download_files([remote.request()], out).downloaded == [out / remote.name]
    assert (out / remote.name).read_bytes() == remote.data and listing(out) == [remote.name]
    assert served(emu) == [("GET", 416, 0, None)]


def test_a_part_without_its_sidecar_is_not_trusted(emu, tmp_path, out):
    remote = publish(emu, tmp_path, size=100_000)
    out.mkdir()
    (out / (remote.name + ".part")).write_bytes(b"?" * 50_000)  # from another tool: cannot be checked
    assert download_files([remote.request()], out).downloaded == [out / remote.name]
    assert (out / remote.name).read_bytes() == remote.data
    assert served(emu) == [("GET", 200, 100_000, None)]


def test_a_killed_download_resumes_on_the_next_call(emu, tmp_path, out):
    remote = publish(emu, tmp_path, size=1_000_000)
    emu.faults.add("download", remote.name, "bandwidth", bytes_per_second=400_000, times=None)
    code = textwrap.dedent(
        f"""
        from lsru_geo._download import FileRequest, download_files
        download_files([FileRequest({remote.url!r}, md5_url={remote.md5_url!r})], {str(out)!r}, progress=False)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    part = out / (remote.name + ".part")
    deadline = time.monotonic() + 20
    while (not part.exists() or part.stat().st_size < 300_000) and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    assert child.wait(10) == -signal.SIGKILL
    kept = part.stat().st_size
    assert 300_000 <= kept < 1_000_000
    emu.faults.clear()
    before = len(emu.log.select("download", remote.name))
    report = download_files([remote.request()], out)
    assert report.downloaded == [out / remote.name] and (out / remote.name).read_bytes() == remote.data
    resumed = emu.log.select("download", remote.name)[before:]
    assert [(e.method, e.status, e.bytes_sent) for e in resumed] == [("GET", 206, 1_000_000 - kept)]
    assert listing(out) == [remote.name]


# -- verification --------------------------------------------------------------------------------------------------


def test_a_wrong_md5_is_detected_and_the_file_is_not_kept(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    emu.faults.add("download", "P1-SC1.md5", "wrong_md5", times=None)
    report = download_files([remote.request()], out)
    key = str(out / remote.name)
    assert report.downloaded == [] and list(report.failed) == [key]
    assert "MD5" in report.failed[key] and "not kept" in report.failed[key]
    assert not out.exists() or listing(out) == []  # neither the file nor its part
    with pytest.raises(DownloadError, match=r"1 file\(s\) failed") as caught:
        report.raise_for_failures()
    assert key in str(caught.value) and caught.value.failed == report.failed


def test_an_explicit_wrong_md5_or_size_fails_too(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    report = download_files([FileRequest(remote.url, md5="0" * 32), FileRequest(remote.url, name="b", size=5)], out)
    assert len(report.failed) == 2  # one entry per local file
    assert "MD5" in report.failed[str(out / remote.name)] and listing(out) == []
    assert "size 300000 is not the expected 5" in report.failed[str(out / "b")]
    report = download_files([FileRequest(remote.url, size=5)], out)
    assert "size 300000 is not the expected 5" in report.failed[str(out / remote.name)] and listing(out) == []


def test_a_checksum_file_wrong_once_is_read_again_without_downloading_again(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    emu.faults.add("download", "P1-SC1.md5", "wrong_md5", times=1)
    report = download_files([remote.request()], out)
    assert report.downloaded == [out / remote.name] and (out / remote.name).read_bytes() == remote.data
    assert served(emu) == [("GET", 200, 300_000, None)]


# -- retries -------------------------------------------------------------------------------------------------------


def test_429_and_503_bursts_are_ridden_out_honouring_retry_after(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    emu.faults.add("download", remote.name, "status", status=429, retry_after=0.3, times=2)
    emu.faults.add("download", remote.name, "status", status=503, times=2)
    started = time.perf_counter()
    report = download_files([remote.request()], out, retry=FAST)
    elapsed = time.perf_counter() - started
    assert report.downloaded == [out / remote.name] and (out / remote.name).read_bytes() == remote.data
    assert [s for _, s, _, _ in served(emu)] == [429, 429, 503, 503, 200]
    assert 0.6 <= elapsed < 2.0  # two Retry-After waits; the 503 backoffs are tiny with FAST


def test_exhausted_retries_give_a_clear_error_per_file_and_others_succeed(emu, tmp_path, out):
    good = publish(emu, tmp_path, "G-SC1.tar.gz")
    bad = publish(emu, tmp_path, "B-SC1.tar.gz")
    emu.faults.add("download", bad.name, "status", status=503, times=None)
    emu.faults.add("download", "*", "delay", seconds=0.0, times=None)
    report = download_files([bad.request(), good.request()], out, retry=FAST)
    assert report.downloaded == [out / good.name] and list(report.failed) == [str(out / bad.name)]
    assert (
        report.failed[str(out / bad.name)].startswith("B-SC1.tar.gz: gave up after 6 attempt(s)")
        and "503" in report.failed[str(out / bad.name)]
    )
    assert len(served(emu, bad.name)) == 6
    assert listing(out) == [good.name]


def test_dropped_connections_before_any_byte_are_retried(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    emu.faults.add("download", remote.name, "drop", times=2)
    assert download_files([remote.request()], out, retry=FAST).downloaded == [out / remote.name]


def test_not_found_fails_at_once(emu, tmp_path, out):
    url = f"{emu.url}/orders/o1/missing.tar.gz"
    report = download_files([url], out, retry=FAST)
    assert "HTTP 404" in report.failed[str(out / "missing.tar.gz")] and len(served(emu)) == 1


def test_a_retry_after_beyond_the_policy_is_not_waited_for(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    emu.faults.add("download", remote.name, "status", status=429, retry_after=3600)
    started = time.perf_counter()
    report = download_files([remote.url], out, retry=RetryPolicy(max_retry_after=60))
    assert "asks to wait 3600 s" in report.failed[str(out / remote.name)] and time.perf_counter() - started < 2


# -- parallelism and processes -------------------------------------------------------------------------------------


def test_workers_bound_the_parallel_downloads(emu, tmp_path, out):
    remotes = [publish(emu, tmp_path, f"W{i}-SC1.tar.gz", 100_000) for i in range(4)]
    emu.faults.add("download", "W*.tar.gz", "bandwidth", bytes_per_second=200_000, times=None)  # 0.5 s a file
    started = time.perf_counter()
    assert len(download_files([r.url for r in remotes], out / "a", workers=4).downloaded) == 4
    four = time.perf_counter() - started
    started = time.perf_counter()
    assert len(download_files([r.url for r in remotes], out / "b", workers=2).downloaded) == 4
    two = time.perf_counter() - started
    assert four < 0.95 <= two  # one round of 0.5 s against two


PROCESS = """
import json, sys
from lsru_geo._download import FileRequest, download_files
requests = [FileRequest(url, md5_url=md5) for url, md5 in json.loads(sys.argv[1])]
print("ready", flush=True)
sys.stdin.readline()  # start together
report = download_files(requests, sys.argv[2], workers=2, progress=False)
print(json.dumps({"downloaded": [p.name for p in report.downloaded], "skipped": [p.name for p in report.skipped],
                  "failed": report.failed}), flush=True)
"""


def test_two_processes_downloading_into_one_folder_end_with_one_copy_of_each(emu, tmp_path, out):
    remotes = [publish(emu, tmp_path, f"C{i}-SC1.tar.gz", 200_000) for i in range(4)]
    emu.faults.add("download", "C*.tar.gz", "bandwidth", bytes_per_second=500_000, times=None)
    argument = json.dumps([[r.url, r.md5_url] for r in remotes])
    children = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS, argument, str(out)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for child in children:
        assert child.stdout.readline() == "ready\n"
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [json.loads(child.communicate(timeout=30)[0]) for child in children]
    assert [child.returncode for child in children] == [0, 0]
    assert all(r["failed"] == {} for r in results)
    downloaded = [set(r["downloaded"]) for r in results]
    assert downloaded[0] | downloaded[1] == {r.name for r in remotes} and not downloaded[0] & downloaded[1]
    assert all(set(r["downloaded"]) | set(r["skipped"]) == {x.name for x in remotes} for r in results)
    assert all((out / r.name).read_bytes() == r.data for r in remotes)
    assert listing(out) == sorted(r.name for r in remotes)
    assert emu.log.bytes_sent("download", "C*.tar.gz") == 4 * 200_000  # each file transferred once


# -- progress ------------------------------------------------------------------------------------------------------


def test_quiet_when_stderr_is_not_a_terminal_and_a_bar_on_request(emu, tmp_path, out, capfd):
    remote = publish(emu, tmp_path)
    download_files([remote.url], out / "a")
    assert capfd.readouterr().err == ""
    download_files([remote.url], out / "b", progress=True)
    err = capfd.readouterr().err
    assert "1 file(s)" in err and "293k" in err  # 300,000 B in KiB units


# -- the lsru 0.6.2 helpers ----------------------------------------------------------------------------------------


def test_url_retrieve(emu, tmp_path):
    remote = publish(emu, tmp_path)
    filename = str(tmp_path / "new" / "file.tar.gz")
    assert url_retrieve(remote.url, filename) == filename
    assert Path(filename).read_bytes() == remote.data
    emu.log.clear()
    assert url_retrieve(remote.url, filename) == filename  # same size: kept after a HEAD
    assert served(emu) == [("HEAD", 200, 0, None)]
    Path(filename).write_bytes(b"partial")
    url_retrieve(remote.url, filename)  # size differs: downloaded again
    assert Path(filename).read_bytes() == remote.data
    Path(filename).write_bytes(b"partial")
    emu.log.clear()
    url_retrieve(remote.url, filename, check_complete=False)  # trusted as is
    assert Path(filename).read_bytes() == b"partial" and served(emu) == []
    url_retrieve(remote.url, Path(filename), overwrite=True, check_complete=False)
    assert Path(filename).read_bytes() == remote.data and served(emu) == [("GET", 200, 300_000, None)]
    with pytest.raises(DownloadError, match="404"):
        url_retrieve(f"{emu.url}/orders/o1/missing.tar.gz", tmp_path / "missing.tar.gz")


def tarball(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            info = tarfile.TarInfo(info) if isinstance(info, str) else info
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_url_retrieve_and_unpack(emu, tmp_path):
    product = "LC080330322023051702T1-SC20231226221722"
    remote = publish(emu, tmp_path, f"{product}.tar.gz", data=tarball([("a_SR_B4.tif", b"b4"), ("a_MTL.txt", b"mtl")]))
    out = tmp_path / "products"
    path = url_retrieve_and_unpack(remote.url, out)
    assert path == str(out / product)
    assert sorted(os.listdir(path)) == ["a_MTL.txt", "a_SR_B4.tif"] and listing(out) == [product]  # tarball removed
    (out / product / "a_MTL.txt").write_bytes(b"edited")
    emu.log.clear()
    assert url_retrieve_and_unpack(remote.url, out) == path and served(emu, "*") == []  # exists: no request
    assert (out / product / "a_MTL.txt").read_bytes() == b"edited"
    assert url_retrieve_and_unpack(remote.url, out, overwrite=True) == path
    assert (out / product / "a_MTL.txt").read_bytes() == b"mtl" and listing(out) == [product]


def test_url_retrieve_and_unpack_refuses_unsafe_archives(emu, tmp_path):
    evil = tarfile.TarInfo("../evil.txt")
    remote = publish(emu, tmp_path, "E-SC1.tar.gz", data=tarball([("ok.tif", b"ok"), (evil, b"x")]))
    out = tmp_path / "products"
    with pytest.raises(UnsafeArchiveError, match=re.escape("'../evil.txt'")):
        url_retrieve_and_unpack(remote.url, out)
    assert not (tmp_path / "evil.txt").exists() and not (out / "E-SC1").exists()
    assert listing(out) == ["E-SC1.tar.gz"]  # the verified download stays; nothing was unpacked


# -- hostile disks and folders, validators, one retry policy -------------------------------------------------------

FULL_DISK = """
import json, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
from lsru_geo._download import url_retrieve
from lsru_geo.exceptions import DownloadError
try:
    url_retrieve(sys.argv[1], sys.argv[2])
except DownloadError as error:
    print(json.dumps(error.failed))
    sys.exit(3)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_is_a_typed_error_and_the_next_run_is_not_blocked(emu, tmp_path, out):
    remote = publish(emu, tmp_path, size=1_000_000)
    target = out / remote.name
    child = subprocess.run(
        [sys.executable, "-c", FULL_DISK, remote.url, str(target)], capture_output=True, text=True, timeout=60
    )
    assert child.returncode == 3, child.stderr
    failed = json.loads(child.stdout)
    assert (
        list(failed) == [str(target)] and "the disk is full or the file size limit was reached" in failed[str(target)]
    )
    assert listing(out) == []  # the part was removed: the space is given back, and nothing blocks a re-run
    assert url_retrieve(remote.url, target) == str(target) and target.read_bytes() == remote.data
    assert listing(out) == [remote.name]


def test_a_target_folder_that_is_a_file_is_a_typed_error(emu, tmp_path):
    remote = publish(emu, tmp_path)
    (tmp_path / "taken").write_text("a file")
    for folder in (tmp_path / "taken", tmp_path / "taken" / "below"):
        with pytest.raises(
            DownloadError, match=re.escape(f"cannot download into {folder}: it (or a folder above it) is a file")
        ):
            download_files([remote.url], folder)
    with pytest.raises(DownloadError, match="is a file"):
        url_retrieve(remote.url, tmp_path / "taken" / remote.name)
    assert served(emu, "*") == []


def test_a_symbolic_link_under_a_file_name_cannot_lead_outside(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    out.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (out / remote.name).symlink_to(outside / "stolen.tar.gz")
    with pytest.raises(UnsafeNameError, match="leads outside"):
        download_files([remote.url], out, overwrite=True)
    assert listing(outside) == [] and served(emu, "*") == []


def part_left_behind(remote, out, sidecar, size=100_000):
    """A part of ``size`` bytes of ``remote`` as an interrupted run would have left it, with ``sidecar``."""
    out.mkdir(exist_ok=True)
    (out / f"{remote.name}.part").write_bytes(remote.data[:size])
    (out / f"{remote.name}.part.json").write_text(json.dumps({"url": remote.url, "total": len(remote.data), **sidecar}))


def test_a_part_without_validator_nor_md5_is_not_resumed(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    part_left_behind(remote, out, {"etag": None, "last_modified": None})
    assert download_files([remote.url], out).downloaded == [out / remote.name]  # no MD5 known
    assert served(emu) == [("GET", 200, 300_000, None)]  # from the start: no Range was sent
    assert (out / remote.name).read_bytes() == remote.data


def test_a_part_with_a_weak_etag_only_is_not_resumed(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    part_left_behind(remote, out, {"etag": 'W/"abc"', "last_modified": None})
    assert download_files([remote.url], out).downloaded == [out / remote.name]
    assert served(emu) == [("GET", 200, 300_000, None)]


def test_a_part_is_resumed_with_a_validator_or_a_known_md5(emu, tmp_path, out):
    remote = publish(emu, tmp_path)
    head = requests.head(remote.url)
    emu.log.clear()
    part_left_behind(remote, out, {"etag": head.headers["ETag"], "last_modified": None})
    assert download_files([remote.url], out).downloaded == [out / remote.name]
    assert served(emu) == [("GET", 206, 200_000, None)]
    emu.log.clear()
    part_left_behind(remote, out / "md5", {"etag": None, "last_modified": None})
    assert download_files([remote.request()], out / "md5").downloaded == [out / "md5" / remote.name]
    assert served(emu) == [("GET", 206, 200_000, None)]  # the MD5 checks the whole file at the end
    assert (out / "md5" / remote.name).read_bytes() == remote.data


def test_one_retry_policy_decides_for_downloads_and_api_calls(emu, tmp_path, out, usgs):
    remote = publish(emu, tmp_path)
    emu.faults.add("download", remote.name, "status", status=500, times=1)
    assert "HTTP 500" in download_files([remote.url], out, retry=FAST).failed[str(out / remote.name)]
    emu.faults.add("m2m", "scene-search", "status", status=500, times=1)
    with pytest.raises(ApiError):
        usgs.search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4.0, 44.0), begin="2019-06-01", end="2019-06-30")
    # the same policy with 500 among its statuses retries both
    policy = RetryPolicy(attempts=3, base=0.01, cap=0.02, statuses=frozenset({500, 502, 503, 504, 429}))
    emu.log.clear()
    emu.faults.add("download", remote.name, "status", status=500, times=1)
    assert download_files([remote.url], out, retry=policy).downloaded == [out / remote.name]
    usgs._http.retry = policy
    emu.faults.add("m2m", "scene-search", "status", status=500, times=1)
    assert len(usgs.search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4.0, 44.0), begin="2019-06-01", end="2019-06-30"))
    assert [e.status for e in emu.log.select("download", remote.name)] == [500, 200]
    assert [e.status for e in emu.log.select("m2m", "scene-search")] == [500, 200]


def test_unpack_limits_are_settable_from_url_retrieve_and_unpack(emu, tmp_path):
    remote = publish(emu, tmp_path, "L-SC1.tar.gz", data=tarball([(f"f{i}.tif", b"x") for i in range(5)]))
    out = tmp_path / "products"
    with pytest.raises(UnsafeArchiveError, match="more than 4 members"):
        url_retrieve_and_unpack(remote.url, out, max_members=4)
    assert listing(out) == ["L-SC1.tar.gz"]
    with pytest.raises(UnsafeArchiveError, match="expands to more than"):
        url_retrieve_and_unpack(remote.url, out, max_size=4)
    assert listing(out / url_retrieve_and_unpack(remote.url, out, max_members=5)) == [f"f{i}.tif" for i in range(5)]
