"""ESPA orders and their items on the emulator clock (``espa-api.md`` 1.5, 1.7, 1.9, 2, 4).

Nothing runs in the background. When an order is placed, each item gets its whole future as a list of
:class:`Step` (time, status, note), drawn deterministically from a hash of the order id and the item name;
reading an order looks the current step up on the clock. So a test that moves the clock forward sees the
order progress, and the same order always takes the same path. :meth:`OrderBook.refresh`, called on every
ESPA request, publishes the tarballs of items that have completed and withdraws those of purged or cancelled
ones.

Item paths, each step lasting ``processing_seconds``:

* normal: ``submitted -> oncache -> tasked -> processing -> complete`` (one item in five goes
  ``submitted -> onorder -> oncache`` first, as inputs not yet staged do);
* ``retry_rate``: the first processing fails into ``retry``, which goes back to ``submitted`` after one step
  and then completes;
* ``error_rate``: ``... -> processing -> error``, and stays there: on the real service an error waits for
  an operator, so the order stays ``ordered`` (an error counts neither as done nor as an open unit);
* ``unavailable_rate``, inputs the catalogue does not have, ``et`` on an ``L2SR`` (no temperature) input and
  Level-1 inputs (the product generator makes Level-2 content only): ``submitted -> unavailable``.

The order is ``complete`` once every item is ``complete`` or ``unavailable`` (what ESPA's
``update_order_if_complete`` counts), with the latest of those times as ``completion_date``, and ``purged``
``purge_days`` later: items ``purged``, dates and URLs blanked, files withdrawn. With ``plot_statistics`` an
order-level item ``plot`` waits for every scene to finish, processes for one step and delivers
``<orderid>-statistics.tar.gz`` (a CSV of synthetic per-scene statistics per product; ESPA's also holds
plots). An order's ``projection``, ``resize``, ``resampling_method`` and ``image_extents`` are applied to every
raster of its products (:mod:`._customise`), and the products' ``<id>.xml`` describes the new grid.
Cancelling (only from ``ordered``) cancels queued, failed and finished items at once; items already
``tasked`` or ``processing`` finish first and are then cancelled without a product, as ESPA does.
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import os
import tarfile
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

OPEN_STATES = ("submitted", "oncache", "onorder", "tasked", "scheduled", "retry", "processing")
CANCELLABLE_AT_ONCE = ("submitted", "oncache", "onorder", "retry", "error", "unavailable", "complete")
DONE_STATES = ("complete", "unavailable")
ONORDER_SHARE = 0.2

NOT_IN_ARCHIVE = "Input not found in archive"
NOT_AVAILABLE = "Input not available for processing"
NO_TEMPERATURE = "et requires surface temperature; L2SR inputs have none"
LEVEL1 = "Level-1 inputs are not processed by this emulator; order the Level-2 (L2SP/L2SR) product"
ERROR_NOTE = "Error processing the product (emulated failure); contact USGS User Services"
RETRY_NOTE = "Transient processing failure (emulated); will retry"
CANCELLED_NOTE = "Cancelled"


def format_time(timestamp: float | None) -> str:
    """ESPA's date format, ``str(datetime)`` always with microseconds; ``""`` when unset."""
    if timestamp is None:
        return ""
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def draw(orderid: str, name: str, salt: str) -> float:
    """Draw a uniform number in [0, 1) fixed by the order, the item and a purpose."""
    digest = hashlib.sha256(f"{orderid}|{name}|{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Step:
    """From ``at`` (epoch seconds) on, the item has ``status`` and ``note``."""

    at: float
    status: str
    note: str = ""


@dataclass
class Item:
    """One item: an input scene, or the order's ``plot``."""

    name: str
    sensor: str | None  # None for the plot item
    products: tuple[str, ...]
    steps: list[Step]
    spec: object | None = None  # the product generator's SceneSpec of a Level-2 input scene
    urls: tuple[str, str] = ("", "")
    url_paths: tuple[str, ...] = ()

    def step_at(self, now: float) -> Step:
        index = bisect.bisect_right([s.at for s in self.steps], now) - 1
        return self.steps[max(index, 0)]

    @property
    def final(self) -> Step:
        return self.steps[-1]


@dataclass
class Order:
    """An order: who placed it, what was asked, and its items."""

    orderid: str
    username: str
    email: str
    placed: float
    note: str
    product_opts: dict
    items: list[Item]
    cancelled_at: float | None = None
    next_check: float = 0.0
    _finish: tuple[float | None] | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def finished_at(self) -> float | None:
        """When every item is complete or unavailable (``None`` if that never happens)."""
        if self.cancelled_at is not None:
            return None
        # items' futures only change when the order is cancelled (above), so scan them once: item views call
        # this for every item, and a scan per call made item-status quadratic (5 s for 4,000 items)
        if self._finish is None:
            finals = [i.final for i in self.items]
            done = all(f.status in DONE_STATES for f in finals)
            self._finish = (max(f.at for f in finals) if done else None,)
        return self._finish[0]

    def status_at(self, now: float, purge_seconds: float) -> str:
        if self.cancelled_at is not None and now >= self.cancelled_at:
            return "cancelled"
        finished = self.finished_at()
        if finished is None or now < finished:
            return "ordered"
        return "purged" if now >= finished + purge_seconds else "complete"


@dataclass(frozen=True)
class Rates:
    """How items behave, read from the emulator options when an order is placed."""

    step: float
    error: float = 0.0
    retry: float = 0.0
    unavailable: float = 0.0


def _walk(start: float, step: float, statuses: list[tuple[str, str]]) -> list[Step]:
    return [Step(start + i * step, status, note) for i, (status, note) in enumerate(statuses)]


def plan_scene(
    orderid: str, name: str, sensor: str, products: tuple[str, ...], facts: dict | None, placed: float, rates: Rates
) -> list[Step]:
    """Plan the whole future of one input scene of an order."""

    def drawn(salt: str) -> float:
        return draw(orderid, name, salt)

    unavailable = None
    if facts is None:
        unavailable = NOT_IN_ARCHIVE
    elif sensor.endswith("_l1"):
        unavailable = LEVEL1
    elif "et" in products and name[5:9] == "L2SR":
        unavailable = NO_TEMPERATURE
    elif drawn("unavailable") < rates.unavailable:
        unavailable = NOT_AVAILABLE
    if unavailable:
        return _walk(placed, rates.step, [("submitted", ""), ("unavailable", unavailable)])
    staging = [("onorder", "")] if drawn("onorder") < ONORDER_SHARE else []
    attempt = [("submitted", ""), *staging, ("oncache", ""), ("tasked", ""), ("processing", "")]
    if drawn("error") < rates.error:
        path = [*attempt, ("error", ERROR_NOTE)]
    elif drawn("retry") < rates.retry:
        path = [
            *attempt,
            ("retry", RETRY_NOTE),
            ("submitted", ""),
            ("oncache", ""),
            ("tasked", ""),
            ("processing", ""),
            ("complete", ""),
        ]
    else:
        path = [*attempt, ("complete", "")]
    return _walk(placed, rates.step, path)


def plan_plot(scenes: list[Item], placed: float, step: float) -> list[Step]:
    """Plan the ``plot`` item: it starts once every scene has finished, never if one is in ``error``."""
    finals = [s.final for s in scenes]
    if any(f.status not in (*DONE_STATES, "cancelled") for f in finals):
        return [Step(placed, "submitted")]
    start = max(f.at for f in finals)
    if not any(f.status == "complete" for f in finals):
        return [
            Step(placed, "submitted"),
            Step(start, "unavailable", "No completed products to compute statistics from"),
        ]
    return [Step(placed, "submitted"), Step(start, "processing"), Step(start + step, "complete")]


def cancel_steps(steps: list[Step], now: float) -> list[Step]:
    """Rewrite an item's future for its order being cancelled at ``now``."""
    index = bisect.bisect_right([s.at for s in steps], now) - 1
    current = steps[max(index, 0)]
    if current.status in ("cancelled", "purged"):
        return steps
    if current.status in CANCELLABLE_AT_ONCE:
        return [*steps[: index + 1], Step(now, "cancelled", CANCELLED_NOTE)]
    # tasked or processing: the running job finishes, then the item is cancelled
    later = [s for s in steps[index + 1 :] if s.status not in ("tasked", "processing")]
    end = later[0].at if later else now
    return [*[s for s in steps if s.at < end], Step(end, "cancelled", CANCELLED_NOTE)]


class OrderBook:
    """Every order of the emulator, safe to use from the server's threads.

    Parameters
    ----------
    delivery : Delivery
        Publishes completed items' files and withdraws them.
    """

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery
        self.lock = threading.RLock()
        self.orders: dict[str, Order] = {}
        self.last_error = ""  # traceback of the last failure to publish a product, for debugging

    # -- placing --------------------------------------------------------------------------------------
    def new_orderid(self, email: str, now: dt.datetime) -> str:
        """``espa-<email>-MMDDYYYY-HHMMSS-mmm``; a taken id moves on by a millisecond."""
        while True:
            orderid = f"espa-{email}-{now:%m%d%Y-%H%M%S}-{now.microsecond // 1000:03d}"
            if orderid not in self.orders:
                return orderid
            now += dt.timedelta(milliseconds=1)

    def place(
        self,
        username: str,
        email: str,
        product_opts: dict,
        sensors: list[str],
        now: float,
        rates: Rates,
        describe: Callable[[str], dict | None],
    ) -> Order:
        """Create an order from a validated body; ``describe`` gives the catalogue facts of an input."""
        with self.lock:
            orderid = self.new_orderid(email, dt.datetime.fromtimestamp(now, dt.timezone.utc))
            items = []
            for key in sensors:
                products = tuple(product_opts[key]["products"])
                for name in product_opts[key]["inputs"]:
                    facts, spec = describe(name), None
                    if facts is not None and key.endswith("_l2"):
                        try:
                            spec = scene_spec(facts)
                        except ValueError:  # the generator cannot draw this scene: treat it as missing
                            facts = None
                    steps = plan_scene(orderid, name, key, products, facts, now, rates)
                    items.append(Item(name, key, products, steps, spec))
            if product_opts.get("plot_statistics"):
                items.append(Item("plot", None, ("stats",), plan_plot(items, now, rates.step)))
            note = product_opts.get("note")
            order = Order(orderid, username, email, now, note if isinstance(note, str) else "", product_opts, items)
            self.orders[orderid] = order
            return order

    # -- reading --------------------------------------------------------------------------------------
    def refresh(self, now: float, purge_seconds: float) -> None:
        """Publish the files of items now complete; withdraw those of items no longer complete."""
        with self.lock:
            for order in self.orders.values():
                if now < order.next_check:
                    continue
                purged = order.status_at(now, purge_seconds) == "purged"
                upcoming = []
                for item in order.items:
                    step = item.step_at(now)
                    complete = step.status == "complete" and not purged
                    if complete and not item.url_paths:
                        try:
                            self.delivery.publish(order, item, step.at)
                        except Exception:  # one bad item must not break every later request
                            self.last_error = traceback.format_exc()
                    elif not complete and item.url_paths:
                        self.delivery.unpublish(item)
                    upcoming += [s.at for s in item.steps if s.at > now]
                finished = order.finished_at()
                if finished is not None and finished + purge_seconds > now:
                    upcoming.append(finished + purge_seconds)
                order.next_check = min(upcoming, default=float("inf"))

    def order_view(self, order: Order, now: float, purge_seconds: float) -> dict:
        """Show the order as ``GET /order/<id>`` does (all ten fields, as the real service does)."""
        return {
            "completion_date": format_time(order.finished_at())
            if order.status_at(now, purge_seconds) in ("complete", "purged")
            else "",
            "note": order.note,
            "order_date": format_time(order.placed),
            "order_source": "espa",
            "order_type": "level2_ondemand",
            "orderid": order.orderid,
            "priority": "normal",
            "product_options": "",
            "product_opts": order.product_opts,
            "status": order.status_at(now, purge_seconds),
        }

    def item_view(self, order: Order, item: Item, now: float, purge_seconds: float) -> dict:
        """Show one item as ``item-status`` shows it to a user."""
        step = item.step_at(now)
        status = "purged" if order.status_at(now, purge_seconds) == "purged" else step.status
        complete = status == "complete"
        return {
            "name": item.name,
            "status": status,
            "note": "" if status == "purged" else step.note,
            "completion_date": format_time(step.at) if complete else "",
            "product_dload_url": item.urls[0] if complete else "",
            "cksum_download_url": item.urls[1] if complete else "",
        }

    def open_units(self, username: str, now: float) -> int:
        """Count a user's items still waiting or processing (what the open-unit limit counts)."""
        with self.lock:
            return sum(
                1
                for o in self.orders.values()
                if o.username == username
                for i in o.items
                if i.sensor is not None and i.step_at(now).status in OPEN_STATES
            )

    def backlog(self, now: float) -> int:
        """Count the open items of every user."""
        with self.lock:
            return sum(1 for o in self.orders.values() for i in o.items if i.step_at(now).status in OPEN_STATES)

    # -- cancelling -----------------------------------------------------------------------------------
    def cancel(self, order: Order, now: float) -> None:
        """Cancel an ``ordered`` order (the caller checked the status and the owner)."""
        with self.lock:
            order.cancelled_at = now
            for item in order.items:
                item.steps = cancel_steps(item.steps, now)
            order.next_check = now

    def clear(self) -> None:
        with self.lock:
            self.orders.clear()


class Delivery:
    """Puts completed items' tarballs on the file host; they are generated on their first download.

    Parameters
    ----------
    files : callable
        Returns the file host: ``publish(url_path, source) -> url`` and ``unpublish(url_path)``.
    cache_dir : callable
        Returns the emulator's cache folder; tarballs go to ``<cache_dir>/espa/<orderid>/``.
    raster_size : callable
        Returns the approximate pixels per side of generated rasters.
    """

    def __init__(
        self, files: Callable[[], object], cache_dir: Callable[[], Path], raster_size: Callable[[], int]
    ) -> None:
        self.files = files
        self.cache_dir = cache_dir
        self.raster_size = raster_size
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def out_dir(self, order: Order) -> Path:
        return Path(self.cache_dir()) / "espa" / order.orderid

    def publish(self, order: Order, item: Item, completed: float) -> None:
        """Publish the item's ``.tar.gz`` and ``.md5`` and remember their URLs."""
        when = dt.datetime.fromtimestamp(completed, dt.timezone.utc)
        if item.sensor is None:
            name = f"{order.orderid}-statistics"
            make = self._statistics_builder(order, when)
        else:
            from ._products import espa_product_name

            spec = item.spec
            name = espa_product_name(spec, when)
            make = self._scene_builder(order, spec, item.products, when)
        tar_path, md5_path = f"orders/{order.orderid}/{name}.tar.gz", f"orders/{order.orderid}/{name}.md5"
        host = self.files()
        urls = (host.publish(tar_path, make), host.publish(md5_path, lambda: _md5_path(make())))
        item.urls, item.url_paths = urls, (tar_path, md5_path)

    def unpublish(self, item: Item) -> None:
        for path in item.url_paths:
            self.files().unpublish(path)
        item.urls, item.url_paths = ("", ""), ()

    def _scene_builder(self, order: Order, spec, products: tuple[str, ...], when: dt.datetime) -> Callable[[], Path]:
        def build() -> Path:
            from ._customise import customisation
            from ._products import build_espa_tarball

            return build_espa_tarball(
                spec,
                list(products),
                self.out_dir(order),
                size=self.raster_size(),
                processed=when,
                customisation=customisation(order.product_opts),
            )

        return build

    def _statistics_builder(self, order: Order, when: dt.datetime) -> Callable[[], Path]:
        def build() -> Path:
            out = self.out_dir(order)
            path = out / f"{order.orderid}-statistics.tar.gz"
            with self._lock:
                lock = self._locks.setdefault(str(path), threading.Lock())
            with lock:
                if not path.exists():
                    write_statistics(order, when, path)
            return path

        return build


def _md5_path(tarball: Path) -> Path:
    return tarball.with_name(tarball.name[: -len(".tar.gz")] + ".md5")


def scene_spec(facts: dict):
    """Make the product generator's ``SceneSpec`` from the catalogue's description of a scene."""
    from ._products import SceneSpec

    names = {f.name for f in dataclasses.fields(SceneSpec)}
    return SceneSpec(**{k: v for k, v in facts.items() if k in names})


def write_statistics(order: Order, when: dt.datetime, path: Path) -> None:
    """Write ``<orderid>-statistics.tar.gz`` and its ``.md5``: one CSV per product, one row per scene.

    The values are synthetic (drawn from the scene and product names), not computed from the rasters.
    """
    scenes = [i for i in order.items if i.sensor is not None and i.final.status == "complete"]
    products = sorted({p for i in scenes for p in i.products if p != "stats"})
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for product in products:
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(["FILENAME", "MINIMUM", "MAXIMUM", "MEAN", "STDDEV", "VALID_FRACTION"])
            for item in scenes:
                if product in item.products:
                    u = [draw(order.orderid, item.name, f"{product}{k}") for k in range(4)]
                    low, high = -0.2 + 0.2 * u[0], 0.6 + 0.4 * u[1]
                    writer.writerow(
                        [
                            f"{item.name}_{product.upper()}",
                            f"{low:.4f}",
                            f"{high:.4f}",
                            f"{low + (high - low) * u[2]:.4f}",
                            f"{0.05 + 0.2 * u[3]:.4f}",
                            f"{0.5 + 0.5 * u[3]:.4f}",
                        ]
                    )
            data = text.getvalue().encode()
            info = tarfile.TarInfo(f"stats/{product}_stats.csv")
            info.size, info.mtime, info.mode = len(data), int(when.timestamp()), 0o644
            tar.addfile(info, io.BytesIO(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = buffer.getvalue()
    md5_text = f"{hashlib.md5(blob).hexdigest()} {path.name}"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(blob)
    _md5_path(path).write_text(md5_text)
    os.replace(tmp, path)
