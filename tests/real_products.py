"""Builders of products shaped like real USGS/ESPA Collection 2 ones, written here with rasterio (not by the
emulator): Level-1 and Level-2 MTL text with the real field names, upper/lower-case members, top folders,
plain and gzipped tars, crops whose raster grid disagrees with the MTL, and hostile variants."""

from __future__ import annotations

import io
import shutil
import tarfile
import zlib
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

# real coefficients of Landsat 8/9 and 7 MTL files (LEVEL1_RADIOMETRIC_RESCALING / LEVEL1_THERMAL_CONSTANTS)
OLI_REFLECTANCE = (2.0e-05, -0.1)
OLI_RADIANCE_B10 = (3.342e-04, 0.1)
OLI_K_B10 = (774.8853, 1321.0789)
ETM_RADIANCE_B6_1 = (0.067087, -0.06709)
ETM_K_B6 = (666.09, 1282.71)
SUN_ELEVATION = 38.62411


def oli_bands(level: str) -> list[str]:
    if level == "L1":
        return ["B2", "B3", "B4", "B5", "B10", "QA_PIXEL"]
    return ["SR_B2", "SR_B3", "SR_B4", "SR_B5", "ST_B10", "QA_PIXEL"]


def dn(suffix: str, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Deterministic DNs with a fill border (0, or 1 for QA_PIXEL) and some clouds in QA."""
    rng = np.random.default_rng([zlib.crc32(suffix.encode()), seed])  # not hash(): salted per process
    if suffix == "QA_PIXEL":
        values = np.where(rng.random((height, width)) < 0.3, 22280, 21824).astype("uint16")
        values[:, :2] = 1
        return values
    values = rng.integers(7000, 40000, (height, width)).astype("uint16")
    values[:, :2] = 0
    return values


def toa_reference(suffix: str, size: tuple[int, int] = (30, 40), seed: int = 0) -> np.ndarray:
    """Level-1 OLI top-of-atmosphere reflectance of a band written by :func:`write_product`, computed here."""
    values = dn(suffix, *size, seed).astype(np.float64)
    out = (OLI_REFLECTANCE[0] * values + OLI_REFLECTANCE[1]) / np.sin(np.radians(SUN_ELEVATION))
    return np.where(values == 0, np.nan, out)


def mtl_text(pid: str, files: dict[str, str], *, utm_zone: int, ul: tuple[float, float], stated: tuple[int, int],
             extra: str = "") -> str:
    """An ODL MTL.txt with the groups and names of a real Collection 2 product."""
    level = pid[5:9]
    band_lines = []
    for suffix, name in files.items():
        key = {"QA_PIXEL": "QUALITY_L1_PIXEL", "QA_RADSAT": "QUALITY_L1_RADIOMETRIC_SATURATION"}.get(suffix)
        key = key or ("BAND_" + suffix.split("B", 1)[1] if suffix.startswith(("B", "SR_B", "ST_B")) else suffix)
        band_lines.append(f'    FILE_NAME_{key} = "{name}"')
    lines, samples = stated
    rescaling = [
        *(f"    REFLECTANCE_MULT_BAND_{n} = {OLI_REFLECTANCE[0]:.4E}" for n in range(1, 10)),
        *(f"    REFLECTANCE_ADD_BAND_{n} = {OLI_REFLECTANCE[1]:.6f}" for n in range(1, 10)),
        f"    RADIANCE_MULT_BAND_10 = {OLI_RADIANCE_B10[0]:.4E}",
        f"    RADIANCE_ADD_BAND_10 = {OLI_RADIANCE_B10[1]:.5f}",
        f"    RADIANCE_MULT_BAND_6_VCID_1 = {ETM_RADIANCE_B6_1[0]}",
        f"    RADIANCE_ADD_BAND_6_VCID_1 = {ETM_RADIANCE_B6_1[1]}",
    ]
    spacecraft = {"LC08": "LANDSAT_8", "LC09": "LANDSAT_9", "LE07": "LANDSAT_7"}[pid[:4]]
    return "\n".join([
        "GROUP = LANDSAT_METADATA_FILE",
        "  GROUP = PRODUCT_CONTENTS",
        f'    LANDSAT_PRODUCT_ID = "{pid}"',
        f'    PROCESSING_LEVEL = "{level}"',
        *band_lines,
        f'    FILE_NAME_METADATA_ODL = "{pid}_MTL.txt"',
        "  END_GROUP = PRODUCT_CONTENTS",
        "  GROUP = IMAGE_ATTRIBUTES",
        f'    SPACECRAFT_ID = "{spacecraft}"',
        '    SENSOR_ID = "OLI_TIRS"',
        f"    WRS_PATH = {pid[10:13]}",
        f"    WRS_ROW = {pid[13:16]}",
        f"    DATE_ACQUIRED = {pid[17:21]}-{pid[21:23]}-{pid[23:25]}",
        '    SCENE_CENTER_TIME = "10:02:11.6780990Z"',
        "    CLOUD_COVER = 12.34",
        "    SUN_AZIMUTH = 150.1",
        f"    SUN_ELEVATION = {SUN_ELEVATION}",
        "  END_GROUP = IMAGE_ATTRIBUTES",
        "  GROUP = PROJECTION_ATTRIBUTES",
        '    MAP_PROJECTION = "UTM"',
        f"    UTM_ZONE = {utm_zone}",
        "    GRID_CELL_SIZE_REFLECTIVE = 30.00",
        f"    REFLECTIVE_LINES = {lines}",
        f"    REFLECTIVE_SAMPLES = {samples}",
        f"    THERMAL_LINES = {lines}",
        f"    THERMAL_SAMPLES = {samples}",
        f"    CORNER_UL_PROJECTION_X_PRODUCT = {ul[0] + 15:.1f}",
        f"    CORNER_UL_PROJECTION_Y_PRODUCT = {ul[1] - 15:.1f}",
        "  END_GROUP = PROJECTION_ATTRIBUTES",
        "  GROUP = LEVEL1_RADIOMETRIC_RESCALING",
        *rescaling,
        "  END_GROUP = LEVEL1_RADIOMETRIC_RESCALING",
        "  GROUP = LEVEL1_THERMAL_CONSTANTS",
        f"    K1_CONSTANT_BAND_10 = {OLI_K_B10[0]}",
        f"    K2_CONSTANT_BAND_10 = {OLI_K_B10[1]}",
        f"    K1_CONSTANT_BAND_6_VCID_1 = {ETM_K_B6[0]}",
        f"    K2_CONSTANT_BAND_6_VCID_1 = {ETM_K_B6[1]}",
        "  END_GROUP = LEVEL1_THERMAL_CONSTANTS",
        extra,
        "END_GROUP = LANDSAT_METADATA_FILE",
        "END",
        "",
    ])


def write_product(root: Path, pid: str, *, packing: str = "folder", lower: bool = False, top: bool = False,
                  size: tuple[int, int] = (30, 40), epsg: int = 32633, ul: tuple[float, float] = (300000.0, 5000000.0),
                  stated: tuple[int, int] | None = None, bands: list[str] | None = None, missing: tuple = (),
                  mtl_extra: str = "", seed: int = 0, mtl_ul: tuple[float, float] | None = None) -> Path:
    """Write one product and return its path.

    packing: "folder", "tar", "tgz" (".tar.gz") or "tgz_short" (".tgz"); lower: ``.tif``/``_MTL.txt``
    members in lower case; top: members under a ``<pid>/`` folder; stated: MTL (lines, samples), the
    real scene size by default (a crop: the raster is ``size``); mtl_ul: the scene corner the MTL states
    (the rasters' by default); missing: suffixes the MTL lists but the
    product does not hold.
    """
    height, width = size
    bands = bands or oli_bands(pid[5:7])
    ext = ".tif" if lower else ".TIF"
    files = {s: f"{pid}_{s}.TIF" for s in bands}  # what the MTL lists, as USGS writes it
    staging = root / f"_staging_{pid}_{packing}_{lower}_{top}"
    folder = staging / pid if top else staging
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in bands:
        if suffix in missing:
            continue
        data = dn(suffix, height, width, seed)
        with rasterio.open(folder / f"{pid}_{suffix}{ext}", "w", driver="GTiff", height=height, width=width, count=1,
                           dtype=data.dtype, crs=f"EPSG:{epsg}", transform=from_origin(*ul, 30, 30), tiled=True,
                           blockxsize=16, blockysize=16, compress="deflate") as dst:
            dst.write(data, 1)
    zone = epsg - 32600
    mtl = mtl_text(pid, files, utm_zone=zone, ul=mtl_ul or ul, stated=stated or (7801, 7681), extra=mtl_extra)
    (folder / f"{pid}_MTL.txt").write_text(mtl)
    if packing == "folder":
        target = root / pid
        staging.rename(target)  # with top=True the files sit one folder down
        return target
    suffix = {"tar": ".tar", "tgz": ".tar.gz", "tgz_short": ".tgz"}[packing]
    target = root / f"{pid}{suffix}"
    options = {"mode": "w"} if packing == "tar" else {"mode": "w:gz", "compresslevel": 1}
    with tarfile.open(target, **options) as tar:
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(staging)))
    shutil.rmtree(staging)
    return target


class RepeatedBytes(io.RawIOBase):
    """A file of ``size`` bytes repeating ``pattern``, produced piece by piece."""

    def __init__(self, size: int, pattern: bytes) -> None:
        self.left, self.pattern = size, pattern

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        block = (self.pattern * (n // len(self.pattern) + 1))[:n]
        buffer[:n] = block
        self.left -= n
        return n
