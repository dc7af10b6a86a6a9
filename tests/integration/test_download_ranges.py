"""Busy tails: idle workers fetch byte ranges of the files still running (issue 13, point 6).

Against the emulator's download host behind its per-connection cap (``bandwidth`` fault). Bytes and answers are
counted on the server (``emu.log``); connections are counted in the kernel's socket table (``/proc/net/tcp``), so
"never more connections than workers" is measured, not assumed.
"""

import gc
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from lsru_geo._download import FileRequest, download_files
from lsru_geo._http import RetryPolicy

FAST = RetryPolicy(attempts=6, base=0.01, cap=0.05)
ONCE = RetryPolicy(attempts=1)
MIB = 1 << 20


class Remote:
    def __init__(self, emu, tmp_path, name, size):
        folder = tmp_path / "server"
        folder.mkdir(exist_ok=True)
        self.name, self.data, self.path = name, os.urandom(size), folder / name
        self.path.write_bytes(self.data)
        stem = name[: -len(".tar.gz")]
        (folder / f"{stem}.md5").write_text(f"{self.md5} {name}")
        self.url = emu.files.publish(f"orders/o1/{name}", self.path)
        self.md5_url = emu.files.publish(f"orders/o1/{stem}.md5", folder / f"{stem}.md5")

    @property
    def md5(self):
        return hashlib.md5(self.data).hexdigest()

    def request(self, **kw):
        return FileRequest(self.url, md5_url=self.md5_url, **kw)


def gets(emu, name):
    return [(e.status, e.bytes_sent, e.fault) for e in emu.log.select("download", name) if e.method == "GET"]


def listing(folder):
    return sorted(os.listdir(folder))


@contextmanager
def connections_to(url):
    """Sample this machine's established TCP connections to ``url``'s port (client side) while the block runs.

    Yields a list whose first item ends up the largest number seen at once. Connections already open are not
    counted (a closed session's sockets may wait for the garbage collector).
    """
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        pytest.skip("counting connections needs /proc/net/tcp (Linux)")
    port = f"{urlsplit(url).port:04X}"

    def established():
        found = set()
        for table in tables:
            if table.exists():
                for line in table.read_text().splitlines()[1:]:
                    fields = line.split()
                    if fields[3] == "01" and fields[2].endswith(":" + port):  # ESTABLISHED, remote port = server
                        found.add(fields[1])
        return found

    gc.collect()
    before = established()
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], len(established() - before))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


@pytest.fixture
def out(tmp_path):
    return tmp_path / "out"


def test_a_capped_single_file_is_fetched_in_several_ranges_and_verified_whole(emu, tmp_path, out):
    remote = Remote(emu, tmp_path, "BIG-SC1.tar.gz", 6 * MIB + 12_345)
    emu.faults.add("download", remote.name, "bandwidth", bytes_per_second=2_000_000, times=None)
    with connections_to(emu.url) as peak:
        report = download_files([remote.request()], out, workers=4, retry=FAST)
    assert report.downloaded == [out / remote.name] and report.failed == {}
    assert (out / remote.name).read_bytes() == remote.data  # and its MD5 was checked against the .md5 file
    assert listing(out) == [remote.name]  # no .part, .part.json(.tmp) or .lock left
    answers = gets(emu, remote.name)
    assert [status for status, _, _ in answers].count(200) == 1  # the first request, for the whole file
    assert [status for status, _, _ in answers].count(206) >= 3  # at least one range per idle worker
    assert report.bytes == len(remote.data)  # every byte written once
    # a stream cut short by a split may have had a little more in flight, never a whole range more
    assert len(remote.data) <= sum(sent for _, sent, _ in answers) < len(remote.data) + 4 * MIB // 4
    assert 3 <= peak[0] <= 4


def test_a_file_split_in_ranges_that_does_not_match_its_md5_is_not_kept(emu, tmp_path, out):
    remote = Remote(emu, tmp_path, "BAD-SC1.tar.gz", 4 * MIB)
    emu.faults.add("download", remote.name, "bandwidth", bytes_per_second=4_000_000, times=None)
    report = download_files([FileRequest(remote.url, md5="0" * 32)], out, workers=4, retry=FAST)
    assert "is not the expected 00000000000000000000000000000000" in report.failed[str(out / remote.name)]
    assert [status for status, _, _ in gets(emu, remote.name)].count(206) >= 1  # it was fetched in ranges
    assert listing(out) == []


