"""The download engine: resumable, verified, parallel file downloads (and the lsru 0.6.2 helpers on top).

Each file is streamed to ``<name>.part`` in the target folder and renamed to ``<name>`` only once its size
(``Content-Length``) and, when known, its MD5 have been checked, so a file under its final name is always
complete. An interrupted download resumes with ``Range: bytes=<part size>-`` only when the part can be
proven to belong to the file being served: by a validator (a strong ``ETag`` or ``Last-Modified`` kept in the
``<name>.part.json`` sidecar and sent as ``If-Range``), or else by a known size and MD5 that the whole file is
checked against. Without one the part is discarded and the file fetched from the start, since splicing two
versions of a file would go unnoticed. The response must be a ``206`` whose ``Content-Range`` starts at the
part's size, for the same file, or the part is discarded too: a server that ignores ``Range`` answers ``200``
with the whole file, and appending that would corrupt the file. What is retried, and how, is the one
:class:`~lsru_geo._http.RetryPolicy` of API calls; stalls (see :class:`~lsru_geo._http.TransferLimits`) count
as dropped connections; an attempt that added bytes to the part restarts the count. A full disk discards the
part (a resume would meet the same wall) and fails that file with a :class:`DownloadError` naming it. A lock file per
download (``<name>.lock``) lets several processes share a folder: the second one to take a lock finds the file
complete and skips it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from . import _archive
from ._http import HttpClient, RetryPolicy, TransferLimits, body_chunks, retry_after_seconds, status_error
from ._names import path_inside, safe_name
from .exceptions import (
    ApiError,
    ChecksumError,
    DownloadError,
    InvalidInputError,
    StallError,
    TransportError,
)

__all__ = [
    "DownloadReport",
    "FileRequest",
    "download_files",
    "fetch_md5",
    "parse_md5",
    "url_retrieve",
    "url_retrieve_and_unpack",
]

log = logging.getLogger("lsru_geo.download")

CHUNK_SIZE = 1 << 20
PART_SUFFIX = ".part"
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$")
# a .tar.gz served with "Content-Encoding: gzip" would be unpacked on the fly by requests; ask for the bytes as stored
_IDENTITY = {"Accept-Encoding": "identity"}
_MAX_RESTARTS = 3
_MAX_MD5_FILE = 64 * 1024  # an ESPA .md5 file is one line; a larger answer is not one
_DISK_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
T = TypeVar("T")


@dataclass(frozen=True)
class FileRequest:
    """One file to download.

    Attributes
    ----------
    url : str
        Where to get it (no authentication is sent: ESPA download URLs need none).
    name : str, optional
        Local file name; by default the last segment of the URL path.
    md5 : str, optional
        Expected MD5 (32 hex digits).
    md5_url : str, optional
        URL of an ESPA ``.md5`` file (``"<md5> <file name>"``) to read the expected MD5 from.
    size : int, optional
        Expected size in bytes, when known in advance (saves a ``HEAD`` when checking an existing file).
    """

    url: str
    name: str | None = None
    md5: str | None = None
    md5_url: str | None = None
    size: int | None = None

    @property
    def file_name(self) -> str:
        """The local file name, checked by the one name gate (:func:`~lsru_geo._names.safe_name`)."""
        if self.name is not None:
            return safe_name(self.name, "file name")
        name = unquote(urlsplit(self.url).path).rsplit("/", 1)[-1]
        try:
            return safe_name(name, "file name")
        except InvalidInputError as error:
            raise type(error)(f"cannot name a local file after {self.url!r} ({error}); pass name=") from None


@dataclass
class DownloadReport:
    """What :func:`download_files` did.

    Attributes
    ----------
    downloaded : list of Path
        Files fetched (completely or by resuming) in this call.
    skipped : list of Path
        Files found complete, left untouched.
    failed : dict of str to str
        Local path (``str``) -> reason, for files that could not be downloaded and verified (the key of
        :attr:`DownloadError.failed <lsru_geo.exceptions.DownloadError.failed>` too).
    bytes : int
        Bytes of the files received in this call (discarded ones included; ``.md5`` files not counted).
    seconds : float
        Wall time of the call.
    paths : list of Path
        Every file now present (downloaded or skipped), in request order.
    """

    downloaded: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    bytes: int = 0
    seconds: float = 0.0
    paths: list[Path] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        """Bytes received per second of wall time."""
        return self.bytes / self.seconds if self.seconds > 0 else 0.0

    def raise_for_failures(self) -> None:
        """Raise one :class:`~lsru_geo.exceptions.DownloadError` listing every failed file, if any failed."""
        if self.failed:
            lines = "\n".join(f"  {path}: {reason}" for path, reason in self.failed.items())
            raise DownloadError(f"{len(self.failed)} file(s) failed to download:\n{lines}", failed=self.failed)

    def summary(self) -> str:
        """One line: counts, bytes and throughput."""
        return (
            f"{len(self.downloaded)} downloaded, {len(self.skipped)} skipped, {len(self.failed)} failed; "
            f"{self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s ({self.throughput / 1e6:.1f} MB/s)"
        )

    def __str__(self) -> str:
        return self.summary()


def parse_md5(text: str, source: str = "checksum") -> str:
    """Return the digest of an ESPA ``.md5`` file, ``"<32-hex-md5> <file name>"``, in lower case.

    Examples
    --------
    >>> parse_md5("9E107D9D372BB6826BD81D3542A419D6 LC08.tar.gz")
    '9e107d9d372bb6826bd81d3542a419d6'
    """
    words = text.split()
    if not words or not _MD5.match(words[0]):
        raise ChecksumError(f"{source} does not hold an MD5 digest: {text[:80]!r}")
    return words[0].lower()


def fetch_md5(
    url: str, *, http: HttpClient | None = None, retry: RetryPolicy | None = None, limits: TransferLimits | None = None
) -> str:
    """Read an ESPA ``.md5`` file and return its digest (retried, stall rule and deadline applied, as API calls).

    Raises
    ------
    DownloadError
        The file could not be read (after retries).
    ChecksumError
        It does not start with 32 hexadecimal digits.
    """
    policy = retry or (http.retry if http is not None else HttpClient.DEFAULT_RETRY)
    client = http or HttpClient("download", retry=policy)
    try:
        text = _retrying(policy, url, lambda: _read_text(client, url, limits), time.sleep)
    finally:
        if http is None:
            client.close()
    return parse_md5(text, url)


def download_files(
    files: Iterable[FileRequest | str],
    folder: str | os.PathLike[str],
    *,
    workers: int = 4,
    overwrite: bool = False,
    check_complete: bool = True,
    progress: bool | None = None,
    http: HttpClient | None = None,
    retry: RetryPolicy | None = None,
    limits: TransferLimits | None = None,
) -> DownloadReport:
    """Download files into a folder, in parallel, resuming and verifying each one.

    Parameters
    ----------
    files : iterable of FileRequest or str
        The files (a plain string is a URL).
    folder : path
        Target folder, created if missing.
    workers : int
        Files downloaded at once.
    overwrite : bool
        Download again files that already exist (the old copy stays until the new one is verified).
    check_complete : bool
        When a file exists (and ``overwrite`` is False): compare it with the expected MD5 when known, else
        compare its size with the remote one (``HEAD``), and download it again if it differs. ``False`` trusts
        any existing file without a request.
    progress : bool or None
        Show tqdm bars on stderr: an aggregate bar, plus one per file when stderr is a terminal. ``None``
        (default) shows them only when stderr is a terminal.
    http : HttpClient, optional
        A client to share between the workers; by default each worker thread gets its own session.
    retry : RetryPolicy, optional
        Attempts and backoff for each file; by default the client's policy, or ``HttpClient.DEFAULT_RETRY``.
    limits : TransferLimits, optional
        Stall rule and deadline for headers; by default the client's, or the ``LSRU_*`` variables'.

    Returns
    -------
    DownloadReport
        Downloaded, skipped and failed files, bytes and throughput; ``report.raise_for_failures()`` turns
        failures into one :class:`~lsru_geo.exceptions.DownloadError`.
    """
    requests = [FileRequest(f) if isinstance(f, str) else f for f in files]
    names = [r.file_name for r in requests]  # invalid names are a caller's mistake: raise before any request
    if workers < 1:
        raise InvalidInputError(f"workers must be at least 1, got {workers}")
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DownloadError(f"cannot download into {folder}: it (or a folder above it) is a file") from None
    except OSError as error:
        raise DownloadError(f"cannot create the folder {folder}: {error.strerror or error}") from None
    for name in dict.fromkeys(names):  # a symbolic link under a file's name must not lead elsewhere
        path_inside(folder, name, "file name")
    policy = retry or (http.retry if http is not None else HttpClient.DEFAULT_RETRY)
    started = time.perf_counter()
    report = DownloadReport()

    unique: dict[str, FileRequest] = {}  # a file asked for twice is fetched once
    clashes: dict[int, str] = {}
    for index, (request, name) in enumerate(zip(requests, names, strict=True)):
        first = unique.setdefault(name, request)
        if first.url != request.url:
            clashes[index] = f"{request.url}: another file of this call, {first.url}, is also named {name!r}"

    show = sys.stderr.isatty() if progress is None else bool(progress)
    bars = _Progress(show, per_file=show and sys.stderr.isatty(), files=len(unique))
    clients = _Clients(http, policy)
    engine = _Engine(
        folder,
        overwrite=overwrite,
        check_complete=check_complete,
        clients=clients,
        retry=policy,
        bars=bars,
        limits=limits,
    )
    try:
        with ThreadPoolExecutor(
            max_workers=min(workers, max(1, len(unique))), thread_name_prefix="lsru-download"
        ) as pool:
            futures = {name: pool.submit(engine.fetch, request, name) for name, request in unique.items()}
            try:
                outcomes = {name: future.result() for name, future in futures.items()}
            except BaseException:  # Ctrl-C: stop the transfers (their .part files stay, to resume)
                engine.cancel.set()
                for future in futures.values():
                    future.cancel()
                raise
    finally:
        clients.close()
        bars.close()

    counted: set[str] = set()
    for index, name in enumerate(names):
        kind, value = ("failed", clashes[index]) if index in clashes else outcomes[name]
        path = folder / name
        if kind == "failed":
            report.failed.setdefault(str(path), str(value))
            continue
        report.paths.append(path)
        if name not in counted:
            counted.add(name)
            (report.downloaded if kind == "downloaded" else report.skipped).append(path)
    report.bytes = engine.received
    report.seconds = time.perf_counter() - started
    log.info("download into %s: %s", folder, report.summary())
    for path, reason in report.failed.items():
        log.info("failed: %s: %s", path, reason)
    return report


def url_retrieve(
    url: str, filename: str | os.PathLike[str], overwrite: bool = False, check_complete: bool = True
) -> str:
    """Download a file (lsru 0.6.2's generic file download function).

    Similar to ``urllib.request.urlretrieve``, with additional checks for already existing files and
    incomplete downloads (lsru 0.6.2 ``utils.url_retrieve``, on the resumable engine).

    Parameters
    ----------
    url : str
        URL of the file to retrieve.
    filename : path
        Local file name under which the downloaded content is written.
    overwrite : bool
        Download even when the local file already exists.
    check_complete : bool
        When the local file exists and ``overwrite`` is False, compare local and remote sizes and download
        again when they differ. Only meaningful with ``overwrite=False``.

    Returns
    -------
    str
        The file name.

    Raises
    ------
    DownloadError
        The file could not be downloaded (after retries).
    """
    path = Path(filename)
    report = download_files(
        [FileRequest(url, name=path.name)], path.parent, workers=1, overwrite=overwrite, check_complete=check_complete
    )
    report.raise_for_failures()
    return os.fspath(filename)


def url_retrieve_and_unpack(
    url: str,
    path: str | os.PathLike[str],
    overwrite: bool = False,
    *,
    max_members: int | None = _archive.DEFAULT_MAX_MEMBERS,
    max_size: int | None = _archive.DEFAULT_MAX_SIZE,
    max_ratio: float | None = _archive.DEFAULT_MAX_RATIO,
) -> str:
    """Download a tar archive and extract its content to a new directory.

    The directory is named after the remote file, without its archive extension, and created under
    ``path``. The tarball is downloaded next to it (resumably) and removed once unpacked.

    Parameters
    ----------
    url : str
        URL of the tar archive.
    path : path
        Folder under which the new directory is created.
    overwrite : bool
        Download and extract again even when the directory already exists.
    max_members, max_size, max_ratio
        Unpacking limits, as for :func:`~lsru_geo._archive.extract_tarball` (10,000 members, 20 GiB).

    Returns
    -------
    str
        The directory holding the extracted content.

    Raises
    ------
    DownloadError
        The archive could not be downloaded (after retries).
    UnsafeArchiveError
        A member would land outside the directory, is a link or device, or the archive exceeds a limit; nothing
        is unpacked (the verified tarball stays, to be inspected).
    """
    request = FileRequest(url)
    target = path_inside(path, _archive.product_name(request.file_name), "product folder")
    if target.is_dir() and not overwrite:
        return os.fspath(target)
    tarball = Path(url_retrieve(url, Path(path) / request.file_name, overwrite=overwrite))
    _archive.extract_tarball(
        tarball,
        path,
        name=target.name,
        overwrite=overwrite,
        max_members=max_members,
        max_size=max_size,
        max_ratio=max_ratio,
    )
    tarball.unlink(missing_ok=True)
    return os.fspath(target)


# -- the engine --------------------------------------------------------------------------------------------------


class _Restart(Exception):
    """The part cannot be resumed (remote changed, bad Content-Range): fetch the file from the start."""


class _Cancelled(Exception):
    pass


class _Engine:
    """Downloads single files; shared by the worker threads of one :func:`download_files` call."""

    def __init__(
        self,
        folder: Path,
        *,
        overwrite: bool,
        check_complete: bool,
        clients: _Clients,
        retry: RetryPolicy,
        bars: _Progress,
        limits: TransferLimits | None = None,
    ) -> None:
        self.folder = folder
        self.limits = limits
        self.overwrite = overwrite
        self.check_complete = check_complete
        self.clients = clients
        self.cancel = threading.Event()
        self.retry = retry
        self.bars = bars
        self.received = 0
        self._lock = threading.Lock()

    def fetch(self, request: FileRequest, name: str) -> tuple[str, object]:
        """Download one file; returns ``("downloaded"|"skipped", path)`` or ``("failed", reason)``."""
        target = self.folder / name
        try:
            with _FileLock(self.folder / f"{name}.lock"):
                md5 = None
                if target.exists() and not self.overwrite:
                    if not self.check_complete:
                        log.debug("%s: exists; kept unchecked", name)
                        return "skipped", target
                    try:
                        md5 = self._expected_md5(request)
                    except DownloadError as error:  # e.g. a purged order: fall back on the size
                        log.warning("%s: %s; checking the existing file by size", name, error)
                    if self._is_complete(request, target, md5):
                        return "skipped", target
                if md5 is None:
                    md5 = self._expected_md5(request)
                self._download(request, target, md5)
                return "downloaded", target
        except _Cancelled:
            return "failed", "cancelled"
        except (DownloadError, InvalidInputError) as error:
            return "failed", str(error)
        except OSError as error:
            return "failed", f"{target}: {type(error).__name__}: {error.strerror or error}"

    def _sleep(self, seconds: float) -> None:
        if self.cancel.wait(seconds):  # Ctrl-C in the caller's thread ends a backoff at once
            raise _Cancelled

    # - checks -

    def _expected_md5(self, request: FileRequest) -> str | None:
        if request.md5 is not None:
            return parse_md5(request.md5, "md5")
        if request.md5_url is None:
            return None
        client = self.clients.get()
        text = self.retrying(request.md5_url, lambda: _read_text(client, request.md5_url, self.limits))
        return parse_md5(text, request.md5_url)

    def retrying(self, what: str, attempt: Callable[[], T], progress: Callable[[], int] | None = None) -> T:
        return _retrying(self.retry, what, attempt, self._sleep, progress)

    def _is_complete(self, request: FileRequest, target: Path, md5: str | None) -> bool:
        name = target.name
        if md5 is not None:
            actual = _file_md5(target)
            if actual == md5:
                log.info("%s: complete (MD5 matches); skipped", name)
                return True
            log.info("%s: exists but its MD5 %s is not the expected %s; downloading again", name, actual, md5)
            return False
        expected = request.size
        if expected is None:
            client = self.clients.get()
            try:
                expected = self.retrying(request.url, lambda: _remote_size(client, request.url, self.limits))
            except DownloadError as error:
                # the local copy may well be complete; failing a file the user has would be worse
                log.warning("%s: exists, and its size could not be checked (%s); kept", name, error)
                return True
        size = target.stat().st_size
        if expected is None or size == expected:
            log.info("%s: complete (%d bytes); skipped", name, size)
            return True
        log.info("%s: exists with %d bytes, remote has %d; downloading again", name, size, expected)
        return False

    # - transfer -

    def _download(self, request: FileRequest, target: Path, md5: str | None) -> None:
        part = target.with_name(target.name + PART_SUFFIX)
        job = _Job(request, target, part, part.with_name(part.name + ".json"), md5)
        job.bar = self.bars.file(target.name)
        try:
            size, digest = self.retrying(target.name, lambda: self._attempt(job), progress=job.part_size)
            self._verify(job, size, digest)
            os.replace(part, target)
            job.state_path.unlink(missing_ok=True)
        except OSError as error:
            if error.errno not in _DISK_FULL:
                raise
            job.discard()  # a resume would meet the same wall; the space is better given back
            raise DownloadError(
                f"{target}: the disk is full or the file size limit was reached ({error.strerror}); "
                "the partial download was removed"
            ) from None
        finally:
            job.bar.close()
        log.info("%s: downloaded (%d bytes)", target.name, size)

    def _verify(self, job: _Job, size: int, digest: str | None) -> None:
        request = job.request
        if request.size is not None and size != request.size:
            job.discard()
            raise ChecksumError(f"{job.target.name}: size {size} is not the expected {request.size}; not kept")
        if job.md5 is None or digest == job.md5:
            return
        if request.md5_url is not None and request.md5 is None:
            # the .md5 may have been the wrong one (replaced since, or damaged): read it once more
            try:
                again = self._expected_md5(request)
            except DownloadError:
                again = None
            if again == digest:
                log.warning("%s: MD5 matches only a fresh read of %s; kept", job.target.name, request.md5_url)
                return
        job.discard()
        raise ChecksumError(f"{job.target.name}: MD5 {digest} is not the expected {job.md5}; the download was not kept")

    def _attempt(self, job: _Job) -> tuple[int, str | None]:
        for _ in range(_MAX_RESTARTS + 1):
            try:
                return self._transfer(job)
            except _Restart as why:
                log.info("%s: %s; downloading from the start", job.target.name, why)
                job.discard()
        raise DownloadError(f"{job.target.name}: the remote file kept changing during the download")

    def _transfer(self, job: _Job) -> tuple[int, str | None]:
        offset, state = job.resume_point()
        headers = dict(_IDENTITY)
        if offset:
            validator = _validator(state)
            if validator is None and not (job.md5 is not None and state.get("total") is not None):
                # nothing would tell a changed file from the one the part began: splicing them would go unnoticed
                log.info("%s: no validator (ETag, Last-Modified) nor MD5; downloading from the start", job.target.name)
                job.discard()
                offset, state = 0, {}
            else:
                headers["Range"] = f"bytes={offset}-"
                if validator:
                    headers["If-Range"] = validator
        client = self.clients.get()
        response = client.send("GET", job.request.url, headers=headers, stream=True, limits=self.limits)
        with response:
            status = response.status_code
            if status == 416 and offset:
                total = _unsatisfied_total(response)
                if total is not None and total == offset == state.get("total"):  # the part already holds it all
                    return offset, job.hash_part(offset)
                raise _Restart(f"the server has {total} bytes but {offset} are already here")
            _raise_for_status(response, job.request.url)
            if status == 206 and offset:
                total = self._check_resume(job, response, offset, state)
            elif status == 200:
                if offset:
                    log.info("%s: the server answered the resume with the whole file; starting over", job.target.name)
                offset = 0
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                # old part first: a crash in between must not pair old bytes with the new file's validators
                job.part.unlink(missing_ok=True)
                job.save_state(response, total)
            else:
                raise DownloadError(f"{job.target.name}: unexpected HTTP {status} to a GET of {job.request.url}")
            hasher = job.hasher(offset)
            job.bar.reset(offset, total)
            written = offset
            with open(job.part, "r+b" if offset else "wb") as out:
                out.seek(offset)
                out.truncate()
                try:
                    for chunk in body_chunks(response):
                        if self.cancel.is_set():
                            raise _Cancelled
                        out.write(chunk)
                        if hasher is not None:
                            hasher.update(chunk)
                        written += len(chunk)
                        job.bar.update(len(chunk))
                        with self._lock:
                            self.received += len(chunk)
                except TransportError as error:
                    of = f"{total:,}" if total is not None else "?"
                    what = "stalled" if isinstance(error, StallError) else "connection dropped"
                    raise type(error)(f"{what} after {written:,} of {of} bytes ({error})") from None
        if total is not None and written < total:
            raise TransportError(f"connection closed after {written:,} of {total:,} bytes")
        if total is not None and written > total:
            raise _Restart(f"the server sent {written} bytes, more than the {total} it announced")
        return written, hasher.hexdigest() if hasher is not None else None

    def _check_resume(self, job: _Job, response: Any, offset: int, state: dict) -> int:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match is None or match.group(3) == "*":
            raise _Restart(f"unusable Content-Range {response.headers.get('Content-Range')!r}")
        start, end, total = (int(g) for g in match.groups())
        if start != offset or end >= total:
            raise _Restart(f"asked for bytes {offset}- and got {start}-{end}")
        if state.get("total") is not None and total != state["total"]:
            raise _Restart(f"the remote file is now {total} bytes, was {state['total']}")
        for header, key in (("ETag", "etag"), ("Last-Modified", "last_modified")):
            now = response.headers.get(header)
            if now and state.get(key) and now != state[key]:
                raise _Restart(f"the remote file changed ({header} {state[key]} -> {now})")
        log.info("%s: resuming at byte %d of %d", job.target.name, offset, total)
        return total


@dataclass
class _Job:
    """One file being downloaded: its paths, expected MD5 and progress bar."""

    request: FileRequest
    target: Path
    part: Path
    state_path: Path
    md5: str | None
    bar: Any = None

    def part_size(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def resume_point(self) -> tuple[int, dict]:
        """Bytes already in the part (0 when it cannot be trusted) and its sidecar."""
        size = self.part_size()
        if not size:
            return 0, {}
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            state = None
        # a part without its sidecar, or of another URL, cannot be checked against the remote file
        if not isinstance(state, dict) or state.get("url") != self.request.url or size > (state.get("total") or size):
            self.discard()
            return 0, {}
        return size, state

    def save_state(self, response: Any, total: int | None) -> None:
        state = {
            "url": self.request.url,
            "total": total,
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
        }
        self.state_path.write_text(json.dumps(state))

    def hasher(self, offset: int) -> Any:
        """Return an MD5 fed with the part's first ``offset`` bytes, or None when no MD5 is expected."""
        if self.md5 is None:
            return None
        digest = hashlib.md5()  # ESPA publishes MD5 checksums; not a security use
        if offset:
            with open(self.part, "rb") as f:
                remaining = offset
                while remaining:
                    block = f.read(min(CHUNK_SIZE, remaining))
                    if not block:
                        break
                    digest.update(block)
                    remaining -= len(block)
        return digest

    def hash_part(self, size: int) -> str | None:
        hasher = self.hasher(size)
        return hasher.hexdigest() if hasher is not None else None

    def discard(self) -> None:
        self.part.unlink(missing_ok=True)
        self.state_path.unlink(missing_ok=True)


def _retrying(
    policy: RetryPolicy,
    what: str,
    attempt: Callable[[], T],
    sleep: Callable[[float], None],
    progress: Callable[[], int] | None = None,
) -> T:
    """Run ``attempt`` under the retry policy; its last error becomes a :class:`DownloadError` saying why."""
    try:
        return policy.run(what, attempt, sleep=sleep, progress=progress)
    except (ApiError, TransportError) as error:
        if not policy.retryable(error):
            raise DownloadError(f"{what}: {error}") from error
        wait = getattr(error, "retry_after", None)
        if wait is not None and wait > policy.max_retry_after:
            raise DownloadError(f"{what}: the server asks to wait {wait:g} s; not waiting: {error}") from error
        tries = getattr(error, "attempts", policy.attempts)
        raise DownloadError(f"{what}: gave up after {tries} attempt(s): {error}") from error


def _validator(state: dict) -> str | None:
    """Return the ``If-Range`` value of a part's sidecar: a strong ETag, else a Last-Modified date, or None."""
    etag = state.get("etag")
    if isinstance(etag, str) and etag and not etag.startswith("W/"):  # If-Range takes no weak ETag
        return etag
    modified = state.get("last_modified")
    return modified if isinstance(modified, str) and modified else None


def _raise_for_status(response: Any, url: str) -> None:
    status = response.status_code
    if status < 400:
        return
    message = f"GET {url}: HTTP {status} {response.reason or ''}".strip()
    raise status_error(status, message, service="download", url=url, retry_after=retry_after_seconds(response))


def _read_text(client: HttpClient, url: str, limits: TransferLimits | None = None) -> str:
    """Read a small text file (a ``.md5``) within the deadline; a larger answer is refused, not read whole."""
    response = client.send("GET", url, headers=_IDENTITY, stream=True, body_deadline=True, limits=limits)
    with response:
        _raise_for_status(response, url)
        data = b""
        for chunk in body_chunks(response):
            data += chunk
            if len(data) > _MAX_MD5_FILE:
                raise ChecksumError(f"{url} does not hold an MD5 digest: it is larger than {_MAX_MD5_FILE:,} bytes")
        return data.decode("ascii", "replace")


def _remote_size(client: HttpClient, url: str, limits: TransferLimits | None = None) -> int | None:
    response = client.send("HEAD", url, headers=_IDENTITY, allow_redirects=True, limits=limits)
    with response:
        _raise_for_status(response, url)
        length = response.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else None


def _unsatisfied_total(response: Any) -> int | None:
    match = _UNSATISFIED_RANGE.match(response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


# -- sessions, locks, progress -------------------------------------------------------------------------------------


class _Clients:
    """One HttpClient per worker thread (a requests.Session is not documented as thread-safe), or a shared one."""

    def __init__(self, shared: HttpClient | None, retry: RetryPolicy) -> None:
        self.shared = shared
        self.retry = retry
        self._local = threading.local()
        self._made: list[HttpClient] = []
        self._lock = threading.Lock()

    def get(self) -> HttpClient:
        if self.shared is not None:
            return self.shared
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = HttpClient("download", retry=self.retry)
            with self._lock:
                self._made.append(client)
        return client

    def close(self) -> None:
        with self._lock:
            for client in self._made:
                client.close()
            self._made.clear()


class _FileLock:
    """An exclusive lock on ``<name>.lock``, held for the whole download of one file, across processes.

    POSIX: ``flock`` (released by the kernel if the process dies). The holder removes the file before
    unlocking, so a process that locked a removed file sees it has the wrong inode and tries again.
    Windows: ``msvcrt.locking`` on the first byte, polled; the file is left in place.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> _FileLock:
        if os.name == "nt":
            self._lock_windows()
            return self
        import fcntl

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                held = os.fstat(fd)
                try:
                    current = os.stat(self.path)
                    same = (held.st_ino, held.st_dev) == (current.st_ino, current.st_dev)
                except FileNotFoundError:
                    same = False
            except BaseException:
                os.close(fd)
                raise
            if same:
                self.fd = fd
                return self
            os.close(fd)

    def _lock_windows(self) -> None:  # pragma: no cover - exercised on Windows only
        import msvcrt

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                self.fd = fd
                return
            except OSError:
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.fd is None:
            return
        if os.name == "nt":  # pragma: no cover
            import msvcrt

            os.lseek(self.fd, 0, os.SEEK_SET)
            msvcrt.locking(self.fd, msvcrt.LK_UNLCK, 1)
        else:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        os.close(self.fd)
        self.fd = None


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def reset(self, done: int, total: int | None) -> None:
        pass

    def close(self) -> None:
        pass


class _Progress:
    """An aggregate tqdm bar (bytes received, of bytes expected) and, in a terminal, one bar per file."""

    def __init__(self, enabled: bool, *, per_file: bool, files: int) -> None:
        self.enabled = enabled
        self.per_file = per_file
        self._lock = threading.Lock()
        self._free_slots: list[int] = []
        self._slots = 0
        self.bar = None
        if enabled:
            from tqdm import tqdm  # text bars: tqdm.auto needs ipywidgets in notebooks and warns without it

            self._tqdm = tqdm
            self.bar = tqdm(
                total=0, unit="B", unit_scale=True, unit_divisor=1024, desc=f"{files} file(s)", file=sys.stderr
            )

    def file(self, name: str) -> Any:
        if not self.enabled:
            return _NoBar()
        with self._lock:  # lines under the aggregate bar, reused as files finish
            if self._free_slots:
                slot = self._free_slots.pop()
            else:
                self._slots += 1
                slot = self._slots
        return _FileBar(self, name, slot)

    def _expect(self, nbytes: int) -> None:
        with self._lock:
            self.bar.total += nbytes
            self.bar.refresh()

    def _advance(self, nbytes: int) -> None:
        with self._lock:
            self.bar.update(nbytes)

    def _release(self, slot: int) -> None:
        with self._lock:
            self._free_slots.append(slot)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _FileBar:
    """Progress of one file; also keeps the aggregate bar's total in step across resumes and restarts."""

    def __init__(self, progress: _Progress, name: str, slot: int) -> None:
        self.progress = progress
        self.slot = slot
        self.received = 0  # bytes of this file received, all attempts
        self.announced = 0  # bytes of this file added to the aggregate total
        self.bar = None
        if progress.per_file:
            self.bar = progress._tqdm(
                total=None,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=name[:40],
                position=slot,
                leave=False,
                file=sys.stderr,
            )

    def reset(self, done: int, total: int | None) -> None:
        if total is not None:
            expected = self.received + total - done
            if expected > self.announced:
                self.progress._expect(expected - self.announced)
                self.announced = expected
        if self.bar is not None:
            self.bar.reset(total=total)
            self.bar.update(done)

    def update(self, n: int) -> None:
        self.received += n
        if self.bar is not None:
            self.bar.update(n)
        self.progress._advance(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.progress._release(self.slot)
