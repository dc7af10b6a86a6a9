"""M2M downloads: ``download-options``, ``download-request`` and ``download-retrieve`` for Level-1 and Level-2 scenes.

Each scene offers its product bundle ("Landsat Collection 2 Level-1 Product Bundle" or "... Level-2 Product
Bundle", a plain ``.tar`` of USGS-named files, ``.TIF`` upper case, MTL in txt/xml/json) and, as secondary
downloads with their own entity and product ids, every file of that bundle ("Landsat Collection 2 Level-1
Band File", entity ``L1_<product id>_<FILE>``, dataset ``landsat_band_files_c2_l1``; or the Level-2 ones). As
on the real service, superseded bundle products are listed with ``available: false``, the secondary downloads
are repeated under each product (clients de-duplicate), a secondary file must be requested with its own
entity id (pairing it with the scene's entity id fails), bundles are prepared for ``m2m_prepare_seconds`` of
emulated time before their URL is usable while band files are available at once, requests beyond the
per-user limits answer ``RATE_LIMIT_USER_DL``, and the default label is ``m2m_<requestId>_<YYYYMMDDhhmmss>``.

For a deterministic share of scenes (``bundle_unavailable_share``, a hash of the product id) the current
bundle is ``available: false`` while every individual file is available, as eodag users met on the real
service (CS-SI/eodag issues about "product not available" bundles); requesting that bundle fails.

Choices where the contract is silent (each tested): MSS (``landsat_mss_c2_l1``) lists its products with
``available: false`` (the emulator draws no MSS rasters); the Level-1 bundle product ids are, per dataset, the
first current/superseded pair of ``m2m-api.md`` 5.3 (``63231219fdd8c4e5`` is the superseded TM one, as the RM
vignette shows it unavailable), the ETM+/TM "Tile Product Files" ids are made up; a request for an unavailable
bundle is listed in ``failed`` with "Product not available"; a label longer than 50 characters is
``INPUT_PARAMETER_INVALID``; ``dataGroups`` and ``listId`` are not emulated (``INPUT_PARAMETER_INVALID``);
``download-retrieve`` keeps listing entries after they were downloaded.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import zlib
from dataclasses import dataclass, field

from . import _catalogue as cat
from ._files import FileHost

BUNDLE = "Landsat Collection 2 Level-2 Product Bundle"
BAND_FILE = "Landsat Collection 2 Level-2 Band File"
BAND_FILES_DATASET = "5f85f041c828327a"  # landsat_band_files_c2_l2
#: level -> (bundle product name, band-file product name, band-file dataset id, product code, file group)
LEVELS = {
    1: (
        "Landsat Collection 2 Level-1 Product Bundle",
        "Landsat Collection 2 Level-1 Band File",
        "5e81ff5f86d11d08",
        "D687",
        "ls_c2l1_all",
    ),
    2: (BUNDLE, BAND_FILE, BAND_FILES_DATASET, "D688", "ls_c2l2_all"),
}
# current and superseded bundle product ids per dataset (landsatxplore's DATA_PRODUCTS, m2m-api.md 5.3)
BUNDLE_IDS = {
    "landsat_ot_c2_l2": ("632210d4770592cf", "5e83d14fec7cae84"),
    "landsat_etm_c2_l2": ("632311068b0935a8", "5e83d12aed0efa58"),
    "landsat_tm_c2_l2": ("632312ba6c0988ef", "5e83d11933473426"),
    "landsat_ot_c2_l1": ("5e81f14ff4f9941c", "632211e26883b1f7"),
    "landsat_etm_c2_l1": ("5e83d0d0d2aaa488", "5e83d0d08fec8a66"),
    "landsat_tm_c2_l1": ("5e83d0a0f94d7d8d", "63231219fdd8c4e5"),
}
BAND_PRODUCT_IDS = {
    "landsat_ot_c2_l2": "5e83d14f567d0086",
    "landsat_etm_c2_l2": "5e83d12b3a5f3a1d",
    "landsat_tm_c2_l2": "5e83d119a5d0a4c6",
    "landsat_ot_c2_l1": "73ceb05468b7e8c2",  # the docs' download-options sample
    "landsat_etm_c2_l1": "73ceb0548f3d2e61",
    "landsat_tm_c2_l1": "73ceb0546e5c1f0a",
}
LABEL_LIMIT = 50


def bundle_unavailable(display_id: str, share: float) -> bool:
    """Tell whether a scene's bundle is listed ``available: false`` (a stable draw from the product id)."""
    return zlib.crc32(f"bundle|{display_id}".encode()) / 2**32 < share


