"""Where a WRS-2 path/row is: the scene centre from the Landsat orbit, so a search can start from a path/row.

The Worldwide Reference System 2 puts 233 paths of 248 rows on the sun-synchronous orbit of Landsat 4-9
(inclination 98.2 degrees, 233 orbits in 16 days). Row 60 of each path is where it crosses the equator southbound,
path 1 crossing at 64.6 degrees west and each next path 360/233 degrees further west. The centre computed here lies
within about 25 km of the published one (the scenes are 185 km wide), close enough to find the scene with a point
search and keep it by its ``path`` and ``row`` columns.
"""

from __future__ import annotations

import math

from .exceptions import InvalidInputError

PATHS, ROWS = 233, 248
INCLINATION = math.radians(98.2)
PATH_1_LONGITUDE = -64.6  # descending node of path 1, row 60
EARTH_TURN_PER_ORBIT = 360.0 * 16 / PATHS  # degrees the ground track moves west per orbit


def check_path_row(path: int, row: int) -> tuple[int, int]:
    """Validate a WRS-2 path (1-233) and row (1-248)."""
    for name, value, top in (("path", path, PATHS), ("row", row, ROWS)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise InvalidInputError(f"WRS-2 {name} must be a whole number from 1 to {top}, got {value!r}")
    return path, row


def scene_centre(path: int, row: int) -> tuple[float, float]:
    """Return the ``(longitude, latitude)`` of the centre of a WRS-2 scene, in degrees.

    Examples
    --------
    >>> lon, lat = scene_centre(196, 30)   # the Gulf of Lion, southern France
    >>> round(lon), round(lat)
    (5, 43)
    """
    path, row = check_path_row(path, row)
    # argument of latitude, measured from the ascending node; row 60 is the descending node (180 degrees)
    u = math.radians(180.0 - (60 - row) * 360.0 / ROWS)
    latitude = math.degrees(math.asin(math.sin(INCLINATION) * math.sin(u)))
    along = math.degrees(math.atan2(math.cos(INCLINATION) * math.sin(u), math.cos(u))) % 360.0 - 180.0
    longitude = (
        PATH_1_LONGITUDE - (path - 1) * 360.0 / PATHS + along - EARTH_TURN_PER_ORBIT * (math.degrees(u) - 180.0) / 360.0
    )
    return (longitude + 180.0) % 360.0 - 180.0, latitude
