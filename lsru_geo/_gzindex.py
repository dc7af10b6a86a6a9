"""Random access into ``.tar.gz`` products through a persistent index kept beside the archive.

gzip has no random access: reaching a byte means inflating everything before it. A one-pass build (by
``indexed_gzip``) records *seek points*, deflate block boundaries every ``SPACING`` bytes of output with the
32 KiB window a block may refer back to; any read can then start at the nearest point. This module keeps
those points **on disk**, with the tar member table and the first bytes of every GeoTIFF member, in one
*sidecar* file per archive, so that every process and every dask worker reads a member by inflating that
member's bytes and (at most) one seek spacing before them:

* ``<archive>.lsru-index`` beside the archive, or, where that folder cannot be written, a file in the user
  cache folder (``$LSRU_CACHE_DIR``, else ``$XDG_CACHE_HOME/lsru_geo``, ``~/Library/Caches/lsru_geo``,
  ``%LOCALAPPDATA%/lsru_geo/Cache``);
* written to a temporary file and renamed with :func:`os.replace`, so readers see the old file or the new
  one, never half of one, and two processes building at once leave one valid index (the last rename wins,
  both are whole);
* never trusted blindly: it records the archive's size, modification time and a hash of its first and last
  64 KiB; its header carries a BLAKE2 digest, and each window and head a CRC-32 checked when it is read. A
  sidecar that is stale, truncated, corrupt or of another format version is ignored and rebuilt.

**Reading** goes through *streams*: ``zlib_ng`` raw inflaters resumed at a seek point (:mod:`._deflate`
explains how, without zlib's ``inflatePrime``; zlib-ng inflates our products ~1.5x faster than zlib). A
read of ``[start, end)`` takes, from this process's pool, the stream of that archive that stopped closest
before ``start`` (if continuing it costs no more than starting at the point before ``start``), inflates
forward and goes back to the pool positioned at ``end``. GDAL reads a band's tiles in file order, so the
chunk tasks of a band, whichever thread runs them, continue one another: each byte is inflated once, plus
at most one seek spacing where a band is first entered. TIFF headers, which every chunk task reads again,
come from the heads kept in the sidecar without inflating anything; so does opening a stack lazily.
Nothing is cached but the pool (:data:`POOL_STREAMS` streams of ~100 KB) and the heads.

Use: :func:`ensure_index` once an archive is complete (right after a download is verified); then
``indexed_archive(path).members`` lists it and ``indexed_archive(path).open_member(name)`` is the file
rasterio reads a member through (``rasterio.open(name, opener=lambda _p, mode="rb": archive.open_member(m))``).
A missing index is built on first use. :func:`bytes_inflated` counts what was inflated.

Layering: pure I/O on local files; imports nothing else from lsru_geo but its exceptions and :mod:`._deflate`.

Examples
--------
>>> import io, tarfile, gzip, pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> raw = io.BytesIO()
>>> with tarfile.open(fileobj=raw, mode="w") as tar:
...     info = tarfile.TarInfo("a.txt"); info.size = 5
...     tar.addfile(info, io.BytesIO(b"hello"))
>>> _ = (folder / "x.tar.gz").write_bytes(gzip.compress(raw.getvalue()))
>>> archive = IndexedTarGz(folder / "x.tar.gz")
>>> archive.members
{'a.txt': (512, 5)}
>>> with archive.open_member("a.txt") as f:
...     f.read()
b'hello'
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import hashlib
import io
import itertools
import json
import os
import struct
import sys
import tarfile
import tempfile
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _deflate
from .exceptions import InvalidInputError

PathLike = str | os.PathLike

#: Uncompressed bytes between seek points: a read that starts a stream inflates at most this much before the
#: bytes it returns. Each point keeps a 32 KiB window, zlib-compressed in the sidecar: an index costs ~0.8 % of
#: the uncompressed size (4.8 MB for a 630 MB tar). 1 MiB rather than 4 because dask often runs a band's strips
#: from the last to the first, each strip then starting a stream (benchmarks/RESULTS.md).
SPACING = 1 << 20
#: First and last bytes of every GeoTIFF member kept in the sidecar: what GDAL reads to open one and to find
#: its tiles, which every chunk task does again (TIFF header at the start; GDAL writes the IFD and the tile
#: offset arrays of a band written after its creation at the end: ~3 KB for a tiled 7,600 px band), with a
#: wide margin; the same first bytes of metadata members (an MTL is 10-15 KB), which every open reads.
EDGE_KEPT = 64 << 10
#: Largest compressed item (a window, first or last bytes) a sidecar may state: zlib's worst case for 64 KiB.
MAX_ITEM_BYTES = EDGE_KEPT + (1 << 10)
#: Largest sidecar header read (member table and points: ~30 MB for a 300,000-member tar).
MAX_HEADER_BYTES = 64 << 20
#: Member names (lower case) whose first and last bytes are kept.
TAIL_SUFFIXES = (".tif", ".tiff")
HEAD_SUFFIXES = (*TAIL_SUFFIXES, ".txt", ".xml")
#: Idle streams one process keeps across archives (least recently used first out). A 20-scene stack of 3
#: bands reads ~60 band members side by side, each from two places (GDAL writes the partial tiles of a band's
#: right edge after the others): 120 streams; a stream holds ~50 KB (zlib state, window, pending input).
POOL_STREAMS = 256
#: Compressed bytes a stream reads from the archive at a time.
INPUT_BYTES = 64 << 10
#: Bytes hashed at each end of the archive to recognise it (with its size and modification time).
EDGE_BYTES = 64 << 10
#: Name appended to the archive's for the sidecar beside it.
SIDECAR_SUFFIX = ".lsru-index"

_MAGIC = b"LSRUGZIX"
_VERSION = 2
_PREFIX = struct.Struct("<8sIQQ32s")  # magic, version, header length, data length, header digest


# ---------------------------------------------------------------------------------------------------------
# Counting (for tests and benchmarks)
# ---------------------------------------------------------------------------------------------------------

_inflated = 0
_returned = 0
_builds = 0
_count_lock = threading.Lock()


def bytes_inflated() -> int:
    """Return the uncompressed bytes this process has inflated from ``.tar.gz`` archives so far.

    Counts index builds (the whole stream) and what streams inflate (including the bytes skipped between a
    seek point and a read).
    """
    return _inflated


def bytes_returned() -> int:
    """Return the bytes this process's member files have returned to their readers (GDAL) so far.

    Against :func:`bytes_inflated`: what was inflated for them (more when reads skip forward).
    """
    return _returned


def index_builds() -> int:
    """Return how many indexes this process has built (each inflates its whole archive once)."""
    return _builds


def _count(inflated: int, built: bool = False, returned: int = 0) -> None:
    global _inflated, _builds, _returned
    with _count_lock:
        _inflated += inflated
        _builds += built
        _returned += returned


# ---------------------------------------------------------------------------------------------------------
# Where sidecars live and what they hold
# ---------------------------------------------------------------------------------------------------------


def cache_folder() -> Path:
    """Return the user cache folder for sidecars of archives in read-only folders (``$LSRU_CACHE_DIR`` wins)."""
    if os.environ.get("LSRU_CACHE_DIR"):
        return Path(os.environ["LSRU_CACHE_DIR"]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "lsru_geo" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "lsru_geo"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lsru_geo"


def sidecar_candidates(archive: PathLike) -> tuple[Path, Path]:
    """Return the two places an archive's index may be: beside it, then in :func:`cache_folder`."""
    path = Path(archive).absolute()
    key = hashlib.blake2b(str(path).encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    return path.with_name(path.name + SIDECAR_SUFFIX), cache_folder() / f"{key}-{path.name}{SIDECAR_SUFFIX}"


def fingerprint(archive: PathLike) -> dict[str, Any]:
    """Return what identifies an archive's content: size, modification time, hash of its first and last 64 KiB."""
    with open(archive, "rb") as fh:
        stat = os.fstat(fh.fileno())
        digest = hashlib.blake2b(fh.read(EDGE_BYTES), digest_size=16)
        fh.seek(max(0, stat.st_size - EDGE_BYTES))
        digest.update(fh.read(EDGE_BYTES))
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "edges": digest.hexdigest()}


