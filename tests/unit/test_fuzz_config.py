"""Fuzzed configuration: any file, ``conf=`` value or ``LSRU_*`` URL ends in a Config or a ConfigError that names it.

Never configparser's own exceptions, UnicodeDecodeError, TypeError or urllib's ValueError. Each test runs
``FAST_EXAMPLES`` times in the default suite and ``SLOW_EXAMPLES`` times as its ``<name>_slow`` twin (slow marker).
"""

import os

import pytest
from fuzzing import sized
from hypothesis import event
from hypothesis import strategies as st

from lsru_geo._config import ESPA_URL, M2M_URL, Config, load_config
from lsru_geo.exceptions import ConfigError

FAST_EXAMPLES, SLOW_EXAMPLES = 150, 2000
fuzz = sized(FAST_EXAMPLES, SLOW_EXAMPLES)
ENV = ("LSRU_USERNAME", "LSRU_TOKEN", "LSRU_PASSWORD", "LSRU_M2M_URL", "LSRU_ESPA_URL", "LSRU_ALLOW_HTTP")


@pytest.fixture(scope="module")
def clean_env():
    """No LSRU_* variable from the developer's shell or another test (module-scoped: hypothesis reuses it)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ENV:
            patch.delenv(name, raising=False)
        yield patch


@pytest.fixture(scope="module")
def conf_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-config") / "lsru.ini"


def write(path, data):
    path.write_bytes(data)
    os.chmod(path, 0o600)  # readable by others would warn (InsecureConfigWarning), an error in this suite


key = st.one_of(
    st.sampled_from(["username", "token", "password", "USERNAME", "Token", "user name", ""]), st.text(max_size=8)
)
line = st.one_of(
    st.sampled_from(["[usgs]", "[USGS]", "[other]", "[", "]", "[usgs", "[]", "[DEFAULT]", "", " ", "#", ";", "=", ":"]),
    st.sampled_from(["%(x)s", "%", "\\", "\x00", "\ufeff[usgs]", "[usgs]]", "[ usgs ]", "\t[usgs]"]),
    st.builds("{} = {}".format, key, st.text(max_size=20)),
    st.builds("{}:{}".format, key, st.text(max_size=20)),
    st.builds("  {}".format, st.text(max_size=10)),  # a continuation line
    st.text(max_size=30),
)
ENCODINGS = ["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"]
ini_text = st.builds(
    lambda lines, newline, encoding: newline.join(lines).encode(encoding, errors="ignore"),
    st.lists(line, max_size=12),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.sampled_from(ENCODINGS),
)


@fuzz(st.one_of(ini_text, st.binary(max_size=300), ini_text.map(lambda data: data[: len(data) // 2])))
def test_any_file_gives_a_config_or_config_error(clean_env, conf_file, data):
    write(conf_file, data)
    try:
        config = load_config(conf_file)
    except ConfigError as error:
        event(f"config file: ConfigError ({str(error).split(':')[0].replace(str(conf_file), '<file>')[:40]})")
        assert str(conf_file) in str(error)  # names the file
        return
    event("config file: Config")
    assert isinstance(config, Config) and config.path == conf_file
    assert (config.m2m_url, config.espa_url) == (M2M_URL, ESPA_URL)
    for name in ("username", "token", "password"):
        value = getattr(config, name)
        text = value if value is None or name == "username" else value.reveal()
        assert text is None or (isinstance(text, str) and text == text.strip() and text)


value = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20)


@fuzz(value, value, value, st.sampled_from(["", "\ufeff"]), st.sampled_from(["\n", "\r\n"]))
def test_values_read_back(clean_env, conf_file, username, token, password, bom, newline):
    """A well-formed file gives back each value stripped; an empty value counts as missing."""
    lines = ["[usgs]", f"username = {username}", f"token = {token}", f"password = {password}"]
    write(conf_file, (bom + newline.join(lines) + newline).encode())
    config = load_config(conf_file)
    assert config.username == (username.strip() or None)
    assert (config.token.reveal() if config.token else None) == (token.strip() or None)
    assert (config.password.reveal() if config.password else None) == (password.strip() or None)


@fuzz(
    st.one_of(
        st.integers(),
        st.floats(),
        st.binary(max_size=10),
        st.lists(st.text(max_size=3), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    ),
    fast=50,
    slow=300,
)
def test_conf_that_is_not_a_path(clean_env, conf):
    with pytest.raises(ConfigError, match="conf must be a path") as info:
        load_config(conf)
    assert repr(conf)[:20] in str(info.value)


url_text = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
    st.builds(
        "{}://{}{}".format,
        st.sampled_from(["http", "https", "ftp", "HTTPS", ""]),
        st.sampled_from(["127.0.0.1", "localhost", "[::1]", "[", "[::1", "example.org", "", "a:b@", ":80", "h:99999"]),
        st.sampled_from(["", "/", "/api/", ":8080/", ":x/"]),
    ),
)


@fuzz(url_text, st.sampled_from(["LSRU_M2M_URL", "LSRU_ESPA_URL"]), st.booleans())
def test_service_urls_from_the_environment(clean_env, conf_file, url, variable, allow_http):
    write(conf_file, b"[usgs]\nusername = demo\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(variable, url)
        if allow_http:
            patch.setenv("LSRU_ALLOW_HTTP", "1")
        try:
            config = load_config(conf_file)
        except ConfigError as error:
            event("service url: ConfigError")
            assert str(error).startswith(variable) and (repr(url) in str(error) or f"({url})" in str(error))
            return
    event("service url: accepted")
    root = config.m2m_url if variable == "LSRU_M2M_URL" else config.espa_url
    expected = url or (M2M_URL if variable == "LSRU_M2M_URL" else ESPA_URL)  # an empty variable counts as unset
    assert root.lower().startswith(("http://", "https://")) and root.endswith("/") and root.startswith(expected)


def test_regressions_found_by_fuzzing(clean_env, conf_file, monkeypatch):
    write(conf_file, b"[usgs]\nusername = \xff\xfe\n")  # UnicodeDecodeError
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(conf_file)
    with pytest.raises(ConfigError, match="conf must be a path"):  # TypeError from os.fspath
        load_config(5)
    write(conf_file, b"\xef\xbb\xbf[usgs]\nusername = demo\n")  # the BOM a Windows editor writes
    assert load_config(conf_file).username == "demo"
    monkeypatch.setenv("LSRU_M2M_URL", "http://[::1")  # ValueError from urllib
    with pytest.raises(ConfigError, match="LSRU_M2M_URL must be an http"):
        load_config(conf_file)
