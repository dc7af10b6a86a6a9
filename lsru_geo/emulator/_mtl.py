"""Metadata text of emulated Collection 2 Level-2 products: MTL (ODL, XML, JSON), ANG and ESPA XML.

The MTL is built once as ordered groups of ``(key, value)`` pairs and then rendered three ways, so the
three files always state the same facts. Layout, key order and number formats follow real C2 L2 MTL files
(stactools-packages/landsat test data: ``LC09_L2SP_010065_20220129_20220131_02_T1_MTL.txt`` and the
LE07/LT05 ``MTL.xml``): ODL quotes strings but not numbers or dates, the JSON holds every value as a
string, and ``FILE_NAME_*`` keep USGS's upper-case ``.TIF``.
"""

from __future__ import annotations

import datetime as dt
import json
from xml.sax.saxutils import escape, quoteattr

from pyproj import Transformer

from ._customise import RESAMPLE_NAMES, corner_centres
from ._raster import (
    BANDS,
    SR_OFFSET,
    SR_SCALE,
    ST_OFFSET,
    ST_SCALE,
    SceneContent,
    earth_sun_distance,
    stable_seed,
    sun_vector_ecef,
)


class Bare(str):
    """A value written without quotes in ODL (numbers, dates, ``COLLECTION_NUMBER = 02``)."""

    __slots__ = ()


Group = tuple[str, list[tuple[str, str]]]

_ORIGIN = "Image courtesy of the U.S. Geological Survey"
#: (Level-2 DOI, Level-1 DOI) per sensor, as in real MTLs.
_DOI = {
    "LC08": ("P9OGBGM6", "P975CC9B"),
    "LC09": ("P9OGBGM6", "P975CC9B"),
    "LE07": ("P9C7I13B", "P9TU80IG"),
    "LT05": ("P9IAXOVV", "P918ROHC"),
    "LT04": ("P9IAXOVV", "P918ROHC"),
}
#: Level-1 thermal constants (K1, K2) per thermal band name, from the sensors' handbooks/MTLs.
_THERMAL_K = {
    "LC08": (("10", 774.8853, 1321.0789), ("11", 480.8883, 1201.1442)),
    "LC09": (("10", 799.0284, 1329.2405), ("11", 475.6581, 1198.3494)),
    "LE07": (("6_VCID_1", 666.09, 1282.71), ("6_VCID_2", 666.09, 1282.71)),
    "LT05": (("6", 607.76, 1260.56),),
    "LT04": (("6", 671.62, 1284.30),),
}
_L1_BANDS = {
    "LC08": [str(n) for n in range(1, 12)],
    "LC09": [str(n) for n in range(1, 12)],
    "LE07": ["1", "2", "3", "4", "5", "6_VCID_1", "6_VCID_2", "7", "8"],
    "LT05": [str(n) for n in range(1, 8)],
    "LT04": [str(n) for n in range(1, 8)],
}


def _f(value: float, digits: int) -> Bare:
    return Bare(f"{value:.{digits}f}")

def _corner_fields(corners: dict) -> list[tuple[str, object]]:
    """Return the MTL's corner fields: latitude/longitude of each corner, then its projected x/y."""
    names = ("UL", "UR", "LL", "LR")
    geographic = [
        (f"CORNER_{n}_{axis}_PRODUCT", _f(corners[n][i], 5)) for n in names for axis, i in (("LAT", 2), ("LON", 3))
    ]
    projected = [
        (f"CORNER_{n}_PROJECTION_{axis}_PRODUCT", _f(corners[n][i], 3))
        for n in names
        for axis, i in (("X", 0), ("Y", 1))
    ]
    return geographic + projected



def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def level1_product_id(product_id: str) -> str:
    """Return the Level-1 product a Level-2 product was made from (same dates and tier, ``L1TP``)."""
    return product_id[:5] + "L1TP" + product_id[9:]


def _generated(content: SceneContent, minutes_before: int) -> str:
    """Return a plausible, deterministic DATE_PRODUCT_GENERATED on the product id's processing date."""
    day = dt.datetime.strptime(content.product_id[26:34], "%Y%m%d").replace(tzinfo=dt.timezone.utc)
    second = stable_seed("generated", content.product_id) % 60_000 + 20_000  # 05:33 to 22:13 UTC
    return (day + dt.timedelta(seconds=second - 60 * minutes_before)).strftime("%Y-%m-%dT%H:%M:%SZ")


def scene_center_time(acquired: dt.datetime) -> str:
    """``SCENE_CENTER_TIME`` as USGS writes it: seven decimals and a ``Z``."""
    t = _utc(acquired)
    return f"{t:%H:%M:%S}.{t.microsecond:06d}0Z"


