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

When fewer files remain than workers (the last file of a batch, or one big file), idle workers fetch byte ranges of
the files still running on connections of their own, into the same ``.part`` at the ranges' offsets, so one file
behind a per-connection cap arrives at up to ``workers`` times the cap; there are never more connections than
workers. Only a server that answers such a request with a ``206`` of exactly that range of the same file (size,
``ETag``/``Last-Modified``, sent as ``If-Range``) gets more than one connection per file, and only when it announces
``Accept-Ranges: bytes`` and a validator or the MD5 can tell versions apart; any other answer hands the range back to
the file's first stream, which reads on through it, so a server that ignores ``Range`` is read on one connection.
While a part has holes its sidecar lists the byte ranges it holds (``"ranges"``, recorded after the bytes are
written, never before), so an interrupted download resumes by fetching only the gaps; the size and MD5 are checked
over the whole file as before.
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
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from . import _archive, _gzindex
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
# a running file's remaining bytes are split with an idle worker only when both halves hold this much: each range
# costs a request (and, on the Internet, a connection set-up), worth it for megabytes, not for kilobytes
_MIN_RANGE = 1 << 20
# how often a stream of a file in several ranges records its progress in the sidecar (what a kill loses at most)
_CHECKPOINT_BYTES = 4 << 20
_CHECKPOINT_SECONDS = 1.0
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
    index_archives: bool = True,
) -> DownloadReport:
    """Download files into a folder, in parallel, resuming and verifying each one.

    Parameters
    ----------
    files : iterable of FileRequest or str
        The files (a plain string is a URL).
    folder : path
        Target folder, created if missing.
    workers : int
        Connections at once: files downloaded at once and, when fewer files than workers remain, byte ranges of
        the files still running (one file behind a per-connection cap arrives up to ``workers`` times faster).
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
    index_archives : bool
        Build the persistent read index (:mod:`lsru_geo._gzindex`) of each gzip tar once it is verified, in the
        worker that downloaded it, so that the product opens in place at once, from any process; False when the
        tarballs are about to be unpacked.

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
        index_archives=index_archives,
    )
    try:
        outcomes = engine.run(unique, workers)
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
    tarball = Path(path) / request.file_name
    download_files(
        [FileRequest(url, name=tarball.name)], path, workers=1, overwrite=overwrite, index_archives=False
    ).raise_for_failures()
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


class _Refused(Exception):
    """A helper's range cannot be used (not a ``206`` of that range of that file): its owner fetches it."""


