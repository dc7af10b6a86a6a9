"""Chunk reading: the picklable task description and the function dask runs for each chunk.

Every chunk is a task that opens its raster(s), reads one window and closes them (no open handles in the
graph, so the graph pickles and runs on a ``dask.distributed`` cluster). Each layer carries its own
:class:`~._decode.Decoding`, since Level-1 calibration differs per scene.

A stack's chunks follow the target grid, and each product's tiles sit at its own row offset: a chunk boundary
usually falls inside a tile row, which GDAL would then read once for each of the two chunks. From a file that
costs a second copy from the page cache; from a ``.tar.gz`` it means inflating the tile row again (and the seek
segment before it). So an aligned read from a ``.tar.gz`` covers whole tile rows, and the rows of its first and
last tile row that belong to the neighbouring chunks are kept in this process (:class:`_Edges`, raw integers, a
bounded LRU) for the neighbour's task, which reads only what is left. A neighbour that runs in another process (a
``distributed`` worker) or after its edge was evicted reads the tile row again: slower, same values.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import numpy as np

from ..exceptions import InvalidInputError
from . import _access
from ._decode import Decoding, decode
from ._grid import Grid

_reads = 0
_reads_lock = threading.Lock()


def pixel_reads() -> int:
    """Return the number of raster windows read for pixels in this process so far (for tests and benchmarks)."""
    return _reads


def _count_read() -> None:
    global _reads
    with _reads_lock:
        _reads += 1


#: Bytes of tile-row edges kept per process for neighbouring chunks (a 20-scene, 3-band stack of full-width
#: strips keeps ~60 edges of half a tile row on average: ~120 MB at 3,800 px, ~240 MB at full size).
TILE_EDGE_BYTES = 384 << 20


class _Edges:
    """Rows read for neighbouring chunks: per ``(raster, first col, end col, tile row)``, pieces ``(first row, rows)``.

    Least recently stored tile row first out over a byte budget.
    """

    def __init__(self, budget: int) -> None:
        self.budget, self.size = budget, 0
        self._pieces: collections.OrderedDict[tuple, list[tuple[int, np.ndarray]]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: tuple, start: int, stop: int) -> np.ndarray | None:
        """Return rows ``[start, stop)`` of a tile row if one kept piece holds them all, keeping the rest of it."""
        with self._lock:
            pieces = self._pieces.get(key, [])
            for n, (first, rows) in enumerate(pieces):
                if first <= start and stop <= first + len(rows):
                    del pieces[n]
                    self.size -= rows.nbytes
                    rest = [(first, rows[: start - first]), (stop, rows[stop - first :])]
                    pieces.extend((at, part) for at, part in rest if len(part))
                    self.size += sum(part.nbytes for at, part in rest if len(part))
                    if not pieces:
                        del self._pieces[key]
                    return rows[start - first : stop - first]
        return None

    def put(self, key: tuple, first: int, rows: np.ndarray) -> None:
        """Keep ``rows`` (a copy, so the read they come from can be freed), evicting the oldest over the budget."""
        if not len(rows) or rows.nbytes > self.budget:
            return
        rows = rows.copy()
        with self._lock:
            self._pieces.setdefault(key, []).append((first, rows))
            self._pieces.move_to_end(key)
            self.size += rows.nbytes
            while self.size > self.budget:
                self.size -= sum(r.nbytes for _, r in self._pieces.popitem(last=False)[1])

    def clear(self) -> None:
        """Forget every piece."""
        with self._lock:
            self._pieces.clear()
            self.size = 0


_edges = _Edges(TILE_EDGE_BYTES)


def clear_edges() -> None:
    """Forget the tile-row edges kept for neighbouring chunks (for tests and benchmarks)."""
    _edges.clear()


def _read_rows(src, ref: _access.RasterRef, rows: tuple[int, int], cols: tuple[int, int], share: tuple[bool, bool]):
    """Read rows ``[r0, r1)`` x cols ``[c0, c1)`` of band 1, covering whole tile rows (see the module docstring).

    ``share``: whether a chunk lies above and below this one in the target grid (only then is an edge kept).
    """
    from rasterio.windows import Window

    (r0, r1), (c0, c1) = rows, cols
    block, height = src.block_shapes[0][0], src.height
    if ref.kind != "tgz" or block <= 1 or block >= height:
        # a file or plain-tar member reads a tile row again from the page cache, cheaper than keeping it;
        # strips of one row, or a single block: nothing to share
        return src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
    first_tile, last_tile = r0 // block, (r1 - 1) // block
    start, stop = first_tile * block, min((last_tile + 1) * block, height)
    out = np.empty((r1 - r0, c1 - c0), dtype=src.dtypes[0])
    if r0 > start:  # the first tile row is shared with the chunk above: it may have kept our part
        part = _edges.take((ref, c0, c1, first_tile), r0, min(r1, start + block))
        if part is not None:
            out[: len(part)] = part
            start = r0 + len(part)
    if r1 < stop and start < r1:  # the last tile row is shared with the chunk below
        part = _edges.take((ref, c0, c1, last_tile), max(r0, last_tile * block), r1)
        if part is not None:
            out[r1 - r0 - len(part) :] = part
            stop = r1 - len(part)
    if start >= stop:
        return out
    read = src.read(1, window=Window(c0, start, c1 - c0, stop - start))
    lo, hi = max(r0, start), min(r1, stop)
    out[lo - r0 : hi - r0] = read[lo - start : hi - start]
    if start < r0 and share[0]:
        _edges.put((ref, c0, c1, first_tile), start, read[: r0 - start])
    if r1 < stop and share[1]:
        _edges.put((ref, c0, c1, last_tile), r1, read[r1 - start :])
    return out


@dataclass(frozen=True)
class Layer:
    """One product's raster as seen from a chunk: aligned (a window) or warped (a VRT per chunk)."""

    ref: _access.RasterRef
    grid: Grid
    aligned: bool
    row_off: int = 0  # source row of target row 0 (aligned layers)
    col_off: int = 0
    decoding: Decoding | None = None  # None: a bit field (kept as integers)


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
    decode: bool
    resampling: str
    rows_below: bool = False  # another chunk of the grid lies below this one (it may take this one's edge)