def product_corners(content: SceneContent) -> dict[str, tuple[float, float, float, float]]:
    """Centres of the four corner pixels: ``{"UL": (x, y, lat, lon), ...}`` (what MTL corners give)."""
    g = content.grid
    half = g.res / 2
    xy = {
        "UL": (g.left + half, g.top - half),
        "UR": (g.right - half, g.top - half),
        "LL": (g.left + half, g.bottom + half),
        "LR": (g.right - half, g.bottom + half),
    }
    to_geo = Transformer.from_crs(g.epsg, 4326, always_xy=True)
    out = {}
    for name, (x, y) in xy.items():
        lon, lat = to_geo.transform(x, y)
        out[name] = (x, y, lat, lon)
    return out


def mtl_groups(content: SceneContent, entity_id: str, ext: str = ".TIF") -> list[Group]:
    """Build the MTL of a scene as ordered groups.

    Parameters
    ----------
    content : SceneContent
        The scene (grid, sensor, sun, cloud statistics).
    entity_id : str
        Legacy scene id, written as ``LANDSAT_SCENE_ID``.
    ext : str
        Raster file extension in ``FILE_NAME_*`` (USGS: ``.TIF``).

    Returns
    -------
    list of (str, list of (str, str))
        Group name and its ``(key, value)`` pairs; :class:`Bare` values are unquoted in ODL.
    """
    pid, sensor, level, g = content.product_id, content.sensor, content.level, content.grid
    code, tier = pid[:4], pid[38:40]
    l1 = level1_product_id(pid)
    doi2, doi1 = _DOI[code]
    suffixes = sensor.level2_suffixes(level)
    thermal = level == "L2SP"

    files = [(f"FILE_NAME_{BANDS[s].mtl_key}", f"{pid}_{s}{ext}") for s in suffixes]
    files += [
        ("FILE_NAME_ANGLE_COEFFICIENT", f"{pid}_ANG.txt"),
        ("FILE_NAME_METADATA_ODL", f"{pid}_MTL.txt"),
        ("FILE_NAME_METADATA_XML", f"{pid}_MTL.xml"),
    ]
    types = [(f"DATA_TYPE_{BANDS[s].mtl_key}", BANDS[s].dtype.upper()) for s in suffixes]
    contents = [
        ("ORIGIN", _ORIGIN),
        ("DIGITAL_OBJECT_IDENTIFIER", f"https://doi.org/10.5066/{doi2}"),
        ("LANDSAT_PRODUCT_ID", pid),
        ("PROCESSING_LEVEL", level),
        ("COLLECTION_NUMBER", Bare(pid[35:37])),
        ("COLLECTION_CATEGORY", tier),
        ("OUTPUT_FORMAT", "GEOTIFF"),
        *files,
        *types,
    ]

    acquired = _utc(content.acquired)
    saturated = content.saturated_bands()
    path, row = int(pid[10:13]), int(pid[13:16])
    image = [
        ("SPACECRAFT_ID", sensor.spacecraft),
        ("SENSOR_ID", sensor.sensor_id),
        ("WRS_TYPE", Bare("2")),
        ("WRS_PATH", Bare(str(path))),
        ("WRS_ROW", Bare(str(row))),
    ]
    if sensor.is_oli:
        image += [("NADIR_OFFNADIR", "NADIR"), ("TARGET_WRS_PATH", Bare(str(path))), ("TARGET_WRS_ROW", Bare(str(row)))]
    image += [
        ("DATE_ACQUIRED", Bare(f"{acquired:%Y-%m-%d}")),
        ("SCENE_CENTER_TIME", scene_center_time(acquired)),
        ("STATION_ID", entity_id[16:19]),
        ("CLOUD_COVER", _f(content.cloud_cover, 2)),
        ("CLOUD_COVER_LAND", _f(content.cloud_cover_land(), 2)),
    ]
    if sensor.is_oli:
        image += [("IMAGE_QUALITY_OLI", Bare("9")), ("IMAGE_QUALITY_TIRS", Bare("9"))]
        image += [(f"SATURATION_BAND_{n}", "Y" if n in saturated else "N") for n in range(1, 10)]
        image += [("ROLL_ANGLE", Bare("-0.001"))]
    else:
        image += [("IMAGE_QUALITY", Bare("9"))]
        bands = _L1_BANDS[code][:-1] if code == "LE07" else _L1_BANDS[code]  # ETM+ pan listed separately
        image += [(f"SATURATION_BAND_{b}", "Y" if b.isdigit() and int(b) in saturated else "N") for b in bands]
        if code == "LE07":
            image += [("SATURATION_BAND_8", "N")]
    image += [
        ("SUN_AZIMUTH", _f(content.sun_azimuth, 8)),
        ("SUN_ELEVATION", _f(content.sun_elevation, 8)),
        ("EARTH_SUN_DISTANCE", _f(earth_sun_distance(acquired), 7)),
    ]
    if not sensor.is_oli:
        slc = "ON" if code != "LE07" or acquired.date() < dt.date(2003, 5, 31) else "OFF"
        image += [
            ("SENSOR_MODE", "SAM" if code != "LE07" else "BUMPER"),
            ("SENSOR_MODE_SLC", slc),
            ("SENSOR_ANOMALIES", "NONE"),
        ]

    corners = product_corners(content)
    projection = [
        ("MAP_PROJECTION", "UTM"),
        ("DATUM", "WGS84"),
        ("ELLIPSOID", "WGS84"),
        ("UTM_ZONE", Bare(str(g.zone))),
        ("GRID_CELL_SIZE_REFLECTIVE", _f(g.res, 2)),
    ]
    projection += [("GRID_CELL_SIZE_THERMAL", _f(g.res, 2))] if thermal else []
    projection += [("REFLECTIVE_LINES", Bare(str(g.height))), ("REFLECTIVE_SAMPLES", Bare(str(g.width)))]
    if thermal:
        projection += [("THERMAL_LINES", Bare(str(g.height))), ("THERMAL_SAMPLES", Bare(str(g.width)))]
    projection += [("ORIENTATION", "NORTH_UP")]
    projection += _corner_fields(corners)

    ledaps = not sensor.is_oli
    record2 = [
        ("ORIGIN", _ORIGIN),
        ("DIGITAL_OBJECT_IDENTIFIER", f"https://doi.org/10.5066/{doi2}"),
        ("REQUEST_ID", "L2"),
        ("LANDSAT_PRODUCT_ID", pid),
        ("PROCESSING_LEVEL", level),
        ("OUTPUT_FORMAT", "GEOTIFF"),
        ("DATE_PRODUCT_GENERATED", _generated(content, 0)),
        ("PROCESSING_SOFTWARE_VERSION", "LPGS_15.3.1c"),
        ("ALGORITHM_SOURCE_SURFACE_REFLECTANCE", "LEDAPS_3.4.0" if ledaps else "LaSRC_1.5.0"),
        ("DATA_SOURCE_OZONE", "TOMS" if ledaps else "MODIS"),
        ("DATA_SOURCE_PRESSURE", "NCEP" if ledaps else "Calculated"),
        ("DATA_SOURCE_WATER_VAPOR", "NCEP" if ledaps else "MODIS"),
        ("DATA_SOURCE_AIR_TEMPERATURE", "NCEP" if ledaps else "MODIS"),
    ]
    if thermal:
        reanalysis = "MERRA-2" if acquired.year < 2000 else "GEOS-5 FP-IT"
        record2 += [("ALGORITHM_SOURCE_SURFACE_TEMPERATURE", "st_1.3.0"), ("DATA_SOURCE_REANALYSIS", reanalysis)]

    numbers = [s[4:] for s, _ in sensor.sr_bands]
    sr_params = [
        item
        for n in numbers
        for item in (
            (f"REFLECTANCE_MAXIMUM_BAND_{n}", Bare("1.602213")),
            (f"REFLECTANCE_MINIMUM_BAND_{n}", Bare("-0.199972")),
        )
    ]
    sr_params += [
        item
        for n in numbers
        for item in ((f"QUANTIZE_CAL_MAX_BAND_{n}", Bare("65535")), (f"QUANTIZE_CAL_MIN_BAND_{n}", Bare("1")))
    ]
    sr_params += [(f"REFLECTANCE_MULT_BAND_{n}", Bare(f"{SR_SCALE:.2e}")) for n in numbers]
    sr_params += [(f"REFLECTANCE_ADD_BAND_{n}", Bare(f"{SR_OFFSET}")) for n in numbers]
    st_name = sensor.thermal
    st_params = [
        (f"TEMPERATURE_MAXIMUM_BAND_{st_name}", Bare("372.999941")),
        (f"TEMPERATURE_MINIMUM_BAND_{st_name}", Bare("149.003418")),
        (f"QUANTIZE_CAL_MAXIMUM_BAND_{st_name}", Bare("65535")),
        (f"QUANTIZE_CAL_MINIMUM_BAND_{st_name}", Bare("1")),
        (f"TEMPERATURE_MULT_BAND_{st_name}", Bare(f"{ST_SCALE}")),
        (f"TEMPERATURE_ADD_BAND_{st_name}", Bare(f"{ST_OFFSET}")),
    ]

    quarter = (acquired.month - 1) // 3
    q_start = dt.date(acquired.year, 3 * quarter + 1, 1)
    q_end = dt.date(acquired.year + (quarter == 3), (3 * quarter + 3) % 12 + 1, 1) - dt.timedelta(days=1)
    gcp = 20 + stable_seed("gcp", pid) % 900
    rmse = 4.0 + (stable_seed("rmse", pid) % 8000) / 1000.0
    record1 = [
        ("ORIGIN", _ORIGIN),
        ("DIGITAL_OBJECT_IDENTIFIER", f"https://doi.org/10.5066/{doi1}"),
        ("REQUEST_ID", "L2"),
        ("LANDSAT_SCENE_ID", entity_id),
        ("LANDSAT_PRODUCT_ID", l1),
        ("PROCESSING_LEVEL", "L1TP"),
        ("COLLECTION_CATEGORY", tier),
        ("OUTPUT_FORMAT", "GEOTIFF"),
        ("DATE_PRODUCT_GENERATED", _generated(content, 17)),
        ("PROCESSING_SOFTWARE_VERSION", "LPGS_15.3.1c"),
    ]
    record1 += [(f"FILE_NAME_BAND_{b}", f"{l1}_B{b}.TIF") for b in _L1_BANDS[code]]
    record1 += [
        ("FILE_NAME_QUALITY_L1_PIXEL", f"{l1}_QA_PIXEL.TIF"),
        ("FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION", f"{l1}_QA_RADSAT.TIF"),
        ("FILE_NAME_ANGLE_COEFFICIENT", f"{l1}_ANG.txt"),
        ("FILE_NAME_ANGLE_SENSOR_AZIMUTH_BAND_4", f"{l1}_VAA.TIF"),
        ("FILE_NAME_ANGLE_SENSOR_ZENITH_BAND_4", f"{l1}_VZA.TIF"),
        ("FILE_NAME_ANGLE_SOLAR_AZIMUTH_BAND_4", f"{l1}_SAA.TIF"),
        ("FILE_NAME_ANGLE_SOLAR_ZENITH_BAND_4", f"{l1}_SZA.TIF"),
        ("FILE_NAME_METADATA_ODL", f"{l1}_MTL.txt"),
        ("FILE_NAME_METADATA_XML", f"{l1}_MTL.xml"),
        ("FILE_NAME_CPF", f"{code}CPF_{q_start:%Y%m%d}_{q_end:%Y%m%d}_02.01"),
        ("DATA_SOURCE_ELEVATION", "GLS2000"),
        ("GROUND_CONTROL_POINTS_VERSION", Bare("5")),
        ("GROUND_CONTROL_POINTS_MODEL", Bare(str(gcp))),
        ("GEOMETRIC_RMSE_MODEL", _f(rmse, 3)),
        ("GEOMETRIC_RMSE_MODEL_Y", _f(rmse * 0.75, 3)),
        ("GEOMETRIC_RMSE_MODEL_X", _f(rmse * 0.66, 3)),
    ]
    thermal_k = [(f"K{i}_CONSTANT_BAND_{b}", _f(k, 4)) for b, k1, k2 in _THERMAL_K[code] for i, k in ((1, k1), (2, k2))]
    projection1 = [
        ("MAP_PROJECTION", "UTM"),
        ("DATUM", "WGS84"),
        ("ELLIPSOID", "WGS84"),
        ("UTM_ZONE", Bare(str(g.zone))),
    ]
    projection1 += [("GRID_CELL_SIZE_PANCHROMATIC", Bare("15.00"))] if code not in ("LT04", "LT05") else []
    projection1 += [
        ("GRID_CELL_SIZE_REFLECTIVE", Bare("30.00")),
        ("GRID_CELL_SIZE_THERMAL", Bare("30.00")),
        ("ORIENTATION", "NORTH_UP"),
        ("RESAMPLING_OPTION", "CUBIC_CONVOLUTION"),
    ]

    groups: list[Group] = [
        ("PRODUCT_CONTENTS", contents),
        ("IMAGE_ATTRIBUTES", image),
        ("PROJECTION_ATTRIBUTES", projection),
        ("LEVEL2_PROCESSING_RECORD", record2),
        ("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", sr_params),
    ]
    if thermal:
        groups.append(("LEVEL2_SURFACE_TEMPERATURE_PARAMETERS", st_params))
    groups += [
        ("LEVEL1_PROCESSING_RECORD", record1),
        ("LEVEL1_THERMAL_CONSTANTS", thermal_k),
        ("LEVEL1_PROJECTION_PARAMETERS", projection1),
    ]
    return groups


