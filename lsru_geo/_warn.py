"""Warnings that point at the user's line, not at the lsru_geo function that noticed the problem."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

_PACKAGE = str(Path(__file__).resolve().parent)


def warn(message: str, category: type[Warning]) -> None:
    """Issue ``message`` attributed to the innermost caller outside lsru_geo.

    A fixed ``stacklevel`` is right for one call path only: ``scenes.lsru.order()`` reaches the same check as
    ``Espa().order()`` two frames deeper. Walking out of the package finds the user's line on every path.
    """
    frame = sys._getframe(1)
    level = 2  # stacklevel 1 is this function, 2 its caller
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
