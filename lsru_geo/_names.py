"""The one gate for names that come from outside before they touch the disk.

Display ids, file names from URLs, server answers (M2M ``displayId``), archive members and product folders all
pass :func:`safe_name`: one path component, no control characters, a bounded length. :func:`path_inside`
then joins it to its folder and checks that the path still resolves inside that folder once symbolic links
are followed. Anything else raises :class:`~lsru_geo.exceptions.UnsafeNameError` naming the value, before a
byte is written. Names are never taken from ``Content-Disposition``: a download is named by its URL or by
the caller.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from .exceptions import UnsafeNameError

MAX_NAME_BYTES = 255
"""Longest name in bytes (UTF-8): the limit of ext4, XFS, APFS and NTFS (in characters) alike."""

# ":" names a drive or an alternate data stream on Windows; the rest are refused by Windows file systems
_FORBIDDEN = frozenset('/\\:*?"<>|')


def safe_name(value: object, what: str = "name") -> str:
    """Return ``value`` when it is one safe path component; raise :class:`UnsafeNameError` otherwise.

    Parameters
    ----------
    value : object
        The name (a ``str``).
    what : str
        What the name is, for the message (``"file name"``, ``"display id"``, ...).

    Examples
    --------
    >>> safe_name("LC08_L2SP_196030_20230517_20230525_02_T1_SR_B4.TIF")
    'LC08_L2SP_196030_20230517_20230525_02_T1_SR_B4.TIF'
    >>> safe_name("../etc")
    Traceback (most recent call last):
    ...
    lsru_geo.exceptions.UnsafeNameError: unsafe name '../etc': it must be a single file name, without a separator
    """
    if not isinstance(value, str):
        raise UnsafeNameError(f"{what} must be a string, got {value!r:.100}")
    problem = _problem(value)
    if problem is not None:
        raise UnsafeNameError(f"unsafe {what} {value!r:.300}: {problem}")
    return value


def _problem(name: str) -> str | None:
    if name in ("", ".", ".."):
        return "it must be a file name, not empty, '.' or '..'"
    if any(c in "/\\" for c in name):
        return "it must be a single file name, without a separator"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        return "it holds control or invisible formatting characters"
    if any(c in _FORBIDDEN for c in name):
        return f"it holds one of {''.join(sorted(_FORBIDDEN))!r}"
    if name != name.strip() or name.endswith("."):
        return "it starts or ends with a space, or ends with a dot"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"it is longer than {MAX_NAME_BYTES} bytes"
    return None


def path_inside(folder: str | os.PathLike[str], name: object, what: str = "name") -> Path:
    """Return ``folder / name``, ``name`` checked by :func:`safe_name` and the path resolving inside ``folder``.

    An existing symbolic link under that name pointing elsewhere is refused.
    """
    folder = Path(folder)
    path = folder / safe_name(name, what)
    root = os.path.realpath(folder)
    resolved = os.path.realpath(path)
    if os.path.commonpath([root, resolved]) != root or resolved == root:
        raise UnsafeNameError(f"{what} {name!r:.300} leads outside {folder} (to {resolved})")
    return path