class _Engine:
    """Downloads the files of one :func:`download_files` call with a fixed number of worker threads.

    A worker takes the next file and owns it until it is verified (its lock, its ``.part`` and retries). When
    no file is left to start, an idle worker helps a file still running: it takes the second half of the
    largest range a stream has yet to receive and fetches it with a ``Range`` request into the same ``.part``
    (a tail is split only while both halves hold :data:`_MIN_RANGE` bytes). Every worker holds at most one
    connection, so there are never more connections than workers.
    """

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
        index_archives: bool = False,
    ) -> None:
        self.folder = folder
        self.limits = limits
        self.index_archives = index_archives
        self.overwrite = overwrite
        self.check_complete = check_complete
        self.clients = clients
        self.cancel = threading.Event()
        self.retry = retry
        self.bars = bars
        self.received = 0
        # one lock for the ranges of every file, the work queue and the byte count; waiters wait on it
        self._cond = threading.Condition()
        self._pending: deque[tuple[str, FileRequest]] = deque()
        self._running = 0  # files taken by a worker and not finished
        self._jobs: list[_Job] = []  # files being transferred, that helpers may join
        self._outcomes: dict[str, tuple[str, object]] = {}

    def run(self, files: dict[str, FileRequest], workers: int) -> dict[str, tuple[str, object]]:
        """Download ``files`` (local name -> request) with ``workers`` threads; returns each file's outcome."""
        self._pending.extend(files.items())
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lsru-download") as pool:
            futures = [pool.submit(self._work) for _ in range(workers)]
            try:
                for future in futures:
                    future.result()
            except BaseException:  # Ctrl-C: stop the transfers (their .part files stay, to resume)
                self.stop()
                raise
        return self._outcomes

    def stop(self) -> None:
        """Cancel every transfer and wake the waiting workers."""
        self.cancel.set()
        with self._cond:
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            task = self._next_task()
            if task is None:
                return
            job, segment, item = task
            if item is not None:
                name, request = item
                outcome = self.fetch(request, name)
                with self._cond:
                    self._outcomes[name] = outcome
                    self._running -= 1
                    self._cond.notify_all()
            else:
                self._help(job, segment)

    def _next_task(self) -> tuple[Any, Any, Any] | None:
        """Return the next file to start, else a range of a running file to fetch; None once every file is done."""
        with self._cond:
            while True:
                if self.cancel.is_set():
                    return None
                if self._pending:
                    self._running += 1
                    return None, None, self._pending.popleft()
                if not self._running:
                    return None
                for job in sorted(self._jobs, key=_Job.remaining, reverse=True):
                    segment = self._claim(job, helper=True)
                    if segment is not None:
                        return job, segment, None
                self._cond.wait(1.0)  # woken when a file finishes or a range can be split

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
                        self._index(target)
                        return "skipped", target
                if md5 is None:
                    md5 = self._expected_md5(request)
                self._download(request, target, md5)
                self._index(target)
                return "downloaded", target
        except _Cancelled:
            return "failed", "cancelled"
        except (DownloadError, InvalidInputError) as error:
            return "failed", str(error)
        except OSError as error:
            return "failed", f"{target}: {type(error).__name__}: {error.strerror or error}"

    def _index(self, target: Path) -> None:
        """Build (or check) a verified gzip tar's read index; one that cannot be indexed is left to its opener."""
        if not self.index_archives or not target.name.lower().endswith((".tar.gz", ".tgz")):
            return
        try:
            _gzindex.ensure_index(target)
        except (InvalidInputError, OSError) as error:  # not a tar inside: opening it will say so clearly
            log.warning("%s: no read index built (%s)", target.name, error)

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
        with self._cond:
            self._jobs.append(job)
        try:
            size, digest = self.retrying(target.name, lambda: self._attempt(job), progress=job.kept)
            self._verify(job, size, digest)
            os.replace(part, target)
            job.forget_state()
        except OSError as error:
            if error.errno not in _DISK_FULL:
                raise
            self._stop_helpers(job)
            job.discard()  # a resume would meet the same wall; the space is better given back
            raise DownloadError(
                f"{target}: the disk is full or the file size limit was reached ({error.strerror}); "
                "the partial download was removed"
            ) from None
        finally:
            self._stop_helpers(job)  # before the part is renamed, discarded or left to resume
            with self._cond:
                self._jobs.remove(job)
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
                self._stop_helpers(job)
                job.discard()
        raise DownloadError(f"{job.target.name}: the remote file kept changing during the download")

    def _transfer(self, job: _Job) -> tuple[int, str | None]:
        """One attempt of the file's owner: fetch what is missing (helped by idle workers), then hash it."""
        if job.segments is None:
            self._resume_layout(job)
            if job.segments is not None and job.missing() == 0:
                if self._probe_complete(job):
                    return job.total, self._hash_rest(job)
        if job.segments is None:
            segment = _Segment(0, None, 0, busy=True)
            with self._cond:
                job.segments = [segment]
        else:
            job.bar.reset(job.kept(), job.total)
            segment = self._owner_segment(job)
        while segment is not None:
            self._fetch(job, segment, owner=True)
            segment = self._owner_segment(job)
        return job.total, self._hash_rest(job)

    def _resume_layout(self, job: _Job) -> None:
        """Read what the part holds from its sidecar; ``job.segments`` stays None when it cannot be trusted."""
        spans, state = job.resume_point()
        if not spans:
            return
        if _validator(state) is None and not (job.md5 is not None and state.get("total") is not None):
            # nothing would tell a changed file from the one the part began: splicing them would go unnoticed
            log.info("%s: no validator (ETag, Last-Modified) nor MD5; downloading from the start", job.target.name)
            job.discard()
            return
        job.total, job.etag, job.last_modified = state.get("total"), state.get("etag"), state.get("last_modified")
        job.multi = "ranges" in state
        segments, at = [], 0
        for start, end in spans:
            if start > at:
                segments.append(_Segment(at, start, at))
            segments.append(_Segment(start, end, end))
            at = end
        if job.total is None or at < job.total:
            segments.append(_Segment(at, job.total, at))
        job.start_hash(spans[0][1] if spans[0][0] == 0 else 0)
        with self._cond:
            job.segments = segments
        log.info("%s: resuming with %d of %s bytes already here", job.target.name, job.kept(), job.total or "?")

    def _probe_complete(self, job: _Job) -> bool:
        """Check with the server (a ``416``) that a part holding every byte is still of the same file."""
        headers = {**_IDENTITY, "Range": f"bytes={job.total}-"}
        validator = _validator(job.state())
        if validator:
            headers["If-Range"] = validator
        response = self.clients.get().send("GET", job.request.url, headers=headers, stream=True, limits=self.limits)
        with response:
            total = _unsatisfied_total(response)
            if response.status_code == 416 and total == job.total:
                return True
            if response.status_code != 416:
                _raise_for_status(response, job.request.url)
            raise _Restart(f"the server has {total} bytes but {job.total} are already here")

    def _owner_segment(self, job: _Job) -> _Segment | None:
        """Return the owner's next range: one nobody fetches, else a split of a helper's; None once all are here.

        While helpers are still at work the owner hashes what has arrived, so little is left to hash at the end.
        """
        while True:
            with self._cond:
                if self.cancel.is_set():
                    raise _Cancelled
                segment = self._claim(job, helper=False)
                if segment is not None or job.missing() == 0:
                    return segment
                frontier = job.frontier()
                if job.digest is None or frontier <= job.hashed:
                    self._cond.wait(1.0)
                    continue
            job.hash_to(frontier)

    def _claim(self, job: _Job, *, helper: bool) -> _Segment | None:
        """Under the lock: mark busy a range of ``job`` nobody fetches, or split the largest one in flight."""
        if job.segments is None or job.stopping or (helper and not job.ranges_ok):
            return None
        segment = next((s for s in job.segments if not s.busy and (s.end is None or s.filled < s.end)), None)
        if segment is None and job.ranges_ok:
            segment = self._split(job)
        if segment is not None:
            segment.busy = True
            if helper:
                job.helpers += 1
        return segment

    def _split(self, job: _Job) -> _Segment | None:
        busy = [s for s in job.segments if s.busy and s.end is not None]
        largest = max(busy, key=lambda s: s.end - s.claimed, default=None)
        if largest is None or largest.end - largest.claimed < 2 * _MIN_RANGE:
            return None
        middle = largest.claimed + (largest.end - largest.claimed) // 2
        tail = _Segment(middle, largest.end, middle)
        largest.end = middle
        job.segments.insert(job.segments.index(largest) + 1, tail)
        job.multi = True
        job.save_state()  # from now on the part has holes: the sidecar lists what it holds before any is written
        log.debug("%s: fetching bytes %d-%d on another connection", job.target.name, middle, tail.end - 1)
        return tail

    def _stop_helpers(self, job: _Job) -> None:
        with self._cond:
            job.stopping = True
            while job.helpers:
                self._cond.wait(1.0)
            job.stopping = False

    def _help(self, job: _Job, segment: _Segment) -> None:
        """Fetch one range as a helper; whatever goes wrong, the range goes back to the file's owner."""
        try:
            self._fetch(job, segment, owner=False)
        except _Cancelled:
            pass
        except Exception as error:  # the owner fetches the range again, under its retry policy
            log.info("%s: bytes %d- on another connection: %s", job.target.name, segment.filled, error)
            with self._cond:
                job.ranges_ok = False
                self._give_back(job, segment)
        finally:
            with self._cond:
                segment.busy = False
                job.helpers -= 1
                if job.multi and job.segments is not None:
                    job.save_state()
                self._cond.notify_all()

    def _give_back(self, job: _Job, segment: _Segment) -> None:
        """Under the lock: hand an untouched range back to the stream before it, when its body runs on past it.

        This is how a server that ignores ``Range`` is met: the first stream simply reads on.
        """
        index = job.segments.index(segment)
        before = job.segments[index - 1] if index else None
        if (
            segment.filled == segment.start
            and before is not None
            and before.busy
            and before.end == segment.start
            and before.limit is not None
            and segment.end <= before.limit
        ):
            before.end = segment.end
            job.segments.remove(segment)
            segment.busy = True  # no longer in the layout: nobody may claim it

    def _fetch(self, job: _Job, segment: _Segment, *, owner: bool) -> None:
        """Request one range of the file (all of it, for a fresh download) and write its body into the part.

        A helper's range stays busy until :meth:`_help` has given it back; the owner's is freed here.
        """
        try:
            self._fetch_range(job, segment, owner)
        finally:
            if owner:
                with self._cond:
                    segment.busy = False
                    if job.multi and job.segments is not None:
                        job.save_state()
                    self._cond.notify_all()

    def _fetch_range(self, job: _Job, segment: _Segment, owner: bool) -> None:
        with self._cond:
            start, end = segment.filled, segment.end
            segment.limit = end if end is not None else job.total
        headers = dict(_IDENTITY)
        if job.total is not None or start:
            headers["Range"] = f"bytes={start}-" if end is None or end == job.total else f"bytes={start}-{end - 1}"
            validator = _validator(job.state())
            if validator:
                headers["If-Range"] = validator
        response = self.clients.get().send("GET", job.request.url, headers=headers, stream=True, limits=self.limits)
        with response:
            status = response.status_code
            _raise_for_status(response, job.request.url)
            if status == 206 and "Range" in headers:
                self._check_range(job, response, start, end, owner)
            elif status == 200 and owner:
                self._whole_file(job, response, segment, ranged="Range" in headers)
            elif not owner:
                raise _Refused(f"HTTP {status} to a Range request")
            else:
                raise DownloadError(f"{job.target.name}: unexpected HTTP {status} to a GET of {job.request.url}")
            self._stream(job, segment, response, owner)

    def _check_range(self, job: _Job, response: Any, start: int, end: int | None, owner: bool) -> None:
        """Check that a ``206`` is the range asked for, of the file begun (same size and validators)."""
        failure = _Restart if owner else _Refused
        value = response.headers.get("Content-Range", "")
        match = _CONTENT_RANGE.match(value)
        if match is None or match.group(3) == "*":
            raise failure(f"unusable Content-Range {value!r}")
        first, last, total = (int(g) for g in match.groups())
        if job.total is not None and total != job.total:
            raise failure(f"the remote file is now {total} bytes, was {job.total}")
        if first != start or last >= total or last + 1 != (total if end is None else end):
            raise failure(f"asked for bytes {start}-{'' if end is None else end - 1} and got {first}-{last}")
        for header, known in (("ETag", job.etag), ("Last-Modified", job.last_modified)):
            now = response.headers.get(header)
            if now and known and now != known:
                raise failure(f"the remote file changed ({header} {known} -> {now})")
        if job.total is None:  # a part begun from a body of unknown length
            with self._cond:
                job.total = total
                job.segments[-1].end = total

    def _whole_file(self, job: _Job, response: Any, segment: _Segment, *, ranged: bool) -> None:
        """Take a ``200`` to the owner's request as the whole file, from byte 0, on this one connection."""
        if ranged:
            log.info("%s: the server answered a range with the whole file; starting over", job.target.name)
            self._stop_helpers(job)
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        # old part first: a crash in between must not pair old bytes with the new file's validators
        job.part.unlink(missing_ok=True)
        job.state_path.unlink(missing_ok=True)
        job.part.touch()  # before helpers may open it
        with self._cond:
            segment.start = segment.filled = segment.claimed = 0
            segment.end = segment.limit = total
            segment.busy = True
            job.total, job.etag = total, response.headers.get("ETag")
            job.last_modified = response.headers.get("Last-Modified")
            job.multi = False
            job.save_state()
            job.segments = [segment]
            # a server that answered a range with the whole file may do it again; one connection, then
            job.ranges_ok = (
                not ranged
                and total is not None
                and total >= 2 * _MIN_RANGE
                and (_validator(job.state()) is not None or job.md5 is not None)
                and response.headers.get("Accept-Ranges", "").strip().lower() == "bytes"
            )
            job.start_hash(0)
            self._cond.notify_all()
        job.bar.reset(0, total)

    def _stream(self, job: _Job, segment: _Segment, response: Any, owner: bool) -> None:
        """Write a body into the part at its range's place, up to the range's end (which a split may move)."""
        pos = segment.filled
        hashing = owner and job.digest is not None and job.hashed == pos  # only the owner hashes
        checkpoint, checkpoint_at = pos + _CHECKPOINT_BYTES, time.monotonic() + _CHECKPOINT_SECONDS
        try:
            with open(job.part, "r+b", buffering=0) as out:  # unbuffered: bytes counted as filled are in the file
                out.seek(pos)
                for chunk in body_chunks(response):
                    if self.cancel.is_set():
                        raise _Cancelled
                    with self._cond:
                        if job.stopping and not owner:
                            return
                        end = segment.end
                        n = len(chunk) if end is None else min(len(chunk), end - pos)
                        segment.claimed = pos + n
                    data = memoryview(chunk)[:n]
                    _write_all(out, data)
                    if hashing:
                        job.digest.update(data)
                        job.hashed = pos + n
                    pos += n
                    with self._cond:
                        job.bar.update(n)
                        self.received += n
                        segment.filled = pos
                        if segment.end is not None and pos >= segment.end and not self._read_on(job, segment):
                            segment.busy = False  # with the fill, so a range given back is never left to nobody
                            if pos != segment.limit:
                                return  # cut short by a split: the rest of the body is not wanted
                            # else read on to the end of the body (no byte left), so the connection is reused
                        if job.multi and (pos >= checkpoint or time.monotonic() >= checkpoint_at):
                            job.save_state()
                            checkpoint, checkpoint_at = pos + _CHECKPOINT_BYTES, time.monotonic() + _CHECKPOINT_SECONDS
        except TransportError as error:
            of = f"{job.total:,}" if job.total is not None else "?"
            what = "stalled" if isinstance(error, StallError) else "connection dropped"
            raise type(error)(f"{what} after {job.kept():,} of {of} bytes ({error})") from None
        if segment.end is None:  # a body of unknown length ends the file
            with self._cond:
                segment.end = job.total = pos
            return
        if pos >= segment.end:
            return
        raise TransportError(f"connection closed after {job.kept():,} of {job.total:,} bytes")

    def _read_on(self, job: _Job, segment: _Segment) -> bool:
        """Under the lock: at the end of its range, take on the untouched free ranges its body carries anyway.

        Those are ranges given back by helpers (a server that ignores ``Range``). Returns False when the stream
        has nothing more to read.
        """
        index = job.segments.index(segment) + 1
        while index < len(job.segments) and segment.limit is not None:
            after = job.segments[index]
            untouched = not after.busy and after.filled == after.start == segment.end
            if not untouched or after.end is None or after.end > segment.limit:
                break
            segment.end = after.end
            del job.segments[index]
        return segment.filled < segment.end

    def _hash_rest(self, job: _Job) -> str | None:
        """Wait for the helpers, then hash what the streams did not; the file's MD5, or None when none is expected."""
        with self._cond:
            while job.helpers:
                self._cond.wait(1.0)
        if job.digest is None:
            return None
        job.hash_to(job.total)
        return job.digest.hexdigest()


