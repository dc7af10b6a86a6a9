"""Open Collection 2 Level-2 products lazily as xarray: one scene, or a time stack on one grid.

Sources are read where they lie, never extracted:

* a product **folder** (ESPA ``.tif`` or USGS ``.TIF`` names), read file by file;
* a plain **tar** (a USGS bundle ``<product id>.tar``, or an ESPA tarball someone un-gzipped): the member
  offsets are listed once with :mod:`tarfile` (a few header reads), and GDAL reads each member in place
  through ``/vsisubfile/<offset>_<size>,<archive>``: as fast as an extracted file;
* a **gzip tar** (ESPA's ``.tar.gz``): gzip has no random access, and GDAL's ``/vsitar/`` lists the whole
  archive first (a full decompression) and keeps seek points for one archive at a time, so a stack of many
  tarballs makes it decompress from the start again and again. Instead each process keeps a *seek index*
  per archive (:class:`GzipIndex`): the zlib state every 4 MiB of output, recorded the first time the
  stream is decompressed that far, so a later read restarts at most 4 MiB before its offset; cursors of
  finished tasks are parked, so the next strip of a band continues where the last one stopped. GDAL reads
  the members through a Python file object (rasterio's ``opener``). An ESPA tarball's metadata (its
  ``<id>.xml`` and MTL) are its first members, and they state the grid, so opening one decompresses a few
  kilobytes; pixels are decompressed when a chunk is computed. What cannot be avoided: reaching a member
  decompresses every member before it once per process (ESPA sorts members by name, so the NIR band of
  an ``l1`` order sits ~770 MB into the stream). See ``benchmarks/bench_open.py`` for the costs.
  ``zlib-ng``, when installed, inflates twice as fast as zlib.

Nothing is read at build time but metadata and raster headers: every chunk is a task that opens its raster,
reads one window and closes it (no open handles in the graph, so the graph pickles and runs on a
``dask.distributed`` cluster). Chunks default to strips of whole rows, which are contiguous bytes in the
tiled GeoTIFFs, the cheapest read from a compressed stream.

Layering: this module sits above :mod:`._bands`, :mod:`._qa` and :mod:`._mtl` (pure) and imports rasterio,
dask and rioxarray inside functions, so ``import lsru_geo`` stays light.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import io
import os
import re
import sys
import tarfile
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from . import (
    _bands,
    _xr_accessor,  # noqa: F401  registers the ds.lsru accessor
)
from ._mtl import SceneFacts, espa_band_files, espa_grid, mtl_file_names, mtl_grid, parse_mtl, scene_facts
from .exceptions import InvalidInputError

try:  # zlib-ng inflates about twice as fast as zlib, and its states can be copied too
    from zlib_ng import zlib_ng as _zlib
except ImportError:  # pragma: no cover - optional
    import zlib as _zlib

PathLike = str | os.PathLike

#: Column of a scenes GeoDataFrame that holds each downloaded product (file or folder).
PATH_COLUMNS = ("local_path", "product_path")
#: Time steps ahead whose gzip tars a task gets scanned in the background (see :func:`_prefetch`).
PREFETCH_STEPS = 2
#: Default rows per chunk: whole-width strips (two 512-pixel tile rows of a full-size band, ~30 MB float32).
DEFAULT_ROWS = 1024

_PRODUCT_FILE = re.compile(
    r"^(?P<pid>L[CTEO]0\d_L2S[PR]_\d{6}_\d{8}_\d{8}_\d{2}_(?:T1|T2|RT))(?:_(?P<suffix>[A-Z0-9_]+))?\.(?P<ext>tif|TIF|txt|xml|json)$"
)
_GZIP_SUFFIXES = (".tar.gz", ".tgz")
_MTL_PREFERENCE = ("MTL.txt", "MTL.xml", "MTL.json")

# ---------------------------------------------------------------------------------------------------------
# Where the bytes are
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RasterRef:
    """Where one raster's bytes are (picklable; holds no handle).

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


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: CRS (WKT), affine transform (6 numbers, rasterio order), width, height."""

    crs: str
    transform: tuple[float, ...]
    width: int
    height: int

    @property
    def res(self) -> tuple[float, float]:
        """Pixel width and (positive) height."""
        return abs(self.transform[0]), abs(self.transform[4])

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)``."""
        a, _, c, _, e, f = self.transform[:6]
        return c, f + e * self.height, c + a * self.width, f

    def x(self) -> np.ndarray:
        """Pixel-centre x coordinates."""
        return self.transform[2] + (np.arange(self.width) + 0.5) * self.transform[0]

    def y(self) -> np.ndarray:
        """Pixel-centre y coordinates."""
        return self.transform[5] + (np.arange(self.height) + 0.5) * self.transform[4]


