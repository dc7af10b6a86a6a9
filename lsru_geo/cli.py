"""The ``lsru-geo`` command: ``demo``, ``search`` and ``emulator``.

Exit codes: 0 success, 1 runtime error (one clear line; ``--verbose`` adds the traceback), 2 usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path

from .exceptions import InvalidInputError, LsruError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lsru-geo", description="Landsat search, ESPA ordering and download.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests and show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the polygon workflow of lsru's docs against an embedded emulator")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default ./demo-output)")

    search = commands.add_parser("search", help="search the catalogue and write the footprints")
    search.add_argument("--collection", default="landsat_ot_c2_l2", help="M2M dataset (default landsat_ot_c2_l2)")
    where = search.add_mutually_exclusive_group(required=True)
    where.add_argument("--bbox", type=float, nargs=4, metavar=("LEFT", "BOTTOM", "RIGHT", "TOP"), help="box in degrees")
    where.add_argument("--aoi", type=Path, help="vector file (GeoJSON, GeoPackage, ...) with the area of interest")
    search.add_argument("--begin", help="first acquisition date, YYYY-MM-DD")
    search.add_argument("--end", help="last acquisition date, YYYY-MM-DD")
    search.add_argument("--max-cloud", type=float, default=100, help="highest cloud cover, percent")
    search.add_argument("--months", type=int, nargs="+", help="months to keep, 1-12")
    search.add_argument("--max-results", type=int, default=50000)
    search.add_argument("--output", "-o", type=Path, help="write .gpkg, .geojson, .parquet or .csv")

    emulator = commands.add_parser("emulator", help="serve the USGS/ESPA emulator on loopback")
    from .emulator.__main__ import add_arguments

    add_arguments(emulator)
    return parser


def _search(args: argparse.Namespace) -> int:
    from ._m2m import Usgs

    aoi = None
    if args.aoi is not None:
        import geopandas as gpd

        if not args.aoi.exists():
            raise InvalidInputError(f"AOI file {args.aoi} does not exist")
        aoi = gpd.read_file(args.aoi)
    with Usgs() as usgs:
        scenes = usgs.search(args.collection, bbox=args.bbox, begin=args.begin, end=args.end, max_cloud_cover=args.max_cloud,
                             months=args.months, max_results=args.max_results, aoi=aoi)
    columns = ["display_id", "acquired", "path", "row", "cloud_cover"]
    print(scenes[columns].to_string(index=False, max_rows=30) if len(scenes) else "no scenes found")
    print(f"{len(scenes)} scenes ({scenes.attrs.get('total_hits', len(scenes))} matching)")
    if args.output is not None:
        write_frame(scenes, args.output)
        print(f"wrote {args.output}")
    return 0


def write_frame(frame, path: Path) -> None:
    """Write search results in the format the file extension names."""
    suffix = path.suffix.lower()
    if suffix == ".gpkg":
        frame.to_file(path, driver="GPKG")
    elif suffix in (".geojson", ".json"):
        frame.to_file(path, driver="GeoJSON")
    elif suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".csv":
        frame.assign(geometry=frame.geometry.to_wkt()).to_csv(path, index=False)
    else:
        raise InvalidInputError(f"unknown output format {suffix!r}; use .gpkg, .geojson, .parquet or .csv")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lsru-geo``; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)  # exits with 2 on usage errors
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "demo":
            from ._demo import run_demo

            run_demo(args.out)
            return 0
        if args.command == "search":
            return _search(args)
        from .emulator.__main__ import run

        return run(args)
    except InvalidInputError as error:
        print(f"lsru-geo: error: {error}", file=sys.stderr)
        if args.verbose:
            traceback.print_exc()
        return 2
    except LsruError as error:
        print(f"lsru-geo: {type(error).__name__}: {error}", file=sys.stderr)
        if args.verbose:
            traceback.print_exc()
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