def to_odl(groups: list[Group]) -> str:
    """Render MTL groups as ``MTL.txt`` (ODL; no trailing ``END`` line, like real C2 MTLs)."""
    lines = ["GROUP = LANDSAT_METADATA_FILE"]
    for name, items in groups:
        lines.append(f"  GROUP = {name}")
        lines += [f"    {k} = {v}" if isinstance(v, Bare) else f'    {k} = "{v}"' for k, v in items]
        lines.append(f"  END_GROUP = {name}")
    lines.append("END_GROUP = LANDSAT_METADATA_FILE")
    return "\n".join(lines) + "\n"


def to_xml(groups: list[Group], pad_wrs: bool = False) -> str:
    """Render MTL groups as ``MTL.xml``.

    ``pad_wrs`` zero-pads ``WRS_PATH``/``WRS_ROW`` to three digits, as the TM/ETM+ MTL.xml files do (the
    OLI ones do not).
    """
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<LANDSAT_METADATA_FILE>"]
    for name, items in groups:
        lines.append(f"  <{name}>")
        for key, value in items:
            if pad_wrs and key in ("WRS_PATH", "WRS_ROW"):
                value = f"{int(value):03d}"
            lines.append(f"    <{key}>{escape(value)}</{key}>")
        lines.append(f"  </{name}>")
    lines.append("</LANDSAT_METADATA_FILE>")
    return "\n".join(lines) + "\n"


