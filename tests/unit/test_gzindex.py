"""The persistent .tar.gz index: exact bytes, reuse across processes, stale/corrupt sidecars rebuilt,
concurrent builders, the cache folder for read-only folders."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from lsru_geo import _gzindex as gzx
from lsru_geo.exceptions import InvalidInputError

MiB = 1 << 20
LONG_NAME = "folder/" + "a_very_long_member_name_" * 6 + ".tif"  # > 100 characters: a GNU long-name header


def member_bytes(seed: int, size: int) -> bytes:
    """Compressible but not trivial bytes (4 bits of entropy per byte), different for each seed."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 16, size, dtype=np.uint8).tobytes()


def make_archive(path: Path, seed: int = 0, fmt: int = tarfile.GNU_FORMAT) -> dict[str, bytes]:
    """A .tar.gz of ~17 MiB uncompressed: three 4 MiB members, then a 3 MiB one ("target"), then small ones."""
    contents = {f"pad{i}.bin": member_bytes(seed * 10 + i, 4 * MiB) for i in range(3)}
    contents["target.bin"] = member_bytes(seed * 10 + 5, 3 * MiB + 12345)
    contents[LONG_NAME] = member_bytes(seed * 10 + 6, 70_000)
    contents["é_unicode_pax.txt"] = b"hello pax\n"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        for name, data in contents.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        folder = tarfile.TarInfo("folder")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
    with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=1, mtime=0) as gz:
        gz.write(raw.getvalue())
    return contents


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LSRU_CACHE_DIR", str(tmp_path / "user-cache"))
    gzx.clear_caches()
    yield
    gzx.clear_caches()


@pytest.fixture
def archive(tmp_path) -> tuple[Path, dict[str, bytes]]:
    path = tmp_path / "products" / "P.tar.gz"
    path.parent.mkdir()
    return path, make_archive(path)


