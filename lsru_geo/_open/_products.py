"""Products and their members: what a folder, ``.tar`` or ``.tar.gz``/``.tgz`` actually holds.

A product is assembled from the members present (flat or under one top folder, any case of name or
extension), grouped by the product id in their names (:func:`.._ids.split_file_name`). The MTL gives the
facts and the calibration; its ``FILE_NAME_*`` list is only used to explain a missing band (ESPA passes
USGS's MTL through unchanged, so it names bands a customised order does not hold). Grids come from the
raster headers (:func:`product_grid`), never from the MTL, whose stated sizes are only bound-checked.
"""

from __future__ import annotations

import collections
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .. import _ids
from .._mtl import SceneFacts, mtl_file_names, mtl_grid, parse_mtl, scene_facts
from ..exceptions import InvalidInputError, LsruWarning
from ._access import Member, RasterRef, list_members, raster_header, read_text, source_kind
from ._grid import Grid, check_side, outside_stated

PathLike = str | os.PathLike

_MTL_PREFERENCE = ("txt", "xml", "json")
#: Which copy of a product a stack keeps when it is there several times: the cheapest to read.
KIND_PREFERENCE = {"folder": 0, "tar": 1, "tgz": 2}
#: MTL ``PROJECTION_ATTRIBUTES`` sizes that are bound-checked (never used to size anything).
_STATED_SIZES = (
    ("REFLECTIVE_SAMPLES", "REFLECTIVE_LINES"),
    ("THERMAL_SAMPLES", "THERMAL_LINES"),
    ("PANCHROMATIC_SAMPLES", "PANCHROMATIC_LINES"),
)


@dataclass
class Product:
    """One Collection 2 product (Level-1 or Level-2) as found on disk.

    Attributes
    ----------
    source : str
        The path given (archive, folder or file).
    kind : {"folder", "tar", "tgz"}
        How its bytes are stored (loose files count as a folder).
    facts : SceneFacts
        MTL facts (product id, time, path/row, cloud cover, sun angles...).
    mtl : dict
        The parsed MTL (Level-1 calibration coefficients).
    rasters : dict
        Raster suffix (``"SR_B4"``, ``"B4"``) -> :class:`RasterRef` of the members present.
    named : dict
        Raster suffix -> file name, of the rasters the MTL lists (present or not).
    """

    source: str
    kind: str
    facts: SceneFacts
    mtl: dict = field(repr=False)
    rasters: dict[str, RasterRef]
    named: dict[str, str] = field(default_factory=dict, repr=False)
    grids: dict[str, Grid] = field(default_factory=dict, repr=False)

    @property
    def product_id(self) -> str:
        """The Landsat product id."""
        return self.facts.product_id

    @property
    def level(self) -> str:
        """``"L1"`` or ``"L2"``."""
        return _ids.processing_family(self.product_id)


def assemble(source: str, kind: str, members: list[Member], wanted_pid: str | None = None) -> Product:
    """Build a :class:`Product` from the members of one source.

    Raises
    ------
    InvalidInputError
        If the source holds no product, several, or no MTL; OversizedMetadataError for a huge MTL or one
        stating a grid no Landsat product has.
    """
    by_pid: dict[str, dict[tuple[str, str], Member]] = collections.defaultdict(dict)
    for member in members:
        parts = _ids.split_file_name(member.name)
        if parts is None or (wanted_pid and parts[0] != wanted_pid):
            continue
        by_pid[parts[0]].setdefault((parts[1], parts[2]), member)
    if not by_pid:
        raise InvalidInputError(
            f"{source} holds no Landsat Collection 2 product files (<product id>_MTL.txt, _B4.TIF, _SR_B4.tif...)"
        )
    if len(by_pid) > 1:
        raise InvalidInputError(f"{source} holds several products ({sorted(by_pid)}); open them with open_stack")
    pid, files = next(iter(by_pid.items()))
    mtl_member = next((files[("MTL", ext)] for ext in _MTL_PREFERENCE if ("MTL", ext) in files), None)
    if mtl_member is None:
        raise InvalidInputError(f"{source} holds files of {pid} but no {pid}_MTL.txt/.xml/.json")
    mtl = parse_mtl(read_text(mtl_member))
    proj = mtl.get("PROJECTION_ATTRIBUTES", {})
    for samples, lines in _STATED_SIZES:
        width, height = proj.get(samples), proj.get(lines)
        if isinstance(width, (int, float)) and isinstance(height, (int, float)):
            check_side(int(width), int(height), f"the grid {mtl_member.ref.describe()} states ({samples}/{lines})")
    named = {}
    for name in mtl_file_names(mtl):
        parts = _ids.split_file_name(name)
        if parts is not None and parts[2] == "tif":
            named[parts[1]] = name
    rasters = {suffix: m.ref for (suffix, ext), m in files.items() if ext == "tif" and suffix}
    return Product(source, "folder" if kind in ("folder", "file") else kind, scene_facts(mtl), mtl, rasters, named)


