"""A deterministic, stateless Landsat Collection 2 catalogue over the real WRS-2 grid.

Every scene is a pure function of (satellite, path, row, acquisition date): each satellite images each path
every 16 days on the path's day of the cycle (cycle day 1 fell on 2018-01-07) between its real mission
dates, and a hash of those four values decides cloud cover, tier, processing level and date, ground station,
and the small offset of the footprint from its nominal cell. Nothing is stored, so any query can be
answered again identically, and any id can be turned back into its scene.

Acquisition calendar
--------------------
* **Overpass time and the UTC date.** A scene's id carries the UTC date of its acquisition. Each mission
  crosses the equator (descending) at a mean local time (MLT) that :func:`mean_local_time` gives per date:
  Landsat 8 and 9 at 10:00, kept within 15 minutes by inclination manoeuvres ("Landsat has a requirement for
  a MLT equatorial crossing of 10:00 AM +/- 15 minutes", https://www.usgs.gov/landsat-missions/landsat-7-maneuvers);
  Landsat 4 and 5 at about 9:45 ("approximately 09:45 am (Landsat 4 and 5)", orbit parameters as quoted at
  https://www.experts123.com/q/what-are-the-orbit-coverage-parameters-of-the-landsat-instruments.html; kept
  constant over their missions, an assumption); Landsat 7 at 10:00 until its last inclination manoeuvre of
  2017-02-07, then drifting: 10:14:58 on 2017-08-11, drifting earlier towards a 9:15 threshold
  (https://www.usgs.gov/landsat-missions/august-25-2017-landsat-7-reaches-peak-outer-boundary), and
  "earlier than 8:45 AM" on 2022-08-23 after the 2022 orbit lowering
  (https://www.usgs.gov/landsat-missions/news/landsat-7-data-acquired-lower-orbit-now-available). Between
  those points the MLT is interpolated linearly through 9:22 on 2021-12-31 (an assumption, consistent with
  the real ``LE07_L1TP_104076_20211231`` being on the grid's date) and reaches 8:00 at the end of the
  mission (an assumption). The UTC day boundary of a pass lies at the equator longitude where the crossing
  is at 00:00 UTC; with the Landsat 8 column of the cycle table (checked against real acquisitions) that
  longitude is 146.3 E for a 10:00 MLT, and it moves 15 degrees west per hour of earlier MLT. Paths between
  that longitude and the cycle table's own day boundary take the previous (or next) UTC date: Landsat 7 paths
  90-97 (near the antimeridian) are one day earlier than the table at 10:00, and more paths follow as its
  orbit drifts. The scene centre time is the equator crossing time (no along-track offset) plus up to 2.5
  minutes, kept on the scene's UTC date.
* **Daylight.** Day rows are acquired only when the sun is more than 5 degrees
  above the horizon at the scene centre, the Landsat 8 Long Term Acquisition Plan's definition of a day-lit
  image (https://landsat.usgs.gov/LTAP8; Landsat 7's LTAP has the same kind of maximum solar zenith angle),
  so Antarctic and Arctic rows are acquired only in their summers (Landsat 8 first imaged Antarctica in the
  2013/14 southern summer, http://blog.imagico.de/first-landsat-8-images-of-antarctica/).
* **Night rows.** "Night, most ocean, and ascending scenes are only acquired by special request" (LTAP-8);
  the shipped WRS-2 grid holds the descending (day) rows only, so the emulated archive has no night scenes
  and every ``Day/Night Indicator`` is ``DAY``.

Simplifications, chosen and documented: every day-lit cell is imaged on every pass (the real archive skips
most open ocean); Landsat 7 stays on the WRS-2 grid after its 2022 orbit lowering; MSS scenes exist only for
Landsat 4 and 5 (WRS-2), since Landsat 1-3 used the WRS-1 grid that is not shipped.
"""

from __future__ import annotations

import datetime as dt
import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from ._wrs2 import grid, split_antimeridian

__all__ = ["DATASETS", "MISSIONS", "Scenes", "find", "generate", "split_antimeridian"]

