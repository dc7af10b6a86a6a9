"""``python -m lsru_geo.emulator``: serve the emulator until interrupted."""

from __future__ import annotations

import argparse
import sys

from . import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lsru-geo emulator", description="Serve the USGS M2M / ESPA emulator on loopback.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's command-line options (shared with ``lsru-geo emulator``)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 picks a free one; default 8080)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random fault generator")
    parser.add_argument("--raster-size", type=int, default=256, help="pixels per side of product rasters")
    parser.add_argument("--processing-seconds", type=float, default=60.0, help="emulated seconds an ESPA item processes")
    parser.add_argument("--m2m-http-errors", action="store_true", help="answer M2M AUTH_*/RATE_LIMIT* with 401/429, not 200")


def run(args: argparse.Namespace) -> int:
    emulator = Emulator(
        args.host,
        args.port,
        seed=args.seed,
        raster_size=args.raster_size,
        processing_seconds=args.processing_seconds,
        m2m_http_errors=args.m2m_http_errors,
    )
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