def find_product(source: PathLike) -> Product:
    """Return the product at ``source``: a ``.tar.gz``/``.tgz``/``.tar`` archive, a product folder, or one of its files.

    Raises
    ------
    InvalidInputError
        If the path does not exist or holds no (or several) products.
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise InvalidInputError(f"no such product: {path}")
    kind = source_kind(path)
    if kind != "file":
        return assemble(str(path), kind, list_members(path))
    parts = _ids.split_file_name(path.name)
    if parts is None:
        raise InvalidInputError(f"{path} is neither a product archive, a product folder nor a product file")
    return assemble(str(path.parent), "folder", list_members(path.parent), wanted_pid=parts[0])


def discover_products(folder: PathLike) -> list[Product]:
    """Return every product in a folder: archives, product sub-folders and loose product files (duplicates kept)."""
    folder = Path(folder)
    products = []
    loose: set[str] = set()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        kind = source_kind(entry)
        if kind == "folder":
            if any(_ids.split_file_name(m.name) for m in list_members(entry)):
                products.append(find_product(entry))
            else:  # an order folder of archives, as the bulk downloader makes
                try:
                    products += discover_products(entry)
                except InvalidInputError:
                    continue
        elif kind in ("tar", "tgz"):
            products.append(find_product(entry))
        elif (parts := _ids.split_file_name(entry.name)) is not None:
            loose.add(parts[0])
    if loose:
        members = list_members(folder)
        products += [assemble(str(folder), "folder", members, wanted_pid=pid) for pid in sorted(loose)]
    if not products:
        raise InvalidInputError(f"{folder} holds no Landsat Collection 2 product")
    return products


def deduplicate(products: list[Product]) -> tuple[list[Product], int]:
    """Keep one copy per product id: an extracted folder, else a ``.tar``, else a ``.tar.gz``.

    Returns the products kept (in their order) and how many were skipped.
    """
    best: dict[str, Product] = {}
    for product in products:
        kept = best.get(product.product_id)
        if kept is None or KIND_PREFERENCE[product.kind] < KIND_PREFERENCE[kept.kind]:
            best[product.product_id] = product
    unique = [p for p in products if best[p.product_id] is p]
    return unique, len(products) - len(unique)


def grid_key(product: Product, suffix: str) -> str:
    """Which grid a raster is on: ``"pan"`` (Level-1 band 8, 15 m) or ``"main"`` (every other raster)."""
    return "pan" if product.level == "L1" and suffix.upper() == "B8" else "main"


def product_grid(product: Product, suffix: str | None = None) -> Grid:
    """Return the grid of a product's raster from its header (read once per grid: 30 m rasters share one).

    The header of ``suffix`` (a raster about to be read) is the one read; every chunk task checks that the
    raster it reads has this grid.

    Raises
    ------
    InvalidInputError
        If the product holds no raster or the header is unreadable; OversizedMetadataError for a raster
        larger than any Landsat product.
    """
    if not product.rasters:
        raise InvalidInputError(f"{product.source} holds no raster")
    if suffix is None:
        suffix = min(product.rasters, key=lambda s: (grid_key(product, s) != "main", s))
    key = grid_key(product, suffix)
    if key not in product.grids:
        ref = product.rasters[suffix]
        crs, transform, width, height = raster_header(ref)
        check_side(width, height, ref.describe())
        grid = product.grids[key] = Grid(crs, transform, width, height)
        if key == "main" and outside_stated(grid, mtl_grid(product.mtl)):
            warnings.warn(
                f"{ref.describe()} lies outside the scene its MTL states ({product.product_id}): are the raster and "
                "the MTL from the same product? Using the raster's grid",
                LsruWarning,
                stacklevel=3,
            )
    return product.grids[key]
