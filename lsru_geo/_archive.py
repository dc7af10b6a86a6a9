"""Safe unpacking of product tarballs.

ESPA tarballs are flat gzip tars (``espa-api.md`` 4.1); a product unpacks into ``<folder>/<product name>/``.
The archive is read as a stream, member by member (never loaded whole), into a temporary folder beside the
target that is renamed at the end, so the target either holds a complete extraction or does not exist.
Members are checked before anything is written: absolute paths, ``..``, links, devices, FIFOs and names that
fail the one name gate (:mod:`lsru_geo._names`: control characters, overlong names) are refused with
:class:`~lsru_geo.exceptions.UnsafeArchiveError` naming the member, and so is an archive with too many members
(a 2 MB tarball can hold 300,000 empty files) or that would expand beyond a size or ratio limit (a
decompression bomb). Sizes come from member headers, which are checked before each member is written.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from ._names import safe_name
from .exceptions import InvalidInputError, UnsafeArchiveError

log = logging.getLogger("lsru_geo.download")

DEFAULT_MAX_SIZE = 20 * 1024**3
"""Largest total uncompressed size accepted by default (20 GiB; a Landsat Level-2 product is about 1 GiB)."""

DEFAULT_MAX_MEMBERS = 10_000
"""Most members accepted by default (an ESPA product holds a few dozen files, a USGS bundle about 20)."""

DEFAULT_MAX_RATIO: float | None = None
"""No ratio limit by default: the size limit already bounds a bomb, and small archives of sparse rasters
compress far beyond any ratio a real product would need to be told apart from."""

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar")
_COPY_CHUNK = 1 << 20


def product_name(filename: str | os.PathLike[str]) -> str:
    """Return the folder name an archive unpacks into: its file name without the archive extension.

    Examples
    --------
    >>> product_name("LC080330322023051702T1-SC20231226221722.tar.gz")
    'LC080330322023051702T1-SC20231226221722'
    >>> product_name("/data/orders/espa-x-statistics.tgz")
    'espa-x-statistics'
    """
    name = Path(filename).name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name.split(".")[0] or name  # lsru 0.6.2 kept the part before the first dot


def extract_tarball(
    archive: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    name: str | None = None,
    overwrite: bool = False,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_ratio: float | None = DEFAULT_MAX_RATIO,
    max_members: int | None = DEFAULT_MAX_MEMBERS,
) -> Path:
    """Unpack a tar archive (plain, gzip, bzip2 or xz) into ``<folder>/<name>/``.

    Parameters
    ----------
    archive : path
        The tarball.
    folder : path
        Where the product folder is created (made if missing).
    name : str, optional
        Name of the product folder; by default :func:`product_name` of the archive.
    overwrite : bool
        Replace an existing product folder. Otherwise an existing folder is returned untouched: extractions
        are atomic, so an existing folder is a complete one.
    max_size : int or None
        Largest total uncompressed size in bytes (default 20 GiB); ``None`` for no limit.
    max_ratio : float or None
        Largest ratio of uncompressed size to archive size; ``None`` (default) for no limit.
    max_members : int or None
        Most members (files and folders; default 10,000); ``None`` for no limit.

    Returns
    -------
    pathlib.Path
        The product folder.

    Raises
    ------
    UnsafeArchiveError
        A member is absolute, climbs out with ``..``, is a link, a device or a FIFO, has a name the name gate
        refuses, or the archive has more than ``max_members`` members or expands beyond ``max_size`` /
        ``max_ratio``. Nothing is left behind: not the product folder, not the temporary one.
    UnsafeNameError
        ``name`` is not one safe path component.
    tarfile.TarError
        The file is not a readable tar archive.
    """
    archive = Path(archive)
    folder = Path(folder)
    name = safe_name(name or product_name(archive), "product folder name")
    for value, label in ((max_size, "max_size"), (max_ratio, "max_ratio"), (max_members, "max_members")):
        if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
            raise InvalidInputError(f"{label} must be a positive number or None, got {value!r:.100}")
    target = folder / name
    if target.exists() and not overwrite:
        log.debug("%s: already unpacked", target)
        return target
    folder.mkdir(parents=True, exist_ok=True)
    limit = max_size
    if max_ratio is not None:
        by_ratio = int(max_ratio * max(archive.stat().st_size, 1))
        limit = by_ratio if limit is None else min(limit, by_ratio)
    # a sibling of the target, so the final rename stays on one file system
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".unpacking", dir=folder))
    try:
        count, total = _extract_members(archive, tmp, limit, max_size, max_ratio, max_members)
        _move_into_place(tmp, target, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("%s: unpacked %d members (%.1f MB) into %s", archive.name, count, total / 1e6, target)
    return target


def _extract_members(
    archive: Path, dest: Path, limit: int | None, max_size: int | None, max_ratio: float | None, max_members: int | None
) -> tuple[int, int]:
    total = 0
    count = 0
    root = os.path.realpath(dest)
    # "r|" is the streaming mode: members come in order and the archive is never seeked or held in memory
    with _decompressed(archive) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            relative = _safe_relative_path(member, archive)
            path = os.path.realpath(os.path.join(root, relative))
            if os.path.commonpath([root, path]) != root or (path == root and not member.isdir()):
                raise UnsafeArchiveError(
                    f"{archive.name}: member {member.name!r} would be written outside the target folder"
                )
            count += 1
            if max_members is not None and count > max_members:
                raise UnsafeArchiveError(
                    f"{archive.name}: holds more than {max_members:,} members (reached {member.name!r:.200}); "
                    "refusing it (raise max_members if it is genuine)"
                )
            if member.isdir():
                os.makedirs(path, exist_ok=True)
                continue
            total += member.size
            if limit is not None and total > limit:
                raise UnsafeArchiveError(_too_big(archive, member, total, max_size, max_ratio))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            source = tar.extractfile(member)
            with open(path, "wb") as out:
                while True:
                    block = source.read(_COPY_CHUNK)  # type: ignore[union-attr]
                    if not block:
                        break
                    out.write(block)
            # keep the permission bits that make sense for data files, never set-id bits
            os.chmod(path, (member.mode & 0o755) | 0o600)
            os.utime(path, (member.mtime, member.mtime))
    return count, total


def _decompressed(archive: Path):
    """Open the archive, decompressing gzip, bzip2 or xz by its magic bytes.

    The gzip/bz2/lzma readers inflate at most what is asked for, whereas tarfile's own "r|gz" inflates each
    16 KiB read whole: 16 MB of memory for a block of zeros, far more for a crafted one.
    """
    with archive.open("rb") as probe:
        magic = probe.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(archive, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(archive, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(archive, "rb")
    return archive.open("rb")


def _safe_relative_path(member: tarfile.TarInfo, archive: Path) -> str:
    """Return the member's path relative to the target; raise :class:`UnsafeArchiveError` if it is not plain."""
    kind = _unsafe_kind(member)
    if kind is not None:
        raise UnsafeArchiveError(f"{archive.name}: member {member.name!r} is a {kind}; refusing to unpack it")
    name = member.name
    # tar names use "/", but a crafted one may use "\" to climb out on Windows
    parts = name.replace("\\", "/").split("/")
    if "\x00" in name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive.name}: member {name!r} has an absolute path")
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive.name}: member {name!r} climbs out of the target folder with '..'")
    kept = [p for p in parts if p not in ("", ".")]
    for part in kept:
        try:
            safe_name(part, "member name")
        except InvalidInputError as error:
            raise UnsafeArchiveError(f"{archive.name}: member {name!r:.300}: {error}") from None
    if not kept and not member.isdir():
        raise UnsafeArchiveError(f"{archive.name}: member {name!r} has no file name")
    return os.path.join(*kept) if kept else "."