CYCLE_START = dt.date(2018, 1, 7)  # a day 1 of the 16-day cycle, checked against real acquisitions
EPOCH = dt.date(1970, 1, 1)
EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Mission:
    satellite: int
    sensor_letter: str  # the X in LXSS
    sensor: str  # M2M "Sensor Identifier"
    start: dt.date
    end: dt.date | None  # None: still acquiring
    cycle_column: int  # 0: the Landsat 7 day of the cycle, 1: the Landsat 8 day
    stations: tuple[str, ...]


MISSIONS = {
    ("TM", 4): Mission(4, "T", "TM", dt.date(1982, 8, 22), dt.date(1993, 12, 14), 0, ("XXX", "PAC", "EDC")),
    ("TM", 5): Mission(
        5, "T", "TM", dt.date(1984, 3, 16), dt.date(2011, 11, 18), 1, ("XXX", "EDC", "KIS", "MLK", "PAC", "GLC")
    ),
    ("ETM", 7): Mission(
        7, "E", "ETM", dt.date(1999, 5, 28), dt.date(2024, 1, 19), 0, ("EDC", "SGS", "ASN", "GNC", "AGS")
    ),
    ("OLI_TIRS", 8): Mission(8, "C", "OLI_TIRS", dt.date(2013, 4, 11), None, 1, ("LGN",)),
    ("OLI_TIRS", 9): Mission(9, "C", "OLI_TIRS", dt.date(2021, 10, 31), None, 0, ("LGN",)),
    ("MSS", 4): Mission(4, "M", "MSS", dt.date(1982, 7, 16), dt.date(1992, 10, 14), 0, ("XXX", "PAC")),
    ("MSS", 5): Mission(5, "M", "MSS", dt.date(1984, 3, 5), dt.date(2013, 1, 6), 1, ("XXX", "EDC")),
}


@dataclass(frozen=True)
class Dataset:
    alias: str
    dataset_id: str
    name: str
    level: int
    missions: tuple[tuple[str, int], ...]
    doi: str | None = None

    @property
    def category(self) -> str:
        return f"Landsat Collection 2 Level-{self.level}"


DATASETS = {
    d.alias: d
    for d in (
        Dataset(
            "landsat_ot_c2_l1", "5e81f14f59432a27", "Landsat 8-9 OLI/TIRS C2 L1", 1, (("OLI_TIRS", 8), ("OLI_TIRS", 9))
        ),
        Dataset(
            "landsat_ot_c2_l2",
            "5e83d14f2fc39685",
            "Landsat 8-9 OLI/TIRS C2 L2",
            2,
            (("OLI_TIRS", 8), ("OLI_TIRS", 9)),
            "10.5066/P9OGBGM6",
        ),
        Dataset("landsat_etm_c2_l1", "5e83d0d02b146ae0", "Landsat 7 ETM+ C2 L1", 1, (("ETM", 7),)),
        Dataset("landsat_etm_c2_l2", "5e83d12add5d4aa1", "Landsat 7 ETM+ C2 L2", 2, (("ETM", 7),), "10.5066/P9C7I13B"),
        Dataset("landsat_tm_c2_l1", "5e83d0a05ee25348", "Landsat 4-5 TM C2 L1", 1, (("TM", 4), ("TM", 5))),
        Dataset(
            "landsat_tm_c2_l2",
            "5e83d1193824e4fc",
            "Landsat 4-5 TM C2 L2",
            2,
            (("TM", 4), ("TM", 5)),
            "10.5066/P9IAXOVV",
        ),
        Dataset("landsat_mss_c2_l1", "5e83d0e09a752cff", "Landsat 1-5 MSS C2 L1", 1, (("MSS", 4), ("MSS", 5))),
    )
}
C2_REPROCESSING = (dt.date(2020, 8, 1), dt.date(2021, 6, 30))  # when the pre-2020 archive became Collection 2

