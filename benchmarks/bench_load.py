"""Load benchmark: many users at once, each with its own account and client, search and download against the
emulator running in its own process; the baseline is one user doing the same rounds alone, in the same run.

One round of one user: ``Usgs.search`` (a month over Montpellier, 5-7 scenes, one ``scene-search`` request) and
``Usgs.download`` of the first two scenes' red band and MTL files (``download-options``, ``download-request``, 6
files). Every search is compared with the single-user reference and every file with the emulator's own copy (MD5).

Reported: requests/s and rounds/s of the baseline and of the load run (and their ratio), then per endpoint the
requests, answers that were errors (HTTP >= 400, an M2M ``errorCode``, a dropped connection; every one is retried
by the client, so each error is also a retry), error rates and p50/p95 latency seen by the clients (for file
downloads, to the response headers; whole files separately), and what the emulator's log counted (rate-limit
answers, injected faults).

Run: ``python benchmarks/bench_load.py`` (50 users x 3 rounds, about a minute). Options: ``--users N``,
``--rounds R`` or ``--seconds S`` (each user repeats rounds until S seconds have passed), ``--fault-rate P`` (each
M2M and file request answers HTTP 503 with probability P), ``--clients-per-user K`` (K threads share each account,
so the service's one-request-at-a-time rule answers ``RATE_LIMIT_USER`` and the clients retry).
The emulator runs in a child process (like ``_emulator_process.py``, plus faults and a pipe to read its log).
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import platform
import re
import shutil
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BBOX = (3.5, 43.4, 4.0, 44.0)
MONTHS = ("2019-04", "2019-06", "2019-08")  # one query per round, in turn
BANDS = ["red"]  # SR_B4.TIF + MTL.txt + MTL.json per scene
SCENES_PER_ROUND = 2
SEED = 20261123
# the clients' M2M retries: quicker than the default at first, but enough attempts to wait out another client of
# the same account holding the user for seconds when the emulator is saturated (about 30 s of waits in all)
RETRY_ATTEMPTS, RETRY_BASE, RETRY_CAP = 30, 0.05, 2.0


def _serve(conn, users, options, fault_rate):
    """Child process: serve an emulator, then answer ``log``/``clear`` requests on ``conn`` until ``stop``."""
    from lsru_geo.emulator import Emulator, User

    emulator = Emulator(users=[User(**u) for u in users], seed=SEED, **options)
    if fault_rate > 0:
        for service in ("m2m", "download"):
            emulator.faults.add(service, "*", "status", status=503, times=None, rate=fault_rate)
    emulator.start()
    conn.send({"m2m": emulator.m2m_url, "espa": emulator.espa_url})
    while True:
        command = conn.recv()
        if command == "log":
            counts = Counter(
                (e.service, e.endpoint if e.service != "download" else "file", e.status, e.code, e.fault)
                for e in emulator.log.entries
            )
            conn.send(dict(counts))
        elif command == "clear":
            emulator.log.clear()
            conn.send(True)
        else:
            break
    emulator.stop()


class Recorder:
    """Client-side record of every HTTP request (``HttpClient.send``) and whole-file download, with latency."""

    M2M_CODE = re.compile(rb'"errorCode":"([A-Z_]+)"')

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.samples: list[tuple[str, str, bool, float]] = []  # (service, endpoint, error, seconds)

    def add(self, service: str, endpoint: str, error: bool, seconds: float) -> None:
        with self.lock:
            self.samples.append((service, endpoint, error, seconds))

    def install(self) -> None:
        from lsru_geo import _download, _http

        send, fetch, recorder = _http.HttpClient.send, _download._Engine.fetch, self

        def timed_send(client, method, url, **kwargs):
            endpoint = url.rstrip("/").rsplit("/", 1)[-1] if client.service == "m2m" else f"{method} (to headers)"
            started = time.perf_counter()
            try:
                response = send(client, method, url, **kwargs)
            except Exception:
                recorder.add(client.service, endpoint, True, time.perf_counter() - started)
                raise
            error = response.status_code >= 400
            if client.service == "m2m" and not kwargs.get("stream"):
                error = error or recorder.M2M_CODE.search(response.content) is not None
            recorder.add(client.service, endpoint, error, time.perf_counter() - started)
            return response

        def timed_fetch(engine, request, name):
            started = time.perf_counter()
            outcome = fetch(engine, request, name)
            recorder.add("download", "whole file", outcome[0] == "failed", time.perf_counter() - started)
            return outcome

        _http.HttpClient.send = timed_send
        _download._Engine.fetch = timed_fetch

    def take(self) -> list[tuple[str, str, bool, float]]:
        with self.lock:
            samples, self.samples = self.samples, []
        return samples


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def run_phase(clients, rounds, seconds, folder, references, emulator_files):
    """Every client does its rounds in its own thread; returns (wall seconds, rounds, correct rounds, failures).

    A round that raises counts as done and not correct; ``failures`` counts the errors by type and code.
    """
    barrier = threading.Barrier(len(clients))
    lock = threading.Lock()
    done, correct, failures = Counter(), Counter(), Counter()

    def one_round(index, client, r):
        month = MONTHS[r % len(MONTHS)]
        found = client.search("landsat_ot_c2_l2", bbox=BBOX, begin=f"{month}-01", end=f"{month}-28")
        target = folder / f"c{index:03d}" / f"r{r:03d}"
        paths = client.download(found.head(SCENES_PER_ROUND), target, bands=BANDS, poll=0.05, workers=2)
        reference_ids, reference_wkb, reference_files = references[month]
        ok = (
            list(found.entity_id) == reference_ids
            and list(found.geometry.to_wkb()) == reference_wkb
            and sorted(p.name for p in paths) == reference_files
            and all(md5(p) == md5(emulator_files / p.name) for p in paths)
        )
        shutil.rmtree(target, ignore_errors=True)
        return ok

    def work(index, client):
        barrier.wait()
        deadline = time.perf_counter() + seconds if seconds else None
        r = 0
        while (deadline is None and r < rounds) or (deadline is not None and time.perf_counter() < deadline):
            try:
                ok = one_round(index, client, r)
            except Exception as error:  # reported, not raised: the other users go on
                ok = False
                with lock:
                    failures[f"{type(error).__name__} {getattr(error, 'code', None) or ''}".strip()] += 1
            with lock:
                done[index] += 1
                correct[index] += ok
            r += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        for future in [pool.submit(work, i, c) for i, c in enumerate(clients)]:
            future.result()
    return time.perf_counter() - started, sum(done.values()), sum(correct.values()), failures


def table(samples, server_counts):
    rows = defaultdict(list)
    for service, endpoint, error, seconds in samples:
        rows[service, endpoint].append((error, seconds))
    lines = [
        f"  {'endpoint':<34} {'requests':>8} {'errors':>7} {'error rate':>10} {'p50 ms':>8} {'p95 ms':>8}",
    ]
    import numpy as np

    for (service, endpoint), values in sorted(rows.items()):
        errors = sum(e for e, _ in values)
        times = np.array([s for _, s in values]) * 1000
        lines.append(
            f"  {service + ' ' + endpoint:<34} {len(values):>8,} {errors:>7,} {errors / len(values):>10.2%} "
            f"{np.percentile(times, 50):>8.1f} {np.percentile(times, 95):>8.1f}"
        )
    codes = Counter()
    for (service, endpoint, status, code, fault), n in server_counts.items():
        if code:
            codes[f"{service} {endpoint} {code}"] += n
        if fault:
            codes[f"{service} {endpoint} injected {fault} (HTTP {status})"] += n
    summary = ", ".join(f"{k}: {v:,}" for k, v in sorted(codes.items())) or "none"
    served = sum(server_counts.values())
    lines.append(f"  emulator log: {served:,} requests served; error codes and injected faults: {summary}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="accounts working at once (default 50)")
    how_long = parser.add_mutually_exclusive_group()
    how_long.add_argument("--rounds", type=int, default=3, help="rounds per user (default 3)")
    how_long.add_argument("--seconds", type=float, help="run each phase this long instead of a number of rounds")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of M2M and file requests answering 503")
    parser.add_argument("--clients-per-user", type=int, default=1, help="threads sharing each account (default 1)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lsru-bench-load-"))
    users = [
        {"username": f"bench{i:03d}", "token": f"token-{i}", "password": f"password-{i}",
         "email": f"bench{i:03d}@example.com", "contact_id": 800_000 + i}
        for i in range(args.users + 2)  # the load run's accounts, then the reference's and the baseline's
    ]  # fmt: skip
    options = {"cache_dir": work / "emulator", "m2m_prepare_seconds": 0.0}
    context = mp.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, users, options, args.fault_rate), daemon=True)
    process.start()
    try:
        urls = parent.recv()
        os.environ.update({"LSRU_M2M_URL": urls["m2m"], "LSRU_ESPA_URL": urls["espa"], "HOME": str(work)})
        for variable in ("LSRU_USERNAME", "LSRU_TOKEN", "LSRU_PASSWORD"):
            os.environ.pop(variable, None)
        from lsru_geo import Usgs
        from lsru_geo._http import RetryPolicy

        RETRY = RetryPolicy(attempts=RETRY_ATTEMPTS, base=RETRY_BASE, cap=RETRY_CAP)

        def client(i):
            conf = work / f"{users[i]['username']}.lsru"
            conf.write_text(f"[usgs]\nusername = {users[i]['username']}\ntoken = {users[i]['token']}\n")
            conf.chmod(0o600)
            usgs = Usgs(conf=str(conf))
            usgs._http.retry = RETRY
            usgs.login()
            return usgs

        recorder = Recorder()
        recorder.install()
        # references, made by one user before any timing; they also generate every product file used
        references = {}
        reference_client = client(args.users)
        for month in MONTHS:
            found = reference_client.search("landsat_ot_c2_l2", bbox=BBOX, begin=f"{month}-01", end=f"{month}-28")
            paths = reference_client.download(found.head(SCENES_PER_ROUND), work / "reference", bands=BANDS)
            references[month] = (list(found.entity_id), list(found.geometry.to_wkb()), sorted(p.name for p in paths))
        emulator_files = options["cache_dir"] / "m2m"
        baseline_client = client(args.users + 1)
        recorder.take()

        rounds, seconds = args.rounds, args.seconds
        parent.send("clear")
        parent.recv()
        base_seconds, base_rounds, base_correct, base_failures = run_phase(
            [baseline_client], rounds, seconds, work / "baseline", references, emulator_files
        )
        base_samples = recorder.take()
        parent.send("log")
        base_server = parent.recv()

        clients = [client(i) for i in range(args.users) for _ in range(args.clients_per_user)]
        recorder.take()
        parent.send("clear")
        parent.recv()
        load_seconds, load_rounds, load_correct, load_failures = run_phase(
            clients, rounds, seconds, work / "load", references, emulator_files
        )
        load_samples = recorder.take()
        parent.send("log")
        load_server = parent.recv()
    finally:
        parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.terminate()
        shutil.rmtree(work, ignore_errors=True)

    def requests_of(samples):
        return sum(1 for s in samples if s[1] != "whole file")

    base_rate = requests_of(base_samples) / base_seconds
    load_rate = requests_of(load_samples) / load_seconds
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    length = f"{seconds:g} s" if seconds else f"{rounds} rounds"
    print(
        f"workload: a round = 1 search ({BBOX} over one month of 2019) + download of {SCENES_PER_ROUND} scenes x 3 "
        f"files (red band, MTL.txt, MTL.json); {length} per user; "
        f"fault rate {args.fault_rate:g}; {args.clients_per_user} client(s) per account; M2M retries: "
        f"{RETRY_ATTEMPTS} attempts, backoff {RETRY_BASE:g} s doubling up to {RETRY_CAP:g} s (full jitter)"
    )
    print(
        f"baseline, 1 user alone:   {base_rounds:>5,} rounds, {requests_of(base_samples):>6,} requests in "
        f"{base_seconds:6.2f} s: {base_rate:7.1f} requests/s, {base_rounds / base_seconds:6.2f} rounds/s; "
        f"correct {base_correct}/{base_rounds}"
    )
    print(
        f"load, {args.users} users x {args.clients_per_user}: {load_rounds:>5,} rounds, "
        f"{requests_of(load_samples):>6,} requests in {load_seconds:6.2f} s: {load_rate:7.1f} requests/s, "
        f"{load_rounds / load_seconds:6.2f} rounds/s; "
        f"correct {load_correct}/{load_rounds}"
    )
    print(
        f"throughput ratio, load / baseline: {load_rate / base_rate:.2f}x in requests/s (retries included), "
        f"{(load_rounds / load_seconds) / (base_rounds / base_seconds):.2f}x in rounds/s (useful work)"
    )
    print("baseline, per endpoint (client side):")
    print(table(base_samples, base_server))
    print("load, per endpoint (client side):")
    print(table(load_samples, load_server))
    all_correct = load_correct == load_rounds and base_correct == base_rounds
    verdict = "all results correct" if all_correct else "INCORRECT RESULTS"
    print(f"correctness: {verdict} (every search equal to the reference, every file's MD5 equal to the emulator's)")
    for phase, failures in (("baseline", base_failures), ("load", load_failures)):
        if failures:
            print(f"failed rounds, {phase}: " + ", ".join(f"{k}: {v}" for k, v in failures.most_common()))


if __name__ == "__main__":
    main()
