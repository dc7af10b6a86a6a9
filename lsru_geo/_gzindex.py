"""Random access into ``.tar.gz`` products through a persistent index kept beside the archive.

gzip has no random access: reaching a byte means inflating everything before it. ``indexed_gzip`` records
*seek points* (the inflate state every ``SPACING`` bytes of output, a 32 KiB window each) in one pass, and
then starts any read at the nearest point. This module keeps those points **on disk**, with the tar member
table, in one *sidecar* file per archive, so that every process and every dask worker reads a member by
inflating that member's bytes and nothing before it:

* ``<archive>.lsru-index`` beside the archive, or, where that folder cannot be written, a file in the user
  cache folder (``$LSRU_CACHE_DIR``, else ``$XDG_CACHE_HOME/lsru_geo``, ``~/Library/Caches/lsru_geo``,
  ``%LOCALAPPDATA%/lsru_geo/Cache``);
* written to a temporary file and renamed with :func:`os.replace`, so readers see the old file or the new
  one, never half of one, and two processes building at once leave one valid index (the last rename wins,
  both are whole);
* never trusted blindly: it records the archive's size, modification time and a hash of its first and last
  64 KiB, and carries a BLAKE2 digest of its own header and of its seek points. A sidecar that is stale,
  truncated, corrupt or of another format version is ignored and rebuilt.

Reads go through seek points exactly: the uncompressed stream is cut into *segments* between consecutive
points, and a read inflates the whole segments it touches (starting at a point, nothing inflated is thrown
away). Each process keeps the parts of inflated segments that no read has returned yet (``CACHE_BYTES``),
so the task reading the next strip of a band finds the part of the segment the two strips share, and small
blocks apart (``SMALL_BLOCK``), so the
TIFF header and tag arrays every task reads again cost nothing. Reading a member therefore inflates its
bytes plus at most one segment at each end; :func:`bytes_inflated` counts it, for tests and benchmarks.

Use: :func:`ensure_index` once an archive is complete (right after a download is verified); then
``indexed_archive(path).members`` lists it and ``indexed_archive(path).open_member(name)`` is the file
rasterio reads a member through (``rasterio.open(name, opener=lambda _p, mode="rb": archive.open_member(m))``).
A missing index is built on first use.

Layering: pure I/O on local files; imports nothing else from lsru_geo but its exceptions.

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
import json
import os
import struct
import sys
import tarfile
import tempfile
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import InvalidInputError

PathLike = str | os.PathLike

#: Uncompressed bytes between seek points: a read inflates at most this much it does not return at each end.
#: Each point keeps a 32 KiB window, so an index costs ~0.8 % of the uncompressed size (~16 MB for a full
#: 2 GB ESPA ``l1`` product).
SPACING = 4 << 20
#: Inflated bytes one process keeps, across archives: of each segment inflated, the parts no read has
#: returned yet (least recently used first out). The task reading the next strip of a band, before or after
#: this one (dask orders tasks as it likes), finds there the part of the segment the two strips share
#: instead of inflating the segment again from its seek point. A 20-scene stack of 3 bands keeps ~60 such
#: parts of up to 4 MiB.
CACHE_BYTES = 256 << 20
#: Of what reads returned, the most recent bytes kept too (GDAL reads some ranges more than once).
RECENT_BYTES = 256 << 20
#: Reads up to ``SMALL_READ`` bytes (TIFF headers and tag arrays, which every chunk task reads again, at both
#: ends of a band) are served from blocks of ``SMALL_BLOCK`` bytes kept apart (``CACHED_BLOCKS`` per process),
#: so they survive the turnover of the big segments.
SMALL_READ = 16 << 10
SMALL_BLOCK = 64 << 10
CACHED_BLOCKS = 256
#: Open ``indexed_gzip`` readers kept idle per process (each holds its archive's seek points in memory).
IDLE_READERS = 8
#: Bytes hashed at each end of the archive to recognise it (with its size and modification time).
EDGE_BYTES = 64 << 10
#: Name appended to the archive's for the sidecar beside it.
SIDECAR_SUFFIX = ".lsru-index"

_MAGIC = b"LSRUGZIX"
_VERSION = 1
_PREFIX = struct.Struct("<8sIQQ32s32s")  # magic, version, header length, points length, two digests


# ---------------------------------------------------------------------------------------------------------
# Counting (for tests and benchmarks)
# ---------------------------------------------------------------------------------------------------------

_inflated = 0
_returned = 0
_builds = 0
_count_lock = threading.Lock()


def bytes_inflated() -> int:
    """Return the uncompressed bytes this process has inflated from ``.tar.gz`` archives so far.

    Counts index builds (the whole stream) and segment reads (whole segments, from a seek point).
    """
    return _inflated


def bytes_returned() -> int:
    """Return the bytes this process's member files have returned to their readers (GDAL) so far.

    Against :func:`bytes_inflated`: GDAL reads some bytes more than once (adjacent chunks share tile rows).
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
class TarIndex:
    """What a sidecar holds: the member table and the seek points of one archive.

    Attributes
    ----------
    archive : dict
        The archive's :func:`fingerprint` when the index was built.
    members : dict
        Member name -> ``(offset of its data in the uncompressed tar, size)``, regular files only, in
        archive order.
    uncompressed_size : int
        Length of the whole tar.
    points : tuple of int
        Uncompressed offsets of the seek points, sorted (segment boundaries).
    """

    archive: dict[str, Any]
    members: dict[str, tuple[int, int]]
    uncompressed_size: int
    points: tuple[int, ...]


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def _encode(index: TarIndex, blob: bytes) -> bytes:
    header = json.dumps(
        {
            "archive": index.archive,
            "members": [[name, *where] for name, where in index.members.items()],
            "uncompressed_size": index.uncompressed_size,
            "points": list(index.points),
            "spacing": SPACING,
        },
        separators=(",", ":"),
    ).encode()
    prefix = _PREFIX.pack(_MAGIC, _VERSION, len(header), len(blob), _digest(header), _digest(blob))
    return prefix + header + blob