class DdsHost(FileHost):
    """The M2M download host (``/download/<token>``, like ``dds.cr.usgs.gov``): the same Range, HEAD and fault
    handling as the ESPA host.
    """

    PREFIX = "/download/"


class Withheld(Exception):
    """A request for a bundle that download-options lists as unavailable."""


class DownloadFailure(Exception):
    """An M2M error answer raised by this module (errorCode, errorMessage)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Download:
    download_id: int
    username: str
    entity_id: str
    product_id: str
    display_id: str
    label: str
    url: str
    filesize: int
    requested: float
    ready: float
    product_name: str
    dataset_id: str


@dataclass
class DownloadState:
    downloads: dict[int, Download] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 26_107_136


def _secondary_id(entity_id: str) -> str:
    """A stable 16-character product id for a band file (real ones look like ``gy7bvmukhtkl910o``)."""
    digest = zlib.crc32(entity_id.encode()).to_bytes(4, "big") + zlib.adler32(entity_id.encode()).to_bytes(4, "big")
    return base64.b32encode(digest).decode().lower().rstrip("=")[:16].ljust(16, "0")


def _band_entity(display_id: str, suffix: str) -> str:
    """Entity id of one bundle file, in the real form ``L1_LC09_L1TP_..._02_T1_ANG_TXT`` (``L2_`` for Level-2)."""
    return f"L{display_id[6]}_{display_id}_{suffix.replace('.', '_').upper()}"


class Downloads:
    """The download queue of the M2M service (``emulator`` gives clock, files, options and users)."""

    def __init__(self, emulator) -> None:
        self.emulator = emulator
        self.state = DownloadState()

    def reset(self) -> None:
        self.state = DownloadState()

    # -- files ----------------------------------------------------------------------------------------
    def _spec(self, display_id: str):
        from ._espa_orders import scene_spec

        facts = cat.describe(display_id, self.emulator.clock.now().date())
        return scene_spec(facts) if facts else None

    def _bundle(self, display_id: str):
        from ._products import build_usgs_bundle

        spec = self._spec(display_id)
        return build_usgs_bundle(spec, self.emulator.options.cache_dir / "m2m", size=self.emulator.options.raster_size)

    def _band_file(self, display_id: str, suffix: str):
        from ._products import build_usgs_band_file

        spec = self._spec(display_id)
        return build_usgs_band_file(
            spec, suffix, self.emulator.options.cache_dir / "m2m", size=self.emulator.options.raster_size
        )

    # -- download-options -----------------------------------------------------------------------------
    def options(self, dataset: cat.Dataset, scenes: list[tuple[str, str]], include_secondary: bool) -> list[dict]:
        """Options of ``(entity_id, display_id)`` scenes of ``dataset``."""
        from ._products import usgs_bundle_members

        bundle_name, band_name, band_dataset, code, group = LEVELS[dataset.level]
        served = dataset.alias in BUNDLE_IDS
        answer = []
        for entity_id, display_id in scenes:
            spec = self._spec(display_id) if served else None
            secondary = []
            if spec is not None:
                for order, suffix in enumerate(usgs_bundle_members(spec)):
                    band_entity = _band_entity(display_id, suffix)
                    secondary.append(
                        {
                            "id": _secondary_id(band_entity),
                            "downloadName": suffix,
                            "displayId": f"{display_id}_{suffix}",
                            "entityId": band_entity,
                            "datasetId": band_dataset,
                            "available": True,
                            "filesize": self._band_file(display_id, suffix).stat().st_size,
                            "productName": band_name,
                            "productCode": code,
                            "bulkAvailable": True,
                            "downloadSystem": "dds",
                            "secondaryDownloads": [],
                            "fileGroups": [group],
                            "displayOrder": order,
                        }
                    )
            current, superseded = BUNDLE_IDS.get(dataset.alias, ("5e81f14ff4f9941c", "632211e26883b1f7"))
            common = {
                "displayId": display_id,
                "entityId": entity_id,
                "datasetId": dataset.dataset_id,
                "bulkAvailable": True,
                "secondaryDownloads": secondary if include_secondary else [],
            }
            available = spec is not None and not self._withheld(display_id)
            answer.append(
                {
                    "id": current,
                    "downloadName": None,
                    **common,
                    "available": available,
                    "filesize": self._bundle(display_id).stat().st_size if available else 0,
                    "productName": bundle_name,
                    "productCode": code,
                    "downloadSystem": "dds",
                }
            )
            answer.append(
                {
                    "id": superseded,
                    "downloadName": None,
                    **common,
                    "available": False,
                    "filesize": 0,
                    "productName": bundle_name,
                    "productCode": code,
                    "downloadSystem": "dds",
                }
            )
            if served:
                answer.append(
                    {
                        "id": BAND_PRODUCT_IDS[dataset.alias],
                        "downloadName": f"C2L{dataset.level} Tile Product Files",
                        **common,
                        "available": spec is not None,
                        "filesize": 0,
                        "productName": band_name,
                        "productCode": code,
                        "downloadSystem": "folder",
                    }
                )
        return answer

    def _withheld(self, display_id: str) -> bool:
        return bundle_unavailable(display_id, self.emulator.options.bundle_unavailable_share)

    # -- download-request -----------------------------------------------------------------------------
    def request(self, payload: dict, username: str, contact_id: int, request_id: int, lookup) -> dict:
        if payload.get("dataGroups") or payload.get("dataPaths"):
            raise DownloadFailure(
                "INPUT_PARAMETER_INVALID", "dataGroups and dataPaths are not supported by this service"
            )
        downloads = payload.get("downloads") or []
        if not isinstance(downloads, list) or not all(isinstance(d, dict) for d in downloads):
            raise DownloadFailure(
                "INPUT_PARAMETER_INVALID", "downloads must be a list of {entityId, productId} objects"
            )
        now = self.emulator.clock.timestamp()
        stamp = dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y%m%d%H%M%S")
        default_label = str(payload.get("label") or f"m2m_{request_id}_{stamp}")
        options = self.emulator.options
        failed, new_records, duplicates, available, preparing = [], {}, [], [], []
        invalid = 0
        with self.state.lock:
            mine = [d for d in self.state.downloads.values() if d.username == username]
            recent = sum(now - d.requested < 900 for d in mine)
            pending = sum(d.ready > now for d in mine)
            if (
                recent + len(downloads) > options.download_limit_recent
                or pending + len(downloads) > options.download_limit_pending
            ):
                raise DownloadFailure(
                    "RATE_LIMIT_USER_DL",
                    f"You have exceeded your download limit: {options.download_limit_recent} downloads in 15 minutes "
                    f"or {options.download_limit_pending} pending downloads",
                )
            for item in downloads:
                label = str(item.get("label") or default_label) if not payload.get("label") else default_label
                if len(label) > LABEL_LIMIT:
                    raise DownloadFailure("INPUT_PARAMETER_INVALID", f"label must be at most {LABEL_LIMIT} characters")
                try:
                    resolved = self._resolve(str(item.get("entityId", "")), str(item.get("productId", "")), lookup)
                except Withheld:
                    failed.append(
                        {
                            "entityId": item.get("entityId"),
                            "productId": item.get("productId"),
                            "errorMessage": "Product not available",
                        }
                    )
                    continue
                if resolved is None:
                    invalid += 1
                    failed.append(
                        {
                            "entityId": item.get("entityId"),
                            "productId": item.get("productId"),
                            "errorMessage": "Invalid scene",
                        }
                    )
                    continue
                display_id, product_name, dataset_id, source, prepare = resolved
                twin = next(
                    (d for d in mine if d.entity_id == item["entityId"] and d.product_id == item["productId"]), None
                )
                if twin is not None:
                    duplicates.append(
                        {"downloadId": twin.download_id, "entityId": twin.entity_id, "productId": twin.product_id}
                    )
                    continue
                download_id = self.state.next_id
                self.state.next_id += 1
                token = base64.b64encode(
                    json.dumps({"id": download_id, "contactId": contact_id}, separators=(",", ":")).encode()
                ).decode()
                url = self.emulator.dds.publish(f"download/{token}", source)
                record = Download(
                    download_id,
                    username,
                    item["entityId"],
                    item["productId"],
                    display_id,
                    label,
                    url,
                    source().stat().st_size,
                    now,
                    now + prepare,
                    product_name,
                    dataset_id,
                )
                self.state.downloads[download_id] = record
                mine.append(record)
                new_records[str(download_id)] = label
                entry = {"downloadId": download_id, "eulaCode": None, "url": url, "entityId": record.entity_id}
                if prepare:
                    preparing.append({**entry, "url": url.replace("/download/", "/download-staging/")})
                else:
                    available.append(entry)
            remaining = self._remaining(username, now)
        return {
            "availableDownloads": available,
            "preparingDownloads": preparing,
            "failed": failed,
            "newRecords": new_records,
            "duplicateProducts": duplicates,
            "numInvalidScenes": invalid,
            "remainingLimits": remaining,
        }

    def _resolve(self, entity_id: str, product_id: str, lookup):
        """What a (entityId, productId) pair downloads, or None when the pair is not a product."""
        for alias, (current, _) in BUNDLE_IDS.items():
            if product_id == current:
                dataset = cat.DATASETS[alias]
                scenes = lookup(dataset, entity_id, "entityId")
                if not len(scenes):
                    return None
                display_id = scenes.display_ids()[0]
                if self._withheld(display_id):
                    raise Withheld
                return (
                    display_id,
                    LEVELS[dataset.level][0],
                    dataset.dataset_id,
                    lambda display_id=display_id: self._bundle(display_id),
                    self.emulator.options.m2m_prepare_seconds,
                )
        if entity_id[:3] in ("L1_", "L2_") and product_id == _secondary_id(entity_id):
            from ._products import usgs_bundle_members

            display_id = entity_id[3:43]  # product ids are 40 characters: L2_<product id>_<SUFFIX_EXT>
            spec = self._spec(display_id)
            suffix = (
                next((m for m in usgs_bundle_members(spec) if _band_entity(display_id, m) == entity_id), None)
                if spec
                else None
            )
            if suffix is None:
                return None
            _, band_name, band_dataset, _, _ = LEVELS[int(entity_id[1])]
            return display_id, band_name, band_dataset, lambda: self._band_file(display_id, suffix), 0.0
        return None

    def _remaining(self, username: str, now: float) -> list[dict]:
        options = self.emulator.options
        mine = [d for d in self.state.downloads.values() if d.username == username]
        recent = sum(now - d.requested < 900 for d in mine)
        pending = sum(d.ready > now for d in mine)
        counts = {
            "recentDownloadCount": options.download_limit_recent - recent,
            "pendingDownloadCount": options.download_limit_pending - pending,
            "unattemptedDownloadCount": options.download_limit_pending - len(mine),
        }
        return [
            {"limitType": "user", "username": username, **counts},
            {"limitType": "ip", "ipAddress": "127.0.0.1", **counts},
        ]

    # -- download-retrieve ----------------------------------------------------------------------------
    def retrieve(self, payload: dict, username: str) -> dict:
        label = payload.get("label")
        now = self.emulator.clock.timestamp()
        with self.state.lock:
            mine = [
                d for d in self.state.downloads.values() if d.username == username and (not label or d.label == label)
            ]
        available, requested = [], []
        for d in mine:
            ready = d.ready <= now
            entry = {
                "url": d.url if ready else d.url.replace("/download/", "/download-staging/"),
                "label": d.label,
                "entityId": d.entity_id,
                "eulaCode": None,
                "filesize": d.filesize,
                "datasetId": d.dataset_id,
                "displayId": d.display_id,
                "downloadId": d.download_id,
                "statusCode": "A" if ready else "P",
                "statusText": "Available" if ready else "Preparing",
                "productCode": "D687" if "Level-1" in d.product_name else "D688",
                "productName": d.product_name,
                "collectionName": "Landsat Collection 2 Level-1"
                if "Level-1" in d.product_name
                else "Landsat Collection 2 Level-2",
            }
            (available if ready else requested).append(entry)
        return {"available": available, "requested": requested, "eulas": [], "queueSize": len(mine)}
