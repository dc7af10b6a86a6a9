"""Security: secrets never leak, credentials go only where they belong, unsafe archives are refused.

The leak audit runs the whole workflow under chaos at DEBUG level (every logger, urllib3 included) with
``verbose=True``, runs the command line with ``--verbose``, provokes every kind of error, and searches all of
it (log lines, printed output, exception messages and reprs, object reprs) for the token, the password, the
basic-auth header value and every M2M API key the emulator issued.
"""

from __future__ import annotations

import base64
import io
import secrets
import tarfile

import pytest
import requests
from workflow import collecting_logs, run_workflow

from lsru_geo import (
    ApiError,
    AuthenticationError,
    DownloadError,
    Espa,
    InvalidInputError,
    LsruError,
    NotFoundError,
    Order,
    Usgs,
    cli,
    utils,
)
from lsru_geo._archive import extract_tarball
from lsru_geo._http import HttpClient, RetryPolicy
from lsru_geo.emulator import Emulator, User
from lsru_geo.exceptions import UnsafeArchiveError

USER = User(
    username="alice",
    token=f"tok-{secrets.token_urlsafe(24)}",
    password=f"pw-{secrets.token_urlsafe(16)}",
    email="alice@example.com",
    contact_id=4242,
)


@pytest.fixture(scope="module")
def server():
    with Emulator(users=[USER], raster_size=64, error_rate=0.2, unavailable_rate=0.2) as emu:
        yield emu


@pytest.fixture
def alice(server, monkeypatch, tmp_path):
    server.reset()
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(HttpClient, "DEFAULT_RETRY", RetryPolicy(attempts=8, base=0.01, cap=0.1))
    monkeypatch.setattr(HttpClient, "DEFAULT_TIMEOUT", (5.0, 1.0))
    return server


def error_texts(error: BaseException) -> list[str]:
    """Message, repr and arguments of an exception and of everything it chains to."""
    texts = []
    while error is not None:
        texts += [str(error), repr(error), *map(repr, error.args), repr(vars(error))]
        error = error.__cause__ or error.__context__
    return texts


def test_no_secret_in_logs_output_reprs_or_errors(alice, monkeypatch, tmp_path, capsys):
    emu = alice
    keys: list[str] = []
    login = Usgs.login

    def recording_login(self):
        answer = login(self)
        keys.append(self.key.reveal())
        return answer

    monkeypatch.setattr(Usgs, "login", recording_login)
    texts: list[str] = []
    with collecting_logs(None) as collector:
        emu.chaos(0.05, delay=1.5, seed=11)
        result = run_workflow(emu, tmp_path / "products", verbose=True)
        emu.faults.clear()
        texts += [repr(o) for o in result.objects] + [str(o) for o in result.objects]
        order_id = result.orders[1].orderid

        # the command line, verbose, including its error paths (which print tracebacks)
        cli_runs = [
            [
                "--verbose",
                "search",
                "--bbox",
                "3.5",
                "43.4",
                "4.0",
                "44.0",
                "--begin",
                "2019-06-01",
                "--end",
                "2019-06-30",
            ],
            ["--verbose", "orders"],
            ["--verbose", "status", order_id],
            ["--verbose", "download", "--order", order_id, "--out", str(tmp_path / "cli")],
            ["--verbose", "status", "alice@example.com-0101-000000-000"],
        ]
        codes = [cli.main(argv) for argv in cli_runs]
        assert codes == [0, 0, 0, 0, 1]

        # every kind of error, with its chain
        errors: list[BaseException] = []
        for name, value in (("LSRU_TOKEN", "wrong-token"), ("LSRU_PASSWORD", "wrong-password")):
            with monkeypatch.context() as m:
                m.setenv(name, value)
                with pytest.raises(AuthenticationError) as caught:
                    Usgs().login() if name == "LSRU_TOKEN" else Espa().user
                errors.append(caught.value)
        with pytest.raises(InvalidInputError) as caught:
            Espa().order(["LC08_L2SP_196030_20190601_20200827_02_T1"], ["no-such-product"])
        errors.append(caught.value)
        with pytest.raises(NotFoundError) as caught:
            Order("nobody@example.com-0101-000000-000").status  # noqa: B018
        errors.append(caught.value)
        emu.faults.add("*", "*", "status", status=503, times=None)
        for call in (lambda: Usgs().search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4.0, 44.0)), lambda: Espa().user):
            with pytest.raises(ApiError) as caught:
                call()
            errors.append(caught.value)
        with pytest.raises(DownloadError) as caught:
            utils.url_retrieve(f"{emu.url}/orders/x/missing.tar.gz", tmp_path / "missing.tar.gz")
        errors.append(caught.value)
        emu.faults.clear()
        assert all(isinstance(e, LsruError) for e in errors)
        for error in errors:
            texts += error_texts(error)
    captured = capsys.readouterr()
    texts += [*collector.lines(), captured.out, captured.err]

    everything = "\n".join(texts)
    basic = base64.b64encode(f"{USER.username}:{USER.password}".encode()).decode()
    secret_values = {"token": USER.token, "password": USER.password, "basic auth": basic}
    secret_values.update({f"API key {i}": key for i, key in enumerate(dict.fromkeys(keys))})
    assert len(keys) >= 2  # several logins, and so several keys, were audited
    leaks = [what for what, value in secret_values.items() if value in everything]
    assert leaks == []
    # the audit saw the real traffic: DEBUG request lines, the verbose order bodies, tracebacks, faults
    assert "scene-search -> 200" in everything and '"inputs": [' in captured.out
    assert "Traceback" in captured.err and "503" in everything
    # and the credentials went where they belong: basic auth to ESPA only, the API key to M2M only
    for entry in emu.log.entries:
        assert entry.host == emu.url.removeprefix("http://")
        if entry.service == "download":
            assert entry.credentials == ()
        elif entry.service == "espa":
            assert "token" not in entry.credentials
        elif entry.service == "m2m":
            assert "basic" not in entry.credentials
            assert entry.credentials == (() if entry.endpoint == "login-token" else ("token",))