@dataclass
class Product:
    """One Level-2 product as found on disk.

    Attributes
    ----------
    source : str
        The path given (archive, folder or file).
    facts : SceneFacts
        MTL facts (product id, time, path/row, cloud cover, sun angles...).
    rasters : dict
        Raster suffix (``"SR_B4"``) -> :class:`RasterRef`.
    grid : Grid or None
        Filled on demand from the header of one raster (:func:`product_grid`).
    """

    source: str
    facts: SceneFacts
    rasters: dict[str, RasterRef]
    grid: Grid | None = field(default=None, repr=False)

    @property
    def product_id(self) -> str:
        """The Landsat product id."""
        return self.facts.product_id


def _is_gzip_tar(path: Path) -> bool:
    return path.name.lower().endswith(_GZIP_SUFFIXES)


def _split_name(name: str) -> tuple[str, str, str] | None:
    """``(product id, suffix, extension)`` of a product file name, or None."""
    match = _PRODUCT_FILE.match(Path(name).name)
    if not match:
        return None
    return match["pid"], match["suffix"] or "", match["ext"]


def _assemble(source: str, names: Iterable[str], ref_of, read_text, wanted_pid: str | None = None) -> Product:
    """Build a :class:`Product` from member/file names: rasters by suffix, facts from the preferred MTL."""
    rasters: dict[str, RasterRef] = {}
    metadata: dict[str, str] = {}
    pids = set()
    for name in names:
        parts = _split_name(name)
        if parts is None:
            continue
        pid, suffix, ext = parts
        if wanted_pid and pid != wanted_pid:
            continue
        pids.add(pid)
        if ext.lower() == "tif":
            rasters[suffix] = ref_of(name)
        elif suffix == "MTL":
            metadata[f"MTL.{ext}"] = name
    if len(pids) > 1:
        raise InvalidInputError(f"{source} holds several products ({sorted(pids)}); open them with open_stack")
    mtl_name = next((metadata[k] for k in _MTL_PREFERENCE if k in metadata), None)
    if mtl_name is None:
        raise InvalidInputError(f"{source} is not a Collection 2 Level-2 product: no <product id>_MTL.txt/.xml/.json")
    facts = scene_facts(parse_mtl(read_text(mtl_name)))
    return Product(source, facts, rasters)


def _folder_product(folder: Path, wanted_pid: str | None = None) -> Product:
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    return _assemble(
        str(folder),
        names,
        lambda name: RasterRef("file", str(folder / name)),
        lambda name: (folder / name).read_text(),
        wanted_pid,
    )


def _tar_product(archive: Path) -> Product:
    with tarfile.open(archive, "r:") as tar:  # plain tar: seeks from header to header
        members = {m.name: m for m in tar.getmembers() if m.isfile()}

        def read_text(name: str) -> str:
            return tar.extractfile(members[name]).read().decode()  # type: ignore[union-attr]

        def ref_of(name: str) -> RasterRef:
            m = members[name]
            return RasterRef("tar", str(archive), name, m.offset_data, m.size)

        by_base = {Path(n).name: n for n in members}
        return _assemble(
            str(archive), list(by_base), lambda b: ref_of(by_base[b]), lambda b: read_text(by_base[b])
        )


def _tgz_product(archive: Path) -> Product:
    """Open a gzip tar by its first members: the ESPA metadata lists the rasters, the MTL gives the facts.

    Only the headers up to the MTL are decompressed (a few kilobytes in an ESPA tarball, whose members are
    sorted). Without an ESPA ``<id>.xml`` the MTL's ``FILE_NAME_*`` list is used instead.
    """
    index = gzip_index(archive)
    espa_text: str | None = None
    mtl_name = None
    for name in index.iter_members():
        parts = _split_name(Path(name).name)
        if parts is None:
            continue
        _pid, suffix, ext = parts
        if suffix == "" and ext == "xml":
            espa_text = index.read_member(name).decode()
        elif suffix == "MTL" and ext in ("txt", "xml", "json"):
            mtl_name = name
            break
        elif ext.lower() == "tif" and espa_text is not None:
            break  # rasters started before any MTL: fall back to a full listing below
    if mtl_name is None:
        names = index.all_members()
        return _assemble(
            str(archive), names, lambda n: RasterRef("tgz", str(archive), n), lambda n: index.read_member(n).decode()
        )
    mtl = parse_mtl(index.read_member(mtl_name).decode())
    prefix = str(Path(mtl_name).parent) + "/" if "/" in mtl_name else ""
    listed = espa_band_files(espa_text) if espa_text is not None else mtl_file_names(mtl)
    rasters = {}
    for file_name in listed:
        parts = _split_name(file_name)
        if parts and parts[2].lower() == "tif":
            rasters[parts[1]] = RasterRef("tgz", str(archive), prefix + file_name)
    product = Product(str(archive), scene_facts(mtl), rasters)
    # the grid from the metadata: a raster header may sit at the end of its member, far into the stream
    # (each read checks that the raster agrees)
    stated = (espa_grid(espa_text) if espa_text is not None else None) or mtl_grid(mtl)
    if stated is not None:
        from rasterio.crs import CRS

        epsg, transform, width, height = stated
        product.grid = Grid(CRS.from_epsg(epsg).to_wkt(), transform, width, height)
    return product


