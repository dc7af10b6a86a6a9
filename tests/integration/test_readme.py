"""The README stays true: its commands and snippets run as written, and it agrees with `lsru-geo --help`."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from lsru_geo.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"^ *```(\w*)\n(.*?)^ *```$", re.MULTILINE | re.DOTALL)


def section(title):
    start = README.index(title)
    following = README.find("\n## ", start + len(title))
    return README[start : following if following > 0 else None]


def blocks(text, kind):
    return [code for info, code in BLOCK.findall(text) if info == kind]


def test_quick_start_commands_are_the_ones_ci_runs():
    install_and_demo = "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/lsru-geo demo --out demo-output"
    tests = "python3 -m venv .venv && .venv/bin/pip install -q '.[test]' && .venv/bin/python -m pytest -q"
    assert install_and_demo in README and tests in README
    assert tests in (ROOT / ".ci" / "run").read_text()


def test_ten_lines_run_as_written_against_the_emulator_command(tmp_path):
    text = section("## Try it against the emulator")
    (command,) = blocks(text, "bash")
    assert command.strip() == ".venv/bin/lsru-geo emulator --clock-speed 600"
    (shown,) = blocks(text, "text")
    (code,) = blocks(text, "python")
    emulator = subprocess.Popen(
        [sys.executable, "-m", "lsru_geo", *command.split()[1:], "--port", "0"], stderr=subprocess.PIPE, text=True
    )
    try:
        lines = [emulator.stderr.readline() for _ in range(6)]
        assert [line.split("=")[0] for line in lines[1:]] == [line.split("=")[0] for line in shown.splitlines()[1:]]
        exports = dict(line.removeprefix("export ").strip().split("=", 1) for line in lines[1:])
        env = {k: v for k, v in os.environ.items() if not k.startswith("LSRU_")} | exports | {"HOME": str(tmp_path)}
        result = subprocess.run(
            [sys.executable, "-c", code + "\nprint(len(paths), float(ndvi.mean()))"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )
    finally:
        emulator.terminate()
        emulator.wait(10)
    assert result.returncode == 0, result.stderr
    count, mean = result.stdout.split()
    assert int(count) == len(list((tmp_path / "data").glob("*.tar.gz"))) > 0 and 0 < float(mean) < 1


def test_real_services_snippet_builds_clients_without_a_request(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    (code,) = blocks(section("## Against the real USGS services"), "python")
    namespace = {}
    exec(code, namespace)
    assert namespace["usgs"].endpoint == "https://m2m.cr.usgs.gov/api/api/json/stable/"
    assert namespace["espa"].host == "https://espa.cr.usgs.gov/api/v1/"


def test_emulator_snippet_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("LSRU_M2M_URL", "LSRU_ESPA_URL", "LSRU_USERNAME", "LSRU_TOKEN", "LSRU_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    (code,) = blocks(section("## The emulator"), "python")
    namespace = {}
    exec(code, namespace)
    assert len(namespace["scenes"]) > 0 and dict(os.environ) == before


def test_readme_and_help_agree():
    parser = _parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    text = section("### Command line")
    listed = re.search(r"`lsru-geo ([a-z |]+)`", text).group(1).split(" | ")
    assert sorted(listed) == sorted(commands)
    lines = [line.split("#")[0] for block in blocks(text, "bash") for line in block.splitlines()]
    invocations = [part.strip() for line in lines for part in line.split("&&")]
    invocations = [part.split("|")[0] for part in invocations if part.startswith("lsru-geo ")]
    assert {shlex.split(i)[1] for i in invocations} >= set(commands) - {"orders", "status", "demo", "emulator"}
    for invocation in invocations:
        try:
            parser.parse_args(shlex.split(invocation)[1:])
        except SystemExit:  # argparse's way of refusing the line
            pytest.fail(f"the README's `{invocation}` is not accepted by lsru-geo")
    for option in re.findall(r"`(--[a-z-]+)", text):
        assert any(option in sub.format_help() for sub in [parser, *commands.values()]), option
