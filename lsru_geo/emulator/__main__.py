"""``python -m lsru_geo.emulator``: serve the emulator until interrupted."""

from __future__ import annotations

import argparse
import sys

from . import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lsru-geo emulator", description="Serve the USGS M2M / ESPA emulator on loopback."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's command-line options (shared with ``lsru-geo emulator``)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 picks a free one; default 8080)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random fault generator")
    parser.add_argument("--raster-size", type=int, default=256, help="pixels per side of product rasters")
    parser.add_argument(
        "--processing-seconds",
        type=float,
        default=60.0,
        help="emulated seconds an ESPA item spends in each state (default 60)",
    )
    parser.add_argument(
        "--clock-speed",
        type=float,
        default=1.0,
        help="how many emulated seconds pass per real second (e.g. 60 makes orders complete quickly)",
    )
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of ESPA items that end in error")
    parser.add_argument("--retry-rate", type=float, default=0.0, help="share of ESPA items that pass through retry")
    parser.add_argument("--unavailable-rate", type=float, default=0.0, help="share of ESPA items that are unavailable")
    parser.add_argument("--purge-days", type=float, default=10.0, help="days after completion when orders are purged")
    parser.add_argument("--open-unit-limit", type=int, default=10_000, help="open ESPA items allowed per user")
    parser.add_argument(
        "--chaos",
        type=float,
        default=0.0,
        metavar="RATE",
        help="inject every fault kind at random into this share of requests (e.g. 0.05; seeded by --seed)",
    )
    parser.add_argument(
        "--m2m-http-errors", action="store_true", help="answer M2M AUTH_*/RATE_LIMIT* with 401/429, not 200"
    )


def run(args: argparse.Namespace) -> int:
    emulator = Emulator(
        args.host,
        args.port,
        seed=args.seed,
        raster_size=args.raster_size,
        processing_seconds=args.processing_seconds,
        error_rate=args.error_rate,
        retry_rate=args.retry_rate,
        unavailable_rate=args.unavailable_rate,
        purge_days=args.purge_days,
        open_unit_limit=args.open_unit_limit,
        m2m_http_errors=args.m2m_http_errors,
    )
    emulator.clock.speed = args.clock_speed
    if args.chaos:
        emulator.chaos(args.chaos)
    print(f"lsru_geo emulator on {emulator.url}", file=sys.stderr)
    for name, value in emulator.env().items():
        print(f"export {name}={value}", file=sys.stderr)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
