"""The ``lsru-geo`` command: ``demo``, ``search``, ``order``, ``orders``, ``status``, ``wait``, ``download`` and
``emulator``.

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

    order = commands.add_parser("order", help="order ESPA processing of scenes from a search file or ids")
    source = order.add_mutually_exclusive_group(required=True)
    source.add_argument("--scenes", type=Path, help="a search result file written by `lsru-geo search -o`")
    source.add_argument("--ids", nargs="+", help="Landsat product ids")
    order.add_argument("--products", nargs="+", required=True, help="product codes, e.g. l1 sr_ndvi")
    order.add_argument("--format", default="gtiff", help="output format (default gtiff)")
    order.add_argument("--resampling", default="nn", help="resampling method (default nn)")
    order.add_argument("--resolution", type=float, help="output pixel size (metres, or degrees for lonlat)")
    order.add_argument("--projection", help='projection as JSON, e.g. \'{"utm": {"zone": 12, "zone_ns": "north"}}\'')
    order.add_argument("--extent", type=float, nargs=4, metavar=("LEFT", "BOTTOM", "RIGHT", "TOP"))
    order.add_argument("--extent-units", default="dd", choices=["dd", "meters"])
    order.add_argument("--note")

    commands.add_parser("orders", help="list your ESPA orders and their status")

    status = commands.add_parser("status", help="show the items of an ESPA order")
    status.add_argument("orderid")

    wait = commands.add_parser("wait", help="wait until every item of an order is finished")
    wait.add_argument("orderid")
    wait.add_argument("--poll", type=float, default=60.0, help="seconds between checks (default 60)")
    wait.add_argument("--timeout", type=float, help="give up after this many seconds")

    download = commands.add_parser("download", help="download a completed ESPA order, or search results from USGS")
    what = download.add_mutually_exclusive_group(required=True)
    what.add_argument("--order", help="ESPA order id")
    what.add_argument("--scenes", type=Path, help="a search result file: download the Level-2 products from USGS")
    download.add_argument("--out", type=Path, required=True, help="folder to download into")
    download.add_argument("--bands", nargs="+", help="with --scenes: only these bands (e.g. red nir08 qa_pixel)")
    download.add_argument("--unpack", action="store_true", help="with --order: unpack the tarballs")
    download.add_argument("--workers", type=int, default=4)

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
        scenes = usgs.search(
            args.collection,
            bbox=args.bbox,
            begin=args.begin,
            end=args.end,
            max_cloud_cover=args.max_cloud,
            months=args.months,
            max_results=args.max_results,
            aoi=aoi,
        )
    columns = ["display_id", "acquired", "path", "row", "cloud_cover"]
    print(scenes[columns].to_string(index=False, max_rows=30) if len(scenes) else "no scenes found")
    print(f"{len(scenes)} scenes ({scenes.attrs.get('total_hits', len(scenes))} matching)")
    if args.output is not None:
        write_frame(scenes, args.output)
        print(f"wrote {args.output}")
    return 0


def read_frame(path: Path):
    """Read a search result file written by :func:`write_frame`."""
    import geopandas as gpd
    import pandas as pd

    if not path.exists():
        raise InvalidInputError(f"scene file {path} does not exist")
    if path.suffix.lower() == ".parquet":
        return gpd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    return gpd.read_file(path)


def _order(args: argparse.Namespace) -> int:
    import json

    from ._espa import Espa

    ids = args.ids if args.ids else read_frame(args.scenes)["display_id"].astype(str).tolist()
    try:
        projection = json.loads(args.projection) if args.projection else None
    except ValueError:
        raise InvalidInputError(f"--projection is not valid JSON: {args.projection!r}") from None
    placed = Espa().order(
        ids,
        args.products,
        format=args.format,
        note=args.note,
        resampling=args.resampling,
        resolution=args.resolution,
        projection=projection,
        extent=args.extent,
        extent_units=args.extent_units,
    )
    for order in placed if isinstance(placed, list) else [placed]:
        print(order.orderid)
    return 0


def _orders(args: argparse.Namespace) -> int:
    from ._espa import Espa

    orders = Espa().orders
    for order in orders:
        print(f"{order.orderid}  {order.status}")
    if not orders:
        print("no orders")
    return 0


def _status(args: argparse.Namespace) -> int:
    from ._espa import Order

    order = Order(args.orderid)
    items = order.items_frame()
    print(f"{order.orderid}: {order.status}")
    print(items[["name", "status", "completion_date"]].to_string(index=False) if len(items) else "no items")
    return 0


def _wait(args: argparse.Namespace) -> int:
    from ._espa import Order

    order = Order(args.orderid).wait(poll=args.poll, timeout=args.timeout)
    counts = order.items_frame().status.value_counts()
    print(f"{order.orderid}: " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    return 0


def _download(args: argparse.Namespace) -> int:
    if args.order:
        from ._espa import Order

        paths = Order(args.order).download_all_complete(args.out, unpack=args.unpack, workers=args.workers)
    else:
        from ._m2m import Usgs

        with Usgs() as usgs:
            paths = usgs.download(read_frame(args.scenes), args.out, bands=args.bands, workers=args.workers)
    for path in paths:
        print(path)
    return 0


def write_frame(frame, path: Path) -> None:
    """Write search results in the format the file extension names."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".gpkg":
        frame.to_file(path, driver="GPKG")
    elif suffix in (".geojson", ".json"):
        frame.to_file(path, driver="GeoJSON")
    elif suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".csv":
        pd.DataFrame(frame).assign(geometry=frame.geometry.to_wkt()).to_csv(path, index=False)
    else:
        raise InvalidInputError(f"unknown output format {suffix!r}; use .gpkg, .geojson, .parquet or .csv")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lsru-geo``; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)  # exits with 2 on usage errors
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "demo":
            from ._demo import run_demo

            run_demo(args.out)
            return 0
        commands = {
            "search": _search,
            "order": _order,
            "orders": _orders,
            "status": _status,
            "wait": _wait,
            "download": _download,
        }
        if args.command in commands:
            return commands[args.command](args)
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