def to_json(groups: list[Group]) -> str:
    """Render MTL groups as ``MTL.json``: one line, every value a string, like USGS's."""
    return json.dumps({"LANDSAT_METADATA_FILE": {name: {k: str(v) for k, v in items} for name, items in groups}})


def mtl_files(content: SceneContent, entity_id: str) -> dict[str, str]:
    """``{"MTL.txt": ..., "MTL.xml": ..., "MTL.json": ...}`` of one scene."""
    level1 = content.level.startswith("L1")
    groups = level1_mtl_groups(content, entity_id) if level1 else mtl_groups(content, entity_id)
    return {
        "MTL.txt": to_odl(groups),
        "MTL.xml": to_xml(groups, pad_wrs=not content.sensor.is_oli),
        "MTL.json": to_json(groups),
    }


def ang_text(content: SceneContent, entity_id: str) -> str:
    """Write a short but well-formed ``ANG.txt``: header, projection and the solar vector at scene centre.

    Real files also carry the ephemeris and per-band RPC coefficients (~117 KB); nothing in lsru reads them.
    """
    g, acquired = content.grid, _utc(content.acquired)
    n_bands = len(_L1_BANDS[content.product_id[:4]])
    corners = product_corners(content)
    sx, sy, sz = sun_vector_ecef(acquired)
    midnight = acquired.replace(hour=0, minute=0, second=0, microsecond=0)
    lines = [
        "GROUP = FILE_HEADER",
        f'  LANDSAT_SCENE_ID = "{entity_id}"',
        f'  SPACECRAFT_ID = "{content.sensor.spacecraft}"',
        f"  NUMBER_OF_BANDS = {n_bands}",
        f"  BAND_LIST = ({', '.join(str(i) for i in range(1, n_bands + 1))})",
        "END_GROUP = FILE_HEADER",
        "GROUP = PROJECTION",
        "  ELLIPSOID_AXES = (6378137.000000, 6356752.314200)",
        '  MAP_PROJECTION = "UTM"',
        '  PROJECTION_UNITS = "METERS"',
        '  DATUM = "WGS84"',
        '  ELLIPSOID = "WGS84"',
        f"  UTM_ZONE = {g.zone}",
        "  PROJECTION_PARAMETERS = (" + ", ".join(["0.000000"] * 15) + ")",
        *(
            f"  {name}_CORNER = ({corners[name][0]:11.3f}, {corners[name][1]:12.3f})"
            for name in ("UL", "UR", "LL", "LR")
        ),
        "END_GROUP = PROJECTION",
        "GROUP = SOLAR_VECTOR",
        f"  SOLAR_EPOCH_YEAR = {acquired.year}",
        f"  SOLAR_EPOCH_DAY = {acquired.timetuple().tm_yday:03d}",
        f"  SOLAR_EPOCH_SECONDS = {(acquired - midnight).total_seconds():.6f}",
        f"  EARTH_SUN_DISTANCE = {earth_sun_distance(acquired):.8f}",
        "  NUMBER_OF_POINTS = 1",
        "  SAMPLE_TIME = (  0.000000)",
        f"  SOLAR_ECEF_X = ({sx: .8e})",
        f"  SOLAR_ECEF_Y = ({sy: .8e})",
        f"  SOLAR_ECEF_Z = ({sz: .8e})",
        "END_GROUP = SOLAR_VECTOR",
        "END",
    ]
    return "\n".join(lines) + "\n"


