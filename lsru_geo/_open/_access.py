"""Archive access: the one module that knows how a product's bytes are obtained.

Sources are read where they lie, never extracted:

* a product **folder** (flat, or its files under one top folder), read file by file;
* a plain **tar** (a USGS bundle ``<product id>.tar``, or an ESPA tarball someone un-gzipped): the member
  offsets are listed once with :mod:`tarfile` (a few header reads), and GDAL reads each member in place
  through ``/vsisubfile/<offset>_<size>,<archive>``: as fast as an extracted file;
* a **gzip tar** (ESPA's ``.tar.gz``, a gzipped USGS bundle, any ``.tgz``): gzip has no random access, and
  GDAL's ``/vsitar/`` lists the whole archive first and keeps seek points for one archive at a time, so a
  stack of many tarballs makes it decompress from the start again and again. Instead each process keeps a
  *seek index* per archive (:class:`GzipIndex`): the zlib state every 4 MiB of output, recorded the first
  time the stream is decompressed that far, so a later read restarts at most 4 MiB before its offset;
  cursors of finished tasks are parked, so the next strip of a band continues where the last one stopped.
  GDAL reads the members through a Python file object (rasterio's ``opener``). Listing the members
  (what a product is assembled from: the archive, not its metadata, says what is there) decompresses the
  archive once per process and records the seek points on the way, so later reads are cheap.
  ``zlib-ng``, when installed, inflates twice as fast as zlib.

Text members (MTL, ANG, ESPA XML) are read only below :data:`TEXT_LIMIT`; the size comes from the file
system or the tar header, so an oversized member is refused without being read.
"""

from __future__ import annotations

import bisect
import collections
import io
import os
import re
import tarfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import InvalidInputError, OversizedMetadataError

try:  # zlib-ng inflates about twice as fast as zlib, and its states can be copied too
    from zlib_ng import zlib_ng as _zlib
except ImportError:  # pragma: no cover - optional
    import zlib as _zlib

PathLike = str | os.PathLike

#: Largest text member (MTL, ANG, ESPA XML) read, in bytes. Real ones are 10-300 KB.
TEXT_LIMIT = 4 << 20
#: Archive suffixes read as gzip tars.
GZIP_SUFFIXES = (".tar.gz", ".tgz")


@dataclass(frozen=True)
class RasterRef:
    """Where one member's bytes are (picklable; holds no handle).

    Attributes
    ----------
    kind : {"file", "tar", "tgz"}
        A plain file, a member of a plain tar (``offset``/``size`` known) or of a gzip tar (found by name).
    path : str
        The file or the archive.
    member : str
        Member name inside the archive ("" for files).
    offset, size : int
        Byte range of a plain-tar member.
    """

    kind: str
    path: str
    member: str = ""
    offset: int = 0
    size: int = 0

    def describe(self) -> str:
        """``archive:member`` or the file path, for messages."""
        return f"{self.path}:{self.member}" if self.member else self.path


@dataclass(frozen=True)
class Member:
    """One file of a product source: its name (relative to the source), size in bytes and where it lies."""

    name: str
    size: int
    ref: RasterRef


def source_kind(path: Path) -> str:
    """``"folder"``, ``"tgz"``, ``"tar"`` or ``"file"`` (any case of extension)."""
    if path.is_dir():
        return "folder"
    lower = path.name.lower()
    if lower.endswith(GZIP_SUFFIXES):
        return "tgz"
    if lower.endswith(".tar"):
        return "tar"
    return "file"


