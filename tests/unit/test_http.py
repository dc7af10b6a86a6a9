"""The one retry policy and the transfer limits (no network)."""

import time

import pytest

from lsru_geo._http import RetryPolicy, TransferLimits, is_retryable
from lsru_geo.exceptions import (
    ApiError,
    AuthenticationError,
    ConfigError,
    RateLimitError,
    ServerError,
    StallError,
    TransportError,
)


def failing(errors, result="done"):
    """An attempt that raises ``errors`` one after the other, then returns ``result``; counts its calls."""
    calls = []

    def attempt():
        calls.append(time.monotonic())
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return attempt, calls


POLICY = RetryPolicy(attempts=3, base=0.0, cap=0.0)


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (TransportError("drop"), True),
        (StallError("stalled"), True),
        (RateLimitError("slow down", service="m2m", status=200, code="RATE_LIMIT_USER"), True),
        (ServerError("bad gateway", service="espa", status=502), True),
        (ServerError("unavailable", service="download", status=503), True),
        (ServerError("internal", service="download", status=500), False),
        (ServerError("M2M SERVER_ERROR", service="m2m", status=200, code="SERVER_ERROR"), False),
        (AuthenticationError("no", service="espa", status=401), False),
        (ApiError("bad", service="m2m", status=400), False),
    ],
)
def test_one_rule_for_what_is_retried(error, retried):
    attempt, calls = failing([error])
    if retried:
        assert POLICY.run("x", attempt, sleep=lambda s: None) == "done" and len(calls) == 2
    else:
        with pytest.raises(type(error)):
            POLICY.run("x", attempt, sleep=lambda s: None)
        assert len(calls) == 1
    assert is_retryable(error) is retried


def test_attempts_are_counted_and_reported():
    attempt, calls = failing([TransportError("drop")] * 5)
    with pytest.raises(TransportError) as info:
        POLICY.run("x", attempt, sleep=lambda s: None)
    assert len(calls) == 3 and info.value.attempts == 3


def test_progress_restarts_the_count_but_a_stall_never_does():
    kept = [0]

    def attempt_with(error):
        def attempt():
            kept[0] += 10  # every try adds bytes to the part
            raise error

        return attempt

    with pytest.raises(TransportError):  # a drop after progress: a fresh set of tries, until progress stops
        RetryPolicy(attempts=2, base=0, cap=0).run(
            "x", _limited(attempt_with(TransportError("drop")), 7), sleep=lambda s: None, progress=lambda: kept[0]
        )
    assert kept[0] == 70  # seven tries that each moved forward, then two that did not
    kept[0] = 0
    tries = []

    def stalled():
        tries.append(1)
        kept[0] += 10
        raise StallError("stalled")

    with pytest.raises(StallError):
        RetryPolicy(attempts=2, base=0, cap=0).run("x", stalled, sleep=lambda s: None, progress=lambda: kept[0])
    assert len(tries) == 2


def _limited(attempt, times):
    """``attempt`` for ``times`` calls, then a failure that adds nothing."""
    count = [0]

    def wrapped():
        count[0] += 1
        if count[0] > times:
            raise TransportError("no progress")
        return attempt()

    return wrapped


def test_retry_after_is_honoured_and_a_long_one_refused():
    sleeps = []
    attempt, _ = failing([RateLimitError("wait", service="espa", status=429, retry_after=2.5)])
    POLICY.run("x", attempt, sleep=sleeps.append)
    assert sleeps == [2.5]
    attempt, calls = failing([RateLimitError("wait", service="espa", status=429, retry_after=3600)])
    with pytest.raises(RateLimitError):
        RetryPolicy(max_retry_after=60).run("x", attempt, sleep=sleeps.append)
    assert len(calls) == 1


def test_no_retry_starts_past_the_deadline():
    attempt, calls = failing([TransportError("drop")] * 3)
    with pytest.raises(TransportError):
        RetryPolicy(attempts=5, base=1.0, cap=1.0).run(
            "x", attempt, sleep=lambda s: None, deadline_at=time.monotonic() + 0.0
        )
    assert len(calls) == 1


def test_limits_come_from_the_environment(monkeypatch):
    assert TransferLimits.from_env() == TransferLimits(1024.0, 60.0, 1800.0)
    monkeypatch.setenv("LSRU_MIN_BYTES_PER_S", "10")
    monkeypatch.setenv("LSRU_STALL_SECONDS", "2.5")
    monkeypatch.setenv("LSRU_DEADLINE_SECONDS", "30")
    assert TransferLimits.from_env() == TransferLimits(10.0, 2.5, 30.0)
    monkeypatch.setenv("LSRU_DEADLINE_SECONDS", "soon")
    with pytest.raises(ConfigError, match="LSRU_DEADLINE_SECONDS must be a positive number of seconds, got 'soon'"):
        TransferLimits.from_env()


def test_errors_keep_their_fields_through_pickling():
    import pickle

    from lsru_geo.exceptions import DownloadError, UnsafeNameError

    error = pickle.loads(pickle.dumps(DownloadError("2 file(s) failed", failed={"/data/a.tar.gz": "HTTP 404"})))
    assert type(error) is DownloadError and error.failed == {"/data/a.tar.gz": "HTTP 404"}
    assert DownloadError.__annotations__["failed"] and DownloadError("one").failed == {}
    assert isinstance(pickle.loads(pickle.dumps(StallError("stalled"))), TransportError)
    assert str(pickle.loads(pickle.dumps(UnsafeNameError("unsafe file name '..'")))) == "unsafe file name '..'"


def test_requests_through_an_http_proxy_are_watched_too():
    from lsru_geo._http import _WATCHED_POOLS, HttpClient

    adapter = HttpClient("download").session.get_adapter("https://example.org/")
    assert adapter.poolmanager.pool_classes_by_scheme is _WATCHED_POOLS
    assert adapter.proxy_manager_for("http://127.0.0.1:3128").pool_classes_by_scheme is _WATCHED_POOLS
