"""Landsat identifiers: Collection product ids (``LC08_L2SP_198025_20180131_20200902_02_T2``) and legacy
scene ids (``LC81980252018031LGN00``). Pure parsing, no I/O.
"""

from __future__ import annotations

import datetime as dt
import re

from .exceptions import InvalidInputError

PRODUCT_ID = re.compile(
    r"^L(?P<sensor>[COTEM])(?P<satellite>0[1-9])_(?P<processing_level>L1TP|L1GT|L1GS|L2SP|L2SR)_"
    r"(?P<path>\d{3})(?P<row>\d{3})_(?P<acquired>\d{8})_(?P<processed>\d{8})_(?P<collection>0[12])_(?P<category>T1|T2|RT)",
    re.ASCII,  # \d is 0-9 only, not every Unicode digit
)
#: A product's file name, upper-cased: ``<product id>[_<SUFFIX>].<ext>`` (``_SR_B4.TIF``, ``_MTL.txt``, ``.xml``).
PRODUCT_FILE = re.compile(
    r"^(?P<pid>L[COTEM]0[1-9]_(?:L1TP|L1GT|L1GS|L2SP|L2SR)_\d{6}_\d{8}_\d{8}_0[12]_(?:T1|T2|RT))"
    r"(?:_(?P<suffix>[A-Z0-9_]+))?\.(?P<ext>TIF|TIFF|TXT|XML|JSON)$",
    re.ASCII,
)
SCENE_ID = re.compile(
    r"^L(?P<sensor>[COTEM])(?P<satellite>[1-9])(?P<path>\d{3})(?P<row>\d{3})(?P<year>\d{4})(?P<doy>\d{3})"
    r"(?P<ground_station>[A-Z0-9]{3})(?P<version>\d{2})",
    re.ASCII,
)
# which sensor letters each satellite carried
_SENSORS = {1: "M", 2: "M", 3: "M", 4: "MT", 5: "MT", 7: "E", 8: "COT", 9: "COT"}
_SENSOR_NAMES = {"C": "OLI_TIRS", "O": "OLI", "E": "ETM", "M": "MSS"}


def sensor_name(letter: str, satellite: int) -> str:
    """M2M sensor name of a sensor letter: ``T`` is TIRS on Landsat 8/9 and TM before."""
    if letter == "T":
        return "TIRS" if satellite >= 8 else "TM"
    return _SENSOR_NAMES[letter]


def _date(text: str, fmt: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text, fmt).date()
    except ValueError:
        return None


def split_file_name(name: str) -> tuple[str, str, str] | None:
    """Split a product file name (any folder, any case) into ``(product id, SUFFIX, ext)``, or None.

    Examples
    --------
    >>> split_file_name("top/LC08_L1TP_198025_20180131_20200902_02_T1_B4.tif")
    ('LC08_L1TP_198025_20180131_20200902_02_T1', 'B4', 'tif')
    >>> split_file_name("LC08_L2SP_198025_20180131_20200902_02_T1.xml")
    ('LC08_L2SP_198025_20180131_20200902_02_T1', '', 'xml')
    """
    match = PRODUCT_FILE.match(name.replace("\\", "/").rsplit("/", 1)[-1].upper())
    if match is None:
        return None
    ext = match["ext"].lower()
    return match["pid"], match["suffix"] or "", "tif" if ext == "tiff" else ext


def processing_family(product_id: str) -> str:
    """``"L1"`` or ``"L2"``: the processing level family of a product id (its 6th-7th characters)."""
    return product_id[5:7].upper()


def parse_id(landsat_id: str) -> dict:
    """Split a Landsat product id or legacy scene id into its named fields.

    Parameters
    ----------
    landsat_id : str
        A Collection 1 or 2 product id (40 characters) or a legacy scene id (21 characters).

    Returns
    -------
    dict
        For product ids: ``kind='product'``, ``sensor`` (``OLI_TIRS``, ``ETM``, ``TM``, ...), ``satellite``
        (int), ``processing_level``, ``path``, ``row`` (int), ``acquired``, ``processed``
        (:class:`datetime.date`), ``collection`` (int), ``category``. For scene ids: ``kind='scene'``,
        ``sensor``, ``satellite``, ``path``, ``row``, ``acquired``, ``ground_station``, ``version`` (int).

    Raises
    ------
    InvalidInputError
        If the text is neither, naming the formats allowed.

    Examples
    --------
    >>> fields = parse_id("LC08_L2SP_198025_20180131_20200902_02_T2")
    >>> fields["satellite"], fields["path"], fields["row"], str(fields["acquired"])
    (8, 198, 25, '2018-01-31')
    >>> parse_id("LC81980252018031LGN00")["ground_station"]
    'LGN'
    """
    text = landsat_id if isinstance(landsat_id, str) else ""
    match = PRODUCT_ID.fullmatch(text)  # not match + $, which allows a trailing newline
    if match:
        satellite = int(match["satellite"])
        acquired = _date(match["acquired"], "%Y%m%d")
        processed = _date(match["processed"], "%Y%m%d")
        if match["sensor"] in _SENSORS.get(satellite, "") and acquired and processed:
            return {
                "kind": "product",
                "sensor": sensor_name(match["sensor"], satellite),
                "satellite": satellite,
                "processing_level": match["processing_level"],
                "path": int(match["path"]),
                "row": int(match["row"]),
                "acquired": acquired,
                "processed": processed,
                "collection": int(match["collection"]),
                "category": match["category"],
            }
    match = SCENE_ID.fullmatch(text)
    if match:
        satellite = int(match["satellite"])
        acquired = _date(match["year"] + match["doy"], "%Y%j")
        if match["sensor"] in _SENSORS.get(satellite, "") and acquired:
            return {
                "kind": "scene",
                "sensor": sensor_name(match["sensor"], satellite),
                "satellite": satellite,
                "path": int(match["path"]),
                "row": int(match["row"]),
                "acquired": acquired,
                "ground_station": match["ground_station"],
                "version": int(match["version"]),
            }
    raise InvalidInputError(
        f"{landsat_id!r} is not a Landsat id: expected a product id like "
        "'LC08_L2SP_198025_20180131_20200902_02_T2' (LXSS_LLLL_PPPRRR_YYYYMMDD_yyyymmdd_CC_TX) "
        "or a scene id like 'LC81980252018031LGN00' (LXSPPPRRRYYYYDDDGSIVV)"
    )


def is_valid(landsat_id: str) -> bool:
    """Whether ``landsat_id`` is a well-formed Landsat product id or legacy scene id.

    Examples
    --------
    >>> is_valid("LE07_L1TP_029030_20170221_20170319_01_T1"), is_valid("LE07_L1TP_029030")
    (True, False)
    """
    try:
        parse_id(landsat_id)
    except InvalidInputError:
        return False
    return True