@dataclass(frozen=True)
class Point:
    """One seek point: uncompressed and compressed offsets, leading bits, where its window lies in the sidecar."""

    uncmp: int
    cmp: int
    bits: int
    window_at: int  # offset in the sidecar's data section (-1: no window, the start of a gzip member)
    window_len: int
    window_crc: int


@dataclass(frozen=True)
class TarIndex:
    """What a sidecar holds: the member table, the seek points and the GeoTIFF heads of one archive.

    Attributes
    ----------
    archive : dict
        The archive's :func:`fingerprint` when the index was built.
    members : dict
        Member name -> ``(offset of its data in the uncompressed tar, size)``, regular files only, in
        archive order.
    uncompressed_size : int
        Length of the whole tar.
    points : tuple of Point
        Sorted by uncompressed offset.
    heads, tails : dict
        Member name -> ``(offset in the data section, compressed length, length, crc)`` of its first (last)
        bytes.
    """

    archive: dict[str, Any]
    members: dict[str, tuple[int, int]]
    uncompressed_size: int
    points: tuple[Point, ...]
    heads: dict[str, tuple[int, int, int, int]]
    tails: dict[str, tuple[int, int, int, int]]


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def _encode(index: TarIndex, data: bytes) -> bytes:
    header = json.dumps(
        {
            "archive": index.archive,
            "members": [[name, *where] for name, where in index.members.items()],
            "uncompressed_size": index.uncompressed_size,
            "points": [[p.uncmp, p.cmp, p.bits, p.window_at, p.window_len, p.window_crc] for p in index.points],
            "heads": [[name, *where] for name, where in index.heads.items()],
            "tails": [[name, *where] for name, where in index.tails.items()],
            "spacing": SPACING,
        },
        separators=(",", ":"),
    ).encode()
    return _PREFIX.pack(_MAGIC, _VERSION, len(header), len(data), _digest(header)) + header + data