def _espa_product(suffix: str) -> str:
    """ESPA ``product`` attribute of a band; undocumented for C2, so these follow the C1 naming style."""
    if suffix.startswith("SR_B"):
        return "sr_refl"
    if suffix.startswith("ST_"):
        return "st"
    if suffix.startswith("ET"):
        return "et"
    if suffix in ("QA_PIXEL", "QA_RADSAT"):
        return "level1_qa"
    if suffix in ("SR_QA_AEROSOL", "SR_CLOUD_QA", "SR_ATMOS_OPACITY"):
        return "sr_qa"
    return "spectral_indices"


#: ESPA XML ``projection`` attribute per ordered projection name.
_ESPA_PROJECTION = {"utm": "UTM", "lonlat": "GEO", "aea": "AEA", "ps": "PS", "sinu": "SIN"}


def _projection_lines(target) -> list[str]:
    """``<projection_information>`` of a customised grid: corners and the projection's parameters."""
    corners = corner_centres(target)
    name = target.projection
    datum = str(target.crs.to_dict().get("datum", "WGS84")) if name == "aea" else "WGS84"
    out = [
        f'        <projection_information projection="{_ESPA_PROJECTION[name]}" datum="{datum}" '
        f'units="{target.units}">',
        f'            <corner_point location="UL" x="{corners["UL"][0]:.6f}" y="{corners["UL"][1]:.6f}"/>',
        f'            <corner_point location="LR" x="{corners["LR"][0]:.6f}" y="{corners["LR"][1]:.6f}"/>',
        "            <grid_origin>CENTER</grid_origin>",
    ]
    if name == "utm":
        south = target.crs.to_epsg() // 100 == 327
        zone = -target.zone if south else target.zone  # ESPA writes southern zones as negative codes
        out += [
            "            <utm_proj_params>",
            f"                <zone_code>{zone}</zone_code>",
            "            </utm_proj_params>",
        ]
    elif name != "lonlat":
        tag = {"aea": "albers_proj_params", "ps": "ps_proj_params", "sinu": "sin_proj_params"}[name]
        params = target.crs.to_dict()
        out.append(f"            <{tag}>")
        out += [f"                <{k}>{escape(str(v))}</{k}>" for k, v in params.items() if k not in ("no_defs",)]
        out.append(f"            </{tag}>")
    out.append("        </projection_information>")
    return out


