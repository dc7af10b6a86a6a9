"""Configuration as arguments (url=, Secret credentials), URLs in every documented form, and errors that say what
to do next, against the emulator."""

import socket

import pytest

from lsru_geo import AuthenticationError, ConfigError, Espa, NotFoundError, Order, Secret, TransportError, Usgs
from lsru_geo._config import m2m_root

CLEAN_ENV = ("LSRU_USERNAME", "LSRU_TOKEN", "LSRU_PASSWORD", "LSRU_M2M_URL", "LSRU_ESPA_URL")


@pytest.fixture
def bare(emulator, monkeypatch, tmp_path):
    """The emulator with no LSRU_* variables and no ~/.lsru: only arguments can point a client at it."""
    emulator.reset()
    for name in CLEAN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return emulator


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("tail", ["", "/", "stable", "stable/"])
def test_usgs_url_argument_in_every_form(bare, tail):
    root = bare.m2m_url.rstrip("/")
    usgs = Usgs(url=root + ("/" if tail and tail != "/" else "") + tail, username="demo", token=Secret("demo-token"))
    assert usgs.endpoint == bare.m2m_url + "stable/"
    scenes = usgs.search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4, 44), begin="2019-06-01", end="2019-06-10")
    assert len(scenes) > 0 and scenes.display_id.str.startswith("LC0").all()
    assert "demo-token" not in repr(usgs)


def test_environment_variable_in_the_form_usgs_documents(emu, monkeypatch):
    monkeypatch.setenv("LSRU_M2M_URL", emu.m2m_url + "stable/")  # what USGS's docs print
    usgs = Usgs()
    assert usgs.endpoint == emu.m2m_url + "stable/" and usgs.login() is True


def test_arguments_override_environment_and_file(emu, monkeypatch, tmp_path):
    conf = tmp_path / "lsru.ini"
    conf.write_text("[usgs]\nusername = someone\ntoken = wrong\npassword = wrong\n")
    conf.chmod(0o600)
    monkeypatch.setenv("LSRU_M2M_URL", "http://127.0.0.1:9/nothing/")
    monkeypatch.setenv("LSRU_ESPA_URL", "http://127.0.0.1:9/nothing/")
    monkeypatch.setenv("LSRU_TOKEN", "also-wrong")
    usgs = Usgs(conf=str(conf), url=emu.m2m_url, username="demo", token=Secret("demo-token"))
    assert usgs.USER == "demo" and usgs.login() is True
    espa = Espa(str(conf), url=emu.espa_url, username="demo", password=Secret("demo-password"))
    assert espa.host == emu.espa_url and espa.user["username"] == "demo"
    order = espa.order(["LC08_L2SP_196030_20190629_20210414_02_T1"], ["l1"])
    again = Order(order.orderid, url=emu.url + "/api", username="demo", password=Secret("demo-password"))
    assert again.status == "ordered"


def test_bad_argument_values_are_config_errors(bare):
    with pytest.raises(ConfigError, match="url must be an http"):
        Usgs(url="m2m.cr.usgs.gov/api")
    with pytest.raises(ConfigError, match="token must be a Secret"):
        Usgs(url=bare.m2m_url, username="demo", token=Secret(""))
    with pytest.raises(ConfigError, match="plain HTTP"):
        Espa(url="http://espa.example.org/api/v1", username="demo", password=Secret("x"))


def test_url_roots():
    assert m2m_root("https://m2m.cr.usgs.gov/api/api/json/stable") == "https://m2m.cr.usgs.gov/api/api/json/"
    assert m2m_root("https://m2m.cr.usgs.gov/api/api/json/1.5/") == "https://m2m.cr.usgs.gov/api/api/json/"
    assert m2m_root("http://127.0.0.1") == "http://127.0.0.1/"


def test_refused_token_says_how_to_get_one(bare):
    with pytest.raises(AuthenticationError) as info:
        Usgs(url=bare.m2m_url, username="demo", token=Secret("revoked-token")).login()
    message = str(info.value)
    assert "AUTH_INVALID" in message and "application token in ERS" in message and "LSRU_TOKEN" in message
    assert "~/.lsru" in message and "revoked-token" not in message


def test_refused_password_names_the_password(bare):
    with pytest.raises(AuthenticationError) as info:
        _ = Espa(url=bare.espa_url, username="demo", password=Secret("not-it")).user
    message = str(info.value)
    assert "HTTP 401" in message and "ERS username and password" in message and "LSRU_PASSWORD" in message
    assert "not-it" not in message


def test_refused_connection_names_the_url_and_the_emulator(bare, monkeypatch):
    from lsru_geo._http import HttpClient, RetryPolicy

    monkeypatch.setattr(HttpClient, "DEFAULT_RETRY", RetryPolicy(attempts=1))
    url = f"http://127.0.0.1:{free_port()}/api/api/json/"
    with pytest.raises(TransportError) as info:
        Usgs(url=url, username="demo", token=Secret("demo-token")).login()
    message = str(info.value)
    assert f"{url}stable/login-token" in message and "connection refused" in message
    assert "lsru-geo emulator" in message and "LSRU_M2M_URL" in message


def test_unknown_host_is_named(bare, monkeypatch):
    from lsru_geo._http import HttpClient, RetryPolicy

    monkeypatch.setattr(HttpClient, "DEFAULT_RETRY", RetryPolicy(attempts=1))
    monkeypatch.setattr(HttpClient, "DEFAULT_TIMEOUT", (2, 2))
    with pytest.raises(TransportError) as info:
        _ = Espa(url="https://no-such-host.invalid/api/v1/", username="demo", password=Secret("x")).user
    message = str(info.value)
    assert "unknown host" in message and "LSRU_ESPA_URL" in message


@pytest.mark.parametrize(
    ("path", "shown"),
    [("/api/api/json/stable/stable/", "Invalid Endpoint"), ("/wrong/", "HTTP 404")],
)
def test_wrong_m2m_url_says_the_expected_form(bare, path, shown):
    with pytest.raises(NotFoundError) as info:
        Usgs(url=bare.url + path, username="demo", token=Secret("demo-token")).login()
    message = str(info.value)
    assert shown in message and "login-token is not a M2M API endpoint" in message
    assert "https://m2m.cr.usgs.gov/api/api/json/ (with or without stable/)" in message


def test_wrong_espa_url_says_the_expected_form(bare):
    with pytest.raises(NotFoundError) as info:
        _ = Espa(url=bare.url + "/wrong/api/v1", username="demo", password=Secret("demo-password")).user
    assert "https://espa.cr.usgs.gov/api/v1/" in str(info.value) and "/wrong/api/v1/user" in str(info.value)