def _read_header(sidecar: Path) -> tuple[TarIndex, int] | None:
    """Return ``(index, offset of the data section)`` of a well-formed sidecar of this version, else None."""
    try:
        with open(sidecar, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            prefix = fh.read(_PREFIX.size)
            if len(prefix) < _PREFIX.size:
                return None
            magic, version, header_len, data_len, header_digest = _PREFIX.unpack(prefix)
            if magic != _MAGIC or version != _VERSION or size != _PREFIX.size + header_len + data_len:
                return None  # another format, or truncated
            if header_len > MAX_HEADER_BYTES:
                return None
            header = fh.read(header_len)
        if _digest(header) != header_digest:
            return None
        found = json.loads(header)
        members = {str(name): (int(offset), int(length)) for name, offset, length in found["members"]}
        points = tuple(Point(*map(int, p)) for p in found["points"])
        heads = {str(name): tuple(map(int, rest)) for name, *rest in found["heads"]}
        tails = {str(name): tuple(map(int, rest)) for name, *rest in found["tails"]}
        if not points or any(b.uncmp <= a.uncmp for a, b in itertools.pairwise(points)):
            return None
        index = TarIndex(found["archive"], members, int(found["uncompressed_size"]), points, heads, tails)
        if not _consistent(index, data_len):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return index, _PREFIX.size + header_len


def _consistent(index: TarIndex, data_len: int) -> bool:
    """Whether every number of an index stays within the archive and the sidecar it describes.

    A sidecar is a file anyone can write (its digest proves integrity, not origin): no offset, length or bit
    count it states is used before it passes here, so none can size an allocation or reach outside the files.
    """
    archive_size, total = int(index.archive["size"]), index.uncompressed_size

    def item(at: int, length: int) -> bool:
        return 0 <= at and 0 < length <= MAX_ITEM_BYTES and at + length <= data_len

    return (
        all(0 <= offset and 0 <= size and offset + size <= total for offset, size in index.members.values())
        and all(
            0 <= p.bits <= 7
            and (1 if p.bits else 0) <= p.cmp <= archive_size
            and 0 <= p.uncmp <= total
            and (p.window_at == -1 or item(p.window_at, p.window_len))
            for p in index.points
        )
        and all(
            item(at, length) and 0 <= raw <= EDGE_KEPT
            for table in (index.heads, index.tails)
            for at, length, raw, _crc in table.values()
        )
    )


def _read_item(sidecar: Path, at: int, length: int, crc: int, raw_length: int | None = None) -> bytes | None:
    """Return one compressed item (a window, a head) of a sidecar's data section, inflated; None if damaged."""
    limit = raw_length if raw_length is not None else _deflate.WINDOW_BYTES
    try:
        with open(sidecar, "rb") as fh:
            fh.seek(at)
            packed = fh.read(length)
        inflater = zlib.decompressobj()
        data = inflater.decompress(packed, limit)  # bounded: the item may claim anything
    except (OSError, zlib.error):
        return None
    if inflater.unconsumed_tail or zlib.crc32(data) != crc or (raw_length is not None and len(data) != raw_length):
        return None
    return data


def _write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file in the same folder and :func:`os.replace`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the archive's other readers need the index too
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise




# ---------------------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------------------


def build_index(archive: PathLike) -> tuple[TarIndex, bytes]:
    """Inflate an archive once: return its :class:`TarIndex` and the sidecar's data section (windows, heads).

    Raises
    ------
    InvalidInputError
        If the file is not a gzip stream, is corrupt (CRC or length check) or does not hold a tar.
    """
    import indexed_gzip

    print_name = Path(archive).name
    before = fingerprint(archive)
    reader = indexed_gzip.IndexedGzipFile(str(archive), spacing=SPACING, buffer_size=1 << 16)
    try:
        try:
            reader.build_full_index()
        except Exception as exc:  # indexed_gzip raises ZranError/CrcError/ValueError/OSError
            raise InvalidInputError(f"{print_name} is not a readable gzip file: {exc}") from exc
        total = reader.seek(0, io.SEEK_END)
        _count(total, built=True)
        exported = io.BytesIO()
        reader.export_index(fileobj=exported)
        data = bytearray()
        points = []
        for zp in _deflate.parse_zran_index(exported.getvalue())[2]:
            if zp.window:
                packed = zlib.compress(zp.window, 6)
                points.append(Point(zp.uncmp, zp.cmp, zp.bits, len(data), len(packed), zlib.crc32(zp.window)))
                data += packed
            else:
                points.append(Point(zp.uncmp, zp.cmp, zp.bits, -1, 0, 0))
        members = _list_members(reader, print_name)
        heads, tails = {}, {}

        def keep(table: dict, name: str, offset: int, length: int) -> None:
            reader.seek(offset)
            kept = reader.read(length)
            packed = zlib.compress(kept, 6)
            table[name] = (len(data), len(packed), len(kept), zlib.crc32(kept))
            data.extend(packed)

        for name, (offset, size) in members.items():
            lower = name.lower()
            if lower.endswith(HEAD_SUFFIXES):
                keep(heads, name, offset, min(size, EDGE_KEPT))
            if lower.endswith(TAIL_SUFFIXES) and size > EDGE_KEPT:
                start = max(size - EDGE_KEPT, EDGE_KEPT)
                keep(tails, name, offset + start, size - start)
    finally:
        reader.close()
    if fingerprint(archive) != before:
        raise InvalidInputError(f"{print_name} changed while it was being indexed")
    if not points or points[0].uncmp != 0:  # zran starts with a point after the gzip header, always
        raise InvalidInputError(f"{print_name}: the gzip index has no point at the start of the stream")
    return TarIndex(before, members, total, tuple(points), heads, tails), bytes(data)


def _list_members(reader: Any, print_name: str) -> dict[str, tuple[int, int]]:
    """Read the tar headers through the reader (tarfile handles GNU long names and pax headers)."""
    members: dict[str, tuple[int, int]] = {}
    reader.seek(0)
    try:
        with tarfile.open(fileobj=reader, mode="r:") as tar:
            for info in tar:
                if info.isfile():
                    members[info.name] = (info.offset_data, info.size)
    except tarfile.TarError as exc:
        raise InvalidInputError(f"{print_name} does not hold a tar archive: {exc}") from exc
    return members


def _valid(sidecar: Path, archive_print: dict[str, Any]) -> tuple[TarIndex, int] | None:
    found = _read_header(sidecar)
    if found is None or found[0].archive != archive_print:
        return None
    return found


def ensure_index(archive: PathLike, *, rebuild: bool = False) -> Path:
    """Return the path of a valid index of ``archive``, building and writing one if there is none.

    Call it right after a download is verified (the cheapest moment: the file is in the page cache), or
    before opening an archive. Looks beside the archive, then in :func:`cache_folder`; a stale, truncated
    or corrupt sidecar is replaced. The new sidecar goes beside the archive when that folder can be
    written, else into the cache folder.

    Parameters
    ----------
    archive : path-like
        A ``.tar.gz`` file.
    rebuild : bool, default False
        Build anew even if a valid index exists (after a window or head was found damaged).

    Returns
    -------
    pathlib.Path
        The sidecar file.

    Raises
    ------
    InvalidInputError
        If ``archive`` does not exist, or cannot be indexed.
    """
    path = Path(archive)
    if not path.is_file():
        raise InvalidInputError(f"no such archive: {path}")
    beside, cached = sidecar_candidates(path)
    if not rebuild:
        current = fingerprint(path)
        for sidecar in (beside, cached):
            if _valid(sidecar, current) is not None:
                return sidecar
    index, data = build_index(path)
    encoded = _encode(index, data)
    try:
        _write_atomically(beside, encoded)
        return beside
    except OSError:  # read-only folder (or a file system without rename): the user's cache folder
        _write_atomically(cached, encoded)
        return cached


# ---------------------------------------------------------------------------------------------------------
# Reading: streams resumed at seek points, pooled per process
# ---------------------------------------------------------------------------------------------------------


class _Stream:
    """A raw inflater positioned somewhere in one archive's uncompressed stream (used by one thread at a time)."""

    def __init__(self, archive: IndexedTarGz, point: Point, window: bytes) -> None:
        from zlib_ng import zlib_ng

        self.archive, self.key, self.pos = archive, archive.key, point.uncmp
        prefix = b""
        if point.bits:
            prefix = _deflate.resume_prefix(point.bits, archive.pread(point.cmp - 1, 1)[0])
        self._next = point.cmp  # compressed offset of the next input read
        self._new = zlib_ng.decompressobj
        self._inflater = self._new(-15, zdict=window) if window else self._new(-15)
        self._input = prefix
        self._gzip_member = False  # the first inflater is raw: its member's trailer is left to us
        self._ended = False

    def close(self) -> None:
        """Drop the inflater (the archive's file stays with the archive object)."""
        self._inflater = None

    def _read_input(self, length: int) -> bytes:
        data = self.archive.pread(self._next, length)
        self._next += len(data)
        return data

    def _more_input(self) -> bytes:
        data, self._input = self._input, b""
        return data or self._read_input(INPUT_BYTES)

    def _next_member(self) -> None:
        """After the end of a gzip member: go on with the next one (concatenated gzip), or mark the end."""
        rest = self._inflater.unused_data + self._input
        self._input = b""
        if not self._gzip_member:  # the raw inflater leaves its member's trailer (CRC-32, size) to us
            while len(rest) < 8 and (more := self._read_input(8 - len(rest))):
                rest += more
            rest = rest[8:]
        rest = rest or self._read_input(INPUT_BYTES)
        if rest.strip(b"\0"):  # another member: a gzip inflater parses its header and checks its trailer
            self._inflater, self._gzip_member, self._input = self._new(31), True, rest
        else:  # zero padding, as some tape-era tools write, or nothing: the end
            self._ended = True

    def _inflate(self, limit: int) -> bytes:
        """Return the next at most ``limit`` uncompressed bytes (b"" at the end of the data)."""
        while not self._ended:
            source = self._inflater.unconsumed_tail or self._more_input()
            if not source and not self._inflater.eof:
                raise InvalidInputError(f"{self.archive.path}: the gzip data ends before its end of stream")
            out = self._inflater.decompress(source, limit) if source else b""
            if self._inflater.eof:
                self._next_member()
            if out:
                self.pos += len(out)
                _count(len(out))
                return out
        return b""

    def read(self, length: int) -> bytes:
        """Return the next ``length`` bytes (fewer only at the end of the data)."""
        parts, wanted = [], length
        while wanted > 0:
            out = self._inflate(wanted)
            if not out:
                break
            parts.append(out)
            wanted -= len(out)
        return parts[0] if len(parts) == 1 else b"".join(parts)


_idle: dict[tuple, list[_Stream]] = {}  # per archive
_idle_order: collections.OrderedDict[int, _Stream] = collections.OrderedDict()  # least recently returned first
_pool_lock = threading.Lock()


def _lease(archive: IndexedTarGz, start: int) -> _Stream:
    """Return the idle stream of ``archive`` that stopped closest before ``start``, or a new one.

    A stream that stopped before the seek point preceding ``start`` would cost more to continue than a new
    one started at that point.
    """
    point = archive.point_before(start)
    with _pool_lock:
        usable = [s for s in _idle.get(archive.key, ()) if point.uncmp <= s.pos <= start]
        if usable:
            best = max(usable, key=lambda s: s.pos)
            _idle[archive.key].remove(best)
            del _idle_order[id(best)]
            return best
    return archive.new_stream(point)


def _give_back(stream: _Stream) -> None:
    """Return a stream to the pool; the least recently returned streams go first past :data:`POOL_STREAMS`."""
    with _pool_lock:
        mine = _idle.setdefault(stream.key, [])
        if any(other.pos == stream.pos for other in mine):
            return  # a twin already waits there
        mine.append(stream)
        _idle_order[id(stream)] = stream
        while len(_idle_order) > POOL_STREAMS:
            _, oldest = _idle_order.popitem(last=False)
            _idle[oldest.key].remove(oldest)
            if not _idle[oldest.key]:
                del _idle[oldest.key]


class _Skipped:
    """Bytes streams inflated only to reach a read (from a seek point to the read), by archive and start.

    When dask runs a band's chunk tasks from the last strip to the first, each task starts a stream at the
    seek point before its strip and inflates, to get there, the end of the strip the next task reads; that task
    takes them from here instead of inflating them again. Least recently stored first out over
    :data:`SKIPPED_BYTES`.
    """

    def __init__(self, budget: int) -> None:
        self.budget, self.size = budget, 0
        self._pieces: collections.OrderedDict[tuple, bytes] = collections.OrderedDict()
        self._starts: dict[tuple, list[int]] = {}  # per archive, sorted
        self._lock = threading.Lock()

    def put(self, key: tuple, start: int, data: bytes) -> None:
        if not data or len(data) > self.budget:
            return
        with self._lock:
            if (key, start) in self._pieces:
                return
            self._pieces[(key, start)] = data
            bisect.insort(self._starts.setdefault(key, []), start)
            self.size += len(data)
            while self.size > self.budget:
                (old_key, old_start), old = self._pieces.popitem(last=False)
                self._starts[old_key].remove(old_start)
                self.size -= len(old)

    def find(self, key: tuple, offset: int) -> tuple[int, bytes] | None:
        """Return ``(start, bytes)`` of a piece holding ``offset``, or None."""
        with self._lock:
            starts = self._starts.get(key, [])
            i = bisect.bisect_right(starts, offset) - 1
            if i >= 0:
                data = self._pieces[(key, starts[i])]
                if offset < starts[i] + len(data):
                    return starts[i], data
        return None

    def next_start(self, key: tuple, offset: int, end: int) -> int:
        """Return where the first piece after ``offset`` starts (``end`` if none starts before it)."""
        with self._lock:
            starts = self._starts.get(key, [])
            i = bisect.bisect_right(starts, offset)
            return min(starts[i], end) if i < len(starts) else end

    def clear(self) -> None:
        with self._lock:
            self._pieces.clear()
            self._starts.clear()
            self.size = 0


#: Bytes of :class:`_Skipped` pieces one process keeps (a 20-scene stack of 3 bands skips ~1 MiB per strip).
SKIPPED_BYTES = 96 << 20
_skipped = _Skipped(SKIPPED_BYTES)


#: Archives whose last inflated read a process keeps (if at most :data:`LAST_READ_BYTES`): GDAL reads a strip of
#: a striped GeoTIFF more than once.
LAST_READS = 32
LAST_READ_BYTES = 4 << 20
_last_reads: collections.OrderedDict[tuple, tuple[int, bytes]] = collections.OrderedDict()


def _last_read(key: tuple, offset: int) -> tuple[int, bytes] | None:
    with _pool_lock:
        found = _last_reads.get(key)
    if found is not None and found[0] <= offset < found[0] + len(found[1]):
        return found
    return None


def _keep_last_read(key: tuple, start: int, data: bytes) -> None:
    if len(data) > LAST_READ_BYTES:  # a whole member read at once: nobody reads it again piece by piece
        return
    with _pool_lock:
        _last_reads[key] = (start, data)
        _last_reads.move_to_end(key)
        while len(_last_reads) > LAST_READS:
            _last_reads.popitem(last=False)


class _Window(io.RawIOBase):
    """A read-only, seekable file over one member of an archive's uncompressed stream."""

    def __init__(self, archive: IndexedTarGz, offset: int, size: int, head: bytes, tail: bytes) -> None:
        super().__init__()
        self._archive, self._offset, self._size, self._pos = archive, offset, size, 0
        self._head, self._tail, self._tail_at = head, tail, size - len(tail)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._pos
        start, end = self._pos, min(self._pos + max(size, 0), self._size)
        if start >= end:
            return b""
        parts = []
        if start < len(self._head):  # the member's first bytes, kept in the sidecar: nothing inflated
            parts.append(self._head[start:end])
            start += len(parts[-1])
        middle_end = min(end, self._tail_at) if self._tail else end
        if start < middle_end:
            parts.append(self._archive.read(self._offset + start, middle_end - start))
            if len(parts[-1]) < middle_end - start:
                raise InvalidInputError(f"{self._archive.path} ends inside a member its index lists")
            start += len(parts[-1])
        if start < end:  # the last bytes, kept too (GDAL's IFD and tile offsets)
            parts.append(self._tail[start - self._tail_at : end - self._tail_at])
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self._pos += len(data)
        _count(0, returned=len(data))
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# ---------------------------------------------------------------------------------------------------------
# The public object
# ---------------------------------------------------------------------------------------------------------


class IndexedTarGz:
    """A ``.tar.gz`` read in place through its persistent index (built on first use if missing).

    Prefer :func:`indexed_archive`, which shares one object per archive and process. Picklable: it
    pickles as its path and unpickles through :func:`indexed_archive`, reusing the sidecar (a dask worker
    never inflates an archive from its start) and the receiving process's streams.

    Parameters
    ----------
    path : path-like
        The archive.

    Attributes
    ----------
    path : str
        The archive (absolute).
    members : dict
        Member name -> ``(data offset in the uncompressed tar, size)``, regular files, in archive order.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = os.path.abspath(path)
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[bytes, bytes]] = {}
        self._fd: int | None = None
        self._file_lock = threading.Lock()
        self._load()

    def _load(self, rebuild: bool = False) -> None:
        sidecar = ensure_index(self.path, rebuild=rebuild)
        found = _read_header(sidecar)
        if found is None:  # replaced by a broken file between the two reads: build anew, once
            sidecar = ensure_index(self.path, rebuild=True)
            found = _read_header(sidecar)
            if found is None:
                raise InvalidInputError(f"cannot write a readable index for {self.path} at {sidecar}")
        self._index, self._data_at = found
        self._sidecar = sidecar
        self._uncmp = [p.uncmp for p in self._index.points]
        self._kept = {}
        # pooled streams are shared by every object of the same archive content
        self.key = (self.path, self._index.archive["size"], self._index.archive["mtime_ns"],
                    self._index.archive["edges"])

    def __reduce__(self) -> tuple:
        return (indexed_archive, (self.path,))

    def __repr__(self) -> str:
        return f"IndexedTarGz({self.path!r}, {len(self.members)} members, index {str(self._sidecar)!r})"

    @property
    def members(self) -> dict[str, tuple[int, int]]:
        """Member name -> ``(data offset, size)`` (see the class docstring)."""
        return self._index.members

    @property
    def sidecar(self) -> Path:
        """The index file in use."""
        return self._sidecar

    def _damaged(self, what: str) -> None:
        """Rebuild the index once after a window or head failed its check; then give up."""
        with self._lock:
            if getattr(self, "_rebuilt", False):
                raise InvalidInputError(f"the index {self._sidecar} of {self.path} cannot be used: {what}")
            self._rebuilt = True
            self._load(rebuild=True)

    def pread(self, offset: int, length: int) -> bytes:
        """Return up to ``length`` bytes of the archive file from ``offset``.

        The file stays open between reads, for at most :data:`OPEN_ARCHIVES` archives per process (a stack of
        hundreds of products must not exhaust the descriptors: macOS allows 256 by default); the read holds the
        archive's lock, so a descriptor is never closed under it.
        """
        victim = None
        with self._file_lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                victim = _opened(self)
            if hasattr(os, "pread"):
                data = os.pread(self._fd, length, offset)
            else:  # Windows: no positional read; seek and read under the lock
                os.lseek(self._fd, offset, os.SEEK_SET)
                data = os.read(self._fd, length)
        if victim is not None:
            victim.close_file()
        return data

    def close_file(self) -> None:
        """Close the archive file (the next read opens it again)."""
        with self._file_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def point_before(self, offset: int) -> Point:
        """Return the last seek point at or before an uncompressed offset."""
        return self._index.points[max(bisect.bisect_right(self._uncmp, offset) - 1, 0)]

    def new_stream(self, point: Point) -> _Stream:
        """Return a stream resumed at ``point`` (its window read from the sidecar and checked)."""
        for _attempt in range(2):
            window = b""
            if point.window_at >= 0:
                window = _read_item(self._sidecar, self._data_at + point.window_at, point.window_len,
                                    point.window_crc)
                if window is None:
                    self._damaged("a seek point's window does not match its checksum")
                    point = self.point_before(point.uncmp)
                    continue
            return _Stream(self, point, window)
        raise InvalidInputError(f"the index {self._sidecar} of {self.path} cannot be used")  # pragma: no cover

    def read(self, start: int, length: int) -> bytes:
        """Return ``length`` bytes of the uncompressed stream from ``start`` (fewer at its end)."""
        parts, end = [], start + length
        while start < end:
            piece = _skipped.find(self.key, start) or _last_read(self.key, start)
            if piece is not None:  # inflated already (skipped by a stream, or just read): take them from there
                part = piece[1][start - piece[0] : end - piece[0]]
            else:
                part = self._inflate(start, min(end, _skipped.next_start(self.key, start, end)))
                if not part:
                    break
                _keep_last_read(self.key, start, part)
            parts.append(part)
            start += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _inflate(self, start: int, end: int) -> bytes:
        """Return bytes ``[start, end)`` from a pooled stream (rebuilding the index once if a stream fails)."""
        for attempt in range(2):
            stream = _lease(self, start)
            try:
                if stream.pos < start:
                    skipped_from = stream.pos
                    gap = stream.read(start - stream.pos)
                    if len(gap) < start - skipped_from:
                        raise InvalidInputError(f"the stream ended at {skipped_from + len(gap)}")
                    # chunk tasks that dask runs from the last strip to the first need these bytes next
                    _skipped.put(self.key, skipped_from, gap)
                data = stream.read(end - start)
            except (InvalidInputError, zlib.error, OSError) as exc:
                stream.close()
                if attempt:
                    raise InvalidInputError(f"{self.path} cannot be read at offset {start}: {exc}") from exc
                self._damaged(f"reading at {start} failed ({exc})")
                continue
            _give_back(stream)
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    def kept(self, name: str) -> tuple[bytes, bytes]:
        """Return the first and last bytes of a member kept in the sidecar (b"" where none are kept)."""
        found = self._kept.get(name)
        if found is not None:
            return found
        parts = []
        for table in (self._index.heads, self._index.tails):
            where = table.get(name)
            if where is None:
                parts.append(b"")
                continue
            at, length, raw_length, crc = where
            data = _read_item(self._sidecar, self._data_at + at, length, crc, raw_length)
            if data is None:
                self._damaged(f"the bytes of {name} kept in the index do not match their checksum")
                return self.kept(name)
            parts.append(data)
        self._kept[name] = found = (parts[0], parts[1])
        return found

    def open_member(self, name: str) -> io.RawIOBase:
        """Return a read-only, seekable binary file over one member (usable as rasterio's ``opener``).

        Holds no handle: the bytes come from those kept in the sidecar or are inflated by a pooled stream on
        each read.

        Raises
        ------
        FileNotFoundError
            If the archive has no such member.
        """
        try:
            offset, size = self.members[name]
        except KeyError:
            raise FileNotFoundError(f"{self.path} has no member {name!r}") from None
        return _Window(self, offset, size, *self.kept(name))

    def read_member(self, name: str) -> bytes:
        """Return the whole content of a member."""
        with self.open_member(name) as fh:
            return fh.read()


#: Archives whose file one process keeps open between reads (least recently opened closed first).
OPEN_ARCHIVES = 64
_open_archives: collections.OrderedDict[int, IndexedTarGz] = collections.OrderedDict()
_open_lock = threading.Lock()


def _opened(archive: IndexedTarGz) -> IndexedTarGz | None:
    """Register an archive whose file was just opened; return the one to close beyond :data:`OPEN_ARCHIVES`."""
    with _open_lock:
        _open_archives[id(archive)] = archive
        _open_archives.move_to_end(id(archive))
        if len(_open_archives) > OPEN_ARCHIVES:
            return _open_archives.popitem(last=False)[1]
    return None


_archives: collections.OrderedDict[tuple, IndexedTarGz] = collections.OrderedDict()
_archives_lock = threading.Lock()
_MAX_ARCHIVES = 256


def indexed_archive(path: PathLike) -> IndexedTarGz:
    """Return this process's :class:`IndexedTarGz` of an archive (one per archive; a changed file gets a new one).

    Raises
    ------
    InvalidInputError
        If the archive does not exist or cannot be indexed.
    """
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise InvalidInputError(f"no such archive: {path}") from exc
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    with _archives_lock:
        found = _archives.get(key)
        if found is not None:
            _archives.move_to_end(key)
            return found
    archive = IndexedTarGz(path)  # outside the lock: a build takes seconds
    with _archives_lock:
        archive = _archives.setdefault(key, archive)
        while len(_archives) > _MAX_ARCHIVES:
            _archives.popitem(last=False)
    return archive


def clear_caches() -> None:
    """Drop this process's pooled streams and forget its archives (for tests and benchmarks)."""
    with _pool_lock:
        _idle.clear()
        _idle_order.clear()
        _last_reads.clear()
    _skipped.clear()
    with _open_lock:
        opened = list(_open_archives.values())
        _open_archives.clear()
    for archive in opened:
        archive.close_file()
    with _archives_lock:
        _archives.clear()


__all__ = [
    "IndexedTarGz",
    "bytes_inflated",
    "bytes_returned",
    "cache_folder",
    "clear_caches",
    "ensure_index",
    "fingerprint",
    "index_builds",
    "indexed_archive",
]
