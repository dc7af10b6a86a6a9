"""Chunk reading: the picklable task description and the function dask runs for each chunk.

Every chunk is a task that opens its raster(s), reads one window and closes them (no open handles in the
graph, so the graph pickles and runs on a ``dask.distributed`` cluster). Each layer carries its own
:class:`~._decode.Decoding`, since Level-1 calibration differs per scene.
"""

from __future__ import annotations

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


def _read_layer(layer: Layer, task: ChunkRead, hole: int) -> np.ndarray:
    """Raw values of one layer over the chunk, ``hole`` where the layer has no pixel."""
    from rasterio.windows import Window

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