def other_host(emu, path: str) -> str:
    """The same emulator reached under another host name: a different origin to the client."""
    return emu.url.replace("127.0.0.1", "localhost") + path


def test_basic_auth_never_follows_a_redirect_to_another_host(alice):
    emu = alice
    emu.faults.add("espa", "user", "redirect", status=302, location=other_host(emu, "/api/v1/user"))
    with pytest.raises(AuthenticationError):
        Espa().user  # noqa: B018
    first, second = emu.log.select("espa")
    assert (first.host.startswith("127.0.0.1"), first.credentials) == (True, ("basic",))
    assert (second.host.startswith("localhost"), second.credentials) == (True, ())


def test_basic_auth_follows_a_redirect_on_the_same_host(alice):
    emu = alice
    emu.faults.add("espa", "user", "redirect", status=301, location=f"{emu.url}/api/v1/user")
    assert Espa().user["username"] == USER.username
    assert [(e.status, e.credentials) for e in emu.log.select("espa")] == [(301, ("basic",)), (200, ("basic",))]


def test_m2m_api_key_never_follows_a_redirect_to_another_host(alice):
    emu = alice
    usgs = Usgs()
    usgs.login()
    emu.faults.add(
        "m2m", "scene-search", "redirect", status=307, location=other_host(emu, "/api/api/json/stable/scene-search")
    )
    scenes = usgs.search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4.0, 44.0), begin="2019-06-01", end="2019-06-30")
    assert len(scenes) > 0
    elsewhere = [e for e in emu.log.select("m2m") if e.host.startswith("localhost")]
    assert len(elsewhere) == 1 and elsewhere[0].credentials == ()  # it answered AUTH_KEY_INVALID: a new login
    assert elsewhere[0].code == "AUTH_KEY_INVALID"


def test_requests_alone_would_leak_the_api_key(alice):
    """Why our session strips X-Auth-Token: plain requests forwards custom headers to any redirect target."""
    emu = alice
    emu.faults.add(
        "m2m", "permissions", "redirect", status=307, location=other_host(emu, "/api/api/json/stable/permissions")
    )
    requests.post(f"{emu.m2m_url}stable/permissions", headers={"X-Auth-Token": "k"}, timeout=5)
    assert [e.credentials for e in emu.log.select("m2m")] == [("token",), ("token",)]


def test_an_absurd_member_size_is_refused(tmp_path):
    archive = tmp_path / "liar.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("huge_SR_B4.tif")
        info.size = 10
        tar.addfile(info, io.BytesIO(b"0123456789"))
    data = bytearray(archive.read_bytes())
    header = tarfile.TarInfo("huge_SR_B4.tif")
    header.size = 5 * 2**40  # claims 5 TiB
    data[:512] = header.tobuf(format=tarfile.GNU_FORMAT)[:512]
    archive.write_bytes(bytes(data))
    with pytest.raises(UnsafeArchiveError, match=r"huge_SR_B4\.tif"):
        extract_tarball(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
