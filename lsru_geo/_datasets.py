"""M2M dataset names: the Collection 2 aliases, the retired Collection 1 names, and lsru's numbering."""

from __future__ import annotations

from ._warn import warn
from .exceptions import InvalidInputError, RenamedWarning

COLLECTION_2 = {
    "landsat_ot_c2_l2": {"satellites": (8, 9), "level": 2},
    "landsat_ot_c2_l1": {"satellites": (8, 9), "level": 1},
    "landsat_etm_c2_l2": {"satellites": (7,), "level": 2},
    "landsat_etm_c2_l1": {"satellites": (7,), "level": 1},
    "landsat_tm_c2_l2": {"satellites": (4, 5), "level": 2},
    "landsat_tm_c2_l1": {"satellites": (4, 5), "level": 1},
    "landsat_mss_c2_l1": {"satellites": (1, 2, 3, 4, 5), "level": 1},
}
# Collection 1 was removed from USGS platforms at the end of 2022; lsru 0.6.2 searched these names
RETIRED = {
    "landsat_8_c1": "landsat_ot_c2_l2",
    "landsat_etm_c1": "landsat_etm_c2_l2",
    "landsat_tm_c1": "landsat_tm_c2_l2",
    "landsat_mss_c1": "landsat_mss_c2_l1",
}
_BY_SATELLITE = {4: "tm", 5: "tm", 7: "etm", 8: "ot", 9: "ot"}


def resolve(collection: str) -> str:
    """The current M2M dataset name for ``collection``, warning when a retired name is mapped.

    Raises
    ------
    InvalidInputError
        For an unknown name, listing the allowed ones.
    """
    name = str(collection).strip().lower()
    if name in COLLECTION_2:
        return name
    if name in RETIRED:
        warn(
            f"{collection!r} is a retired Collection 1 dataset (removed by USGS at the end of 2022); "
            f"searching its Collection 2 successor {RETIRED[name]!r} instead",
            RenamedWarning,
        )
        return RETIRED[name]
    raise InvalidInputError(f"unknown collection {collection!r}; use one of {sorted(COLLECTION_2)}")


def collection_name(num: int, level: int = 2) -> str:
    """Collection 2 dataset name of a Landsat satellite number and processing level."""
    if level not in (1, 2):
        raise InvalidInputError(f"level must be 1 or 2, not {level!r}")
    family = _BY_SATELLITE.get(num) if isinstance(num, int) and not isinstance(num, bool) else None
    if family is None:
        raise InvalidInputError(f"no Landsat Collection 2 dataset for satellite {num!r}; use 4, 5, 7, 8 or 9")
    return f"landsat_{family}_c2_l{level}"
