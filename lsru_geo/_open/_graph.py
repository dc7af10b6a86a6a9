"""Lazy graph building: dask arrays whose chunks are :func:`._chunks.read_chunk` tasks, and their attributes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from .. import _bands
from ..exceptions import InvalidInputError
from ._chunks import ChunkRead, Layer, read_chunk
from ._grid import Grid

#: Default rows per chunk: whole-width strips (two 512-pixel tile rows of a full-size band, ~30 MB float32).
DEFAULT_ROWS = 1024


def chunk_bounds(total: int, size: int | None) -> list[tuple[int, int]]:
    """``(start, stop)`` of each chunk along an axis of ``total`` pixels (``size`` <= 0 or None: one chunk)."""
    size = total if size is None or size <= 0 or size > total else int(size)
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def chunk_sizes(chunks: Any) -> tuple[int, int]:
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
class BandPlan:
    """How one variable is read: its encoding and, per time step, the layers of each product."""

    name: str
    encoding: _bands.BandEncoding
    steps: tuple[tuple[tuple[Layer, tuple[float, float, float, float]], ...], ...]  # per time: (layer, bbox)


def lazy_variable(plan: BandPlan, grid: Grid, rows: int, cols: int, decode: bool, resampling: str, stacked: bool):
    """Return a dask array (time, y, x) or (y, x) whose chunks are :func:`read_chunk` tasks."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    enc = plan.encoding
    out_dtype = np.dtype("float32") if decode and not enc.is_bit_field else np.dtype(enc.dtype)
    ybounds, xbounds = chunk_bounds(grid.height, rows), chunk_bounds(grid.width, cols)
    a, b, c, d, e, f = grid.transform
    placed = [
        [(lay.ref, lay.row_off, lay.col_off, lay.aligned, lay.decoding) for lay, _box in step] for step in plan.steps
    ]
    token = tokenize(plan.name, placed, grid, rows, cols, decode, resampling)
    name = f"lsru-read-{plan.name}-{token}"
    graph = {}
    for t, step in enumerate(plan.steps):
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
                    decode=decode and not enc.is_bit_field,
                    resampling=resampling,
                    rows_below=y1 < grid.height,
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


def attrs_of(enc: _bands.BandEncoding, decode: bool) -> tuple[dict, dict]:
    """Variable attributes and encoding: raw integers carry their CF packing, decoded floats keep it as encoding.

    Level-1 DNs have no fixed packing (it differs per scene): raw they carry ``units="DN"`` and their fill.
    """
    attrs: dict[str, Any] = {"long_name": enc.long_name, "units": enc.units}
    packing: dict[str, Any] = {}
    if enc.fill is not None:
        packing["_FillValue"] = enc.fill
    if enc.scale is not None:
        packing["scale_factor"] = enc.scale
        packing["add_offset"] = enc.offset or 0.0
    if enc.calibrated and not decode:
        attrs["units"] = "DN"
    if enc.is_bit_field or not decode:
        attrs.update(packing)
        return attrs, {"dtype": enc.dtype}
    return attrs, {"dtype": enc.dtype, **packing}


def finish(ds: xr.Dataset, grid: Grid) -> xr.Dataset:
    """Attach the CRS and transform the rioxarray way (``spatial_ref`` coordinate)."""
    import rioxarray  # noqa: F401  registers .rio
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    ds = ds.rio.write_crs(CRS.from_wkt(grid.crs))
    return ds.rio.write_transform(Affine(*grid.transform))