def list_members(path: Path) -> list[Member]:
    """Every regular file a folder (two levels deep), plain tar or gzip tar holds, in source order.

    Raises
    ------
    InvalidInputError
        If the archive cannot be read as a tar.
    """
    kind = source_kind(path)
    try:
        if kind == "folder":
            found = []
            for entry in sorted(path.iterdir()):
                if entry.is_file():
                    found.append(Member(entry.name, entry.stat().st_size, RasterRef("file", str(entry))))
                elif entry.is_dir() and not entry.name.startswith("."):
                    for inner in sorted(entry.iterdir()):
                        if inner.is_file():
                            name = f"{entry.name}/{inner.name}"
                            found.append(Member(name, inner.stat().st_size, RasterRef("file", str(inner))))
            return found
        if kind == "tar":
            with tarfile.open(path, "r:") as tar:  # plain tar: seeks from header to header
                return [
                    Member(m.name, m.size, RasterRef("tar", str(path), m.name, m.offset_data, m.size))
                    for m in tar.getmembers()
                    if m.isfile()
                ]
        if kind == "tgz":
            index = gzip_index(path)
            names = index.all_members()
            return [Member(n, index.members[n][1], RasterRef("tgz", str(path), n)) for n in names]
    except (tarfile.TarError, OSError, EOFError, _zlib.error) as error:
        raise InvalidInputError(
            f"{path} cannot be read as a {kind} archive ({type(error).__name__}: {error})"
        ) from None
    raise InvalidInputError(f"{path} is neither a product folder nor a .tar/.tar.gz/.tgz archive")


def read_text(member: Member, limit: int = TEXT_LIMIT) -> str:
    """Return a small text member, refusing one above ``limit`` bytes before reading it.

    Raises
    ------
    OversizedMetadataError
        If the member is larger than ``limit``.
    """
    if member.size > limit:
        raise OversizedMetadataError(
            f"{member.ref.describe()} is {member.size:,} bytes; metadata files are at most {limit:,} bytes "
            "(real ones are 10-300 KB): refusing to read it"
        )
    ref = member.ref
    if ref.kind == "file":
        with open(ref.path, "rb") as fh:
            data = fh.read(limit + 1)
    elif ref.kind == "tar":
        with open(ref.path, "rb") as fh:
            fh.seek(ref.offset)
            data = fh.read(min(ref.size, limit + 1))
    else:
        data = gzip_index(ref.path).read_member(ref.member, limit + 1)
    if len(data) > limit:  # the file grew since it was listed
        raise OversizedMetadataError(f"{ref.describe()} is larger than {limit:,} bytes: refusing to read it")
    return data.decode("utf-8", "replace")


@contextmanager
def open_raster(ref: RasterRef) -> Iterator[Any]:
    """Open a raster with rasterio wherever it lies; the dataset is closed on exit."""
    import rasterio

    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        if ref.kind == "file":
            with rasterio.open(ref.path) as src:
                yield src
        elif ref.kind == "tar":
            with rasterio.open(f"/vsisubfile/{ref.offset}_{ref.size},{ref.path}") as src:
                yield src
        else:
            index = gzip_index(ref.path)
            # a unique folder per open: rasterio registers openers per parent folder
            name = f"/lsru-gzip/{uuid.uuid4().hex}/{Path(ref.member).name}"
            with rasterio.open(name, opener=lambda _path, mode="rb": _GzipMemberFile(index, ref.member)) as src:
                yield src


def raster_header(ref: RasterRef) -> tuple[str, tuple[float, ...], int, int]:
    """``(crs wkt, transform, width, height)`` from a raster's header (no pixels read).

    Raises
    ------
    InvalidInputError
        If GDAL cannot open the raster, or it has no CRS.
    """
    import rasterio.errors

    try:
        with open_raster(ref) as src:
            if src.crs is None:
                raise InvalidInputError(f"{ref.describe()} has no CRS")
            return src.crs.to_wkt(), tuple(src.transform)[:6], src.width, src.height
    except rasterio.errors.RasterioIOError as error:
        raise InvalidInputError(f"{ref.describe()} is not a readable raster ({error})") from None


def locate_quietly(path: str, member: str) -> None:
    """Scan a gzip tar up to a member (for prefetching); any problem is left to the task that reads it."""
    try:
        gzip_index(path).locate(member)
    except Exception:
        pass


# ---------------------------------------------------------------------------------------------------------
# Random access into gzip tarballs
# ---------------------------------------------------------------------------------------------------------