def test_never_more_connections_than_workers_with_several_files(emu, tmp_path, out):
    remotes = [Remote(emu, tmp_path, f"M{i}-SC1.tar.gz", 3 * MIB) for i in range(3)]
    emu.faults.add("download", "M*.tar.gz", "bandwidth", bytes_per_second=4_000_000, times=None)
    with connections_to(emu.url) as peak:
        report = download_files([r.request() for r in remotes], out, workers=2, retry=FAST)
    assert report.downloaded == [out / r.name for r in remotes]
    assert all((out / r.name).read_bytes() == r.data for r in remotes)
    assert peak[0] == 2
    # the last file was left to one worker when the other finished: it got help
    assert any(status == 206 for r in remotes for status, _, _ in gets(emu, r.name))


def test_a_server_that_ignores_range_is_read_on_one_connection(emu, tmp_path, out):
    remote = Remote(emu, tmp_path, "NR-SC1.tar.gz", 4 * MIB)
    emu.faults.add("download", remote.name, "bandwidth", bytes_per_second=2_000_000, times=None)
    emu.faults.add("download", remote.name, "ignore_range", times=None)
    report = download_files([remote.request()], out, workers=4, retry=FAST)
    assert report.downloaded == [out / remote.name] and (out / remote.name).read_bytes() == remote.data
    answers = gets(emu, remote.name)
    assert all(status == 200 for status, _, _ in answers)  # every range answered with the whole file
    whole = [sent for _, sent, _ in answers if sent == len(remote.data)]
    assert len(whole) == 1 and 2 <= len(answers) <= 4  # one stream read on; each helper asked once, at most
    assert report.bytes == len(remote.data)  # nothing written from the refused answers, no restart
    assert listing(out) == [remote.name]


def test_an_interrupted_download_in_several_ranges_resumes_fetching_only_the_gaps(emu, tmp_path, out):
    remote = Remote(emu, tmp_path, "R-SC1.tar.gz", 6 * MIB)
    emu.faults.add("download", remote.name, "bandwidth", bytes_per_second=1_000_000, times=None)
    emu.faults.add("download", remote.name, "drop", after_bytes=300_000, times=None)  # every stream is cut
    first = download_files([remote.request()], out, workers=4, retry=ONCE)
    assert str(out / remote.name) in first.failed
    assert listing(out) == [remote.name + ".part", remote.name + ".part.json"]
    state = json.loads((out / (remote.name + ".part.json")).read_text())
    spans = state["ranges"]
    assert len(spans) >= 2 and spans[0][0] == 0  # the first stream's bytes and at least one helper's
    part = (out / (remote.name + ".part")).read_bytes()
    assert all(part[a:b] == remote.data[a:b] for a, b in spans)  # the sidecar lists only bytes written
    kept = sum(b - a for a, b in spans)
    emu.faults.clear()
    emu.log.clear()
    report = download_files([remote.request()], out, workers=1, retry=FAST)
    assert report.downloaded == [out / remote.name] and (out / remote.name).read_bytes() == remote.data
    answers = gets(emu, remote.name)
    assert all(status == 206 for status, _, _ in answers) and len(answers) == len(spans)  # one range per gap
    assert sum(sent for _, sent, _ in answers) == len(remote.data) - kept  # only the missing bytes
    assert listing(out) == [remote.name]


def test_ranges_whose_connections_drop_are_finished_by_the_owner_without_refetching_a_byte(emu, tmp_path, out):
    remote = Remote(emu, tmp_path, "D-SC1.tar.gz", 4 * MIB)
    emu.faults.add("download", remote.name, "bandwidth", bytes_per_second=4_000_000, times=None)
    emu.faults.add("download", remote.name, "drop", after_bytes=700_000, times=4)  # the first four streams are cut
    report = download_files([remote.request()], out, workers=4, retry=FAST)
    assert report.downloaded == [out / remote.name] and (out / remote.name).read_bytes() == remote.data
    answers = gets(emu, remote.name)
    assert [fault for _, _, fault in answers].count("drop") == 4 and answers[0][0] == 200
    assert all(status == 206 for status, _, _ in answers[1:])  # helpers' ranges, then the gaps: never all again
    assert report.bytes == len(remote.data)  # what every cut stream wrote was kept
    assert listing(out) == [remote.name]


