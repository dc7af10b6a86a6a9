"""Search results in and out of the command line: files in any format geopandas writes, and text to stdout."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .exceptions import InvalidInputError, LsruError

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd

#: ``--format`` values of ``lsru-geo search``.
FORMATS = ("table", "csv", "json", "geojson", "ids")
#: Columns of the table format.
TABLE_COLUMNS = ["display_id", "acquired", "path", "row", "cloud_cover"]
# extensions GDAL cannot tell apart on its own, and the formats geopandas writes without GDAL
_DRIVERS = {".json": "GeoJSON", ".kml": "KML"}
_OWN_WRITERS = (".csv", ".parquet", ".feather")


def output_writer(path: Path) -> Callable[[gpd.GeoDataFrame], None]:
    """Check that search results can be written to ``path`` and return the function that writes them.

    Called before the search runs, so that a bad ``-o`` costs no request.

    Raises
    ------
    InvalidInputError
        When no writer is known for the extension, or the folder does not exist.
    """
    suffix = path.suffix.lower()
    if not path.parent.is_dir():
        raise InvalidInputError(f"cannot write {path}: the folder {path.parent} does not exist")
    if suffix == ".csv":
        return lambda frame: _plain(frame).to_csv(path, index=False)
    if suffix == ".parquet":
        return lambda frame: frame.to_parquet(path)
    if suffix == ".feather":
        return lambda frame: frame.to_feather(path)
    driver = _DRIVERS.get(suffix) or _gdal_driver(path)

    def write(frame: gpd.GeoDataFrame) -> None:
        with warnings.catch_warnings(record=True) as caught:  # GDAL's notes (field names cut for .shp) in one line
            warnings.simplefilter("always")
            try:
                frame.to_file(path, driver=driver)
            except (RuntimeError, ValueError) as error:  # what GDAL refuses only once it sees the data
                raise LsruError(f"cannot write {path} as {driver}: {error}") from None
        notes = list(dict.fromkeys(str(w.message) for w in caught))
        if notes:
            import sys

            print(f"lsru-geo: note: {'; '.join(notes)}", file=sys.stderr)

    return write


def _gdal_driver(path: Path) -> str:
    import pyogrio
    from pyogrio.raw import detect_write_driver

    try:
        driver = detect_write_driver(str(path))
    except ValueError:
        driver = None
    if driver is None or driver not in pyogrio.list_drivers(write=True):
        raise InvalidInputError(
            f"unknown output format {path.suffix!r}: use a file name ending in .gpkg, .geojson, .shp, .fgb, "
            ".parquet, .csv or another extension that GDAL writes"
        )
    return driver


def read_frame(path: Path) -> gpd.GeoDataFrame:
    """Read a search result file written by ``lsru-geo search -o``."""
    if not path.exists():
        raise InvalidInputError(f"scene file {path} does not exist")
    try:
        return _read(path)
    except (OSError, RuntimeError, ValueError) as error:  # unreadable, or not a vector file at all
        raise InvalidInputError(f"cannot read {path}: {error}") from None


def read_vector(path: Path) -> gpd.GeoDataFrame:
    """Read an area of interest from any vector file GDAL reads."""
    import geopandas as gpd

    if not path.exists():
        raise InvalidInputError(f"AOI file {path} does not exist")
    try:
        return gpd.read_file(path)
    except (OSError, RuntimeError, ValueError) as error:
        raise InvalidInputError(f"cannot read {path}: {error}") from None


def _read(path: Path) -> gpd.GeoDataFrame:
    import geopandas as gpd
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return gpd.read_parquet(path)
    if suffix == ".feather":
        return gpd.read_feather(path)
    if suffix == ".csv":
        frame = pd.read_csv(path)
        if "geometry" in frame.columns:
            return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries.from_wkt(frame["geometry"]), crs=4326)
        return frame
    return gpd.read_file(path)


def print_scenes(frame: gpd.GeoDataFrame, fmt: str, limit: int | None, out: TextIO) -> None:
    """Print search results to ``out`` in one of :data:`FORMATS`, at most ``limit`` rows (``None``: all).

    The table ends with a line saying how many rows were left out, so a cut is never silent; the other
    formats print only the data, for pipes.
    """
    shown = frame if limit is None else frame.head(limit)
    if fmt == "table":
        if len(frame):
            table = shown[TABLE_COLUMNS].assign(acquired=shown["acquired"].dt.strftime("%Y-%m-%d"))
            print(table.to_string(index=False), file=out)
        hidden = len(frame) - len(shown)
        total = frame.attrs.get("total_hits", len(frame))
        summary = f"{len(frame)} scene{'s' if len(frame) != 1 else ''}" + (
            f" ({total} matching)" if total != len(frame) else ""
        )
        if hidden:
            summary += f"; {hidden} not shown (--limit {len(frame)} shows them all, or use --format csv / -o FILE)"
        print(summary, file=out)
    elif fmt == "ids":
        for display_id in shown["display_id"]:
            print(display_id, file=out)
    elif fmt == "csv":
        _plain(shown).to_csv(out, index=False)
    elif fmt == "json":
        records = json.loads(_plain(shown).to_json(orient="records", date_format="iso"))
        print(json.dumps(records, indent=1), file=out)
    elif fmt == "geojson":
        print(shown.to_json(drop_id=True, to_wgs84=True, default=_iso), file=out)
    else:  # argparse keeps other values out
        raise InvalidInputError(f"format must be one of {FORMATS}, got {fmt!r}")


def _iso(value):
    """JSON form of the values ``json`` does not know: dates as ISO 8601 text."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _plain(frame: gpd.GeoDataFrame):
    """Return the frame as a plain DataFrame with the footprint as WKT, for text formats."""
    import pandas as pd

    plain = pd.DataFrame(frame)
    if "geometry" in plain.columns:
        plain["geometry"] = frame.geometry.to_wkt()
    return plain