def _read_header(sidecar: Path) -> tuple[TarIndex, int, int, bytes] | None:
    """Return ``(index, blob offset, blob length, blob digest)`` of a well-formed sidecar, else None."""
    try:
        with open(sidecar, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            prefix = fh.read(_PREFIX.size)
            if len(prefix) < _PREFIX.size:
                return None
            magic, version, header_len, blob_len, header_digest, blob_digest = _PREFIX.unpack(prefix)
            if magic != _MAGIC or version != _VERSION or size != _PREFIX.size + header_len + blob_len:
                return None  # another format, or truncated
            header = fh.read(header_len)
        if _digest(header) != header_digest:
            return None
        data = json.loads(header)
        members = {str(name): (int(offset), int(length)) for name, offset, length in data["members"]}
        index = TarIndex(data["archive"], members, int(data["uncompressed_size"]), tuple(map(int, data["points"])))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return index, _PREFIX.size + header_len, blob_len, blob_digest


def _read_blob(sidecar: Path, offset: int, length: int, digest: bytes) -> bytes | None:
    try:
        with open(sidecar, "rb") as fh:
            fh.seek(offset)
            blob = fh.read(length)
    except OSError:
        return None
    return blob if len(blob) == length and _digest(blob) == digest else None


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


def _new_reader(archive: PathLike, blob: bytes | None = None) -> Any:
    import indexed_gzip

    reader = indexed_gzip.IndexedGzipFile(str(archive), spacing=SPACING, buffer_size=1 << 16)
    if blob is not None:
        reader.import_index(fileobj=io.BytesIO(blob))
    return reader


def build_index(archive: PathLike) -> tuple[TarIndex, bytes]:
    """Inflate an archive once: return its :class:`TarIndex` and the seek points as ``indexed_gzip`` exports them.

    Raises
    ------
    InvalidInputError
        If the file is not a gzip stream, is corrupt (CRC or length check) or does not hold a tar.
    """
    print_name = Path(archive).name
    before = fingerprint(archive)
    reader = _new_reader(archive)
    try:
        try:
            reader.build_full_index()
        except Exception as exc:  # indexed_gzip raises ZranError/CrcError/ValueError/OSError
            raise InvalidInputError(f"{print_name} is not a readable gzip file: {exc}") from exc
        total = reader.seek(0, io.SEEK_END)
        _count(total, built=True)
        points = tuple(sorted({0, *(int(u) for u, _c in reader.seek_points())}))
        blob = io.BytesIO()
        reader.export_index(fileobj=blob)
        # listing the headers reads each segment once: nothing to cache
        segments = _Segments(str(archive), points, total, lambda: _Lease(reader), cache=False)
        members = _list_members(segments, print_name)
    finally:
        reader.close()
    if fingerprint(archive) != before:
        raise InvalidInputError(f"{print_name} changed while it was being indexed")
    return TarIndex(before, members, total, points), blob.getvalue()


def _list_members(segments: _Segments, print_name: str) -> dict[str, tuple[int, int]]:
    """Read the tar headers through the seek points (tarfile handles GNU long names and pax headers)."""
    stream = _Window(segments, 0, segments.total)
    members: dict[str, tuple[int, int]] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r:") as tar:
            for info in tar:
                if info.isfile():
                    members[info.name] = (info.offset_data, info.size)
    except tarfile.TarError as exc:
        raise InvalidInputError(f"{print_name} does not hold a tar archive: {exc}") from exc
    return members


def _valid(sidecar: Path, archive_print: dict[str, Any]) -> tuple[TarIndex, int, int, bytes] | None:
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
        Build anew even if a valid index exists (after its seek points were found corrupt).

    Returns
    -------
    pathlib.Path
        The sidecar file.

    Raises
    ------
    InvalidInputError
        If ``archive`` does not exist, or cannot be indexed (:class:`InvalidInputError`).
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
    index, blob = build_index(path)
    data = _encode(index, blob)
    try:
        _write_atomically(beside, data)
        return beside
    except OSError:  # read-only folder (or a file system without rename): the user's cache folder
        _write_atomically(cached, data)
        return cached


# ---------------------------------------------------------------------------------------------------------
# Reading: segments between seek points, a small per-process cache
# ---------------------------------------------------------------------------------------------------------


class _Lease:
    """A reader borrowed from the pool (or the one a build is using), given back on exit."""

    def __init__(self, reader: Any, pool_key: tuple | None = None) -> None:
        self.reader, self._key = reader, pool_key

    def __enter__(self) -> Any:
        return self.reader

    def __exit__(self, *exc: Any) -> None:
        if self._key is not None:
            _give_back(self._key, self.reader)


_idle: collections.OrderedDict[tuple, list[Any]] = collections.OrderedDict()
_idle_lock = threading.Lock()


def _give_back(key: tuple, reader: Any) -> None:
    with _idle_lock:
        _idle.setdefault(key, []).append(reader)
        _idle.move_to_end(key)
        while sum(len(v) for v in _idle.values()) > IDLE_READERS:
            oldest = next(iter(_idle))
            _idle[oldest].pop(0).close()
            if not _idle[oldest]:
                del _idle[oldest]


def _take(key: tuple) -> Any | None:
    with _idle_lock:
        readers = _idle.get(key)
        return readers.pop() if readers else None


_block_cache: collections.OrderedDict[tuple, bytes] = collections.OrderedDict()
_in_flight: dict[tuple, Future] = {}
_segment_lock = threading.Lock()


class _Segments:
    """The uncompressed stream of one archive as segments between seek points, inflated on demand."""

    def __init__(self, key: Any, points: tuple[int, ...], total: int, lease: Any, cache: bool = True) -> None:
        self.key, self.points, self.total, self._lease, self._cache = key, points, total, lease, cache
        self._last: tuple[int, bytes] = (-1, b"")  # without the shared cache: the last segment only

    def _bounds(self, i: int) -> tuple[int, int]:
        end = self.points[i + 1] if i + 1 < len(self.points) else self.total
        return self.points[i], end

    def _number(self, offset: int) -> int:
        return bisect.bisect_right(self.points, offset) - 1

    def _fetch(self, first: int, last: int) -> list[bytes]:
        """Inflate segments ``first..last`` in one read from seek point ``first``."""
        start, _ = self._bounds(first)
        _, end = self._bounds(last)
        buffer = bytearray(end - start)
        with self._lease() as reader:
            raw = reader.raw  # unbuffered: one zran read starting exactly at the seek point
            raw.seek(start)
            view, got = memoryview(buffer), 0
            while got < len(buffer):
                n = raw.readinto(view[got:])
                if not n:
                    raise InvalidInputError(f"{self.key}: the stream ended at {start + got}, not {end} as indexed")
                got += n
        _count(len(buffer))
        out = []
        for i in range(first, last + 1):
            lo, hi = self._bounds(i)
            out.append(bytes(buffer[lo - start : hi - start]))
        return out

    def part(self, i: int, start: int, end: int, consume: bool = True) -> bytes:
        """Return bytes ``[start, end)`` of segment ``i``: from the cache, else inflated from its seek point.

        What a read returns is dropped from the cache (``consume``) and the rest of the segment kept: chunk
        tasks read each band strip once, in whatever order dask runs them, and the strips before and after
        this one need exactly the rest. A concurrent request for a segment being inflated waits for it.
        """
        key = (self.key, i)
        if not self._cache:
            if self._last[0] != i:
                self._last = (i, self._fetch(i, i)[0])
            lo = self.points[i]
            return self._last[1][start - lo : end - lo]
        with _segment_lock:
            found = _cut(key, start, end, consume)
            if found is not None:
                return found
            waiting = _in_flight.get(key)
            if waiting is None:
                _in_flight[key] = mine = Future()
        if waiting is not None:
            whole = waiting.result()
        else:
            try:
                whole = self._fetch(i, i)[0]
            except BaseException as exc:
                with _segment_lock:
                    del _in_flight[key]
                mine.set_exception(exc)
                raise
            with _segment_lock:
                _unread.put(key, [(self.points[i], whole)])
                del _in_flight[key]
            mine.set_result(whole)
        if consume:
            with _segment_lock:
                _remove(key, start, end)
        lo = self.points[i]
        return whole[start - lo : end - lo]

    def read(self, start: int, length: int) -> bytes:
        """Return ``length`` uncompressed bytes from ``start`` (fewer at the end of the stream)."""
        end = min(start + length, self.total)
        if start >= end:
            return b""
        if end - start <= SMALL_READ and self._cache:
            first = start // SMALL_BLOCK
            blocks = [self._block(n) for n in range(first, (end - 1) // SMALL_BLOCK + 1)]
            joined = blocks[0] if len(blocks) == 1 else b"".join(blocks)
            return joined[start - first * SMALL_BLOCK : end - first * SMALL_BLOCK]
        return self._read_segments(start, end)

    def _block(self, number: int) -> bytes:
        key = (self.key, "block", number)
        with _segment_lock:
            block = _block_cache.get(key)
            if block is not None:
                _block_cache.move_to_end(key)
                return block
        start = number * SMALL_BLOCK
        # not consumed: a header block also holds the first pixels, which the strip read wants too
        block = self._read_segments(start, min(start + SMALL_BLOCK, self.total), consume=False)
        with _segment_lock:
            _block_cache[key] = block
            while len(_block_cache) > CACHED_BLOCKS:
                _block_cache.popitem(last=False)
        return block

    def _read_segments(self, start: int, end: int, consume: bool = True) -> bytes:
        first, last = self._number(start), self._number(end - 1)
        if first == last:
            return self.part(first, start, end, consume)
        parts = [self.part(first, start, self._bounds(first)[1], consume)]
        if last - first >= 2:  # a long read: the inner segments in one inflate, not cached
            parts += self._fetch(first + 1, last - 1)
        parts.append(self.part(last, self.points[last], end, consume))
        return b"".join(parts)


class _Pieces:
    """Cached pieces of segments, least recently used segment first out over a byte budget (lock held)."""

    def __init__(self, budget: int) -> None:
        self.budget, self.size = budget, 0
        self.by_segment: collections.OrderedDict[tuple, list[tuple[int, bytes]]] = collections.OrderedDict()

    def find(self, key: tuple, start: int, end: int) -> bytes | None:
        """Return ``[start, end)`` if one cached piece of the segment holds it all."""
        for lo, data in self.by_segment.get(key, ()):
            if lo <= start and end <= lo + len(data):
                self.by_segment.move_to_end(key)
                return data[start - lo : end - lo]
        return None

    def cut(self, key: tuple, start: int, end: int) -> bytes | None:
        """Drop ``[start, end)`` from the pieces, keeping what lies before and after; return what was cut."""
        pieces = self.by_segment.get(key)
        if pieces is None:
            return None
        kept, cut = [], None
        for lo, data in pieces:
            hi = lo + len(data)
            if hi <= start or lo >= end:
                kept.append((lo, data))
                continue
            if lo <= start and end <= hi:
                cut = data[start - lo : end - lo]
            if lo < start:
                kept.append((lo, data[: start - lo]))
            if hi > end:
                kept.append((end, data[end - lo :]))
        self.put(key, kept)
        return cut

    def put(self, key: tuple, pieces: list[tuple[int, bytes]]) -> None:
        """Store a segment's pieces (none: forget it), then evict over the budget."""
        old = self.by_segment.pop(key, None)
        if old is not None:
            self.size -= sum(len(d) for _, d in old)
        if pieces:
            self.by_segment[key] = pieces
            self.size += sum(len(d) for _, d in pieces)
        while self.size > self.budget and self.by_segment:
            self.size -= sum(len(d) for _, d in self.by_segment.popitem(last=False)[1])

    def add(self, key: tuple, lo: int, data: bytes) -> None:
        """Add one piece to a segment's pieces."""
        if data:
            self.put(key, [*self.by_segment.get(key, ()), (lo, data)])

    def clear(self) -> None:
        self.by_segment.clear()
        self.size = 0


def _cut(key: tuple, start: int, end: int, consume: bool) -> bytes | None:
    """Return ``[start, end)`` of a segment from the cache, moving it to the recently-read tier (lock held)."""
    found = _unread.find(key, start, end)
    if found is None:
        if consume:  # read a second time (by the chunk on the other side of a shared tile row): not again
            return _recently_read.cut(key, start, end)
        return _recently_read.find(key, start, end)
    if consume:
        _remove(key, start, end)
    return found


def _remove(key: tuple, start: int, end: int) -> None:
    """Move ``[start, end)`` of a segment from the unread pieces to the recently read ones (lock held)."""
    cut = _unread.cut(key, start, end)
    if cut is not None:
        _recently_read.add(key, start, cut)


_unread = _Pieces(CACHE_BYTES)
_recently_read = _Pieces(RECENT_BYTES)


class _Window(io.RawIOBase):
    """A read-only, seekable file over ``[offset, offset + size)`` of an archive's uncompressed stream."""

    def __init__(self, segments: _Segments, offset: int, size: int) -> None:
        super().__init__()
        self._segments, self._offset, self._size, self._pos = segments, offset, size, 0

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
        size = max(0, min(size, self._size - self._pos))
        if not size:
            return b""
        data = self._segments.read(self._offset + self._pos, size)
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
    never inflates an archive from its start) and the receiving process's cached segments.

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
        self._load()

    def _load(self, rebuild: bool = False) -> None:
        sidecar = ensure_index(self.path, rebuild=rebuild)
        found = _read_header(sidecar)
        if found is None:  # replaced by a broken file between the two reads: build anew, once
            sidecar = ensure_index(self.path, rebuild=True)
            found = _read_header(sidecar)
            if found is None:
                raise InvalidInputError(f"cannot write a readable index for {self.path} at {sidecar}")
        self._index, self._blob_at, self._blob_len, self._blob_digest = found
        self._sidecar = sidecar
        # cached segments and idle readers are shared by every object of the same archive content
        self._key = (self.path, self._index.archive["size"], self._index.archive["mtime_ns"],
                     self._index.archive["edges"])
        self._segments = _Segments(self._key, self._index.points, self._index.uncompressed_size, self._lease)

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

    def _new_reader(self) -> Any:
        """Return an ``indexed_gzip`` reader loaded with the sidecar's seek points.

        The points are read and checked each time rather than kept in memory between readers.
        """
        with self._lock:
            for attempt in range(2):
                blob = _read_blob(self._sidecar, self._blob_at, self._blob_len, self._blob_digest)
                if blob is not None:
                    try:
                        return _new_reader(self.path, blob)
                    except Exception as exc:  # points another indexed_gzip version wrote and this one refuses
                        failure: Exception = exc
                else:  # corrupt, truncated or replaced since the header was read
                    failure = InvalidInputError("its seek points do not match their digest")
                if attempt == 0:
                    self._load(rebuild=True)
        raise InvalidInputError(f"the index {self._sidecar} of {self.path} cannot be used: {failure}") from failure

    def _lease(self) -> _Lease:
        reader = _take(self._key)
        return _Lease(reader if reader is not None else self._new_reader(), self._key)

    def open_member(self, name: str) -> io.RawIOBase:
        """Return a read-only, seekable binary file over one member (usable as rasterio's ``opener``).

        Holds no handle: the bytes are inflated (or taken from this process's cache) on each read.

        Raises
        ------
        FileNotFoundError
            If the archive has no such member.
        """
        try:
            offset, size = self.members[name]
        except KeyError:
            raise FileNotFoundError(f"{self.path} has no member {name!r}") from None
        return _Window(self._segments, offset, size)

    def read_member(self, name: str) -> bytes:
        """Return the whole content of a member."""
        with self.open_member(name) as fh:
            return fh.read()


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
    """Drop this process's cached segments and idle readers (for tests and benchmarks)."""
    with _segment_lock:
        _unread.clear()
        _recently_read.clear()
        _block_cache.clear()
    with _archives_lock:
        _archives.clear()
    with _idle_lock:
        for readers in _idle.values():
            for reader in readers:
                reader.close()
        _idle.clear()


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