#: Equator longitude (deg E) where a 10:00 MLT crossing is at 00:00 UTC, from the Landsat 8 column of the
#: cycle table (its day boundary lies between paths 97 and 98).
BOUNDARY_AT_10 = 146.3
#: The cycle table's own UTC day boundary per column (Landsat 7/9/4 column, Landsat 8/5 column).
TABLE_BOUNDARY = (158.65, 146.3)
DAY_LIT_ELEVATION = 5.0  # degrees, LTAP-8
#: Landsat 7 mean local time of the descending node (hours) at dates between which it is interpolated.
L7_MLT = (
    (dt.date(1999, 5, 28), 10.0),
    (dt.date(2017, 2, 7), 10.0),
    (dt.date(2017, 8, 11), 10 + 14 / 60 + 58 / 3600),
    (dt.date(2021, 12, 31), 9 + 22 / 60),
    (dt.date(2022, 8, 23), 8.75),
    (dt.date(2024, 1, 19), 8.0),
)
_MLT = {4: 9.75, 5: 9.75, 8: 10.0, 9: 10.0}


def mean_local_time(satellite: int, days: np.ndarray) -> np.ndarray:
    """Mean local time (hours) of a satellite's descending equator crossing on each day (days since 1970)."""
    days = np.asarray(days, dtype=float)
    if satellite != 7:
        return np.full(days.shape, _MLT.get(satellite, 10.0))
    xs = [(d - EPOCH).days for d, _ in L7_MLT]
    return np.interp(days, xs, [h for _, h in L7_MLT])


@functools.lru_cache(maxsize=1)
def _equator_longitudes() -> np.ndarray:
    """Longitude (deg, -180..180) of each path's equator crossing, indexed by path number."""
    wrs = grid()
    out = np.zeros(int(wrs.path.max()) + 1)
    at_equator = wrs.row == 60
    out[wrs.path[at_equator]] = _lon(wrs.corners[at_equator])
    return out


def _lon(corners: np.ndarray) -> np.ndarray:
    """Antimeridian-safe mean longitude of (n, 4, 2) corners, in -180..180."""
    lons = corners[..., 0]
    lons = np.where(
        (lons.max(axis=-1, keepdims=True) - lons.min(axis=-1, keepdims=True) > 180) & (lons < 0), lons + 360, lons
    )
    return (lons.mean(axis=-1) + 180) % 360 - 180


