"""Archive access: the one module that knows how a product's bytes are obtained.

Sources are read where they lie, never extracted:

* a product **folder** (flat, or its files under one top folder), read file by file;
* a plain **tar** (a USGS bundle ``<product id>.tar``, or an ESPA tarball someone un-gzipped): the member
  offsets are listed once with :mod:`tarfile` (a few header reads), and GDAL reads each member in place
  through ``/vsisubfile/<offset>_<size>,<archive>``: as fast as an extracted file;
* a **gzip tar** (ESPA's ``.tar.gz``, a gzipped USGS bundle, any ``.tgz``): gzip has no random access, so
  the member table and the gzip seek points live in a persistent, validated index beside the archive
  (:mod:`lsru_geo._gzindex`, built once, when the download is verified or on the first open, and reused by
  every process and dask worker); GDAL reads each member through a Python file object (rasterio's
  ``opener``) that inflates that member's bytes from the nearest seek point.

Text members (MTL, ANG, ESPA XML) are read only below :data:`TEXT_LIMIT`; the size comes from the file
system or the tar header, so an oversized member is refused without being read.
"""

from __future__ import annotations

import os
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _gzindex
from ..exceptions import InvalidInputError, OversizedMetadataError

PathLike = str | os.PathLike

#: Largest text member (MTL, ANG, ESPA XML) read, in bytes. Real ones are 10-300 KB.
TEXT_LIMIT = 4 << 20
#: Archive suffixes read as gzip tars.
GZIP_SUFFIXES = (".tar.gz", ".tgz")


@dataclass(frozen=True)
class RasterRef:
    """Where one member's bytes are (picklable; holds no handle).

    Attributes
    ----------
    kind : {"file", "tar", "tgz"}
        A plain file, a member of a plain tar (``offset``/``size`` known) or of a gzip tar (found by name).
    path : str
        The file or the archive.
    member : str
        Member name inside the archive ("" for files).
    offset, size : int
        Byte range of a plain-tar member.
    """

    kind: str
    path: str
    member: str = ""
    offset: int = 0
    size: int = 0

    def describe(self) -> str:
        """``archive:member`` or the file path, for messages."""
        return f"{self.path}:{self.member}" if self.member else self.path


@dataclass(frozen=True)
class Member:
    """One file of a product source: its name (relative to the source), size in bytes and where it lies."""

    name: str
    size: int
    ref: RasterRef


def source_kind(path: Path) -> str:
    """``"folder"``, ``"tgz"``, ``"tar"`` or ``"file"`` (any case of extension)."""
    if path.is_dir():
        return "folder"
    lower = path.name.lower()
    if lower.endswith(GZIP_SUFFIXES):
        return "tgz"
    if lower.endswith(".tar"):
        return "tar"
    return "file"


def list_members(path: Path) -> list[Member]:
    """Every regular file a folder (two levels deep), plain tar or gzip tar holds, in source order.

    Raises
    ------
    InvalidInputError
        If the archive cannot be read as a tar.
    """
    kind = source_kind(path)
    try:
        if kind == "folder":
            found = []
            for entry in sorted(path.iterdir()):
                if entry.is_file():
                    found.append(Member(entry.name, entry.stat().st_size, RasterRef("file", str(entry))))
                elif entry.is_dir() and not entry.name.startswith("."):
                    for inner in sorted(entry.iterdir()):
                        if inner.is_file():
                            name = f"{entry.name}/{inner.name}"
                            found.append(Member(name, inner.stat().st_size, RasterRef("file", str(inner))))
            return found
        if kind == "tar":
            with tarfile.open(path, "r:") as tar:  # plain tar: seeks from header to header
                return [
                    Member(m.name, m.size, RasterRef("tar", str(path), m.name, m.offset_data, m.size))
                    for m in tar.getmembers()
                    if m.isfile()
                ]
        if kind == "tgz":
            members = _gzindex.indexed_archive(path).members  # in archive order
            return [Member(n, size, RasterRef("tgz", str(path), n)) for n, (_offset, size) in members.items()]
    except (tarfile.TarError, OSError, EOFError) as error:
        raise InvalidInputError(
            f"{path} cannot be read as a {kind} archive ({type(error).__name__}: {error})"
        ) from None
    raise InvalidInputError(f"{path} is neither a product folder nor a .tar/.tar.gz/.tgz archive")


def read_text(member: Member, limit: int = TEXT_LIMIT) -> str:
    """Return a small text member, refusing one above ``limit`` bytes before reading it.

    Raises
    ------
    OversizedMetadataError
        If the member is larger than ``limit``.
    """
    if member.size > limit:
        raise OversizedMetadataError(
            f"{member.ref.describe()} is {member.size:,} bytes; metadata files are at most {limit:,} bytes "
            "(real ones are 10-300 KB): refusing to read it"
        )
    ref = member.ref
    if ref.kind == "file":
        with open(ref.path, "rb") as fh:
            data = fh.read(limit + 1)
    elif ref.kind == "tar":
        with open(ref.path, "rb") as fh:
            fh.seek(ref.offset)
            data = fh.read(min(ref.size, limit + 1))
    else:
        with _gzindex.indexed_archive(ref.path).open_member(ref.member) as fh:
            data = fh.read(limit + 1)
    if len(data) > limit:  # the file grew since it was listed
        raise OversizedMetadataError(f"{ref.describe()} is larger than {limit:,} bytes: refusing to read it")
    return data.decode("utf-8", "replace")


@contextmanager
def open_raster(ref: RasterRef) -> Iterator[Any]:
    """Open a raster with rasterio wherever it lies; the dataset is closed on exit."""
    import rasterio

    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        if ref.kind == "file":
            with rasterio.open(ref.path) as src:
                yield src
        elif ref.kind == "tar":
            with rasterio.open(f"/vsisubfile/{ref.offset}_{ref.size},{ref.path}") as src:
                yield src
        else:
            archive = _gzindex.indexed_archive(ref.path)
            # a unique folder per open: rasterio registers openers per parent folder
            name = f"/lsru-gzip/{uuid.uuid4().hex}/{Path(ref.member).name}"
            with rasterio.open(name, opener=lambda _path, mode="rb": archive.open_member(ref.member)) as src:
                yield src


def raster_header(ref: RasterRef) -> tuple[str, tuple[float, ...], int, int]:
    """``(crs wkt, transform, width, height)`` from a raster's header (no pixels read).

    Raises
    ------
    InvalidInputError
        If GDAL cannot open the raster, or it has no CRS.
    """
    import rasterio.errors

    try:
        with open_raster(ref) as src:
            if src.crs is None:
                raise InvalidInputError(f"{ref.describe()} has no CRS")
            return src.crs.to_wkt(), tuple(src.transform)[:6], src.width, src.height
    except rasterio.errors.RasterioIOError as error:
        raise InvalidInputError(f"{ref.describe()} is not a readable raster ({error})") from None
