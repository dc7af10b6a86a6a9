"""Safe unpacking of product tarballs (no network)."""

import io
import re
import tarfile
import time
import tracemalloc

import pytest

from lsru_geo._archive import extract_tarball, product_name
from lsru_geo.exceptions import InvalidInputError, LsruError, UnsafeArchiveError, UnsafeNameError

PRODUCT = "LC080330322023051702T1-SC20231226221722"


def make_tar(path, members, mode="w:gz"):
    """Write a tarball from (TarInfo or name, bytes or None) pairs."""
    with tarfile.open(path, mode) as tar:
        for member, data in members:
            info = member if isinstance(member, tarfile.TarInfo) else tarfile.TarInfo(member)
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def special(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_product_name_strips_the_archive_extension():
    assert product_name(f"/x/{PRODUCT}.tar.gz") == PRODUCT
    assert product_name("stats.tgz") == "stats"
    assert product_name("a.tar") == "a"
    assert product_name("a.b.zip") == "a"  # lsru 0.6.2: the part before the first dot


def test_an_espa_tarball_unpacks_into_a_product_folder(tmp_path):
    archive = make_tar(
        tmp_path / f"{PRODUCT}.tar.gz", [("a_SR_B4.tif", b"band 4"), ("a_MTL.txt", b"mtl"), ("stats/s.csv", b"1")]
    )
    out = tmp_path / "out"
    target = extract_tarball(archive, out)
    assert target == out / PRODUCT
    assert listing(target) == ["a_MTL.txt", "a_SR_B4.tif", "stats", "stats/s.csv"]
    assert (target / "a_SR_B4.tif").read_bytes() == b"band 4"
    assert listing(out) == listing(target.parent) == [PRODUCT] + [f"{PRODUCT}/{p}" for p in listing(target)]


def test_an_existing_product_is_kept_unless_overwrite(tmp_path):
    archive = make_tar(tmp_path / "p.tar.gz", [("new.tif", b"new")])
    (tmp_path / "out" / "p").mkdir(parents=True)
    (tmp_path / "out" / "p" / "old.tif").write_bytes(b"old")
    assert listing(extract_tarball(archive, tmp_path / "out")) == ["old.tif"]
    target = extract_tarball(archive, tmp_path / "out", overwrite=True)
    assert listing(target) == ["new.tif"]
    assert listing(tmp_path / "out") == ["p", "p/new.tif"]  # no temporary or old folder left


@pytest.mark.parametrize("mode", ["w", "w:bz2", "w:xz"])
def test_other_compressions(tmp_path, mode):
    archive = make_tar(tmp_path / "p.tar", [("f", b"data")], mode)
    assert (extract_tarball(archive, tmp_path / "out", name="prod") / "f").read_bytes() == b"data"


@pytest.mark.parametrize(
    ("member", "data", "words"),
    [
        ("../evil.txt", b"x", "'..'"),
        ("ok/../../evil.txt", b"x", "'..'"),
        ("TMP/evil.txt", b"x", "absolute path"),  # TMP: the test's own folder, absolute
        ("\\evil.txt", b"x", "absolute path"),
        ("C:evil.txt", b"x", "absolute path"),
        ("..\\evil.txt", b"x", "'..'"),
        (special("link", tarfile.SYMTYPE, "/etc/passwd"), None, "symbolic link"),
        (special("hard", tarfile.LNKTYPE, "a_SR_B4.tif"), None, "hard link"),
        (special("null", tarfile.CHRTYPE), None, "device"),
        (special("disk", tarfile.BLKTYPE), None, "device"),
        (special("pipe", tarfile.FIFOTYPE), None, "FIFO"),
    ],
)
def test_unsafe_members_are_refused_by_name_and_nothing_is_written(tmp_path, member, data, words):
    if isinstance(member, str):
        member = member.replace("TMP", str(tmp_path))
    name = member if isinstance(member, str) else member.name
    # the unsafe member comes after a good one, so a half-done extraction would show
    archive = make_tar(tmp_path / "bad.tar.gz", [("a_SR_B4.tif", b"good"), (member, data), ("after.tif", b"x")])
    out = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError, match="member") as caught:
        extract_tarball(archive, out)
    assert repr(name) in str(caught.value) and words in str(caught.value)
    assert isinstance(caught.value, LsruError)
    assert listing(tmp_path) == ["bad.tar.gz", "deep", "deep/out"]  # nothing, not even the temporary folder


def test_a_symlink_pointing_inside_is_refused_too(tmp_path):
    archive = make_tar(tmp_path / "bad.tar.gz", [(special("inner", tarfile.SYMTYPE, "a.tif"), None)])
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        extract_tarball(archive, tmp_path / "out")


def test_harmless_dot_paths_are_fine(tmp_path):
    archive = make_tar(
        tmp_path / "p.tar.gz", [(special("./", tarfile.DIRTYPE), None), ("./a.tif", b"a"), ("dir//b.tif", b"b")]
    )
    assert listing(extract_tarball(archive, tmp_path / "out")) == ["a.tif", "dir", "dir/b.tif"]


