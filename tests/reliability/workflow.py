"""The whole user workflow (search -> order -> wait -> download -> open) against an emulator, and what it saw.

Shared by the chaos and security tests: :func:`run_workflow` drives the public API only and returns a
:class:`WorkflowResult` that the tests compare with the emulator's own records.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lsru_geo import DownloadError, Espa, Usgs, open_scene

# western Europe over ten weeks: about 2,500 Level-2 scenes
BBOX = (-10.0, 35.0, 30.0, 60.0)
BEGIN, END = "2020-05-01", "2020-07-15"
# a client log line for each failure it met and rode out: a retry, a fresh API key, or an order found placed
HANDLED = re.compile(r"; retry \d+/\d+ in |logging in again|not posting again")


class LogCollector(logging.Handler):
    """Keeps every lsru_geo log record (formatted) of a run."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [self.format(r) for r in self.records]

    def handled_failures(self) -> int:
        return sum(bool(HANDLED.search(r.getMessage())) for r in self.records)


@contextmanager
def collecting_logs(name: str | None) -> Iterator[LogCollector]:
    """Collect every record of logger ``name`` (the root logger for None) and its children at DEBUG level."""
    collector = LogCollector()
    logger = logging.getLogger(name)
    level = logger.level
    logger.addHandler(collector)
    logger.setLevel(logging.DEBUG)  # setLevel, not the attribute: it clears the loggers' cached levels
    try:
        yield collector
    finally:
        logger.removeHandler(collector)
        logger.setLevel(level)


@dataclass
class WorkflowResult:
    """What the client saw and did."""

    scenes_found: int = 0
    orders: list = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)  # item name -> last status the client read
    delivered: dict[str, Path] = field(default_factory=dict)  # item name -> verified tarball
    not_delivered: dict[str, str] = field(default_factory=dict)  # item name -> status (error, purged...)
    download_passes: int = 0
    gave_up: int = 0  # files a pass gave up on after its retries (fetched again by the next pass)
    opened: dict[str, float] = field(default_factory=dict)  # item name -> mean red reflectance
    objects: list = field(default_factory=list)  # every client object made, for repr checks


def run_workflow(emu, folder: Path, *, first: int = 3, second: int = 5, verbose: bool = False) -> WorkflowResult:
    """Search, place two orders (the first purged before its download), wait, download, open.

    The emulator clock is moved the way time would pass: an hour after each order (processing), and past the
    purge delay between the orders.
    """
    result = WorkflowResult()
    usgs = Usgs()
    scenes = usgs.search("landsat_ot_c2_l2", bbox=BBOX, begin=BEGIN, end=END)
    result.scenes_found = len(scenes)
    picks = scenes.sort_values("display_id").iloc[:: max(1, len(scenes) // (first + second))].head(first + second)
    espa = Espa()
    result.objects += [usgs, espa, usgs._config, scenes.lsru]

    purged = picks.head(first).lsru.order(products=["l1"], verbose=verbose)
    emu.clock.advance(hours=1)
    purged.wait(poll=0.01, timeout=60)
    emu.clock.advance(days=emu.options.purge_days + 1)  # the user comes back too late for this one
    kept = picks.iloc[first:].lsru.order(products=["l1"], verbose=verbose)
    emu.clock.advance(hours=1)
    kept.wait(poll=0.01, timeout=60)
    result.orders = [purged, kept]
    result.objects += result.orders

    for order in result.orders:
        tarballs: list[Path] = []
        for _ in range(5):  # a failed pass is run again, as a user would: what is complete is kept
            result.download_passes += 1
            try:
                tarballs = order.download_all_complete(folder, workers=4)
                break
            except DownloadError as error:
                result.gave_up += sum("gave up after" in reason for reason in error.failed.values())
                result.objects.append(error)
        by_name = {path.name: path for path in tarballs}
        for item in order.items_status:
            result.statuses[item["name"]] = item["status"]
            url = item["product_dload_url"]
            if item["status"] == "complete" and url and url.rsplit("/", 1)[-1] in by_name:
                result.delivered[item["name"]] = by_name[url.rsplit("/", 1)[-1]]
            else:
                result.not_delivered[item["name"]] = item["status"]

    for name, tarball in result.delivered.items():
        red = open_scene(tarball, bands=["red"])["red"]
        result.opened[name] = float(np.nanmean(red.values))
    return result
