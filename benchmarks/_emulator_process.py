"""Run an emulator in a separate process, so that the client measured does not share its GIL."""

from __future__ import annotations

import multiprocessing as mp
from contextlib import contextmanager


def _serve(queue, options):
    from lsru_geo.emulator import Emulator

    emulator = Emulator(**options)
    queue.put(emulator.env())
    emulator.serve_forever()


@contextmanager
def emulator_process(**options):
    """Start ``Emulator(**options)`` in a child process; yields its ``env()`` (LSRU_* variables)."""
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_serve, args=(queue, options), daemon=True)
    process.start()
    try:
        yield queue.get(timeout=60)
    finally:
        process.terminate()
        process.join(10)