def _read_layer(layer: Layer, task: ChunkRead, hole: int) -> np.ndarray:
    """Raw values of one layer over the chunk, ``hole`` where the layer has no pixel."""
    out = np.full((task.height, task.width), hole, dtype=task.dtype)
    _count_read()
    with _access.open_raster(layer.ref) as src:
        stated = layer.grid
        if (src.width, src.height) != (stated.width, stated.height) or not np.allclose(
            tuple(src.transform)[:6], stated.transform, rtol=0, atol=1e-6 * abs(stated.transform[0])
        ):
            raise InvalidInputError(
                f"{layer.ref.describe()} is {src.width}x{src.height} pixels at {tuple(src.transform)[:6]}, "
                f"not {stated.width}x{stated.height} at {stated.transform} as its product's other rasters"
            )
        if layer.aligned:
            r0, c0 = layer.row_off + task.row0, layer.col_off + task.col0
            r1, c1 = r0 + task.height, c0 + task.width
            rr0, cc0 = max(r0, 0), max(c0, 0)
            rr1, cc1 = min(r1, src.height), min(c1, src.width)
            if rr0 < rr1 and cc0 < cc1:
                out[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = _read_rows(
                    src, layer.ref, (rr0, rr1), (cc0, cc1), (task.row0 > 0, task.rows_below)
                )
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


def read_chunk(task: ChunkRead) -> np.ndarray:
    """Produce one chunk: read each layer (the first valid pixel wins), decoded with the layer's own coefficients."""
    hole = task.fill if task.fill is not None else 0
    decoding = task.decode and all(layer.decoding is not None for layer in task.layers)
    if not task.layers:
        if decoding:
            return np.full((task.height, task.width), np.nan, dtype=np.float32)
        return np.full((task.height, task.width), hole, dtype=task.dtype)
    out = None
    for layer in task.layers:
        if out is not None:
            empty = np.isnan(out) if decoding else out == hole
            if not empty.any():
                break  # the layers before covered the chunk
        raw = _read_layer(layer, task, hole)
        values = decode(raw, layer.decoding) if decoding else raw
        if out is None:
            out = values
        else:
            out[empty] = values[empty]
    return out