def test_a_killed_download_in_several_ranges_resumes_on_the_next_call(emu, tmp_path, out):
    remote = Remote(emu, tmp_path, "K-SC1.tar.gz", 8 * MIB)  # 4 s on 4 connections
    emu.faults.add("download", remote.name, "bandwidth", bytes_per_second=500_000, times=None)
    code = textwrap.dedent(
        f"""
        from lsru_geo._download import FileRequest, download_files
        download_files([FileRequest({remote.url!r}, md5_url={remote.md5_url!r})], {str(out)!r}, progress=False)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    sidecar = out / (remote.name + ".part.json")
    deadline = time.monotonic() + 20
    spans = []
    while time.monotonic() < deadline and len(spans) < 3 and child.poll() is None:  # until helpers' bytes are recorded
        time.sleep(0.05)
        try:
            spans = [s for s in json.loads(sidecar.read_text()).get("ranges", []) if s[1] > s[0]]
        except (OSError, ValueError):
            pass
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert len(spans) >= 3, "the killed download had not recorded several ranges"
    emu.faults.clear()
    emu.log.clear()
    report = download_files([remote.request()], out, workers=4, retry=FAST)
    assert report.downloaded == [out / remote.name] and (out / remote.name).read_bytes() == remote.data
    assert report.bytes < len(remote.data) - MIB  # what the killed run had recorded was kept
    assert listing(out) == [remote.name]


def resumable_part(remote, out, ranges, fill=b"\0"):
    """A part of ``remote`` holding ``ranges`` (the rest ``fill``), with a sidecar listing them."""
    out.mkdir(exist_ok=True)
    data = bytearray(fill * len(remote.data))
    for a, b in ranges:
        data[a:b] = remote.data[a:b]
    (out / f"{remote.name}.part").write_bytes(bytes(data[: max(b for _, b in ranges)]))
    head = requests.head(remote.url).headers
    state = {"url": remote.url, "total": len(remote.data), "etag": head["ETag"], "last_modified": None}
    (out / f"{remote.name}.part.json").write_text(json.dumps({**state, "ranges": [list(r) for r in ranges]}))


def test_a_part_with_ranges_is_resumed_by_its_gaps_and_a_lying_sidecar_is_not_trusted(emu, tmp_path, out):
    remote = Remote(emu, tmp_path, "S-SC1.tar.gz", 300_000)
    resumable_part(remote, out, [(0, 100_000), (200_000, 250_000)])
    emu.log.clear()
    assert download_files([remote.request()], out, workers=1).downloaded == [out / remote.name]
    assert gets(emu, remote.name) == [(206, 100_000, None), (206, 50_000, None)]
    assert (out / remote.name).read_bytes() == remote.data

    (out / remote.name).unlink()
    resumable_part(remote, out, [(0, 100_000), (200_000, 250_000)])
    sidecar = out / f"{remote.name}.part.json"
    state = json.loads(sidecar.read_text())
    for lie in ([[0, 100_000], [200_000, 260_000]], [[0, 100_000], [50_000, 150_000]], "all", [[0, 1.5]]):
        sidecar.write_text(json.dumps({**state, "ranges": lie}))  # past the part's end, overlapping, malformed
        emu.log.clear()
        assert download_files([remote.request()], out, workers=1).downloaded == [out / remote.name]
        assert gets(emu, remote.name) == [(200, 300_000, None)]  # not trusted: the whole file again
        (out / remote.name).unlink()
        resumable_part(remote, out, [(0, 100_000), (200_000, 250_000)])


def test_a_range_whose_bytes_are_wrong_fails_the_md5_and_is_not_kept(emu, tmp_path, out):
    remote = Remote(emu, tmp_path, "W-SC1.tar.gz", 300_000)
    resumable_part(remote, out, [(0, 100_000), (200_000, 250_000)])
    part = out / f"{remote.name}.part"
    damaged = bytearray(part.read_bytes())
    damaged[220_000] ^= 0xFF  # inside a range the sidecar lists
    part.write_bytes(bytes(damaged))
    report = download_files([FileRequest(remote.url, md5=remote.md5)], out, workers=1)
    assert "MD5" in report.failed[str(out / remote.name)] and listing(out) == []