def test_a_decompression_bomb_is_stopped_with_a_clear_error(tmp_path):
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(3):
            info = tarfile.TarInfo(f"zeros{i}")
            info.size = 4_000_000
            tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert archive.stat().st_size < 100_000
    with pytest.raises(UnsafeArchiveError, match="decompression bomb") as caught:
        extract_tarball(archive, tmp_path / "out", max_size=10_000_000)
    assert "'zeros2'" in str(caught.value) and "0.01 GB" in str(caught.value)
    with pytest.raises(UnsafeArchiveError, match="100 times the archive size"):
        extract_tarball(archive, tmp_path / "out", max_ratio=100)
    assert listing(tmp_path / "out") == []
    assert len(listing(extract_tarball(archive, tmp_path / "out", max_size=None))) == 3


def test_members_are_streamed_not_held_in_memory(tmp_path):
    archive = tmp_path / "big.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("big.tif")
        info.size = 64 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    tracemalloc.start()
    try:
        target = extract_tarball(archive, tmp_path / "out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (target / "big.tif").stat().st_size == 64 << 20
    assert peak < 8 << 20  # a few 1 MiB buffers, not the 64 MiB member


def test_not_a_tarball(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(tarfile.TarError):
        extract_tarball(tmp_path / "x.tar.gz", tmp_path / "out")
    assert listing(tmp_path / "out") == []


# -- member count and the name gate --------------------------------------------------------------------------------


def many_empty_members(path, count, chunk=20_000):
    """A gzip tarball of ``count`` empty files ``m0000000`` ... written straight as ustar headers.

    Headers are stamped from one template with numpy (name digits and checksum per row), about 100 times faster
    than ``tarfile.addfile``; 300,000 members take about a second and 3 MB.
    """
    import gzip

    import numpy as np

    template = np.frombuffer(tarfile.TarInfo("m0000000").tobuf(tarfile.USTAR_FORMAT), dtype=np.uint8).copy()
    template[148:156] = ord(" ")  # the checksum is summed with its own field as spaces
    base = int(template.sum()) - 7 * ord("0")
    with gzip.open(path, "wb", compresslevel=1) as out:
        for start in range(0, count, chunk):
            index = np.arange(start, min(start + chunk, count))
            rows = np.tile(template, (len(index), 1))
            digits = (index[:, None] // 10 ** np.arange(6, -1, -1)) % 10
            rows[:, 1:8] = ord("0") + digits
            checksum = base + digits.sum(axis=1) + 7 * ord("0")
            octal = (checksum[:, None] // 8 ** np.arange(5, -1, -1)) % 8
            rows[:, 148:154] = ord("0") + octal
            rows[:, 154], rows[:, 155] = 0, ord(" ")
            out.write(rows.tobytes())
        out.write(bytes(1024))
    return path


def test_the_header_stamping_makes_a_valid_tar(tmp_path):
    with tarfile.open(many_empty_members(tmp_path / "few.tar.gz", 25)) as tar:
        assert tar.getnames() == [f"m{i:07d}" for i in range(25)]


def test_a_tarball_of_300000_members_is_refused_fast_and_leaves_nothing(tmp_path):
    archive = many_empty_members(tmp_path / "many.tar.gz", 300_000)
    assert archive.stat().st_size < 5e6
    out = tmp_path / "out"
    started = time.perf_counter()
    with pytest.raises(UnsafeArchiveError, match="more than 10,000 members"):
        extract_tarball(archive, out)
    elapsed = time.perf_counter() - started
    assert listing(out) == []  # neither the product folder nor the 10,000 files written before the refusal
    assert elapsed < 10  # it stops at member 10,001, not after 300,000
    # the limit is the caller's to raise
    with pytest.raises(UnsafeArchiveError, match="more than 20 members"):
        extract_tarball(archive, out, max_members=20)
    target = extract_tarball(many_empty_members(tmp_path / "ok.tar.gz", 30), out, max_members=30)
    assert len(listing(target)) == 30


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a\nb.tif", "control"),
        ("dir/\x1b[2J.tif", "control"),
        ("x" * 300, "longer than 255 bytes"),
        ("data/ab:stream", "holds one of"),
    ],
)
def test_member_names_pass_the_name_gate(tmp_path, name, problem):
    archive = make_tar(tmp_path / "p.tar.gz", [("ok.tif", b"ok"), (name, b"x")])
    with pytest.raises(UnsafeArchiveError, match=re.escape(problem)):
        extract_tarball(archive, tmp_path / "out")
    assert listing(tmp_path / "out") == []


@pytest.mark.parametrize("value", [0, -1, "10", True])
def test_limits_must_be_positive_numbers(tmp_path, value):
    archive = make_tar(tmp_path / "p.tar.gz", [("ok.tif", b"ok")])
    with pytest.raises(InvalidInputError, match="max_members must be a positive number"):
        extract_tarball(archive, tmp_path / "out", max_members=value)


@pytest.mark.parametrize("name", ["..", "a/b", ".", "a\x00"])
def test_the_product_folder_name_passes_the_gate(tmp_path, name):
    archive = make_tar(tmp_path / "p.tar.gz", [("ok.tif", b"ok")])
    with pytest.raises(UnsafeNameError):
        extract_tarball(archive, tmp_path / "out", name=name)
    assert not (tmp_path / "out").exists() or listing(tmp_path / "out") == []
