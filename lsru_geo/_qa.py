"""Decode the Collection 2 ``QA_PIXEL`` bit field into named masks (``espa-api.md`` section 5.3).

Pure array code: works on numpy arrays, dask arrays and xarray objects alike (only ``&``, ``>>``,
comparisons and ``|`` are used), so a lazy ``qa_pixel`` stays lazy.

========  ==========================  ====================================================
bits      name                        meaning
========  ==========================  ====================================================
0         ``fill``                    no data
1         ``dilated_cloud``           cloud mask grown by a few pixels
2         ``cirrus``                  high-confidence cirrus (Landsat 8/9 only; 0 on 4-7)
3         ``cloud``                   cloud
4         ``cloud_shadow``            cloud shadow
5         ``snow``                    snow or ice
6         ``clear``                   neither cloud nor dilated cloud
7         ``water``                   water
8-9       ``cloud_confidence``        0 none, 1 low, 2 medium, 3 high
10-11     ``cloud_shadow_confidence`` 0 none, 1 low, 3 high
12-13     ``snow_confidence``         0 none, 1 low, 3 high
14-15     ``cirrus_confidence``       0 none, 1 low, 3 high (Landsat 8/9 only)
========  ==========================  ====================================================

Examples
--------
>>> import numpy as np
>>> qa = np.array([1, 21824, 21952, 22280, 5440], dtype="uint16")
>>> flags(qa)["clear"].tolist(), flags(qa)["water"].tolist(), flags(qa)["cloud"].tolist()
([False, True, True, False, True], [False, False, True, False, False], [False, False, False, True, False])
>>> confidence(qa, "cloud").tolist()
[0, 1, 1, 3, 1]
>>> cloud_mask(qa).tolist()
[True, False, False, True, False]
"""

from __future__ import annotations

from typing import Any

from .exceptions import InvalidInputError

#: Single-bit flags: name -> bit.
FLAG_BITS = {
    "fill": 0,
    "dilated_cloud": 1,
    "cirrus": 2,
    "cloud": 3,
    "cloud_shadow": 4,
    "snow": 5,
    "clear": 6,
    "water": 7,
}
#: Two-bit confidences: name -> lowest bit.
CONFIDENCE_BITS = {"cloud": 8, "cloud_shadow": 10, "snow": 12, "cirrus": 14}
#: Confidence level names -> value.
LEVELS = {"none": 0, "low": 1, "medium": 2, "high": 3}
#: Names of QA_PIXEL flags that only Landsat 8/9 set.
OLI_ONLY = frozenset({"cirrus"})


def flag(qa: Any, name: str) -> Any:
    """Return the boolean mask of one single-bit flag (``"cloud"``, ``"water"``...)."""
    try:
        bit = FLAG_BITS[name]
    except KeyError:
        raise InvalidInputError(f"unknown QA_PIXEL flag {name!r}; known: {sorted(FLAG_BITS)}") from None
    return (qa & (1 << bit)) != 0


def confidence(qa: Any, name: str) -> Any:
    """Return a two-bit confidence (0 none, 1 low, 2 medium, 3 high) as small integers.

    Parameters
    ----------
    qa : array-like of uint16
        ``QA_PIXEL`` values.
    name : {"cloud", "cloud_shadow", "snow", "cirrus"}
        Which confidence.
    """
    try:
        bit = CONFIDENCE_BITS[name]
    except KeyError:
        raise InvalidInputError(f"unknown QA_PIXEL confidence {name!r}; known: {sorted(CONFIDENCE_BITS)}") from None
    return (qa >> bit) & 3


def flags(qa: Any) -> dict[str, Any]:
    """Return every single-bit flag of ``QA_PIXEL`` as ``{name: boolean mask}``."""
    return {name: flag(qa, name) for name in FLAG_BITS}


def level_value(level: str | int | None) -> int | None:
    """Return a confidence level as 0-3 (``"low"``, ``"medium"``, ``"high"`` or an int); ``None`` stays ``None``."""
    if level is None:
        return None
    if isinstance(level, str):
        if level not in LEVELS:
            raise InvalidInputError(f"confidence must be one of {list(LEVELS)} or 0-3, got {level!r}")
        return LEVELS[level]
    if int(level) not in (0, 1, 2, 3):
        raise InvalidInputError(f"confidence must be one of {list(LEVELS)} or 0-3, got {level!r}")
    return int(level)


def cloud_mask(
    qa: Any,
    *,
    cloud: bool = True,
    shadow: bool = True,
    cirrus: bool = True,
    snow: bool = False,
    dilated: bool = True,
    fill: bool = True,
    confidence_level: str | int | None = None,
) -> Any:
    """Return True where a pixel should be masked out: fill, cloud, shadow, and whatever else is chosen.

    Parameters
    ----------
    qa : array-like of uint16
        ``QA_PIXEL`` values (numpy, dask or xarray).
    cloud, shadow, cirrus, snow, dilated : bool
        Which conditions mask a pixel: the cloud, cloud-shadow, cirrus, snow and dilated-cloud bits. Cirrus
        bits are always 0 on Landsat 4-7, so ``cirrus=True`` is harmless there.
    fill : bool, default True
        Also mask fill pixels.
    confidence_level : {"low", "medium", "high"} or int, optional
        Also mask pixels whose confidence of a chosen condition (cloud, shadow, cirrus, snow) reaches this
        level, even when its bit is not set. ``"medium"`` masks cloud confidence >= 2 and, since shadow,
        snow and cirrus confidences have no medium value, their high confidence. ``None`` (default) uses
        the bits alone. Note that ``"low"`` masks nearly everything: USGS sets low confidence on clear pixels.

    Returns
    -------
    array-like of bool
        True = masked (not usable), the numpy masked-array convention.
    """
    level = level_value(confidence_level)
    chosen = {"cloud": cloud, "cloud_shadow": shadow, "cirrus": cirrus, "snow": snow}
    named = {"fill": fill, "dilated_cloud": dilated, **chosen}
    bits = sum(1 << FLAG_BITS[name] for name, wanted in named.items() if wanted)
    masked = (qa & bits) != 0  # every chosen single-bit flag in one test: one pass over a stack's QA
    if level is not None:
        for name, wanted in chosen.items():
            if wanted:
                masked = masked | (confidence(qa, name) >= max(level, 1))
    return masked