def find_product(source: PathLike) -> Product:
    """Return the product at ``source``: a ``.tar.gz``/``.tgz``/``.tar`` archive, a product folder, or one of its files.

    Raises
    ------
    InvalidInputError
        If the path does not exist or holds no (or several) Level-2 products.
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise InvalidInputError(f"no such product: {path}")
    if path.is_dir():
        return _folder_product(path)
    if _is_gzip_tar(path):
        return _tgz_product(path)
    if path.name.lower().endswith(".tar"):
        return _tar_product(path)
    parts = _split_name(path.name)
    if parts is None:
        raise InvalidInputError(f"{path} is neither a product archive, a product folder nor a product file")
    return _folder_product(path.parent, wanted_pid=parts[0])


def discover_products(folder: PathLike) -> list[Product]:
    """Return every product in a folder: archives, product sub-folders and loose product files."""
    folder = Path(folder)
    products = []
    loose: set[str] = set()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if any(_split_name(p.name) for p in entry.iterdir()):
                products.append(_folder_product(entry))
            else:  # an order folder of archives, as the bulk downloader makes
                with contextlib.suppress(InvalidInputError):
                    products += discover_products(entry)
        elif _is_gzip_tar(entry) or entry.name.lower().endswith(".tar"):
            products.append(find_product(entry))
        elif (parts := _split_name(entry.name)) is not None:
            loose.add(parts[0])
    products += [_folder_product(folder, wanted_pid=pid) for pid in sorted(loose)]
    if not products:
        raise InvalidInputError(f"{folder} holds no Collection 2 Level-2 product")
    return products


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

    def read_member(self, name: str) -> bytes:
        """Return the whole content of a (small) member."""
        offset, size = self.locate(name)
        cursor = _GzipCursor(self)
        try:
            return cursor.read_at(offset, size)
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


# ---------------------------------------------------------------------------------------------------------
# Reading rasters (inside dask tasks)
# ---------------------------------------------------------------------------------------------------------

_reads = 0
_reads_lock = threading.Lock()


def pixel_reads() -> int:
    """Return the number of raster windows read for pixels in this process so far (for tests and benchmarks)."""
    return _reads


def _count_read() -> None:
    global _reads
    with _reads_lock:
        _reads += 1


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


def raster_grid(ref: RasterRef) -> Grid:
    """Read the grid of a raster from its header (no pixels)."""
    with open_raster(ref) as src:
        return Grid(src.crs.to_wkt(), tuple(src.transform)[:6], src.width, src.height)


def product_grid(product: Product, suffix: str | None = None) -> Grid:
    """Return the grid of a product (all its 30 m rasters share it), read once from one raster header.

    Of a gzip tar the raster nearest the start is used (only a few kilobytes to decompress).
    """
    if product.grid is None:
        refs = product.rasters
        if not refs:
            raise InvalidInputError(f"{product.source} holds no raster")
        if suffix is None or next(iter(refs.values())).kind == "tgz":
            suffix = min(refs, key=lambda s: refs[s].member or refs[s].path)
        product.grid = raster_grid(refs[suffix])
    return product.grid


@dataclass(frozen=True)
class Layer:
    """One product's raster as seen from a chunk: aligned (a window) or warped (a VRT per chunk)."""

    ref: RasterRef
    grid: Grid
    aligned: bool
    row_off: int = 0  # source row of target row 0 (aligned layers)
    col_off: int = 0


@dataclass(frozen=True)
class ChunkRead:
    """Everything one dask task needs to produce one chunk (picklable, no handles)."""

    layers: tuple[Layer, ...]
    crs: str
    transform: tuple[float, ...]  # of the chunk
    row0: int
    col0: int
    height: int
    width: int
    dtype: str
    fill: int | None
    scale: float | None
    offset: float | None
    decode: bool
    resampling: str
    prefetch: tuple[tuple[str, str], ...] = ()  # (archive, member) of the next time steps' gzip tars


