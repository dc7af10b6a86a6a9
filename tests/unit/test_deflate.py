"""Resuming deflate streams at seek points with a plain decompressobj (lsru_geo._deflate), checked against zlib."""

from __future__ import annotations

import gzip
import io
import struct
import zlib

import indexed_gzip
import numpy as np
import pytest
from zlib_ng import zlib_ng

from lsru_geo import _deflate


def mixed_bytes(size: int, seed: int) -> bytes:
    """Incompressible runs, text-like runs and zeros, as a tar of TIFFs and metadata mixes them."""
    rng = np.random.default_rng(seed)
    parts, total = [], 0
    while total < size:
        kind, n = rng.integers(3), int(rng.integers(1_000, 200_000))
        if kind == 0:
            part = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        elif kind == 1:
            part = (b"GROUP = LEVEL1_PROCESSING_RECORD\n  VALUE = %d\n" % n) * (n // 40)
        else:
            part = rng.integers(7000, 7100, n // 2, dtype=np.uint16).tobytes()
        parts.append(part)
        total += len(part)
    return b"".join(parts)[:size]


def zran_points(path, spacing: int = 256 << 10):
    reader = indexed_gzip.IndexedGzipFile(str(path), spacing=spacing)
    try:
        reader.build_full_index()
        exported = io.BytesIO()
        reader.export_index(fileobj=exported)
    finally:
        reader.close()
    return _deflate.parse_zran_index(exported.getvalue())


def resumed(data: bytes, point: _deflate.ZranPoint, length: int, module=zlib_ng) -> bytes:
    inflater = module.decompressobj(-15, zdict=point.window) if point.window else module.decompressobj(-15)
    prefix = _deflate.resume_prefix(point.bits, data[point.cmp - 1] if point.bits else 0)
    return inflater.decompress(prefix + data[point.cmp : point.cmp + length], length)


@pytest.mark.parametrize("level", [1, 6, 9])
def test_every_seek_point_resumes_to_the_true_stream(tmp_path, level):
    raw = mixed_bytes(6 << 20, seed=level)
    path = tmp_path / f"level{level}.gz"
    path.write_bytes(gzip.compress(raw, compresslevel=level))
    data = path.read_bytes()
    cmp_size, uncmp_size, points = zran_points(path)
    assert (cmp_size, uncmp_size) == (len(data), len(raw))
    assert len(points) > 10
    seen_bits = set()
    for point in points:
        for module in (zlib_ng, zlib):  # zlib-ng reads; zlib (stdlib) accepts the no-op blocks too
            got = resumed(data, point, 256 << 10, module)
            want = raw[point.uncmp : point.uncmp + len(got)]
            assert len(got) >= min(64 << 10, len(raw) - point.uncmp), point.uncmp
            assert got == want, (point.uncmp, point.bits, module.__name__)
        seen_bits.add(point.bits)
    assert len(seen_bits) >= 4  # odd and even leading bits were exercised, not only byte boundaries


def test_points_of_an_espa_product_tarball_resume(tmp_path):
    import datetime as dt

    from lsru_geo.emulator import _catalogue as cat
    from lsru_geo.emulator._products import SceneSpec, build_espa_tarball

    pid = "LC08_L2SP_033032_20230618_20230702_02_T2"
    facts = cat.describe(pid, dt.date(2024, 1, 1))
    spec = SceneSpec(pid, facts["corners"], facts["acquired"], facts["cloud_cover"], facts["entity_id"])
    path = build_espa_tarball(spec, ["l1"], tmp_path, size=400)
    data = path.read_bytes()
    raw = zlib.decompress(data, 31)
    _, _, points = zran_points(path, spacing=64 << 10)
    for point in points:
        got = resumed(data, point, 128 << 10)
        assert got == raw[point.uncmp : point.uncmp + len(got)], point
        assert got or point.uncmp == len(raw), point  # only a point at the very end yields nothing


@pytest.mark.parametrize("bits", range(8))
def test_the_prefix_ends_with_the_point_s_leading_bits(bits):
    for byte_before in (0x00, 0xFF, 0xA5):
        prefix = _deflate.resume_prefix(bits, byte_before)
        assert len(prefix) <= 16
        if bits == 0:
            assert prefix == b""
            continue
        # the point's bits are the top `bits` bits of the last prefix byte
        assert prefix[-1] >> (8 - bits) == byte_before >> (8 - bits)
    with pytest.raises(ValueError, match="0-7"):
        _deflate.resume_prefix(8, 0)


def test_malformed_zran_indexes_are_refused():
    with pytest.raises(ValueError, match="short"):
        _deflate.parse_zran_index(b"GZIDX")
    head = struct.pack("<5sBBQQIII", b"GZIDX", 1, 0, 100, 200, 1 << 20, 32768, 3)
    with pytest.raises(ValueError, match="truncated"):
        _deflate.parse_zran_index(head + b"\0" * 10)
    with pytest.raises(ValueError, match="known version"):
        _deflate.parse_zran_index(struct.pack("<5sBBQQIII", b"GZIDX", 7, 0, 1, 1, 1, 32768, 0))
    with pytest.raises(ValueError, match="known version"):
        _deflate.parse_zran_index(struct.pack("<5sBBQQIII", b"GZIDX", 1, 0, 1, 1, 1, 1 << 20, 0))