def espa_xml(content: SceneContent, suffixes: list[str], processed: dt.datetime, target=None) -> str:
    """ESPA internal metadata ``<product_id>.xml`` (schema v2.0) with one ``<band>`` per raster.

    Parameters
    ----------
    content : SceneContent
        The scene.
    suffixes : list of str
        Raster suffixes in the tarball, in order.
    processed : datetime.datetime
        ESPA processing time (each band's ``production_date``).
    target : ._customise.Target, optional
        The grid of a customised order: corners, projection, band sizes, pixel sizes and resampling describe
        it instead of the native grid, as ESPA rewrites its XML after warping.
    """
    pid, g, acquired = content.product_id, content.grid, _utc(content.acquired)
    corners = corner_centres(target) if target is not None else product_corners(content)
    lons = [c[3] for c in corners.values()]
    lats = [c[2] for c in corners.values()]
    if target is None:
        projection_lines = [
            '        <projection_information projection="UTM" datum="WGS84" units="meters">',
            f'            <corner_point location="UL" x="{corners["UL"][0]:.6f}" y="{corners["UL"][1]:.6f}"/>',
            f'            <corner_point location="LR" x="{corners["LR"][0]:.6f}" y="{corners["LR"][1]:.6f}"/>',
            "            <grid_origin>CENTER</grid_origin>",
            "            <utm_proj_params>",
            f"                <zone_code>{g.zone}</zone_code>",
            "            </utm_proj_params>",
            "        </projection_information>",
        ]
        lines, samples, pixel, units, resample = g.height, g.width, g.res, "meters", "none"
    else:
        projection_lines = _projection_lines(target)
        lines, samples, pixel, units = target.height, target.width, target.res, target.units
        resample = RESAMPLE_NAMES[target.resampling]
    qa_resample = "none" if target is None else RESAMPLE_NAMES["nn"]  # bit fields are never interpolated
    when = _utc(processed).strftime("%Y-%m-%dT%H:%M:%SZ")
    instrument = "OLI_TIRS" if content.sensor.is_oli else content.sensor.sensor_id
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<espa_metadata version="2.0" xmlns="http://espa.cr.usgs.gov/v2" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://espa.cr.usgs.gov/v2 http://espa.cr.usgs.gov/schema/espa_internal_metadata_v2_0.xsd">',
        "    <global_metadata>",
        "        <data_provider>USGS/EROS</data_provider>",
        f"        <satellite>{content.sensor.spacecraft}</satellite>",
        f"        <instrument>{instrument}</instrument>",
        f"        <acquisition_date>{acquired:%Y-%m-%d}</acquisition_date>",
        f"        <scene_center_time>{scene_center_time(acquired)}</scene_center_time>",
        f"        <level1_production_date>{_generated(content, 17)}</level1_production_date>",
        f'        <solar_angles zenith="{90 - content.sun_elevation:.6f}" azimuth="{content.sun_azimuth:.6f}" '
        'units="degrees"/>',
        f"        <earth_sun_distance>{earth_sun_distance(acquired):.6f}</earth_sun_distance>",
        f'        <wrs system="2" path="{int(pid[10:13])}" row="{int(pid[13:16])}"/>',
        f"        <product_id>{pid}</product_id>",
        f"        <lpgs_metadata_file>{pid}_MTL.txt</lpgs_metadata_file>",
        f'        <corner location="UL" latitude="{corners["UL"][2]:.6f}" longitude="{corners["UL"][3]:.6f}"/>',
        f'        <corner location="LR" latitude="{corners["LR"][2]:.6f}" longitude="{corners["LR"][3]:.6f}"/>',
        "        <bounding_coordinates>",
        f"            <west>{min(lons):.6f}</west>",
        f"            <east>{max(lons):.6f}</east>",
        f"            <north>{max(lats):.6f}</north>",
        f"            <south>{min(lats):.6f}</south>",
        "        </bounding_coordinates>",
        *projection_lines,
        "        <orientation_angle>0.000000</orientation_angle>",
        "    </global_metadata>",
        "    <bands>",
    ]
    for suffix in suffixes:
        info = BANDS[suffix]
        product = _espa_product(suffix)
        source = {"spectral_indices": "sr_refl", "et": "st"}.get(product, "level2")
        attrs = {
            "product": product,
            "source": source,
            "name": suffix.lower(),
            "category": info.category,
            "data_type": info.dtype.upper(),
            "nlines": str(lines),
            "nsamps": str(samples),
        }
        if info.nodata is not None:
            attrs["fill_value"] = str(info.nodata)
        if info.scale is not None:
            attrs["scale_factor"] = f"{info.scale:.8g}"
            attrs["add_offset"] = f"{info.offset or 0.0:.6f}"
        out.append("        <band " + " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items()) + ">")
        out += [
            f"            <short_name>{pid[:4]}{suffix.replace('_', '')}</short_name>",
            f"            <long_name>{escape(info.long_name)}</long_name>",
            f"            <file_name>{pid}_{suffix}.tif</file_name>",
            f'            <pixel_size x="{pixel:.10g}" y="{pixel:.10g}" units="{units}"/>',
            f"            <resample_method>{resample if info.scale is not None else qa_resample}</resample_method>",
            f"            <data_units>{escape(info.units)}</data_units>",
        ]
        if info.valid_range:
            out.append(f'            <valid_range min="{info.valid_range[0]:.6f}" max="{info.valid_range[1]:.6f}"/>')
        out += [
            "            <app_version>lsru_geo emulator</app_version>",
            f"            <production_date>{when}</production_date>",
            "        </band>",
        ]
    out += ["    </bands>", "</espa_metadata>"]
    return "\n".join(out) + "\n"


def level1_mtl_groups(content: SceneContent, entity_id: str) -> list[Group]:
    """Build the MTL of a Level-1 product (``content.product_id`` is the L1 id) as ordered groups.

    The group and field names are Collection 2 Level-1's: ``PRODUCT_CONTENTS`` (``PROCESSING_LEVEL``,
    ``FILE_NAME_BAND_n``), ``IMAGE_ATTRIBUTES`` (``SUN_ELEVATION`` ...), ``PROJECTION_ATTRIBUTES``,
    ``LEVEL1_PROCESSING_RECORD``, ``LEVEL1_MIN_MAX_RADIANCE``/``_REFLECTANCE``/``_PIXEL_VALUE``,
    ``LEVEL1_RADIOMETRIC_RESCALING`` (``RADIANCE_MULT/ADD_BAND_n``, ``REFLECTANCE_MULT/ADD_BAND_n``),
    ``LEVEL1_THERMAL_CONSTANTS`` (``K1/K2_CONSTANT_BAND_n``) and ``LEVEL1_PROJECTION_PARAMETERS``.
    """
    from . import _level1 as l1

    pid, g = content.product_id, content.grid
    code, level, tier = pid[:4], pid[5:9], pid[38:40]
    base = dict(mtl_groups(content, entity_id))
    numbers = l1.bands(code)
    contents = [
        ("ORIGIN", _ORIGIN),
        ("DIGITAL_OBJECT_IDENTIFIER", f"https://doi.org/10.5066/{_DOI[code][1]}"),
        ("LANDSAT_PRODUCT_ID", pid),
        ("PROCESSING_LEVEL", level),
        ("COLLECTION_NUMBER", Bare(pid[35:37])),
        ("COLLECTION_CATEGORY", tier),
        ("OUTPUT_FORMAT", "GEOTIFF"),
        *((f"FILE_NAME_BAND_{b}", f"{pid}_B{b}.TIF") for b in numbers),
        ("FILE_NAME_QUALITY_L1_PIXEL", f"{pid}_QA_PIXEL.TIF"),
        ("FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION", f"{pid}_QA_RADSAT.TIF"),
        ("FILE_NAME_ANGLE_COEFFICIENT", f"{pid}_ANG.txt"),
        ("FILE_NAME_METADATA_ODL", f"{pid}_MTL.txt"),
        ("FILE_NAME_METADATA_XML", f"{pid}_MTL.xml"),
        *((f"DATA_TYPE_BAND_{b}", l1.band_info(code, b).dtype.upper()) for b in numbers),
        ("DATA_TYPE_QUALITY_L1_PIXEL", "UINT16"),
        ("DATA_TYPE_QUALITY_L1_RADIOMETRIC_SATURATION", "UINT16"),
    ]
    corners = product_corners(content)
    pan = "8" in numbers
    projection = [
        ("MAP_PROJECTION", "UTM"),
        ("DATUM", "WGS84"),
        ("ELLIPSOID", "WGS84"),
        ("UTM_ZONE", Bare(str(g.zone))),
    ]
    projection += [("GRID_CELL_SIZE_PANCHROMATIC", _f(g.res / 2, 2))] if pan else []
    projection += [("GRID_CELL_SIZE_REFLECTIVE", _f(g.res, 2)), ("GRID_CELL_SIZE_THERMAL", _f(g.res, 2))]
    if pan:
        projection += [
            ("PANCHROMATIC_LINES", Bare(str(2 * g.height))),
            ("PANCHROMATIC_SAMPLES", Bare(str(2 * g.width))),
        ]
    projection += [
        ("REFLECTIVE_LINES", Bare(str(g.height))),
        ("REFLECTIVE_SAMPLES", Bare(str(g.width))),
        ("THERMAL_LINES", Bare(str(g.height))),
        ("THERMAL_SAMPLES", Bare(str(g.width))),
        ("ORIENTATION", "NORTH_UP"),
    ]
    projection += _corner_fields(corners)
    record = [
        (k, v) for k, v in base["LEVEL1_PROCESSING_RECORD"] if not k.startswith("FILE_NAME_") or k == "FILE_NAME_CPF"
    ]
    record = [
        (
            k,
            pid
            if k == "LANDSAT_PRODUCT_ID"
            else level
            if k == "PROCESSING_LEVEL"
            else "L1"
            if k == "REQUEST_ID"
            else v,
        )
        for k, v in record
    ]
    scales = {b: l1.rescaling(code, b, content.acquired) for b in numbers}
    radiance_range, reflectance_range, pixel_range, rescale = [], [], [], []
    for b, s in scales.items():
        low, high = s.qcal
        radiance_range += [
            (f"RADIANCE_MAXIMUM_BAND_{b}", _f(s.radiance[0] * high + s.radiance[1], 5)),
            (f"RADIANCE_MINIMUM_BAND_{b}", _f(s.radiance[0] * low + s.radiance[1], 5)),
        ]
        if s.reflectance is not None:
            reflectance_range += [
                (f"REFLECTANCE_MAXIMUM_BAND_{b}", _f(s.reflectance[0] * high + s.reflectance[1], 6)),
                (f"REFLECTANCE_MINIMUM_BAND_{b}", _f(s.reflectance[0] * low + s.reflectance[1], 6)),
            ]
        pixel_range += [(f"QUANTIZE_CAL_MAX_BAND_{b}", Bare(str(high))), (f"QUANTIZE_CAL_MIN_BAND_{b}", Bare(str(low)))]
    rescale += [(f"RADIANCE_MULT_BAND_{b}", Bare(f"{s.radiance[0]:.4E}")) for b, s in scales.items()]
    rescale += [(f"RADIANCE_ADD_BAND_{b}", Bare(f"{s.radiance[1]:.5f}")) for b, s in scales.items()]
    rescale += [
        (f"REFLECTANCE_MULT_BAND_{b}", Bare(f"{s.reflectance[0]:.4E}")) for b, s in scales.items() if s.reflectance
    ]
    rescale += [
        (f"REFLECTANCE_ADD_BAND_{b}", Bare(f"{s.reflectance[1]:.6f}")) for b, s in scales.items() if s.reflectance
    ]
    thermal = [
        (f"K{i}_CONSTANT_BAND_{b}", _f(k, 4))
        for b, (k1, k2) in l1.THERMAL_K[code].items()
        for i, k in ((1, k1), (2, k2))
    ]
    return [
        ("PRODUCT_CONTENTS", contents),
        ("IMAGE_ATTRIBUTES", base["IMAGE_ATTRIBUTES"]),
        ("PROJECTION_ATTRIBUTES", projection),
        ("LEVEL1_PROCESSING_RECORD", record),
        ("LEVEL1_MIN_MAX_RADIANCE", radiance_range),
        ("LEVEL1_MIN_MAX_REFLECTANCE", reflectance_range),
        ("LEVEL1_MIN_MAX_PIXEL_VALUE", pixel_range),
        ("LEVEL1_RADIOMETRIC_RESCALING", rescale),
        ("LEVEL1_THERMAL_CONSTANTS", thermal),
        ("LEVEL1_PROJECTION_PARAMETERS", base["LEVEL1_PROJECTION_PARAMETERS"]),
    ]