def _unsafe_kind(member: tarfile.TarInfo) -> str | None:
    if member.issym():
        return f"symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "device"
    if member.isfifo():
        return "FIFO"
    if not (member.isreg() or member.isdir()):
        return f"special member (type {member.type!r})"
    return None


def _too_big(archive: Path, member: tarfile.TarInfo, total: int, max_size: int | None, max_ratio: float | None) -> str:
    limits = []
    if max_size is not None:
        limits.append(f"{max_size / 1e9:.3g} GB")
    if max_ratio is not None:
        limits.append(f"{max_ratio:g} times the archive size")
    return (
        f"{archive.name}: expands to more than {' / '.join(limits)} (at least {total:,} bytes when reaching member "
        f"{member.name!r}); refusing a possible decompression bomb (raise max_size/max_ratio if it is genuine)"
    )


def _move_into_place(tmp: Path, target: Path, overwrite: bool) -> None:
    if not target.exists():
        try:
            os.rename(tmp, target)
            return
        except OSError:
            if not target.exists():
                raise
            if not overwrite:  # another process finished the same product first: keep theirs
                shutil.rmtree(tmp, ignore_errors=True)
                return
    # replace: move the old folder aside first, so the target never holds a mix of the two
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.rename(target, old / target.name)
    os.rename(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
