"""LandsatLook browse images (``/gen-browse?size=rrb|thumb&type=refl&product_id=<L1 product id>``).

Search results carry these URLs in ``browse[0].browsePath`` (``size=rrb``, about 1,000 px on a side) and
``thumbnailPath`` (``size=thumb``, about 200 px). Each image is a true-colour quick-look drawn from the
*same* synthetic content as the products (:class:`._raster.SceneContent`): the ground (water, fields,
snow) is anchored to UTM metres and the clouds are seeded from the Level-2 product id, so a browse image
shows the clouds the downloaded product will have, at browse resolution. Pixels outside the footprint are
black, as on LandsatLook. The same product id and size always give the same PNG bytes.

Choices where the real service is silent or out of reach (each tested):

* The product id is the Level-1 id (as M2M gives it, also for Level-2 datasets); the atmosphere is taken
  from the matching Level-2 product when one exists, otherwise from the Level-1 id itself (Level-1-only
  scenes, MSS, which is drawn with the TM band model).
* Unknown product ids answer 404, a missing ``product_id`` or a ``size``/``type`` other than
  ``rrb``/``thumb`` and ``refl`` answer 400, methods other than GET/HEAD 405; all as ``text/plain``.
* No authentication is asked (LandsatLook browse images are public).

The PNG encoder is a small one of our own (8-bit RGB, one zlib stream), so the emulator needs neither
Pillow nor matplotlib.
"""

from __future__ import annotations

import datetime as dt
import struct
import threading
import zlib
from collections import OrderedDict

import numpy as np

from . import _catalogue as cat
from ._raster import SENSORS, SceneContent
from ._server import Request, Response

__all__ = ["SIZES", "BrowseService", "encode_png", "quicklook"]

#: ``size`` query value -> pixels across a full scene (what :class:`SceneContent` calls ``size``).
SIZES = {"rrb": 1000, "thumb": 200}
#: Reflectance mapped to white; a gamma then lifts the dark vegetation, as LandsatLook's stretch does.
WHITE_REFLECTANCE = 0.32
GAMMA = 1 / 1.6
_CACHE_ENTRIES = 64
_L2_DATASET = {"C": "landsat_ot_c2_l2", "O": "landsat_ot_c2_l2", "E": "landsat_etm_c2_l2", "T": "landsat_tm_c2_l2"}


class BrowseService:
    """Handler of ``/gen-browse``; ``emulator`` gives the clock (what exists today)."""

    def __init__(self, emulator) -> None:
        self.emulator = emulator
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str, dt.date], bytes] = OrderedDict()

    @staticmethod
    def endpoint_of(rest: str) -> str:
        """Every request is the ``gen-browse`` endpoint (for faults and the request log)."""
        return "gen-browse"

    def reset(self) -> None:
        """Forget the rendered images (they would be rendered identically again)."""
        with self._lock:
            self._cache.clear()

    def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _text(405, "405 Method Not Allowed", {"Allow": "GET, HEAD"})
        size = _one(request, "size", "rrb")
        kind = _one(request, "type", "refl")
        product_id = _one(request, "product_id", "")
        if size not in SIZES:
            return _text(400, f"400 size must be one of {sorted(SIZES)}, got {size!r}")
        if kind != "refl":
            return _text(400, f"400 type must be 'refl', got {kind!r}")
        if not product_id:
            return _text(400, "400 product_id is required")
        today = self.emulator.clock.now().date()
        key = (product_id, size, today)  # the day decides whether the Level-2 twin (and its clouds) exists
        with self._lock:
            png = self._cache.get(key)
            if png is not None:
                self._cache.move_to_end(key)
        if png is None:
            facts = cat.describe(product_id, today)
            if facts is None:
                return _text(404, f"404 no browse image for {product_id}")
            png = encode_png(quicklook(facts, SIZES[size], today))
            with self._lock:
                self._cache[key] = png
                while len(self._cache) > _CACHE_ENTRIES:
                    self._cache.popitem(last=False)
        return Response(200, png, {"Content-Type": "image/png"})


def quicklook(facts: dict, pixels: int, today: dt.date) -> np.ndarray:
    """Return the true-colour quick-look of a scene as ``(rows, columns, 3)`` uint8, black outside the footprint.

    Parameters
    ----------
    facts : dict
        The catalogue's description of the scene (:func:`._catalogue.describe`).
    pixels : int
        Approximate pixels across a full scene.
    today : datetime.date
        The emulated date, which decides whether the Level-2 twin exists yet.
    """
    content = SceneContent(
        _content_id(facts, today), facts["corners"], facts["acquired"], max(facts["cloud_cover"], 0.0), pixels
    )
    rgb = np.stack([content.reflectance(band) for band in ("red", "green", "blue")], axis=-1)
    np.clip(rgb / WHITE_REFLECTANCE, 0.0, 1.0, out=rgb)
    image = np.round(255 * rgb**GAMMA).astype(np.uint8)
    image[~content.footprint] = 0
    return image


def _content_id(facts: dict, today: dt.date) -> str:
    """Return the product id whose synthetic content the browse shows: the Level-2 twin when the catalogue has one.

    ``SceneContent`` only needs the id's sensor code (for band names) and seeds the atmosphere from the whole
    id, so a Level-1 id works too; MSS ids borrow the TM sensor code of the same satellite.
    """
    l1_id = facts["product_id"]
    dataset = cat.DATASETS.get(_L2_DATASET.get(l1_id[1], ""))
    if dataset is not None and l1_id[5:7] == "L1":
        acquired = dt.date(int(l1_id[17:21]), int(l1_id[21:23]), int(l1_id[23:25]))
        twins = cat.find(dataset, facts["satellite"], facts["path"], facts["row"], acquired, today).display_ids()
        same_day = [t for t in twins if t[17:25] == l1_id[17:25]]
        if same_day:
            return same_day[0]
    if l1_id[:4] not in SENSORS:
        return f"LT{l1_id[2:4]}{l1_id[4:]}"
    return l1_id


def encode_png(image: np.ndarray) -> bytes:
    """Encode an 8-bit grey ``(rows, columns)``, RGB or RGBA ``(rows, columns, 3|4)`` array as PNG bytes."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim == 2:
        image = image[:, :, None]
    rows, columns, channels = image.shape
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    scanlines = np.zeros((rows, 1 + columns * channels), dtype=np.uint8)  # filter byte 0 (None) on every line
    scanlines[:, 1:] = image.reshape(rows, columns * channels)
    header = struct.pack(">IIBBBBB", columns, rows, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _one(request: Request, name: str, default: str) -> str:
    values = request.query.get(name)
    return values[0] if values else default


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, (message + "\n").encode(), {"Content-Type": "text/plain", **(headers or {})})
