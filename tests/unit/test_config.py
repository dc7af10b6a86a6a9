import logging
import os

import pytest

from lsru_geo import ConfigError
from lsru_geo._config import ESPA_URL, M2M_URL, load_config
from lsru_geo._secret import Secret
from lsru_geo.exceptions import InsecureConfigWarning

SECRET_TOKEN = "tok-Zq8!x@_secret"
SECRET_PASSWORD = "pw-9hK#secret"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch, tmp_path):
    for name in ("LSRU_USERNAME", "LSRU_TOKEN", "LSRU_PASSWORD", "LSRU_M2M_URL", "LSRU_ESPA_URL", "LSRU_ALLOW_HTTP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


def write(path, text, mode=0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def test_file_then_environment(tmp_path, monkeypatch):
    conf = write(
        tmp_path / "lsru.ini", f"[usgs]\nusername = alice\ntoken = {SECRET_TOKEN}\npassword = {SECRET_PASSWORD}\n"
    )
    config = load_config(conf)
    assert (config.username, config.token.reveal(), config.password.reveal()) == (
        "alice",
        SECRET_TOKEN,
        SECRET_PASSWORD,
    )
    assert (config.m2m_url, config.espa_url) == (M2M_URL, ESPA_URL)
    monkeypatch.setenv("LSRU_USERNAME", "bob")
    monkeypatch.setenv("LSRU_M2M_URL", "http://127.0.0.1:9/api/api/json")
    config = load_config(conf)
    assert config.username == "bob" and config.token.reveal() == SECRET_TOKEN
    assert config.m2m_url == "http://127.0.0.1:9/api/api/json/"


def test_default_path_is_home_lsru(tmp_path):
    write(tmp_path / ".lsru", "[usgs]\nusername = carol\n")
    assert load_config().username == "carol"


def test_missing_file_says_how_to_fix(tmp_path):
    config = load_config(tmp_path / "nowhere.ini")
    with pytest.raises(ConfigError) as info:
        config.require("username", "token")
    message = str(info.value)
    assert "does not exist" in message and "[usgs]" in message and "token = <" in message
    assert "LSRU_USERNAME, LSRU_TOKEN" in message


def test_missing_key_named(tmp_path):
    config = load_config(write(tmp_path / "c.ini", "[usgs]\nusername = alice\n"))
    with pytest.raises(ConfigError, match="missing password") as info:
        config.require("username", "password")
    assert "LSRU_PASSWORD" in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match=r"no \[usgs\] section"):
        load_config(write(tmp_path / "a.ini", "[other]\nx = 1\n"))
    with pytest.raises(ConfigError, match="cannot parse") as info:
        load_config(write(tmp_path / "b.ini", f"token = {SECRET_TOKEN}\n"))
    assert SECRET_TOKEN not in str(info.value)  # a parse error must not echo the line


def test_loose_permissions_warn(tmp_path):
    conf = write(tmp_path / "loose.ini", "[usgs]\nusername = alice\n", mode=0o644)
    with pytest.warns(InsecureConfigWarning, match="chmod 600"):
        load_config(conf)


def test_secrets_never_in_reprs_or_logs(tmp_path, caplog):
    conf = write(
        tmp_path / "c.ini", f"[usgs]\nusername = alice\ntoken = {SECRET_TOKEN}\npassword = {SECRET_PASSWORD}\n"
    )
    config = load_config(conf)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").debug("config %s %r token=%s", config, config, config.token)
    texts = [repr(config), str(config), f"{config.token}", "{}".format(config.password), caplog.text]
    for text in texts:
        assert SECRET_TOKEN not in text and SECRET_PASSWORD not in text
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
    assert os.fspath(conf) in repr(config)


def test_plain_http_only_on_loopback_or_when_allowed(monkeypatch):
    monkeypatch.setenv("LSRU_ESPA_URL", "http://espa.cr.usgs.gov/api/v1")
    with pytest.raises(ConfigError, match="LSRU_ESPA_URL is plain HTTP"):
        load_config()
    monkeypatch.setenv("LSRU_ALLOW_HTTP", "1")
    assert load_config().espa_url == "http://espa.cr.usgs.gov/api/v1/"
    monkeypatch.delenv("LSRU_ALLOW_HTTP")
    for loopback in ("http://127.0.0.1:8080/api/v1", "http://localhost:9/api/v1", "http://[::1]:9/api/v1"):
        monkeypatch.setenv("LSRU_ESPA_URL", loopback)
        assert load_config().espa_url == loopback + "/"
    monkeypatch.setenv("LSRU_M2M_URL", "ftp://m2m.example/")
    with pytest.raises(ConfigError, match="must be an http"):
        load_config()