#: Distance between seek points, in uncompressed bytes: a read restarts at most this far before its offset.
#: Each point keeps a zlib state (~45 KB): indexing the first 770 MB of a product (up to its NIR band)
#: costs ~9 MB. Dense points matter because dask runs strip tasks in no particular order.
SEEK_SPACING = 4 << 20
#: Reads up to this size (TIFF headers, tag arrays: what every chunk task reads again) are served from
#: cached blocks of this size; a process keeps at most ``SMALL_CACHE_BLOCKS`` of them.
SMALL_BLOCK = 64 << 10
SMALL_CACHE_BLOCKS = 512
#: Cursors (zlib states) one open member keeps: GDAL interleaves reads of a few regions (tiles in order,
#: edge tiles and tag arrays elsewhere), and each region keeps its own cursor moving forward.
CURSORS_PER_FILE = 3
#: Cursors kept per archive after their file is closed: the task reading the next strip continues there.
PARKED_CURSORS = 6
_READ_SIZE = 256 << 10
_MAX_OUTPUT = 1 << 20
_MAX_INDEXES = 64


class GzipIndex:
    """Seek points into one gzip file and the tar members found so far (one per file and process).

    Built as far as the stream has been read: the first read of a member decompresses up to it, recording
    points on the way; later reads start from the nearest point. Thread-safe.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = str(path)
        self._points_lock = threading.RLock()
        self._scan_lock = threading.Lock()
        self._offsets = [0]  # uncompressed offsets of the points, sorted
        self._points = [(0, 0, _zlib.decompressobj(31))]  # (uncompressed, compressed, state)
        self.members: dict[str, tuple[int, int]] = {}  # name -> (data offset, size), in archive order
        self._next_header = 0
        self._parked: list[_GzipCursor] = []
        self.complete = False

    # -- seek points ---------------------------------------------------------------------------------------

    def point_before(self, offset: int) -> tuple[int, int, Any]:
        """Return the last seek point at or before ``offset``, its zlib state copied (safe to advance)."""
        with self._points_lock:
            i = bisect.bisect_right(self._offsets, offset) - 1
            u, c, state = self._points[i]
            return u, c, state.copy()

    def offset_before(self, offset: int) -> int:
        """Uncompressed offset of the last seek point at or before ``offset``."""
        with self._points_lock:
            return self._offsets[bisect.bisect_right(self._offsets, offset) - 1]

    def add_point(self, uncompressed: int, compressed: int, state: Any, spacing: int) -> None:
        """Record a seek point unless another lies within ``spacing`` bytes of it."""
        with self._points_lock:
            i = bisect.bisect_right(self._offsets, uncompressed)
            if uncompressed - self._offsets[i - 1] < spacing:
                return
            if i < len(self._offsets) and self._offsets[i] - uncompressed < spacing:
                return
            self._offsets.insert(i, uncompressed)
            self._points.insert(i, (uncompressed, compressed, state.copy()))

    def park(self, cursor: _GzipCursor) -> None:
        """Keep a closed file's cursor, so the next task reading on from there need not restart."""
        cursor.close()
        with self._points_lock:
            self._parked.append(cursor)
            del self._parked[:-PARKED_CURSORS]

    def adopt(self, start: int) -> _GzipCursor | None:
        """Return (and unpark) a parked cursor that reaches ``start`` more cheaply than a seek point, if any."""
        with self._points_lock:
            if not self._parked:
                return None
            best = min(self._parked, key=lambda c: c.cost(start))
            if best.cost(start) >= start - self._offsets[bisect.bisect_right(self._offsets, start) - 1]:
                return None
            self._parked.remove(best)
            return best

    # -- tar members ---------------------------------------------------------------------------------------

    def _scan_next(self, cursor: _GzipCursor) -> str | None:
        """Parse the next tar header (long names and pax paths included); None at the end of the archive."""
        offset = self._next_header
        block = cursor.read_at(offset, 512)
        if len(block) < 512 or block.count(0) == 512:
            self.complete = True
            return None
        info = tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
        name, data = info.name, offset + 512
        if info.type in (tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE):
            if info.size > TEXT_LIMIT:  # a long name or pax header is a few hundred bytes
                raise OversizedMetadataError(f"{self.path}: a tar header of {info.size:,} bytes")
            extra = cursor.read_at(data, info.size)
            if info.type == tarfile.GNUTYPE_LONGNAME:
                name = extra.rstrip(b"\0").decode("utf-8", "surrogateescape")
            else:
                match = re.search(rb"\d+ path=([^\n]*)\n", extra)
                name = match.group(1).decode("utf-8", "surrogateescape") if match else None
            header = data + -(-info.size // 512) * 512
            real = tarfile.TarInfo.frombuf(cursor.read_at(header, 512), tarfile.ENCODING, "surrogateescape")
            name, info, data = name or real.name, real, header + 512
        self._next_header = data + -(-info.size // 512) * 512
        if info.isfile():
            self.members[name] = (data, info.size)
            return name
        return ""

    def iter_members(self) -> Iterator[str]:
        """Yield member names in archive order, scanning further only as far as the caller iterates."""
        seen = 0
        while True:
            names = list(self.members)
            while seen < len(names):
                seen += 1
                yield names[seen - 1]
            if self.complete:
                return
            with self._scan_lock:
                if len(self.members) == seen and not self.complete:
                    cursor = _GzipCursor(self)
                    try:
                        while self._scan_next(cursor) == "":
                            pass
                    finally:
                        cursor.close()

    def all_members(self) -> list[str]:
        """Every member name (scans the whole archive once)."""
        return list(self.iter_members())

    def locate(self, name: str) -> tuple[int, int]:
        """``(offset, size)`` of a member, scanning forward if it was not seen yet.

        Raises
        ------
        FileNotFoundError
            If the archive has no such member.
        """
        if name in self.members:
            return self.members[name]
        for found in self.iter_members():
            if found == name:
                return self.members[name]
        raise FileNotFoundError(f"{self.path} has no member {name!r}")

    def read_member(self, name: str, limit: int) -> bytes:
        """Return the content of a (small) member, at most ``limit`` bytes of it."""
        offset, size = self.locate(name)
        cursor = _GzipCursor(self)
        try:
            return cursor.read_at(offset, min(size, limit))
        finally:
            cursor.close()

    def read_small(self, start: int, length: int, cursor: _GzipCursor) -> bytes:
        """Read a short range through the process's block cache (see ``SMALL_BLOCK``)."""
        out = bytearray()
        first, last = start // SMALL_BLOCK, (start + length - 1) // SMALL_BLOCK
        for number in range(first, last + 1):
            key = (self.path, number)
            with _small_cache_lock:
                block = _small_cache.get(key)
                if block is not None:
                    _small_cache.move_to_end(key)
            if block is None:
                block = cursor.read_at(number * SMALL_BLOCK, SMALL_BLOCK)
                with _small_cache_lock:
                    _small_cache[key] = block
                    while len(_small_cache) > SMALL_CACHE_BLOCKS:
                        _small_cache.popitem(last=False)
            lo = max(start, number * SMALL_BLOCK) - number * SMALL_BLOCK
            hi = min(start + length, (number + 1) * SMALL_BLOCK) - number * SMALL_BLOCK
            out += block[lo:hi]
        return bytes(out)


_small_cache: collections.OrderedDict[tuple[str, int], bytes] = collections.OrderedDict()
_small_cache_lock = threading.Lock()


class _GzipCursor:
    """Reads uncompressed byte ranges of a gzip file: forward from where it is, else from a seek point."""

    def __init__(self, index: GzipIndex, spacing: int = SEEK_SPACING) -> None:
        self.index = index
        self.spacing = spacing  # of the seek points this cursor records
        self._fh: Any = None  # opened on demand, closed when parked
        self._state: Any = None
        self._uoff = 0  # uncompressed offset the state has reached
        self._coff = 0  # compressed offset of the next input byte the state has not consumed
        self._pending = b""  # input read from the file but not consumed yet (it starts at _coff)
        self._last = b""  # the last output block, for small backward reads
        self._last_start = 0
        self._read_end = 0  # where the last read ended

    def close(self) -> None:
        """Close the file; the state stays usable (the file reopens at the same place).

        Of the last output block only the part after the last read is kept: the next strip starts there.
        """
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        keep_from = min(max(self._read_end, self._last_start), self._last_start + len(self._last))
        self._last, self._last_start = self._last[keep_from - self._last_start :], keep_from

    def _file(self) -> Any:
        if self._fh is None:
            self._fh = open(self.index.path, "rb")  # closed by close()
            self._fh.seek(self._coff + len(self._pending))
        return self._fh

    def cost(self, start: int) -> int:
        """Bytes to decompress before this cursor can return ``start`` (restarting if that is cheaper)."""
        if self._last_start <= start < self._last_start + len(self._last):
            return 0
        restart = start - self.index.offset_before(start)
        if self._state is None or start < self._uoff:
            return restart
        return min(start - self._uoff, restart)

    def _restart(self, offset: int) -> None:
        self._uoff, self._coff, self._state = self.index.point_before(offset)
        self._pending = b""
        self._file().seek(self._coff)
        self._last, self._last_start = b"", self._uoff

    def _inflate(self) -> bytes:
        """Decompress the next block (at most ``_MAX_OUTPUT`` bytes: QA bands compress 60-fold)."""
        data = self._pending or self._file().read(_READ_SIZE)
        if not data:
            return b""
        block = self._state.decompress(data, _MAX_OUTPUT)
        self._pending = self._state.unconsumed_tail
        if self._state.eof:  # a gzip member ended; another may follow (concatenated gzip)
            self._pending = self._state.unused_data
            self._state = _zlib.decompressobj(31)
        self._coff += len(data) - len(self._pending)
        return block

    def read_at(self, start: int, length: int) -> bytes:
        """Return up to ``length`` uncompressed bytes from ``start`` (fewer at the end of the stream)."""
        end = start + length
        self._read_end = end
        if self._last_start <= start and end <= self._last_start + len(self._last):
            return self._last[start - self._last_start : end - self._last_start]
        out = bytearray()
        if self._last_start <= start < self._last_start + len(self._last):
            out += self._last[start - self._last_start :]  # the rest follows from where the state is
        elif self._state is None or start < self._uoff or self.index.offset_before(start) > self._uoff:
            self._restart(start)  # behind us, or a seek point is nearer than where we are
        while self._uoff < end:
            block = self._inflate()
            if not block and not self._pending:
                if self._file().tell() >= os.fstat(self._file().fileno()).st_size:
                    break  # end of the stream
                continue
            block_start = self._uoff
            self._uoff += len(block)
            self._last, self._last_start = block, block_start
            self.index.add_point(self._uoff, self._coff, self._state, self.spacing)
            lo, hi = max(start, block_start), min(end, self._uoff)
            if lo < hi:
                out += block[lo - block_start : hi - block_start]
        return bytes(out)


class _GzipMemberFile(io.RawIOBase):
    """A read-only, seekable file over one tar member inside a gzip stream (what GDAL reads through)."""

    def __init__(self, index: GzipIndex, name: str) -> None:
        super().__init__()
        self._index = index
        self._offset, self._size = index.locate(name)
        self._pos = 0
        self._cursors: list[_GzipCursor] = []

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

    def _cursor_for(self, start: int) -> _GzipCursor:
        """Return the cursor that reaches ``start`` with the least decompression (most recently used last)."""
        if self._cursors:
            best = min(self._cursors, key=lambda c: c.cost(start))
            if best.cost(start) == 0 or len(self._cursors) >= CURSORS_PER_FILE:
                if best.cost(start) > 0 and len(self._cursors) >= CURSORS_PER_FILE:
                    best = self._cursors[0]  # least recently used: it restarts
                self._cursors.remove(best)
                self._cursors.append(best)
                return best
        cursor = self._index.adopt(start) or _GzipCursor(self._index)
        self._cursors.append(cursor)
        return cursor

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._pos
        size = max(0, min(size, self._size - self._pos))
        if not size:
            return b""
        start = self._offset + self._pos
        if size <= SMALL_BLOCK // 4:
            data = self._index.read_small(start, size, self._cursor_for(start - start % SMALL_BLOCK))
        else:
            data = self._cursor_for(start).read_at(start, size)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            for cursor in self._cursors:
                self._index.park(cursor)
            self._cursors = []
        super().close()


_indexes: collections.OrderedDict[tuple, GzipIndex] = collections.OrderedDict()
_indexes_lock = threading.Lock()


def gzip_index(path: PathLike) -> GzipIndex:
    """Return the process's :class:`GzipIndex` of a gzip file (rebuilt when the file changes; at most 64 kept)."""
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    with _indexes_lock:
        index = _indexes.get(key)
        if index is None:
            index = _indexes[key] = GzipIndex(path)
            while len(_indexes) > _MAX_INDEXES:
                _indexes.popitem(last=False)
        _indexes.move_to_end(key)
        return index