def _read_layer(layer: Layer, task: ChunkRead, hole: int) -> np.ndarray:
    """Raw values of one layer over the chunk, ``hole`` where the layer has no pixel."""
    from rasterio.windows import Window

    out = np.full((task.height, task.width), hole, dtype=task.dtype)
    _count_read()
    with open_raster(layer.ref) as src:
        stated = layer.grid
        if (src.width, src.height) != (stated.width, stated.height) or not np.allclose(
            tuple(src.transform)[:6], stated.transform, rtol=0, atol=1e-6 * abs(stated.transform[0])
        ):
            raise InvalidInputError(
                f"{layer.ref.member or layer.ref.path} is {src.width}x{src.height} pixels at "
                f"{tuple(src.transform)[:6]}, not {stated.width}x{stated.height} at {stated.transform} "
                "as its product's metadata state"
            )
        if layer.aligned:
            r0, c0 = layer.row_off + task.row0, layer.col_off + task.col0
            r1, c1 = r0 + task.height, c0 + task.width
            rr0, cc0 = max(r0, 0), max(c0, 0)
            rr1, cc1 = min(r1, src.height), min(c1, src.width)
            if rr0 < rr1 and cc0 < cc1:
                window = Window(cc0, rr0, cc1 - cc0, rr1 - rr0)
                out[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = src.read(1, window=window)
        else:
            from rasterio.crs import CRS
            from rasterio.enums import Resampling
            from rasterio.transform import Affine
            from rasterio.vrt import WarpedVRT

            with WarpedVRT(
                src,
                crs=CRS.from_wkt(task.crs),
                transform=Affine(*task.transform),
                width=task.width,
                height=task.height,
                resampling=Resampling[task.resampling],
                src_nodata=task.fill,
                nodata=hole,
            ) as vrt:
                out[:] = vrt.read(1)
    return out


_prefetch_pool: Any = None
_prefetched: set[tuple[str, str]] = set()
_prefetch_lock = threading.Lock()


def _prefetch(hints: tuple[tuple[str, str], ...]) -> None:
    """Locate members of the next time steps' gzip tars in a background thread of this process.

    Finding a member decompresses the archive up to it under the archive's lock; dask often gives both
    threads tasks of the same scene, and one would wait. Scanning the next scenes meanwhile keeps both
    cores busy. Skipped on dask.distributed workers, where the next scene may be another worker's.
    """
    if not hints or _in_distributed_worker():
        return
    global _prefetch_pool
    with _prefetch_lock:
        todo = [h for h in hints if h not in _prefetched]
        if not todo:
            return
        _prefetched.update(todo)
        if _prefetch_pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _prefetch_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lsru-gzip-scan")
    for path, member in todo:
        _prefetch_pool.submit(_locate_quietly, path, member)


def _locate_quietly(path: str, member: str) -> None:
    with contextlib.suppress(Exception):  # the task that reads the member reports any problem itself
        gzip_index(path).locate(member)


def _in_distributed_worker() -> bool:
    if "distributed" not in sys.modules:
        return False
    try:
        sys.modules["distributed"].get_worker()
    except (ValueError, AttributeError):
        return False
    return True


def read_chunk(task: ChunkRead) -> np.ndarray:
    """Produce one chunk: read each layer (first valid pixel wins), then decode if asked."""
    _prefetch(task.prefetch)
    hole = task.fill if task.fill is not None else 0
    raw = None
    for layer in task.layers:
        if raw is None:
            raw = _read_layer(layer, task, hole)
            continue
        empty = raw == hole
        if not empty.any():
            break  # the layers before covered the chunk
        part = _read_layer(layer, task, hole)
        raw[empty] = part[empty]
    if raw is None:
        raw = np.full((task.height, task.width), hole, dtype=task.dtype)
    if not task.decode:
        return raw
    if task.scale is None:  # bit fields stay integers
        return raw
    values = raw.astype(np.float32)
    values *= np.float32(task.scale)
    values += np.float32(task.offset or 0.0)
    if task.fill is not None:
        values[raw == task.fill] = np.nan
    return values


# ---------------------------------------------------------------------------------------------------------
# Building lazy arrays
# ---------------------------------------------------------------------------------------------------------


def _chunk_bounds(total: int, size: int | None) -> list[tuple[int, int]]:
    size = total if size is None or size <= 0 or size > total else int(size)
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def _chunk_sizes(chunks: Any, height: int, width: int) -> tuple[int, int]:
    """Rows and columns per chunk from an int, a dict (``{"y": 1024, "x": -1}``) or None (strips)."""
    if chunks is None or chunks == "auto":
        return DEFAULT_ROWS, -1
    if isinstance(chunks, int):
        return chunks, chunks
    if isinstance(chunks, Mapping):
        unknown = set(chunks) - {"x", "y", "time", "band"}
        if unknown:
            raise InvalidInputError(f"chunks can only name x, y and time, not {sorted(unknown)}")
        return int(chunks.get("y", DEFAULT_ROWS)), int(chunks.get("x", -1))
    if isinstance(chunks, Sequence) and len(chunks) == 2:
        return int(chunks[0]), int(chunks[1])
    raise InvalidInputError(f"chunks must be an int, a dict with x/y or None, got {chunks!r}")


@dataclass(frozen=True)
class _BandPlan:
    """How one variable is read: its encoding and, per time step, the layers of each product."""

    name: str
    encoding: _bands.BandEncoding
    steps: tuple[tuple[tuple[Layer, tuple[float, float, float, float]], ...], ...]  # per time: (layer, bbox)


def _lazy_variable(plan: _BandPlan, grid: Grid, rows: int, cols: int, decode: bool, resampling: str, stacked: bool):
    """Return a dask array (time, y, x) or (y, x) whose chunks are :func:`read_chunk` tasks."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    enc = plan.encoding
    out_dtype = np.dtype("float32") if decode and enc.scale is not None else np.dtype(enc.dtype)
    ybounds, xbounds = _chunk_bounds(grid.height, rows), _chunk_bounds(grid.width, cols)
    a, b, c, d, e, f = grid.transform
    placed = [[(lay.ref, lay.row_off, lay.col_off, lay.aligned) for lay, _box in step] for step in plan.steps]
    token = tokenize(plan.name, placed, grid, rows, cols, decode, resampling)
    name = f"lsru-read-{plan.name}-{token}"
    graph = {}
    for t, step in enumerate(plan.steps):
        ahead = [lay.ref for later in plan.steps[t + 1 : t + 1 + PREFETCH_STEPS] for lay, _box in later]
        hints = tuple((ref.path, ref.member) for ref in ahead if ref.kind == "tgz")
        for i, (y0, y1) in enumerate(ybounds):
            for j, (x0, x1) in enumerate(xbounds):
                layers = tuple(lay for lay, box in step if box[0] < y1 and box[1] > y0 and box[2] < x1 and box[3] > x0)
                task = ChunkRead(
                    layers=layers,
                    crs=grid.crs,
                    transform=(a, b, c + a * x0, d, e, f + e * y0),
                    row0=y0,
                    col0=x0,
                    height=y1 - y0,
                    width=x1 - x0,
                    dtype=enc.dtype,
                    fill=enc.fill,
                    scale=enc.scale,
                    offset=enc.offset,
                    decode=decode,
                    resampling=resampling,
                    prefetch=hints,
                )
                key = (name, t, i, j) if stacked else (name, i, j)
                graph[key] = (_expand, task) if stacked else (read_chunk, task)
    chunks = (tuple(y1 - y0 for y0, y1 in ybounds), tuple(x1 - x0 for x0, x1 in xbounds))
    if stacked:
        chunks = ((1,) * len(plan.steps), *chunks)
    meta = np.empty((0,) * len(chunks), dtype=out_dtype)
    hlg = HighLevelGraph.from_collections(name, graph, dependencies=())
    return da.Array(hlg, name, chunks, dtype=out_dtype, meta=meta)


def _expand(task: ChunkRead) -> np.ndarray:
    return read_chunk(task)[np.newaxis]


def _attrs_of(enc: _bands.BandEncoding, decode: bool) -> tuple[dict, dict]:
    """Variable attributes and encoding: raw integers carry their CF packing, decoded floats keep it as encoding."""
    attrs: dict[str, Any] = {"long_name": enc.long_name, "units": enc.units}
    packing: dict[str, Any] = {}
    if enc.fill is not None:
        packing["_FillValue"] = enc.fill
    if enc.scale is not None:
        packing["scale_factor"] = enc.scale
        packing["add_offset"] = enc.offset or 0.0
    if enc.is_bit_field or not decode:
        attrs.update(packing)
        return attrs, {"dtype": enc.dtype}
    return attrs, {"dtype": enc.dtype, **packing}


def _finish(ds: xr.Dataset, grid: Grid) -> xr.Dataset:
    """Attach the CRS and transform the rioxarray way (``spatial_ref`` coordinate)."""
    import rioxarray  # noqa: F401  registers .rio
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    ds = ds.rio.write_crs(CRS.from_wkt(grid.crs))
    return ds.rio.write_transform(Affine(*grid.transform))


# ---------------------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------------------


def _requested(product: Product, bands: Sequence[str] | str | None) -> dict[str, str]:
    """Variable name -> raster suffix for the requested bands of a product (all rasters when None)."""
    pid = product.product_id
    if bands is None:
        found = {}
        for suffix in product.rasters:
            try:
                found[_bands.common_name(suffix, pid)] = suffix
            except InvalidInputError:
                continue  # a raster this version does not know: skip it rather than fail
        return found
    if isinstance(bands, str):
        bands = [bands]
    wanted = {}
    for name in bands:
        suffix = _bands.band_suffix(name, pid)
        if suffix not in product.rasters:
            raise InvalidInputError(
                f"{product.source} has no {name!r} ({suffix}); it has {sorted(product.rasters)}"
            )
        wanted[_bands.variable_name(name, pid)] = suffix
    return wanted


def open_scene(
    source: PathLike,
    bands: Sequence[str] | str | None = None,
    mask_and_scale: bool = True,
    chunks: int | Mapping[str, int] | None = None,
) -> xr.Dataset:
    """Open one Level-2 product lazily, read in place.

    Parameters
    ----------
    source : path-like
        An ESPA tarball (``.tar.gz``, read in place), a plain tar (a USGS bundle ``<id>.tar``), an extracted
        product folder (ESPA ``.tif`` or USGS ``.TIF`` names), or one file of such a folder.
    bands : str or list of str, optional
        Common names (``"red"``, ``"nir08"``, ``"lwir11"``/``"lwir"``, ``"qa_pixel"``, ``"ndvi"``...), aliases
        (``"nir"``, ``"swir1"``) or file suffixes (``"SR_B4"``). All rasters of the product by default.
        Only these rasters are ever opened.
    mask_and_scale : bool, default True
        Decode to float32 physical values (reflectance ``DN * 2.75e-05 - 0.2``, temperature
        ``DN * 0.00341802 + 149`` K, indices ``DN * 0.0001``) with fill as NaN; the packing is kept in each
        variable's ``encoding``. False keeps the stored integers, with ``scale_factor``, ``add_offset`` and
        ``_FillValue`` attributes. QA bit fields stay integers either way.
    chunks : int or dict, optional
        Chunk size in pixels: an int (square), ``{"y": rows, "x": cols}`` (-1 = whole axis), or None for
        strips of 1024 whole rows (contiguous bytes, the cheapest read from a ``.tar.gz``).

    Returns
    -------
    xarray.Dataset
        Dask-backed variables on ``(y, x)`` named by common name, pixel-centre ``x``/``y`` coordinates, the
        CRS in ``spatial_ref`` (``ds.rio.crs``), a scalar ``time`` coordinate (scene centre, UTC) and the MTL
        facts as attributes (``product_id``, ``wrs_path``, ``wrs_row``, ``cloud_cover``, ``sun_azimuth``,
        ``sun_elevation``, ``processing_level``...).

    Raises
    ------
    InvalidInputError
        If the source is not a Level-2 product or lacks a requested band.

    Examples
    --------
    >>> ds = lsru_geo.open_scene("LC08...T1-SC2024....tar.gz", bands=["red", "nir08", "qa_pixel"])  # doctest: +SKIP
    >>> ndvi = ds.lsru.mask().lsru.ndvi()  # doctest: +SKIP
    """
    product = find_product(source)
    wanted = _requested(product, bands)
    grid = product_grid(product, next(iter(wanted.values()), None))
    rows, cols = _chunk_sizes(chunks, grid.height, grid.width)
    box = (0, grid.height, 0, grid.width)
    data_vars = {}
    for var, suffix in wanted.items():
        enc = _bands.encoding_of(suffix)
        layer = Layer(product.rasters[suffix], grid, aligned=True)
        plan = _BandPlan(var, enc, (((layer, box),),))
        array = _lazy_variable(plan, grid, rows, cols, mask_and_scale, "nearest", stacked=False)
        attrs, encoding = _attrs_of(enc, mask_and_scale)
        data_vars[var] = xr.Variable(("y", "x"), array, attrs, encoding)
    coords = {"y": grid.y(), "x": grid.x(), "time": product.facts.time}
    ds = xr.Dataset(data_vars, coords=coords, attrs=product.facts.attrs())
    return _finish(ds, grid)


def _sources_list(sources: Any) -> list[Product]:
    """Products from a folder, a path, a list of paths/products, or a frame with a ``local_path`` column."""
    if hasattr(sources, "columns"):
        column = next((c for c in PATH_COLUMNS if c in sources.columns), None)
        if column is None:
            raise InvalidInputError(
                f"the frame needs a column {PATH_COLUMNS[0]!r} (or {PATH_COLUMNS[1]!r}) "
                "with each product's file or folder"
            )
        paths = list(sources[column])
        missing = [i for i, p in zip(sources.index, paths, strict=True)
                   if p is None or (isinstance(p, float) and np.isnan(p))]
        if missing:
            raise InvalidInputError(f"rows {missing[:5]} have no {column}; download them or drop them first")
        return [find_product(p) for p in paths]
    if isinstance(sources, (str, os.PathLike)):
        path = Path(sources)
        return discover_products(path) if path.is_dir() else [find_product(path)]
    products = [s if isinstance(s, Product) else find_product(s) for s in sources]
    if not products:
        raise InvalidInputError("no products to stack")
    return products


def _target_grid(products: list[Product], crs: Any, resolution: Any, bounds: Any) -> Grid:
    """Return the common grid: the most frequent CRS (or ``crs``), native 30 m pixels aligned on the products' edges."""
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    grids = [product_grid(p) for p in products]
    if crs is None:
        counts = collections.Counter(g.crs for g in grids)
        target_crs = CRS.from_wkt(max(counts, key=lambda k: (counts[k], -[g.crs for g in grids].index(k))))
    else:
        target_crs = CRS.from_user_input(crs)
    same = [g for g in grids if CRS.from_wkt(g.crs) == target_crs]
    if resolution is None:
        if same:
            res = same[0].res
        else:
            from rasterio.warp import calculate_default_transform

            g = grids[0]
            transform, _, _ = calculate_default_transform(
                CRS.from_wkt(g.crs), target_crs, g.width, g.height, *g.bounds
            )
            res = (abs(transform.a), abs(transform.e))
    else:
        res = (float(resolution), float(resolution)) if np.isscalar(resolution) else tuple(map(float, resolution))
    if bounds is None:
        boxes = [transform_bounds(CRS.from_wkt(g.crs), target_crs, *g.bounds, densify_pts=21) for g in grids]
        lows, highs = np.min(boxes, axis=0), np.max(boxes, axis=0)
        bounds = (lows[0], lows[1], highs[2], highs[3])
    left, bottom, right, top = map(float, bounds)
    if right <= left or top <= bottom:
        raise InvalidInputError(f"bounds must be (left, bottom, right, top), left < right and bottom < top: {bounds}")
    # snap outwards onto the pixel edges of the first product in the target CRS (no resampling for its zone)
    ref = next((g for g in same if np.allclose(g.res, res)), None)
    ox, oy = (ref.transform[2], ref.transform[5]) if ref else (0.0, 0.0)
    left = ox + np.floor((left - ox) / res[0] + 1e-9) * res[0]
    top = oy + np.ceil((top - oy) / res[1] - 1e-9) * res[1]
    width = int(np.ceil((right - left) / res[0] - 1e-9))
    height = int(np.ceil((top - bottom) / res[1] - 1e-9))
    return Grid(target_crs.to_wkt(), (res[0], 0.0, float(left), 0.0, -res[1], float(top)), width, height)


def _layer_for(ref: RasterRef, source: Grid, target: Grid) -> tuple[Layer, tuple[float, float, float, float]]:
    """Place a product's raster on the target grid: a window when grids coincide, else a warp."""
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    same_crs = CRS.from_wkt(source.crs) == CRS.from_wkt(target.crs)
    tx, ty = target.transform[2], target.transform[5]
    sx, sy = source.transform[2], source.transform[5]
    rx, ry = target.res
    col = (tx - sx) / rx
    row = (sy - ty) / ry
    aligned = (
        same_crs
        and np.allclose(source.res, target.res)
        and source.transform[1] == source.transform[3] == 0
        and abs(col - round(col)) < 1e-6
        and abs(row - round(row)) < 1e-6
    )
    if aligned:
        col_off, row_off = round(col), round(row)
        box = (-row_off, -row_off + source.height, -col_off, -col_off + source.width)
        return Layer(ref, source, True, row_off, col_off), box
    left, bottom, right, top = transform_bounds(
        CRS.from_wkt(source.crs), CRS.from_wkt(target.crs), *source.bounds, densify_pts=21
    )
    box = ((ty - top) / ry - 1, (ty - bottom) / ry + 1, (left - tx) / rx - 1, (right - tx) / rx + 1)
    return Layer(ref, source, False), box


def _group(products: list[Product], groupby: str | None) -> list[list[Product]]:
    """Sort products by time; with ``"solar_day"``, merge those of one local solar day, platform and path."""
    ordered = sorted(products, key=lambda p: (p.facts.time, p.product_id))
    if groupby is None:
        return [[p] for p in ordered]
    if groupby != "solar_day":
        raise InvalidInputError(f"groupby must be None or 'solar_day', got {groupby!r}")
    groups: dict[tuple, list[Product]] = {}
    for p in ordered:
        key = (p.facts.solar_day, p.facts.spacecraft_id, p.facts.wrs_path)
        groups.setdefault(key, []).append(p)
    return sorted(groups.values(), key=lambda g: (g[0].facts.time, g[0].product_id))


def open_stack(
    sources: Any,
    bands: Sequence[str] | str | None = None,
    crs: Any = None,
    resolution: float | tuple[float, float] | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    chunks: int | Mapping[str, int] | None = None,
    *,
    mask_and_scale: bool = True,
    groupby: str | None = None,
    resampling: str = "nearest",
) -> xr.Dataset:
    """Open many products lazily as one Dataset with a sorted ``time`` dimension on one grid.

    Parameters
    ----------
    sources : path-like, sequence or GeoDataFrame
        A folder (every product archive, product folder and loose product file in it), a list of paths (as
        :func:`open_scene` takes), or a (Geo)DataFrame with a ``local_path`` column (``product_path`` is also
        accepted) holding each row's downloaded product.
    bands : str or list of str, optional
        As in :func:`open_scene`; by default the bands every product has. ``"lwir"`` names the thermal band
        of every sensor, so a Landsat 7 + 8 stack has one thermal variable.
    crs : CRS-like, optional
        Target CRS. By default the CRS most products share; products in it are read without resampling,
        the others (another UTM zone) warped per chunk.
    resolution : float or (float, float), optional
        Pixel size in target CRS units; by default the products' (30 m).
    bounds : (left, bottom, right, top), optional
        Extent in target CRS units; by default the union of the products. Snapped outwards to the pixel
        edges of the first product in the target CRS.
    chunks : int or dict, optional
        Spatial chunks as in :func:`open_scene` (each time step is its own chunk).
    mask_and_scale : bool, default True
        As in :func:`open_scene`.
    groupby : {None, "solar_day"}, optional
        ``"solar_day"`` mosaics products of the same local solar day, satellite and WRS path (adjacent rows)
        into one time step: the first product in time order that has a pixel wins.
    resampling : str, default "nearest"
        GDAL resampling of warped products (``"nearest"``, ``"bilinear"``, ``"cubic"``...); QA bands are
        always resampled with ``"nearest"``.

    Returns
    -------
    xarray.Dataset
        Variables on ``(time, y, x)``; per-time coordinates ``product_id``, ``spacecraft_id``, ``wrs_path``,
        ``wrs_row``, ``cloud_cover``, ``sun_azimuth``, ``sun_elevation``, ``processing_level``; the CRS in
        ``spatial_ref``. Building it reads metadata and one raster header per product, never pixels.

    Raises
    ------
    InvalidInputError
        For no products, a product lacking a requested band, or bad bounds.
    """
    products = _sources_list(sources)
    if bands is None:
        common = set.intersection(*(set(_requested(p, None)) for p in products))
        if not common:
            raise InvalidInputError("the products share no band; name the bands to stack")
        bands = sorted(common)
    wanted = [_requested(p, bands) for p in products]
    target = _target_grid(products, crs, resolution, bounds)
    rows, cols = _chunk_sizes(chunks, target.height, target.width)
    groups = _group(products, groupby)
    position = {id(p): i for i, p in enumerate(products)}
    data_vars = {}
    for var in wanted[0]:
        suffixes = {wanted[position[id(p)]][var] for p in products}
        enc = _bands.encoding_of(sorted(suffixes)[0])
        steps = tuple(
            tuple(_layer_for(p.rasters[wanted[position[id(p)]][var]], product_grid(p), target) for p in group)
            for group in groups
        )
        method = "nearest" if enc.is_bit_field else resampling
        plan = _BandPlan(var, enc, steps)
        array = _lazy_variable(plan, target, rows, cols, mask_and_scale, method, stacked=True)
        attrs, encoding = _attrs_of(enc, mask_and_scale)
        data_vars[var] = xr.Variable(("time", "y", "x"), array, attrs, encoding)
    firsts = [g[0].facts for g in groups]
    per_time = {
        "product_id": [",".join(p.product_id for p in g) for g in groups],
        "spacecraft_id": [f.spacecraft_id for f in firsts],
        "wrs_path": [f.wrs_path for f in firsts],
        "wrs_row": [f.wrs_row for f in firsts],
        "cloud_cover": [f.cloud_cover for f in firsts],
        "sun_azimuth": [f.sun_azimuth for f in firsts],
        "sun_elevation": [f.sun_elevation for f in firsts],
        "processing_level": [f.processing_level for f in firsts],
    }
    coords = {
        "time": np.array([f.time for f in firsts], dtype="datetime64[ns]"),
        "y": target.y(),
        "x": target.x(),
        **{k: ("time", v) for k, v in per_time.items()},
    }
    ds = xr.Dataset(data_vars, coords=coords)
    return _finish(ds, target)


__all__ = [
    "PATH_COLUMNS",
    "Product",
    "RasterRef",
    "discover_products",
    "find_product",
    "open_scene",
    "open_stack",
    "pixel_reads",
]
