"""Load: many users at once against one emulator, per-user limits enforced exactly, a 50,000-scene search and
orders of thousands of inputs.

A dedicated emulator with 50 accounts serves this module (the session emulator has one user). Each client reads
its own configuration file, so the ``LSRU_*`` credential variables are removed for these tests. Counts come from
the emulator's request log; a wrapper on the emulator's M2M endpoint table records which handlers of which user
ran at the same time.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from geopandas.testing import assert_geodataframe_equal

from lsru_geo import Espa, Order, OrderRejectedError, RateLimitError, Usgs
from lsru_geo._http import RetryPolicy
from lsru_geo.emulator import Emulator, EmulatorOptions, User
from lsru_geo.emulator._m2m import M2MService

USERS = 50
MONTPELLIER = (3.5, 43.4, 4.0, 44.0)
SMALL = {"collection": "landsat_ot_c2_l2", "bbox": MONTPELLIER, "begin": "2019-06-01", "end": "2019-06-30"}
YEAR = {"collection": "landsat_ot_c2_l2", "bbox": MONTPELLIER, "begin": "2019-01-01", "end": "2019-12-31"}
WORLD = {"collection": "landsat_ot_c2_l2", "begin": "2023-01-01", "end": "2023-01-31", "max_results": 50_000}
WORLD_HITS = 94_801  # Landsat 8-9 C2 L2 scenes of January 2023 in the emulator's catalogue (day-lit rows only)
BAND_FILES = ("SR_B4.TIF", "MTL.txt", "MTL.json")  # what bands=["red"] downloads per scene
QUICK = RetryPolicy(attempts=6, base=0.01, cap=0.05)
NO_RETRY = RetryPolicy(attempts=1)
PATIENT = RetryPolicy(attempts=20, base=0.01, cap=0.1)  # rides out RATE_LIMIT_USER from the user's other clients
HOLD = 2.0  # seconds a "slow" fault keeps one request in flight
ONE_USER_LIMIT = "You may only have one request in progress at a time. Please wait for it to complete."


def name(i: int) -> str:
    return f"load{i:02d}"


@pytest.fixture(scope="module")
def server():
    users = [
        User(name(i), token=f"token-{i:02d}", password=f"password-{i:02d}", email=f"{name(i)}@example.com",
             contact_id=700_000 + i)
        for i in range(USERS)
    ]  # fmt: skip
    with Emulator(users=users) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def confs(server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("load-accounts")
    return [server.write_config(folder / f"{name(i)}.lsru", name(i)) for i in range(USERS)]


@pytest.fixture
def load(server, monkeypatch, tmp_path):
    """The module's emulator, reset, with the clients pointed at it and no credentials in the environment."""
    server.reset()
    monkeypatch.setenv("LSRU_M2M_URL", server.m2m_url)
    monkeypatch.setenv("LSRU_ESPA_URL", server.espa_url)
    for variable in ("LSRU_USERNAME", "LSRU_TOKEN", "LSRU_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    yield server
    server.faults.clear()


def usgs(confs, i: int, retry: RetryPolicy = QUICK) -> Usgs:
    client = Usgs(conf=str(confs[i]))
    client._http.retry = retry
    return client


def espa(confs, i: int) -> Espa:
    client = Espa(conf=str(confs[i]))
    client._session.http.retry = QUICK
    return client


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def codes(emulator, service: str, endpoint: str) -> Counter:
    return Counter(e.code for e in emulator.log.select(service, endpoint))


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Overlap:
    """Wraps every M2M endpoint handler of the emulator to record how many ran at once, per user and in all."""

    def __init__(self, monkeypatch) -> None:
        self._lock = threading.Lock()
        self._running: Counter = Counter()
        self.most_per_user: Counter = Counter()
        self.most = 0
        for endpoint, handler in list(M2MService.ENDPOINTS.items()):
            if handler is not None:  # login-token is answered before the endpoint table
                monkeypatch.setitem(M2MService.ENDPOINTS, endpoint, self._wrap(handler))

    def _wrap(self, handler):
        def wrapped(service, payload, session):
            with self._lock:
                self._running[session.username] += 1
                self.most_per_user[session.username] = max(
                    self.most_per_user[session.username], self._running[session.username]
                )
                self.most = max(self.most, sum(self._running.values()))
            try:
                return handler(service, payload, session)
            finally:
                with self._lock:
                    self._running[session.username] -= 1

        return wrapped


def run_together(functions, timeout: float = 120.0):
    """Call every function in its own thread, released at the same moment; return their results in order."""
    barrier = threading.Barrier(len(functions))

    def start(function):
        barrier.wait(timeout=timeout)
        return function()

    with ThreadPoolExecutor(len(functions)) as pool:
        futures = [pool.submit(start, f) for f in functions]
        return [f.result(timeout=timeout) for f in futures]


def attempt(call):
    """``call()``'s result, or the RateLimitError it raised."""
    try:
        return call()
    except RateLimitError as error:
        return error


def count_retries(client: Usgs, counter: Counter, key) -> None:
    """Count the client's retries (each one sleeps once before it) in ``counter[key]``."""

    def sleep(seconds: float) -> None:
        counter[key] += 1  # Counter updates of one key from several threads: each client has its own key here
        time.sleep(seconds)

    client._http.sleep = sleep


def band_file_downloads(client: Usgs, entity_id: str) -> list[dict]:
    """``{entityId, productId}`` of every band file of one scene, from ``download-options``."""
    options = client.request(
        "download-options",
        {"datasetName": "landsat_ot_c2_l2", "entityIds": [entity_id], "includeSecondaryFileGroups": True},
    )
    files = {(s["entityId"], s["id"]) for o in options for s in o["secondaryDownloads"]}
    return [{"entityId": e, "productId": p} for e, p in sorted(files)]


# -- (a) many users at once -------------------------------------------------------------------------------------------


def test_fifty_users_search_and_download_at_once(load, confs, monkeypatch, tmp_path):
    reference = usgs(confs, 0).search(**SMALL)  # single-threaded, before the crowd
    assert len(reference) == 7
    wanted = sorted(f"{d}_{suffix}" for d in reference.display_id[:1] for suffix in BAND_FILES)
    load.log.clear()
    overlap = Overlap(monkeypatch)

    def one_user(i):
        client = usgs(confs, i)
        found = client.search(**SMALL)
        paths = client.download(found.head(1), tmp_path / name(i), bands=["red"], poll=0.05, workers=2)
        return found, paths

    results = run_together([lambda i=i: one_user(i) for i in range(USERS)])

    emulator_files = load.options.cache_dir / "m2m"
    for i, (found, paths) in enumerate(results):
        assert_geodataframe_equal(found, reference)  # same ids, footprints, every column
        assert sorted(p.name for p in paths) == wanted
        assert {p.parent.parent for p in paths} == {tmp_path / name(i)}
        assert {p.name: md5(p) for p in paths} == {p.name: md5(emulator_files / p.name) for p in paths}
    m2m = Counter((e.endpoint, e.status, e.code) for e in load.log.select("m2m"))
    assert m2m == {
        ("login-token", 200, None): USERS,
        ("scene-search", 200, None): USERS,
        ("download-options", 200, None): USERS,
        ("download-request", 200, None): USERS,
    }  # no RATE_LIMIT_USER: users never limit each other
    assert Counter(e.status for e in load.log.select("download")) == {200: USERS * len(wanted)}
    assert set(overlap.most_per_user) == {name(i) for i in range(USERS)}
    assert max(overlap.most_per_user.values()) == 1
    assert overlap.most >= 2  # different users' requests were served at the same time


def test_threads_sharing_one_client_never_trip_the_user_limit(load, confs):
    client = usgs(confs, 3, NO_RETRY)
    reference = client.search(**SMALL)
    results = run_together([lambda: client.search(**SMALL)] * 12)
    for found in results:
        assert_geodataframe_equal(found, reference)
    assert codes(load, "m2m", "scene-search") == {None: 13}  # the client's lock sends one request at a time


# -- (b) per-user limits, exactly --------------------------------------------------------------------------------------


def test_one_users_concurrent_requests_are_refused_while_one_is_in_flight(load, confs):
    racers, others = 8, 8
    reference = usgs(confs, 1).search(**SMALL)
    holder = usgs(confs, 0, NO_RETRY)
    same_user = [usgs(confs, 0, NO_RETRY) for _ in range(racers)]
    other_users = [usgs(confs, 1 + k, NO_RETRY) for k in range(others)]
    for client in [holder, *same_user, *other_users]:
        client.login()  # login-token is not an M2M request in flight
    load.log.clear()
    load.faults.add("m2m", "scene-search", "slow", seconds=HOLD, times=1)

    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(holder.search, **SMALL)
        wait_for(lambda: ("m2m", "scene-search", "slow") in load.faults.injected)  # it counts as in flight now
        answers = run_together([lambda c=c: attempt(lambda: c.search(**SMALL)) for c in same_user + other_users])
        window_still_open = not held.done()
        held_result = held.result(timeout=30)

    assert window_still_open  # every answer below came while the held request was in flight
    refused, answered = answers[:racers], answers[racers:]
    assert all(isinstance(e, RateLimitError) and e.code == "RATE_LIMIT_USER" for e in refused)
    assert {e.message for e in refused} == {ONE_USER_LIMIT}
    for found in [*answered, held_result]:
        assert_geodataframe_equal(found, reference)
    assert codes(load, "m2m", "scene-search") == {"RATE_LIMIT_USER": racers, None: 1 + others}
    assert codes(load, "m2m", "*") == {"RATE_LIMIT_USER": racers, None: 1 + others}


def test_with_retries_every_request_of_one_user_gets_through_one_at_a_time(load, confs, monkeypatch):
    threads = 8
    reference = usgs(confs, 2).search(**SMALL)
    clients = [usgs(confs, 0, PATIENT) for _ in range(threads)]
    retries = Counter()
    for k, client in enumerate(clients):
        client.login()
        count_retries(client, retries, k)
    load.log.clear()
    load.faults.add("m2m", "scene-search", "slow", seconds=1.0, times=1)  # the first one in keeps the user busy
    overlap = Overlap(monkeypatch)

    results = run_together([lambda c=c: c.search(**SMALL) for c in clients])

    for found in results:
        assert_geodataframe_equal(found, reference)
    answers = codes(load, "m2m", "scene-search")
    assert answers[None] == threads
    assert answers["RATE_LIMIT_USER"] == sum(retries.values())  # each refusal was retried, nothing else was
    assert answers["RATE_LIMIT_USER"] >= threads - 1  # all but the first found the user busy at least once
    assert set(answers) == {None, "RATE_LIMIT_USER"}
    assert overlap.most_per_user == {name(0): 1}


def test_download_request_limit_is_exact(load, confs, monkeypatch):
    monkeypatch.setattr(load.options, "download_limit_recent", 7)
    client, other = usgs(confs, 0, NO_RETRY), usgs(confs, 1, NO_RETRY)
    scene = client.search(**SMALL).entity_id.iloc[0]
    files = band_file_downloads(client, scene)
    assert len(files) >= 8
    remaining = []
    for download in files[:7]:
        answer = client.request("download-request", {"downloads": [download], "label": "limit"})
        assert len(answer["newRecords"]) == 1 and answer["failed"] == []
        remaining.append(answer["remainingLimits"][0]["recentDownloadCount"])
    assert remaining == [6, 5, 4, 3, 2, 1, 0]
    with pytest.raises(RateLimitError) as info:
        client.request("download-request", {"downloads": [files[7]], "label": "limit"})
    assert info.value.code == "RATE_LIMIT_USER_DL"
    assert [e.code for e in load.log.select("m2m", "download-request")] == [None] * 7 + ["RATE_LIMIT_USER_DL"]
    assert client.request("download-retrieve", {"label": "limit"})["queueSize"] == 7
    # the limit is per user: another account still gets all 7 at once, and not one more
    assert len(other.request("download-request", {"downloads": files[:7]})["newRecords"]) == 7
    with pytest.raises(RateLimitError, match="download limit"):
        other.request("download-request", {"downloads": files[7:8]})


def test_pending_download_limit_is_exact(load, confs, monkeypatch):
    monkeypatch.setattr(load.options, "download_limit_pending", 2)
    monkeypatch.setattr(load.options, "m2m_prepare_seconds", 3600)  # bundles stay pending until the clock moves
    client = usgs(confs, 0, NO_RETRY)
    scenes = client.search(**SMALL).head(3)
    bundles = [
        {"entityId": o["entityId"], "productId": o["id"]}
        for o in client.request(
            "download-options", {"datasetName": "landsat_ot_c2_l2", "entityIds": list(scenes.entity_id)}
        )
        if o["available"] and o["downloadSystem"] == "dds"
    ]
    assert len(bundles) == 3
    answer = client.request("download-request", {"downloads": bundles[:2]})
    assert len(answer["preparingDownloads"]) == 2 and answer["remainingLimits"][0]["pendingDownloadCount"] == 0
    with pytest.raises(RateLimitError) as info:
        client.request("download-request", {"downloads": bundles[2:]})
    assert info.value.code == "RATE_LIMIT_USER_DL"
    load.clock.advance(seconds=3600)  # the two are ready: nothing pending any more
    answer = client.request("download-request", {"downloads": bundles[2:]})
    assert len(answer["newRecords"]) == 1
    assert [e.code for e in load.log.select("m2m", "download-request")] == [None, "RATE_LIMIT_USER_DL", None]


def test_download_limit_holds_under_concurrent_requests(load, confs, monkeypatch):
    limit, users, threads = 7, 3, 10
    monkeypatch.setattr(load.options, "download_limit_recent", limit)
    files = band_file_downloads(usgs(confs, 0), usgs(confs, 0).search(**SMALL).entity_id.iloc[0])[:threads]
    clients = {(u, t): usgs(confs, u, PATIENT) for u in range(users) for t in range(threads)}
    retries = Counter()
    for key, client in clients.items():
        client.login()
        count_retries(client, retries, key)
    load.log.clear()

    def request(u, t):
        return attempt(lambda: clients[u, t].request("download-request", {"downloads": [files[t]], "label": "race"}))

    answers = run_together([lambda u=u, t=t: request(u, t) for u, t in clients])

    per_user = Counter()
    for (u, _t), answer in zip(clients, answers, strict=True):
        if isinstance(answer, RateLimitError):
            assert answer.code == "RATE_LIMIT_USER_DL"
        else:
            assert len(answer["newRecords"]) == 1
            per_user[u] += 1
    assert per_user == {u: limit for u in range(users)}  # never one more, whatever the interleaving
    for u in range(users):
        assert usgs(confs, u).request("download-retrieve", {"label": "race"})["queueSize"] == limit
    answered = codes(load, "m2m", "download-request")
    assert answered == Counter(
        {None: users * limit, "RATE_LIMIT_USER_DL": users * (threads - limit), "RATE_LIMIT_USER": sum(retries.values())}
    )


def test_open_unit_limit_holds_under_concurrent_orders(load, confs, monkeypatch):
    monkeypatch.setattr(load.options, "processing_seconds", 3600)  # every item stays open during the test
    monkeypatch.setattr(load.options, "open_unit_limit", 10)
    threads, size = 8, 3
    ids = list(usgs(confs, 0).search(**YEAR).display_id)
    assert len(ids) >= threads * size + 2
    batches = [ids[k * size : (k + 1) * size] for k in range(threads)]
    clients = [espa(confs, 4) for _ in range(threads)]
    load.log.clear()

    def place(client, batch):
        try:
            return client.order(batch, products=["l1"])
        except OrderRejectedError as error:
            return error

    answers = run_together([lambda c=c, b=b: place(c, b) for c, b in zip(clients, batches, strict=True)])

    placed = [a for a in answers if isinstance(a, Order)]
    refused = [a for a in answers if not isinstance(a, Order)]
    assert len(placed) == 3 and len(refused) == threads - 3  # 3 orders of 3 fill 9 of 10 units, whatever the order
    assert {e.errors[0] for e in refused} == {
        "Order will exceed open scene limit of 10, please reduce number of ordered scenes by 2"
    }
    assert all(e.status == 400 for e in refused)
    assert len({o.orderid for o in placed}) == 3
    ordered = sorted(item["name"] for o in placed for item in o.items_status)
    expected = sorted(i for a, b in zip(answers, batches, strict=True) if isinstance(a, Order) for i in b)
    assert ordered == expected
    posts = [e.status for e in load.log.select("espa", "order") if e.method == "POST"]
    assert sorted(posts) == [201] * 3 + [400] * (threads - 3)
    # the boundary, exactly: one more unit fits (10 of 10), the next does not
    spare = [i for i in ids if i not in ordered]
    assert isinstance(clients[0].order(spare[:1], products=["l1"]), Order)
    with pytest.raises(OrderRejectedError, match=r"open scene limit of 10, please reduce .* by 1$"):
        clients[0].order(spare[1:2], products=["l1"])
    # and the limit is per user
    assert isinstance(espa(confs, 5).order(spare[1:11], products=["l1"]), Order)


def test_emulator_limits_default_to_the_documented_values():
    options = EmulatorOptions()
    assert (options.download_limit_recent, options.download_limit_pending) == (15_000, 20_000)  # m2m-api.md 6.1
    assert options.open_unit_limit == 10_000  # espa-api.md 1.9


# -- (c) a 50,000-scene search -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(server, confs):
    """The 50,000-scene search, made once for this module (its seconds kept in ``attrs['seconds']``)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LSRU_M2M_URL", server.m2m_url)
        for variable in ("LSRU_USERNAME", "LSRU_TOKEN", "LSRU_PASSWORD"):
            patch.delenv(variable, raising=False)
        before = len(server.log.select("m2m", "scene-search"))
        started = time.perf_counter()
        scenes = usgs(confs, 9).search(**WORLD)
        seconds = time.perf_counter() - started
        pages = [e.code for e in server.log.select("m2m", "scene-search")[before:]]
    return scenes, seconds, pages


def test_a_50000_scene_search_returns_50000_distinct_scenes(world, record_property):
    world, seconds, pages = world
    record_property("search_seconds", round(seconds, 2))
    print(f"50,000-scene search: {seconds:.2f} s")
    assert len(world) == 50_000 and world.attrs["total_hits"] == WORLD_HITS
    assert world.entity_id.nunique() == 50_000 and world.display_id.nunique() == 50_000
    assert world.index.is_unique
    assert world.acquired.min().strftime("%Y-%m") == world.acquired.max().strftime("%Y-%m") == "2023-01"
    assert set(world.dataset) == {"landsat_ot_c2_l2"} and set(world.display_id.str[:4]) == {"LC08", "LC09"}
    assert world.geometry.is_valid.all() and not world.geometry.is_empty.any()
    assert pages == [None] * 5  # 10,000 scenes per page, one request at a time


# -- (d) big orders ----------------------------------------------------------------------------------------------------


def posts(emulator) -> list[int]:
    return [e.status for e in emulator.log.select("espa", "order") if e.method == "POST"]


def test_a_4000_input_order_is_one_order_of_4000_items(load, confs, world):
    ids = list(world[0].display_id[:4000])
    order = espa(confs, 10).order(ids, products=["l1"])
    assert isinstance(order, Order)
    assert sorted(item["name"] for item in order.items_status) == sorted(ids)
    opts = order.details["product_opts"]
    assert sum(len(v["inputs"]) for k, v in opts.items() if isinstance(v, dict) and "inputs" in v) == 4000
    assert posts(load) == [201]


def split_check(load, client, ids) -> list[int]:
    orders = client.order(ids, products=["l1"])
    assert isinstance(orders, list)
    names = [[item["name"] for item in o.items_status] for o in orders]
    assert sorted(n for group in names for n in group) == sorted(ids)  # every input exactly once
    assert posts(load) == [201] * len(orders)
    return [len(group) for group in names]


def test_an_order_over_5000_inputs_is_split_as_espa_requires(load, confs, world):
    ids = list(world[0].display_id[:5100])
    assert split_check(load, espa(confs, 11), ids) == [5000, 100]


def test_a_split_order_refused_part_way_hands_over_the_orders_already_placed(load, confs, world, monkeypatch):
    """Regression: when a later part of a split order was refused (here by the open-unit limit), the exception
    lost the orders already placed, so a caller could neither use nor cancel them, and ordering again doubled them."""
    monkeypatch.setattr(load.options, "open_unit_limit", 5_050)
    ids = list(world[0].display_id[:5100])  # split into 5,000 + 100
    client = espa(confs, 14)
    with pytest.raises(OrderRejectedError, match="please reduce number of ordered scenes by 50") as info:
        client.order(ids, products=["l1"])
    (first,) = info.value.placed
    assert [o.orderid for o in client.orders] == [first.orderid]
    assert len(first.items_status) == 5000
    assert str(info.value).endswith(f"(already placed by this call: {first.orderid})")
    assert posts(load) == [201, 400]


@pytest.mark.slow
def test_a_12000_input_order_is_split_into_three(load, confs, world, monkeypatch):
    monkeypatch.setattr(load.options, "open_unit_limit", 12_000)
    ids = list(world[0].display_id[:12_000])
    assert split_check(load, espa(confs, 12), ids) == [5000, 5000, 2000]


# -- heavier runs ------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_fifty_users_for_several_rounds_with_faults(load, confs, tmp_path):
    """50 users x 3 rounds of search + download while 5 % of M2M and download requests answer 503."""
    rounds = 3
    queries = [dict(SMALL, begin=f"2019-0{m}-01", end=f"2019-0{m}-28") for m in (4, 6, 8)]
    references = [usgs(confs, 0).search(**q) for q in queries]
    load.log.clear()
    load.faults.add("m2m", "*", "status", status=503, times=None, rate=0.05)
    load.faults.add("download", "*", "status", status=503, times=None, rate=0.05)

    def one_user(i):
        client = usgs(confs, i, PATIENT)
        out = []
        for r in range(rounds):
            found = client.search(**queries[r])
            paths = client.download(found.head(2), tmp_path / name(i) / str(r), bands=["red"], poll=0.05, workers=2)
            out.append((found, paths))
        return out

    results = run_together([lambda i=i: one_user(i) for i in range(USERS)], timeout=600)

    emulator_files = load.options.cache_dir / "m2m"
    for per_user in results:
        for (found, paths), reference in zip(per_user, references, strict=True):
            assert_geodataframe_equal(found, reference)
            assert len(paths) == 2 * len(BAND_FILES)
            assert all(md5(p) == md5(emulator_files / p.name) for p in paths)
    injected = Counter(service for service, _endpoint, label in load.faults.injected if label == "HTTP 503")
    served = Counter(e.service for e in load.log.entries if e.status == 503)
    assert served == injected and injected["m2m"] > 0 and injected["download"] > 0
    assert codes(load, "m2m", "*")["RATE_LIMIT_USER"] == 0
    m2m_ok = Counter(e.endpoint for e in load.log.select("m2m") if e.status == 200)
    assert m2m_ok["scene-search"] == USERS * rounds and m2m_ok["download-request"] == USERS * rounds


@pytest.mark.slow
def test_five_users_search_50000_scenes_at_once(load, confs, world):
    results = run_together([lambda i=i: usgs(confs, 20 + i).search(**WORLD) for i in range(5)], timeout=600)
    for found in results:
        assert_geodataframe_equal(found, world[0])
    assert codes(load, "m2m", "scene-search") == {None: 25}


def test_item_status_of_a_big_order_reads_each_item_once(load, confs, world, monkeypatch):
    """Regression: every item's view rescanned the whole order for its status, so item-status was quadratic
    (5.4 s for a 4,000-item order; the emulator now scans an order's items once)."""
    from lsru_geo.emulator._espa_orders import Item

    ids = list(world[0].display_id[:500])
    order = espa(confs, 13).order(ids, products=["l1"])
    reads = Counter()
    final = Item.final
    monkeypatch.setattr(Item, "final", property(lambda item: (reads.update(["final"]), final.fget(item))[1]))
    assert len(order.items_status) == 500
    assert reads["final"] <= 500  # was 2 x 500 x 500