@dataclass
class _Segment:
    """Bytes ``[start, end)`` of a file; ``[start, filled)`` are in the part; one stream at a time fills it.

    ``end`` is None for a body of unknown length; a split moves it down while the range is streamed.
    ``claimed`` is past ``filled`` while a chunk is being written; ``limit`` is where the body of the request
    filling it ends (a split can be undone up to there).
    """

    start: int
    end: int | None
    filled: int
    busy: bool = False
    claimed: int = -1
    limit: int | None = None

    def __post_init__(self) -> None:
        self.claimed = max(self.claimed, self.filled)


@dataclass
class _Job:
    """One file being downloaded: its paths, expected MD5, progress bar and the ranges of its part.

    The part holds the file at its final offsets. Its sidecar (``.part.json``) records the URL, size and
    validators of the file; when several connections fill the part it also lists the byte ranges the part
    holds (``"ranges"``), rewritten as they grow and never ahead of the bytes written. Without that list the
    part holds ``[0, part size)``.
    """

    request: FileRequest
    target: Path
    part: Path
    state_path: Path
    md5: str | None
    bar: Any = None
    total: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    segments: list[_Segment] | None = None  # None until the owner knows what the part holds
    multi: bool = False  # the sidecar lists ranges
    ranges_ok: bool = False  # idle workers may fetch ranges of it
    stopping: bool = False
    helpers: int = 0
    digest: Any = None
    hashed: int = 0

    def part_size(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def kept(self) -> int:
        """Bytes of the file in the part (the retry policy's measure of progress)."""
        if self.segments is None:
            return self.part_size()
        return sum(s.filled - s.start for s in self.segments)

    def missing(self) -> int | None:
        if self.segments is None or self.total is None:
            return None
        return self.total - self.kept()

    def remaining(self) -> int:
        """Bytes still to come on the busiest stream (which file a helper joins first)."""
        if not self.segments:
            return 0
        return max((s.end - s.claimed for s in self.segments if s.busy and s.end is not None), default=0)

    def frontier(self) -> int:
        """Return the end of the bytes present without a gap from ``hashed`` on."""
        at = self.hashed
        for segment in self.segments or ():
            if segment.start <= at < segment.filled or (segment.start == at and segment.filled > at):
                at = segment.filled
        return at

    def resume_point(self) -> tuple[list[tuple[int, int]], dict]:
        """Return the byte ranges the part holds, sorted (empty when it cannot be trusted), and its sidecar."""
        size = self.part_size()
        if not size:
            return [], {}
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            state = None
        spans = _spans(state, size, self.request.url)
        if not spans:  # a part without its sidecar, or of another URL, cannot be checked against the remote file
            self.discard()
            return [], {}
        return spans, state

    def state(self) -> dict:
        state: dict[str, Any] = {
            "url": self.request.url,
            "total": self.total,
            "etag": self.etag,
            "last_modified": self.last_modified,
        }
        if self.multi:
            spans: list[list[int]] = []
            for segment in self.segments or ():
                if segment.filled > segment.start:
                    if spans and spans[-1][1] == segment.start:
                        spans[-1][1] = segment.filled
                    else:
                        spans.append([segment.start, segment.filled])
            state["ranges"] = spans
        return state

    def save_state(self) -> None:
        """Write the sidecar in one step (a torn one would be discarded, losing the part)."""
        temporary = self.state_path.with_name(self.state_path.name + ".tmp")
        temporary.write_text(json.dumps(self.state()))
        os.replace(temporary, self.state_path)

    def start_hash(self, prefix: int) -> None:
        """Start the MD5 (when one is expected) with the part's first ``prefix`` bytes."""
        self.digest = hashlib.md5() if self.md5 is not None else None  # ESPA publishes MD5s; not a security use
        self.hashed = 0
        if self.digest is not None:
            self.hash_to(prefix)

    def hash_to(self, end: int) -> None:
        """Feed the MD5 with the part's bytes from ``hashed`` to ``end``."""
        with open(self.part, "rb") as f:
            f.seek(self.hashed)
            while self.hashed < end:
                block = f.read(min(CHUNK_SIZE, end - self.hashed))
                if not block:
                    break
                self.digest.update(block)
                self.hashed += len(block)

    def forget_state(self) -> None:
        self.state_path.unlink(missing_ok=True)
        self.state_path.with_name(self.state_path.name + ".tmp").unlink(missing_ok=True)  # left by a kill mid-write

    def discard(self) -> None:
        self.segments = None
        self.multi = False
        self.ranges_ok = False
        self.total = self.etag = self.last_modified = None
        self.part.unlink(missing_ok=True)
        self.forget_state()


def _spans(state: object, size: int, url: str) -> list[tuple[int, int]]:
    """Return the ranges a sidecar says its part holds; [] unless it is a plausible sidecar of this URL."""
    if not isinstance(state, dict) or state.get("url") != url:
        return []
    total = state.get("total")
    if total is not None and (not isinstance(total, int) or size > total):
        return []
    if "ranges" not in state:
        return [(0, size)]
    ranges = state["ranges"]
    if total is None or not isinstance(ranges, list):
        return []
    spans, at = [], 0
    for item in ranges:
        if not (isinstance(item, list) and len(item) == 2 and all(type(v) is int for v in item)):
            return []
        start, end = item
        if not at <= start < end <= size:  # sorted, apart, and within what the part holds
            return []
        spans.append((start, end))
        at = end
    return spans


def _write_all(out: Any, data: memoryview) -> None:
    while data:
        written = out.write(data)
        data = data[written:]


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