def run_python(code: str, tmp_path: Path) -> dict:
    env = {**os.environ, "LSRU_CACHE_DIR": str(tmp_path / "user-cache")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------
# Content
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_members_and_bytes_equal_tarfile(tmp_path, fmt):
    path = tmp_path / "P.tar.gz"
    contents = make_archive(path, fmt=fmt)
    archive = gzx.IndexedTarGz(path)
    assert list(archive.members) == list(contents)  # regular files only, in archive order, long/pax names
    with tarfile.open(path) as tar:
        for name in contents:
            info = tar.getmember(name)
            assert archive.members[name] == (info.offset_data, info.size)
    for name, data in contents.items():
        assert archive.read_member(name) == data


def test_random_reads_and_seeks_match(archive):
    path, contents = archive
    tgz = gzx.indexed_archive(path)
    data = contents["pad1.bin"]
    rng = np.random.default_rng(1)
    with tgz.open_member("pad1.bin") as fh:
        assert fh.seekable() and fh.readable()
        for _ in range(60):
            start = int(rng.integers(0, len(data)))
            length = int(rng.choice([1, 511, 4096, 70_000, 5 * MiB]))
            fh.seek(start)
            assert fh.read(length) == data[start : start + length]
            assert fh.tell() == min(start + length, len(data))
        fh.seek(-10, io.SEEK_END)
        assert fh.read() == data[-10:]
        fh.seek(10)
        fh.seek(5, io.SEEK_CUR)
        buffer = bytearray(100)
        assert fh.readinto(buffer) == 100 and bytes(buffer) == data[15:115]
        fh.seek(len(data) + 5)
        assert fh.read(10) == b""


def test_unknown_member_missing_archive_and_non_gzip_are_clear_errors(archive, tmp_path):
    path, _ = archive
    with pytest.raises(FileNotFoundError, match=r"nope\.tif"):
        gzx.indexed_archive(path).open_member("nope.tif")
    with pytest.raises(InvalidInputError, match="no such archive"):
        gzx.ensure_index(tmp_path / "missing.tar.gz")
    plain = tmp_path / "plain.tar.gz"
    plain.write_bytes(b"this is not gzip" * 1000)
    with pytest.raises(InvalidInputError, match=r"plain\.tar\.gz"):
        gzx.ensure_index(plain)
    not_tar = tmp_path / "nottar.tar.gz"
    not_tar.write_bytes(gzip.compress(b"\x07" * 600_000))
    with pytest.raises(InvalidInputError, match="tar"):
        gzx.ensure_index(not_tar)
    assert not list(tmp_path.glob("*.lsru-index"))


def test_a_read_inflates_the_member_plus_at_most_a_seek_spacing_at_each_end(archive):
    path, contents = archive
    tgz = gzx.indexed_archive(path)
    gzx.clear_caches()
    before = gzx.bytes_inflated()
    assert tgz.read_member("target.bin") == contents["target.bin"]
    inflated = gzx.bytes_inflated() - before
    assert len(contents["target.bin"]) <= inflated <= len(contents["target.bin"]) + 2 * gzx.SPACING
    before = gzx.bytes_inflated()
    tgz.read_member("target.bin")  # read again: the same bound
    assert gzx.bytes_inflated() - before <= len(contents["target.bin"]) + 2 * gzx.SPACING


def test_strips_read_by_separate_tasks_continue_where_the_last_one_stopped(archive):
    """Chunk tasks read a band strip after strip, each through its own file, interleaved with other bands:
    the band is inflated about once, not once plus a seek spacing per strip."""
    path, contents = archive
    tgz = gzx.indexed_archive(path)
    gzx.clear_caches()
    before = gzx.bytes_inflated()
    strip = 300_000
    for name in ("pad1.bin", "pad2.bin"):
        tgz.read_member(name)  # warm nothing useful: other members
    for start in range(0, 4 * MiB, strip):
        for name in ("pad1.bin", "target.bin"):
            if start >= len(contents[name]):
                continue
            with tgz.open_member(name) as fh:  # a new file per task, as rasterio's opener gives
                fh.seek(start)
                assert fh.read(strip) == contents[name][start : start + strip]
    read = 2 * 4 * MiB + 4 * MiB + len(contents["target.bin"])
    assert gzx.bytes_inflated() - before <= read + 4 * gzx.SPACING


# ---------------------------------------------------------------------------------------------------------
# Persistence and reuse
# ---------------------------------------------------------------------------------------------------------


def test_index_is_reused_by_another_process(archive, tmp_path):
    path, contents = archive
    sidecar = gzx.ensure_index(path)
    assert sidecar == path.with_name(path.name + ".lsru-index")
    stamp = sidecar.stat().st_mtime_ns
    code = f"""
import json, hashlib
from lsru_geo import _gzindex as gzx
tgz = gzx.indexed_archive({str(path)!r})
data = tgz.read_member("target.bin")
print(json.dumps({{"builds": gzx.index_builds(), "inflated": gzx.bytes_inflated(),
                  "md5": hashlib.md5(data).hexdigest()}}))
"""
    result = run_python(code, tmp_path)
    size = len(contents["target.bin"])
    assert result["builds"] == 0
    # the member sits ~12 MiB into the stream: without the index the process would inflate all of that
    assert size <= result["inflated"] <= size + 2 * gzx.SPACING < 12 * MiB
    import hashlib

    assert result["md5"] == hashlib.md5(contents["target.bin"]).hexdigest()
    assert sidecar.stat().st_mtime_ns == stamp  # reused, not rewritten


def test_pickled_archive_reopens_from_the_sidecar(archive, tmp_path):
    path, contents = archive
    tgz = gzx.indexed_archive(path)
    payload = pickle.dumps(tgz)
    assert len(payload) < 500  # the path, not the seek points
    code = f"""
import json, pickle
from lsru_geo import _gzindex as gzx
tgz = pickle.loads({payload!r})
with tgz.open_member("pad2.bin") as fh:
    fh.seek(1_000_000)
    chunk = fh.read(1000)
print(json.dumps({{"builds": gzx.index_builds(), "chunk": chunk.hex(), "inflated": gzx.bytes_inflated()}}))
"""
    result = run_python(code, tmp_path)
    assert result["builds"] == 0
    assert bytes.fromhex(result["chunk"]) == contents["pad2.bin"][1_000_000:1_001_000]
    assert result["inflated"] <= 2 * gzx.SPACING


def test_stale_index_is_rebuilt_when_the_archive_changes(archive):
    path, _ = archive
    sidecar = gzx.ensure_index(path)
    builds = gzx.index_builds()
    assert gzx.ensure_index(path) == sidecar and gzx.index_builds() == builds  # valid: kept
    new_contents = make_archive(path, seed=7)  # same name, same size class, other bytes
    gzx.clear_caches()
    tgz = gzx.indexed_archive(path)
    assert gzx.index_builds() == builds + 1
    assert tgz.read_member("target.bin") == new_contents["target.bin"]
    # only the modification time changes (a copy without -p): rebuilt too, the content is not assumed
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    gzx.ensure_index(path)
    assert gzx.index_builds() == builds + 2


@pytest.mark.parametrize("damage", ["truncate", "flip_header", "garbage", "empty", "other_version"])
def test_damaged_sidecar_is_detected_and_rebuilt(archive, damage):
    path, contents = archive
    sidecar = gzx.ensure_index(path)
    data = bytearray(sidecar.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip_header":
        data[gzx._PREFIX.size + 20] ^= 0x01
    elif damage == "garbage":
        data = bytearray(os.urandom(len(data)))
    elif damage == "empty":
        data = bytearray()
    else:
        data[8] = 99  # format version
    sidecar.write_bytes(bytes(data))
    builds = gzx.index_builds()
    tgz = gzx.indexed_archive(path)
    assert gzx.index_builds() == builds + 1
    assert tgz.read_member("target.bin") == contents["target.bin"]
    assert gzx._read_header(sidecar) is not None


def test_corrupt_seek_points_are_detected_at_first_read_and_rebuilt(archive):
    path, contents = archive
    sidecar = gzx.ensure_index(path)
    index, data_at = gzx._read_header(sidecar)
    point = max((p for p in index.points if p.uncmp <= index.members["target.bin"][0]), key=lambda p: p.uncmp)
    assert point.window_at >= 0
    data = bytearray(sidecar.read_bytes())
    data[data_at + point.window_at + point.window_len // 2] ^= 0xFF  # the window a read of target.bin starts from
    sidecar.write_bytes(bytes(data))  # (the header stays valid, so the archive opens fast)
    gzx.clear_caches()
    builds = gzx.index_builds()
    tgz = gzx.indexed_archive(path)
    assert gzx.index_builds() == builds
    assert tgz.read_member("target.bin") == contents["target.bin"]
    assert gzx.index_builds() == builds + 1
    assert sidecar.read_bytes() != bytes(data)


def test_two_processes_building_at_once_leave_one_valid_index(archive, tmp_path):
    path, contents = archive
    code = f"""
import json
from lsru_geo import _gzindex as gzx
for _ in range(3):
    gzx.ensure_index({str(path)!r}, rebuild=True)
print(json.dumps({{"builds": gzx.index_builds()}}))
"""
    env = {**os.environ, "LSRU_CACHE_DIR": str(tmp_path / "user-cache")}
    builders = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)
    ]
    sidecar = path.with_name(path.name + ".lsru-index")
    seen_valid = 0
    while any(b.poll() is None for b in builders):
        if sidecar.exists():  # whenever it exists it is whole: the old file or the new one
            assert gzx._read_header(sidecar) is not None
            seen_valid += 1
        time.sleep(0.005)
    for builder in builders:
        assert builder.wait() == 0
        assert json.loads(builder.stdout.read())["builds"] == 3
    assert seen_valid > 0
    assert gzx._read_header(sidecar) is not None
    assert sorted(p.name for p in path.parent.iterdir()) == ["P.tar.gz", "P.tar.gz.lsru-index"]  # no temp left
    builds = gzx.index_builds()
    assert gzx.indexed_archive(path).read_member("target.bin") == contents["target.bin"]
    assert gzx.index_builds() == builds


def _make_read_only(folder: Path) -> None:
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a folder read-only for root here: {done.stderr!r}")


def _make_writable(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=False)
    folder.chmod(0o755)


def test_read_only_folder_uses_the_user_cache_folder(archive, tmp_path):
    path, contents = archive
    _make_read_only(path.parent)
    try:
        sidecar = gzx.ensure_index(path)
        assert sidecar.parent == tmp_path / "user-cache"
        assert sidecar.name.endswith("P.tar.gz.lsru-index")
        assert not path.with_name(path.name + ".lsru-index").exists()
        builds = gzx.index_builds()
        gzx.clear_caches()
        assert gzx.indexed_archive(path).read_member("target.bin") == contents["target.bin"]
        assert gzx.index_builds() == builds  # found again in the cache folder
        # a second process finds it there too
        code = f"""
import json
from lsru_geo import _gzindex as gzx
tgz = gzx.indexed_archive({str(path)!r})
tgz.read_member("target.bin")
print(json.dumps({{"builds": gzx.index_builds(), "sidecar": str(tgz.sidecar)}}))
"""
        result = run_python(code, tmp_path)
        assert result == {"builds": 0, "sidecar": str(sidecar)}
    finally:
        _make_writable(path.parent)


def test_cache_folder_follows_the_platform_conventions(monkeypatch, tmp_path):
    monkeypatch.setenv("LSRU_CACHE_DIR", str(tmp_path / "mine"))
    assert gzx.cache_folder() == tmp_path / "mine"
    monkeypatch.delenv("LSRU_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert gzx.cache_folder() == tmp_path / "xdg" / "lsru_geo"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert gzx.cache_folder() == Path.home() / "Library" / "Caches" / "lsru_geo"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert gzx.cache_folder() == tmp_path / "local" / "lsru_geo" / "Cache"


def test_threads_reading_one_archive_get_the_right_bytes(archive):
    from concurrent.futures import ThreadPoolExecutor

    path, contents = archive
    tgz = gzx.indexed_archive(path)
    rng = np.random.default_rng(3)
    jobs = []
    for _ in range(40):
        name = str(rng.choice(["pad0.bin", "pad1.bin", "pad2.bin", "target.bin"]))
        start = int(rng.integers(0, len(contents[name]) - 1))
        jobs.append((name, start, int(rng.integers(1, 2 * MiB))))

    def read(job):
        name, start, length = job
        with tgz.open_member(name) as fh:
            fh.seek(start)
            return fh.read(length)

    with ThreadPoolExecutor(4) as pool:
        for (name, start, length), got in zip(jobs, pool.map(read, jobs), strict=True):
            assert got == contents[name][start : start + length]


def test_many_small_members_are_listed_with_one_pass_over_each_segment(tmp_path):
    path = tmp_path / "many.tar.gz"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for i in range(2000):
            data = member_bytes(i, 3000)
            info = tarfile.TarInfo(f"small/{i:05d}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(raw.getvalue(), compresslevel=1))
    before = gzx.bytes_inflated()
    archive = gzx.indexed_archive(path)
    assert len(archive.members) == 2000
    assert archive.read_member("small/01234.bin") == member_bytes(1234, 3000)
    total = len(raw.getvalue())
    # the build pass plus at most ~one more pass over the segments while listing, plus the member read
    assert gzx.bytes_inflated() - before <= 2 * total + gzx.SPACING + 3000


def test_sidecar_is_readable_by_the_archive_s_other_readers(archive):
    path, _ = archive
    sidecar = gzx.ensure_index(path)
    assert sidecar.stat().st_mode & 0o044 == 0o044


def test_a_sidecar_of_the_previous_format_is_rebuilt(archive):
    """Sidecars of format 1 (indexed_gzip's own points, before streams) are ignored and rebuilt in format 2."""
    path, contents = archive
    sidecar = gzx.ensure_index(path)
    data = bytearray(sidecar.read_bytes())
    assert struct.unpack_from("<I", data, 8)[0] == 2
    struct.pack_into("<I", data, 8, 1)
    sidecar.write_bytes(bytes(data))
    gzx.clear_caches()
    builds = gzx.index_builds()
    tgz = gzx.indexed_archive(path)
    assert gzx.index_builds() == builds + 1
    assert struct.unpack_from("<I", sidecar.read_bytes(), 8)[0] == 2
    assert tgz.read_member("target.bin") == contents["target.bin"]


def test_a_member_claiming_an_absurd_size_allocates_nothing(tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in ("first.txt", "huge_SR_B4.tif"):
            info = tarfile.TarInfo(name)
            info.size = 10
            tar.addfile(info, io.BytesIO(b"0123456789"))
    data = bytearray(raw.getvalue())
    header = tarfile.TarInfo("huge_SR_B4.tif")
    header.size = 5 * 2**40  # claims 5 TiB
    data[1024:1536] = header.tobuf(format=tarfile.GNU_FORMAT)[:512]
    path = tmp_path / "liar.tar.gz"
    path.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(InvalidInputError, match=r"liar\.tar\.gz.*end of data"):  # refused whole, before any read
        gzx.indexed_archive(path)
    assert not list(tmp_path.glob("*.lsru-index"))


def test_concatenated_gzip_members_read_as_one_stream(tmp_path):
    """``cat a.gz b.gz`` (or a parallel compressor's output) is one valid gzip file."""
    source = tmp_path / "one.tar.gz"
    contents = make_archive(source)
    raw = gzip.decompress(source.read_bytes())
    cut = 5 * MiB + 333
    path = tmp_path / "two.tar.gz"
    path.write_bytes(gzip.compress(raw[:cut], compresslevel=1) + gzip.compress(raw[cut:], compresslevel=1))
    archive = gzx.indexed_archive(path)
    assert list(archive.members) == list(contents)
    for name, data in contents.items():
        assert archive.read_member(name) == data


def test_strips_read_from_the_last_to_the_first_inflate_the_member_about_once(archive):
    """dask may run a band's chunk tasks in reverse: each new stream's way from its seek point to its strip
    is the end of the next strip to read, kept for it rather than inflated again."""
    path, contents = archive
    tgz = gzx.indexed_archive(path)
    data = contents["target.bin"]
    strip = 300_000
    before = gzx.bytes_inflated()
    for start in reversed(range(0, len(data), strip)):
        with tgz.open_member("target.bin") as fh:  # a new file per task, as rasterio's opener gives
            fh.seek(start)
            assert fh.read(strip) == data[start : start + strip]
    assert gzx.bytes_inflated() - before <= len(data) + gzx.SPACING
    gzx.clear_caches()
    gzx._skipped.budget, budget = 0, gzx._skipped.budget  # nothing kept: each strip inflates its way again
    try:
        before = gzx.bytes_inflated()
        for start in reversed(range(0, len(data), strip)):
            with tgz.open_member("target.bin") as fh:
                fh.seek(start)
                fh.read(strip)
        assert gzx.bytes_inflated() - before > len(data) + 3 * gzx.SPACING
    finally:
        gzx._skipped.budget = budget


def test_the_first_and_last_bytes_of_geotiff_and_metadata_members_come_without_inflating(tmp_path):
    """What GDAL reads to open a GeoTIFF (header at the start; the IFD and tile offsets at the end when a band is
    written after its creation) and the MTL every open reads are kept in the sidecar."""
    tiff = member_bytes(11, 3 * MiB)
    mtl = b"GROUP = LANDSAT_METADATA_FILE\n" * 400
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (("pad.bin", member_bytes(12, 2 * MiB)), ("P_MTL.txt", mtl), ("P_SR_B4.TIF", tiff)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "P.tar.gz"
    path.write_bytes(gzip.compress(raw.getvalue(), compresslevel=1))
    gzx.ensure_index(path)
    gzx.clear_caches()
    tgz = gzx.indexed_archive(path)
    before = gzx.bytes_inflated()
    assert tgz.read_member("P_MTL.txt") == mtl
    with tgz.open_member("P_SR_B4.TIF") as fh:
        assert fh.read(16 << 10) == tiff[: 16 << 10]
        fh.seek(-(40 << 10), io.SEEK_END)
        assert fh.read() == tiff[-(40 << 10) :]
        assert gzx.bytes_inflated() == before  # all of it from the sidecar
        fh.seek(MiB)
        assert fh.read(100_000) == tiff[MiB : MiB + 100_000]
    assert 100_000 <= gzx.bytes_inflated() - before <= 100_000 + gzx.SPACING
    with tgz.open_member("pad.bin") as fh:  # not a raster: nothing kept
        before = gzx.bytes_inflated()
        fh.read(100)
        assert gzx.bytes_inflated() > before


@pytest.mark.parametrize(
    "lie",
    ["bits", "window_length", "window_outside", "member_outside", "head_length", "compressed_bomb"],
)
def test_a_sidecar_that_lies_with_a_valid_digest_is_rebuilt(archive, lie):
    """Anyone can write a sidecar and its digest: no number it states is used before it is checked."""
    import dataclasses

    path, contents = archive
    sidecar = gzx.ensure_index(path)
    index, data_at = gzx._read_header(sidecar)
    data = bytearray(sidecar.read_bytes()[data_at:])
    points = list(index.points)
    start = index.members["target.bin"][0]  # the point a read of target.bin starts from
    windowed = max(i for i, p in enumerate(points) if p.window_at >= 0 and p.uncmp <= start)
    members, heads = dict(index.members), dict(index.heads)
    if lie == "bits":
        points[windowed] = dataclasses.replace(points[windowed], bits=9)
    elif lie == "window_length":
        points[windowed] = dataclasses.replace(points[windowed], window_len=5 * 2**40)
    elif lie == "window_outside":
        points[windowed] = dataclasses.replace(points[windowed], window_at=len(data))
    elif lie == "member_outside":
        members["target.bin"] = (index.uncompressed_size - 10, 5 * 2**40)
    elif lie == "head_length":
        name = next(iter(heads))
        heads[name] = (*heads[name][:2], 5 * 2**40, heads[name][3])
    else:  # a window that inflates to 50 MB while the index says 32 KiB at most
        import zlib

        bomb = zlib.compress(b"\0" * (50 << 20), 9)
        points[windowed] = dataclasses.replace(
            points[windowed], window_at=len(data), window_len=len(bomb), window_crc=zlib.crc32(b"\0" * (50 << 20)))
        data += bomb
    forged = dataclasses.replace(index, points=tuple(points), members=members, heads=heads)
    sidecar.write_bytes(gzx._encode(forged, bytes(data)))  # header digest recomputed: "valid"
    gzx.clear_caches()
    builds = gzx.index_builds()
    tgz = gzx.indexed_archive(path)
    assert tgz.read_member("target.bin") == contents["target.bin"]
    assert gzx.index_builds() == builds + 1  # refused and rebuilt, not trusted


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors through /proc")
def test_a_process_keeps_a_bounded_number_of_archives_open(tmp_path, monkeypatch):
    """A stack of hundreds of products must not exhaust file descriptors (macOS allows 256 by default)."""
    monkeypatch.setattr(gzx, "OPEN_ARCHIVES", 2)
    paths = []
    for i in range(5):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            data = member_bytes(i, 600_000)
            info = tarfile.TarInfo("band.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        paths.append(tmp_path / f"P{i}.tar.gz")
        paths[-1].write_bytes(gzip.compress(raw.getvalue(), compresslevel=1))

    def open_archives() -> int:
        targets = set()
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                targets.add(os.readlink(f"/proc/self/fd/{fd}"))
        return sum(str(p) in targets for p in paths)

    for i, path in enumerate(paths):
        tgz = gzx.indexed_archive(path)
        assert tgz.read_member("band.bin") == member_bytes(i, 600_000)
        assert open_archives() <= 2
    assert gzx.indexed_archive(paths[0]).read_member("band.bin") == member_bytes(0, 600_000)  # reopened
    gzx.clear_caches()
    assert open_archives() == 0
