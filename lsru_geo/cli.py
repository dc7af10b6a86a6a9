"""The ``lsru-geo`` command.

Commands: ``search``, ``datasets``, ``order``, ``orders``, ``status``, ``wait``, ``cancel``, ``download``, ``demo``
and ``emulator``.

Exit codes: 0 success; 1 runtime error, printed as one line (``--verbose`` adds the traceback); 2 usage error or
bad input; 130 interrupted (Ctrl-C); 141 when the reader of stdout went away (``| head``), without a message.

argparse, not click: the emulator's options are already an argparse parser, shared with ``python -m
lsru_geo.emulator``, and the commands need nothing argparse lacks.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from ._cli_io import FORMATS, output_writer, print_scenes, read_frame, read_vector
from ._version import __version__
from .exceptions import InvalidInputError, LsruError

__all__ = ["main", "read_frame"]

EPILOG = (
    "Credentials and service URLs come from ~/.lsru or the LSRU_* variables; `lsru-geo emulator` prints the "
    "variables that point every command at a local emulator. Exit codes: 0 done, 1 error, 2 bad arguments, "
    "130 interrupted."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lsru-geo", description="Landsat search, ESPA ordering and download.", epilog=EPILOG
    )
    parser.add_argument("--version", action="version", version=f"lsru-geo {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests and show tracebacks")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="`lsru-geo COMMAND --help` describes each"
    )

    demo = commands.add_parser("demo", help="run the polygon workflow of lsru's docs against an embedded emulator")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default ./demo-output)")

    commands.add_parser("datasets", help="list the Landsat Collection 2 datasets that search takes")

    search = commands.add_parser("search", help="search the catalogue; print the scenes or write them to a file")
    search.add_argument(
        "--collection", default="landsat_ot_c2_l2", help="dataset, see `lsru-geo datasets` (default landsat_ot_c2_l2)"
    )
    where = search.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--bbox", type=float, nargs=4, metavar=("LEFT", "BOTTOM", "RIGHT", "TOP"), help="box in degrees (lon/lat)"
    )
    where.add_argument("--point", type=float, nargs=2, metavar=("LON", "LAT"), help="scenes covering this point")
    where.add_argument(
        "--path-row",
        type=int,
        nargs=2,
        action="append",
        metavar=("PATH", "ROW"),
        help="WRS-2 path and row; repeat for several scenes",
    )
    where.add_argument(
        "--aoi", type=Path, metavar="FILE", help="vector file (GeoJSON, GeoPackage, shapefile...) of the area"
    )
    search.add_argument("--begin", metavar="DATE", help="first acquisition date, YYYY-MM-DD")
    search.add_argument("--end", metavar="DATE", help="last acquisition date, YYYY-MM-DD")
    search.add_argument(
        "--max-cloud", type=float, default=100, metavar="PERCENT", help="highest cloud cover in percent (default 100)"
    )
    search.add_argument("--months", type=int, nargs="+", metavar="MONTH", help="months to keep, 1-12")
    search.add_argument(
        "--max-results", type=int, default=50000, metavar="N", help="most scenes asked of the service (default 50000)"
    )
    search.add_argument(
        "--format", choices=FORMATS, default="table", help="what to print on stdout: " + ", ".join(FORMATS)
    )
    search.add_argument(
        "--limit", type=int, metavar="N", help="most rows printed (default 30 for the table, all for the other formats)"
    )
    search.add_argument(
        "--output",
        "-o",
        type=Path,
        metavar="FILE",
        help="also write the scenes to a file: .gpkg, .geojson, .shp, .parquet, .csv...",
    )

    order = commands.add_parser("order", help="order ESPA processing of scenes from a search file or ids")
    source = order.add_mutually_exclusive_group(required=True)
    source.add_argument("--scenes", type=Path, help="a search result file written by `lsru-geo search -o`")
    source.add_argument("--ids", nargs="+", metavar="ID", help="Landsat product ids")
    order.add_argument("--products", nargs="+", required=True, help="product codes, e.g. l1 sr_ndvi")
    order.add_argument("--format", default="gtiff", help="output format (default gtiff)")
    order.add_argument("--resampling", default="nn", help="resampling method (default nn)")
    order.add_argument("--resolution", type=float, help="output pixel size (metres, or degrees for lonlat)")
    order.add_argument("--projection", help='projection as JSON, e.g. \'{"utm": {"zone": 12, "zone_ns": "north"}}\'')
    order.add_argument(
        "--extent", type=float, nargs=4, metavar=("LEFT", "BOTTOM", "RIGHT", "TOP"), help="crop (needs --projection)"
    )
    order.add_argument("--extent-units", default="dd", choices=["dd", "meters"], help="units of --extent (default dd)")
    order.add_argument("--note", help="free text stored with the order")

    commands.add_parser("orders", help="list your ESPA orders and their status")

    status = commands.add_parser("status", help="show the items of an ESPA order")
    status.add_argument("orderid", help="ESPA order id")

    wait = commands.add_parser("wait", help="wait until every item of an order is finished")
    wait.add_argument("orderid", help="ESPA order id")
    wait.add_argument("--poll", type=float, default=60.0, help="seconds between checks (default 60)")
    wait.add_argument("--timeout", type=float, help="give up after this many seconds")

    cancel = commands.add_parser("cancel", help="cancel an ESPA order that is still being processed")
    cancel.add_argument("orderid", help="ESPA order id")

    download = commands.add_parser("download", help="download a completed ESPA order, or search results from USGS")
    what = download.add_mutually_exclusive_group(required=True)
    what.add_argument("--order", help="ESPA order id")
    what.add_argument("--scenes", type=Path, help="a search result file: download the Level-2 products from USGS")
    download.add_argument("--out", type=Path, required=True, help="folder to download into")
    download.add_argument("--bands", nargs="+", help="with --scenes: only these bands (e.g. red nir08 qa_pixel)")
    download.add_argument("--unpack", action="store_true", help="with --order: unpack the tarballs")
    download.add_argument("--workers", type=int, default=4, help="files downloaded at once (default 4)")

    emulator = commands.add_parser("emulator", help="serve the USGS/ESPA emulator on loopback")
    from .emulator.__main__ import add_arguments

    add_arguments(emulator)
    return parser


def _search(args: argparse.Namespace) -> int:
    from ._m2m import Usgs

    write = output_writer(args.output) if args.output is not None else None  # before any request
    if args.limit is not None and args.limit < 1:
        raise InvalidInputError(f"--limit must be 1 or more, got {args.limit}")
    aoi, bbox, wanted = None, None, None
    if args.aoi is not None:
        aoi = read_vector(args.aoi)
    elif args.point is not None:
        lon, lat = args.point
        bbox = (lon, lat, lon, lat)  # a point: M2M's mbr filter with equal corners
    elif args.path_row:
        import shapely

        from ._pathrow import check_path_row, scene_centre

        wanted = {check_path_row(path, row) for path, row in args.path_row}
        aoi = shapely.MultiPoint([scene_centre(path, row) for path, row in sorted(wanted)])
    else:
        bbox = args.bbox
    with Usgs() as usgs:
        scenes = usgs.search(
            args.collection,
            bbox=bbox,
            begin=args.begin,
            end=args.end,
            max_cloud_cover=args.max_cloud,
            months=args.months,
            max_results=args.max_results,
            aoi=aoi,
        )
    if wanted is not None:  # the centres also fall in the side-lap of neighbouring scenes
        keep = [(int(p), int(r)) in wanted for p, r in zip(scenes["path"], scenes["row"], strict=True)]
        scenes = scenes[keep]
        scenes.attrs["total_hits"] = len(scenes)
    limit = args.limit if args.limit is not None else (30 if args.format == "table" else None)
    print_scenes(scenes, args.format, limit, sys.stdout)
    if write is not None:
        write(scenes)
        print(f"wrote {len(scenes)} scenes to {args.output}", file=sys.stderr)
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from ._datasets import COLLECTION_2

    print(f"{'dataset':<20} {'level':<6} satellites")
    for name, facts in COLLECTION_2.items():
        satellites = ", ".join(f"Landsat {n}" for n in facts["satellites"])
        print(f"{name:<20} {facts['level']:<6} {satellites}")
    return 0


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


def _known_order(orderid: str):
    """Return the :class:`Order` once ESPA confirmed it knows it: an unknown id is an error, not an empty order."""
    from ._espa import Order
    from .exceptions import NotFoundError

    order = Order(orderid)
    try:
        order.status  # noqa: B018 - the request is the check
    except NotFoundError as error:
        raise LsruError(
            f"ESPA has no order {orderid!r} for this user ({error.message}); `lsru-geo orders` lists yours"
        ) from None
    return order


def _status(args: argparse.Namespace) -> int:
    order = _known_order(args.orderid)
    items = order.items_frame()
    print(f"{order.orderid}: {order.status}")
    print(items[["name", "status", "completion_date"]].to_string(index=False) if len(items) else "no items")
    return 0


def _wait(args: argparse.Namespace) -> int:
    order = _known_order(args.orderid).wait(poll=args.poll, timeout=args.timeout)
    counts = order.items_frame().status.value_counts()
    print(f"{order.orderid}: " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    return 0


def _cancel(args: argparse.Namespace) -> int:
    order = _known_order(args.orderid)
    order.cancel()
    print(f"{order.orderid}: {order.status}")
    return 0


def _download(args: argparse.Namespace) -> int:
    if args.order:
        order = _known_order(args.order)
        if not order.urls_completed:
            items = order.items_frame()
            states = ", ".join(f"{n} {state}" for state, n in items.status.value_counts().items()) or "no items"
            raise LsruError(
                f"order {order.orderid} has no completed item to download ({states}); "
                f"`lsru-geo wait {order.orderid}` waits for them"
            )
        paths = order.download_all_complete(args.out, unpack=args.unpack, workers=args.workers)
    else:
        from ._m2m import Usgs

        scenes = read_frame(args.scenes)
        with Usgs() as usgs:
            paths = usgs.download(scenes, args.out, bands=args.bands, workers=args.workers)
    for path in paths:
        print(path)
    return 0


COMMANDS = {
    "search": _search,
    "datasets": _datasets,
    "order": _order,
    "orders": _orders,
    "status": _status,
    "wait": _wait,
    "cancel": _cancel,
    "download": _download,
}


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from ._demo import run_demo

        run_demo(args.out)
        return 0
    if args.command in COMMANDS:
        return COMMANDS[args.command](args)
    from .emulator.__main__ import run

    return run(args)


def _fail(message: str, code: int, verbose: bool) -> int:
    print("lsru-geo: " + " ".join(message.split()), file=sys.stderr)  # one line, whatever the message holds
    if verbose:
        traceback.print_exc()
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lsru-geo``; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)  # exits with 2 on usage errors
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        code = _run(args)
        sys.stdout.flush()  # a closed pipe shows here for short outputs, not at exit
        return code
    except KeyboardInterrupt:
        return _fail("interrupted", 130, args.verbose)
    except BrokenPipeError:
        # the reader left (`| head`): nothing more to say, and Python must not complain when it flushes stdout
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except InvalidInputError as error:
        return _fail(f"error: {error}", 2, args.verbose)
    except LsruError as error:
        name = "error" if type(error) is LsruError else type(error).__name__
        return _fail(f"{name}: {error}", 1, args.verbose)
    except (TimeoutError, OSError) as error:
        return _fail(f"{type(error).__name__}: {error}", 1, args.verbose)


if __name__ == "__main__":
    raise SystemExit(main())