def _sun_elevation(seconds: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Approximate solar elevation (deg) at UTC epoch ``seconds`` and lon/lat (declination and hour angle)."""
    days = seconds / 86400.0
    doy = (days - np.floor((days + 0.5) / 365.2425) * 365.2425) % 365.2425
    declination = np.radians(-23.44) * np.cos(2 * np.pi * (doy + 10) / 365.2425)
    hour = (seconds % 86400) / 3600.0 + lon / 15.0
    angle = np.radians((hour - 12.0) * 15.0)
    phi = np.radians(lat)
    sin_el = np.sin(phi) * np.sin(declination) + np.cos(phi) * np.cos(declination) * np.cos(angle)
    return np.degrees(np.arcsin(np.clip(sin_el, -1, 1)))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fast, well-spread integer hash, vectorised."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _uniform(seed: np.ndarray, salt: int) -> np.ndarray:
    """Uniform [0, 1) draws, one per seed, independent across salts."""
    with np.errstate(over="ignore"):
        mixed = _mix(seed * np.uint64(0x9E3779B97F4A7C15) + np.uint64(salt))
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass
class Scenes:
    """A column-oriented batch of scenes (numpy arrays of equal length)."""

    dataset: Dataset
    satellite: np.ndarray
    sensor_letter: np.ndarray
    sensor: np.ndarray
    path: np.ndarray
    row: np.ndarray
    acquired: np.ndarray  # days since 1970-01-01
    processed: np.ndarray
    cloud_cover: np.ndarray  # -1 for unknown
    category: np.ndarray
    level: np.ndarray  # L1TP, L2SP, ...
    l1_level: np.ndarray
    station: np.ndarray
    version: np.ndarray
    corners: np.ndarray  # (n, 4, 2), UL UR LR LL, longitudes may exceed 180 near the antimeridian
    cell: np.ndarray
    centre: np.ndarray  # scene centre time, UTC seconds since 1970-01-01

    def __len__(self) -> int:
        return len(self.path)

    def take(self, index: np.ndarray) -> Scenes:
        fields = {name: getattr(self, name)[index] for name in self.__dataclass_fields__ if name != "dataset"}
        return Scenes(self.dataset, **fields)

    def footprints(self) -> np.ndarray:
        """Footprint polygons (split at the antimeridian), one per scene."""
        rings = np.concatenate([self.corners, self.corners[:, :1]], axis=1)
        return split_antimeridian(shapely.polygons(rings))

    def display_ids(self, levels: np.ndarray | None = None) -> list[str]:
        levels = self.level if levels is None else levels
        return [
            f"L{x}{s:02d}_{lv}_{p:03d}{r:03d}_{_ymd(a)}_{_ymd(pr)}_02_{c}"
            for x, s, lv, p, r, a, pr, c in zip(
                self.sensor_letter,
                self.satellite.tolist(),
                levels,
                self.path.tolist(),
                self.row.tolist(),
                self.acquired.tolist(),
                self.processed.tolist(),
                self.category,
                strict=False,
            )
        ]

    def entity_ids(self) -> list[str]:
        return [
            f"L{x}{s}{p:03d}{r:03d}{_yj(a)}{st}{v:02d}"
            for x, s, p, r, a, st, v in zip(
                self.sensor_letter,
                self.satellite.tolist(),
                self.path.tolist(),
                self.row.tolist(),
                self.acquired.tolist(),
                self.station,
                self.version.tolist(),
                strict=False,
            )
        ]


@functools.lru_cache(maxsize=65536)
def _ymd(days: int) -> str:
    return (EPOCH + dt.timedelta(days=int(days))).strftime("%Y%m%d")


@functools.lru_cache(maxsize=65536)
def _yj(days: int) -> str:
    return (EPOCH + dt.timedelta(days=int(days))).strftime("%Y%j")


def generate(
    dataset: Dataset,
    cells: np.ndarray,
    start: dt.date,
    end: dt.date,
    today: dt.date,
    months: Sequence[int] | None = None,
) -> Scenes:
    """Every scene of ``dataset`` over grid ``cells`` acquired between ``start`` and ``end`` (inclusive).

    Scenes not yet processed on ``today`` do not exist yet; Level-1 Landsat 8/9 scenes younger than
    about three weeks are Real-Time (``RT``) and have no Level-2 counterpart.
    """
    wrs = grid()
    cells = np.asarray(cells, dtype=int)
    start_day, end_day = (start - EPOCH).days, (min(end, today) - EPOCH).days
    cycle0 = (CYCLE_START - EPOCH).days
    batches = []
    for key in dataset.missions:
        mission = MISSIONS[key]
        mission_first = (mission.start - EPOCH).days
        mission_last = (mission.end - EPOCH).days if mission.end else end_day
        # one day of margin: the overpass time may move a pass to the neighbouring UTC date
        first = max(start_day - 1, mission_first)
        last = min(end_day + 1, mission_last)
        if first > last or not len(cells):
            continue
        day_in_cycle = wrs.cycle_day[wrs.path[cells], mission.cycle_column] - 1
        offset = (day_in_cycle - (first - cycle0)) % 16
        count = np.maximum(0, (last - first - offset) // 16 + 1)
        if not count.sum():
            continue
        cell = np.repeat(cells, count)
        within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        table_day = first + np.repeat(offset, count) + 16 * within
        centre_time = _centre_times(mission, cell, table_day)
        acquired = np.floor(centre_time / 86400).astype(int)
        keep = (acquired >= max(start_day, mission_first)) & (acquired <= min(end_day, mission_last))
        keep &= _acquired(centre_time, cell)
        batches.append((mission, cell[keep], acquired[keep], centre_time[keep]))
    if not batches:
        return _empty(dataset)
    mission_of = np.concatenate([np.full(len(c), i) for i, (_, c, _, _) in enumerate(batches)])
    missions = [b[0] for b in batches]
    cell = np.concatenate([b[1] for b in batches])
    acquired = np.concatenate([b[2] for b in batches])
    centre_time = np.concatenate([b[3] for b in batches])
    satellite = np.array([m.satellite for m in missions])[mission_of]
    if months:
        month = (acquired.astype("datetime64[D]").astype("datetime64[M]").astype(int) % 12) + 1
        keep = np.isin(month, list(months))
        cell, acquired, satellite, mission_of = cell[keep], acquired[keep], satellite[keep], mission_of[keep]
        centre_time = centre_time[keep]

    seed = (satellite.astype(np.uint64) << np.uint64(56)) ^ (wrs.path[cell].astype(np.uint64) << np.uint64(40))
    seed = seed ^ (wrs.row[cell].astype(np.uint64) << np.uint64(28)) ^ acquired.astype(np.uint64)
    u = [_uniform(seed, salt) for salt in range(8)]

    cloud = np.round(100.0 * u[0] ** 1.7, 2)
    cloud[u[1] < 0.004] = -1.0  # a few scenes without a cloud score, as the DT docs describe
    tier2 = u[2] < 0.18
    today_day = (today - EPOCH).days
    reprocessed_start, reprocessed_end = ((d - EPOCH).days for d in C2_REPROCESSING)
    old = acquired < reprocessed_start
    processed = np.where(
        old,
        reprocessed_start + (u[3] * (reprocessed_end - reprocessed_start)).astype(int),
        acquired + 2 + (u[3] * 16).astype(int),
    )
    recent = (today_day - acquired) < 21
    realtime = recent & (satellite >= 8) & (dataset.level == 1)
    processed = np.where(realtime, acquired + 1, processed)
    category = np.where(realtime, "RT", np.where(tier2, "T2", "T1"))
    l1_level = np.where(tier2 & (u[4] < 0.35), "L1GT", np.where(tier2 & (u[4] < 0.45), "L1GS", "L1TP"))
    if dataset.level == 2:
        level = np.where(u[5] < 0.03, "L2SR", "L2SP")
        exists = (processed <= today_day) & (l1_level != "L1GS") & ~recent
    else:
        level = l1_level
        exists = processed <= today_day

    station_choice = (
        np.array(
            [
                m.stations[int(v * len(m.stations))]
                for m, v in zip(np.array(missions, dtype=object)[mission_of], u[6], strict=False)
            ],
            dtype=object,
        )
        if len(cell)
        else np.array([], dtype=object)
    )
    version = np.where(u[7] < 0.05, 1, 0)
    # real scenes sit within ~0.1 degree of their nominal cell and are slightly larger than it
    shift = np.stack([(u[6] - 0.5) * 0.12, (u[7] - 0.5) * 0.08], axis=1)
    nominal = wrs.corners[cell]
    centre = nominal.mean(axis=1, keepdims=True)
    corners = np.round(centre + (nominal - centre) * 1.04 + shift[:, None, :], 5)

    scenes = Scenes(
        dataset=dataset,
        satellite=satellite,
        sensor_letter=np.array([m.sensor_letter for m in missions])[mission_of],
        sensor=np.array([m.sensor for m in missions])[mission_of],
        path=wrs.path[cell],
        row=wrs.row[cell],
        acquired=acquired,
        processed=processed,
        cloud_cover=cloud,
        category=category,
        level=level,
        l1_level=l1_level,
        station=station_choice,
        version=version,
        corners=corners,
        cell=cell,
        centre=centre_time,
    )
    scenes = scenes.take(np.flatnonzero(exists))
    order = np.lexsort((scenes.row, scenes.path, -scenes.satellite, -scenes.acquired))  # newest first, as USGS
    return scenes.take(order)


def _centre_times(mission: Mission, cell: np.ndarray, table_day: np.ndarray) -> np.ndarray:
    """Scene centre times (UTC epoch seconds) of passes the cycle table puts on ``table_day``.

    The equator crossing at the mission's mean local time, whose UTC date may differ from the table's near
    the day boundary.
    """
    lon_eq = _equator_longitudes()[grid().path[cell]]
    boundary = TABLE_BOUNDARY[mission.cycle_column]
    # seconds after the table day's 00:00 UTC in the table's own timing (its day boundary at ``boundary``) ...
    nominal = ((boundary - lon_eq) * 240.0) % 86400.0
    # ... moved by the mission's MLT: the boundary sits at BOUNDARY_AT_10 for 10:00, 15 degrees west per hour
    shift = (BOUNDARY_AT_10 + 15.0 * (mean_local_time(mission.satellite, table_day) - 10.0) - boundary) * 240.0
    seconds = nominal + shift
    seed = (np.uint64(mission.satellite) << np.uint64(56)) ^ (cell.astype(np.uint64) << np.uint64(28))
    jitter = 150.0 * _uniform(seed ^ table_day.astype(np.uint64), 77)
    day = np.floor(seconds / 86400.0)
    seconds = day * 86400.0 + np.clip(seconds - day * 86400.0 + jitter, 1.0, 86399.0)  # jitter keeps the date
    return table_day * 86400.0 + seconds


def _acquired(centre: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Which passes are in the archive: those with the sun more than 5 degrees up at the scene centre."""
    corners = grid().corners[cell]
    return _sun_elevation(centre, _lon(corners), corners[..., 1].mean(axis=-1)) > DAY_LIT_ELEVATION


def _empty(dataset: Dataset) -> Scenes:
    empty_int = np.array([], dtype=int)
    empty_obj = np.array([], dtype=object)
    return Scenes(
        dataset,
        empty_int,
        empty_obj,
        empty_obj,
        empty_int,
        empty_int,
        empty_int,
        empty_int,
        np.array([], float),
        empty_obj,
        empty_obj,
        empty_obj,
        empty_obj,
        empty_int,
        np.zeros((0, 4, 2)),
        empty_int,
        np.array([], float),
    )


def find(dataset: Dataset, satellite: int, path: int, row: int, acquired: dt.date, today: dt.date) -> Scenes:
    """The scene (zero or one) of ``dataset`` from one satellite over one cell on one date."""
    index = grid().index(path, row)
    if index is None:
        return _empty(dataset)
    scenes = generate(dataset, np.array([index]), acquired, acquired, today)
    return scenes.take(np.flatnonzero(scenes.satellite == satellite))


def describe(display_id: str, today: dt.date) -> dict | None:
    """The catalogue facts behind a Collection 2 product id, or ``None`` when the catalogue has no such product.

    Returns a dict with ``product_id``, ``entity_id``, ``dataset`` (alias), ``satellite``, ``path``, ``row``,
    ``acquired`` (UTC datetime of the scene centre), ``cloud_cover`` (percent, -1 unknown) and ``corners``
    (UL, UR, LR, LL lon/lat; longitudes may exceed 180 near the antimeridian). This is what product
    generation needs to draw a scene consistent with its search record.
    """
    try:
        letter, satellite, level = display_id[1], int(display_id[2:4]), display_id[5:9]
        path, row = int(display_id[10:13]), int(display_id[13:16])
        acquired = dt.datetime.strptime(display_id[17:25], "%Y%m%d").date()
    except (ValueError, IndexError):
        return None
    family = {"C": "ot", "O": "ot", "E": "etm", "T": "tm" if satellite < 8 else "ot", "M": "mss"}.get(letter)
    dataset = (
        DATASETS.get(f"landsat_{family}_c2_l{level[1]}") if family and level[:1] == "L" and level[1:2] in "12" else None
    )
    if dataset is None:
        return None
    scenes = find(dataset, satellite, path, row, acquired, today)
    ids = scenes.display_ids()
    if display_id not in ids:
        return None
    i = ids.index(display_id)
    centre = EPOCH_UTC + dt.timedelta(seconds=round(float(scenes.centre[i]), 3))
    return {
        "product_id": display_id,
        "entity_id": scenes.entity_ids()[i],
        "dataset": dataset.alias,
        "satellite": satellite,
        "path": path,
        "row": row,
        "acquired": centre,
        "cloud_cover": float(scenes.cloud_cover[i]),
        "corners": [tuple(map(float, c)) for c in scenes.corners[i]],
    }


def zlib_crc(text: str) -> int:
    """A stable 32-bit hash of a string (Python's ``hash`` changes between processes)."""
    return zlib.crc32(text.encode())
