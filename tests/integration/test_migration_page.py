"""docs/migrating-from-lsru.md runs as written: every Python block, in order, against the emulator; its diffs quote
lsru's documentation and the lines that replace them."""

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

from lsru_geo._config import load_config
from lsru_geo.exceptions import RenamedWarning

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "migrating-from-lsru.md"
LSRU_DOC = ROOT.parent / "shared" / "seed" / "lsru-0.6.2-documentation.txt"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(kind):
    return [code for info, code in BLOCK.findall(PAGE.read_text()) if info == kind]


def test_every_python_block_runs_in_order(emu, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(emu.options, "raster_size", 32)  # small products: the page downloads a whole order
    namespace = {"__name__": "migration_page"}
    printed = io.StringIO()
    renamed = []
    code_blocks = blocks("python")
    assert len(code_blocks) >= 15
    for number, code in enumerate(code_blocks):
        emu.clock.advance(hours=1)  # ESPA's processing happens between the reader's steps
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
            warnings.simplefilter("error")
            warnings.simplefilter("always", RenamedWarning)  # the documented Collection 1 -> 2 mappings
            try:
                exec(compile(code, f"{PAGE.name}[block {number}]", "exec"), namespace)
            except Exception as error:
                pytest.fail(f"block {number} of {PAGE.name} failed: {error!r}\n{code}")
        renamed += [str(w.message) for w in caught]
    text = printed.getvalue()
    assert any("'LANDSAT_8_C1' is a retired Collection 1 dataset" in m for m in renamed)
    assert any("'pixel_qa' is a Collection 1 product" in m for m in renamed)
    # what the snippets printed and left behind
    assert "landsat_ot_c2_l2" in text and "(3.34481, 43.56654, 6.17992, 45.23413)" in text
    assert "'type': 'Polygon'" in text and text.count("True") >= 2  # is_valid, shape validity
    assert "etm7_collection_2_l2" in text
    downloaded = sorted((tmp_path / "download" / "dir").glob("*.tar.gz"))
    assert len(downloaded) == 10  # max_results=10 in 3.1, all complete
    assert any((tmp_path / "unpacked").iterdir())
    polygon_order, scene_list = namespace["order"], namespace["scene_list"]
    assert len(scene_list) == len(namespace["meta_list"]) > 0
    assert sorted(item["name"] for item in polygon_order.items_status) == sorted(scene_list)


def test_diffs_quote_lsru_and_the_page_runs_their_replacements():
    lsru = " ".join(LSRU_DOC.read_text().split())
    python = "\n".join(blocks("python"))
    diffs = blocks("diff")
    assert len(diffs) >= 8
    for diff in diffs:
        for line in diff.splitlines():
            if line.startswith("-"):
                assert " ".join(line[1:].split()) in lsru, f"not lsru's line: {line}"
            elif line.startswith("+") and not line.startswith("+pip"):
                assert line[1:] in python, f"replacement never run: {line}"


def test_every_lsru_snippet_is_on_the_page():
    """Each code line of lsru's documentation is on the page, unchanged or as the '-' line of a diff."""
    page = " ".join(PAGE.read_text().split())
    doc = LSRU_DOC.read_text()
    snippets = [code for code in re.findall(r"^```\n(.*?)^```$", doc, re.MULTILINE | re.DOTALL)]
    assert len(snippets) >= 12
    missing = []
    for snippet in snippets:
        if snippet.startswith("[usgs]"):
            continue  # the configuration file changed: the page shows the new one, tested below
        for line in snippet.splitlines():
            code = " ".join(line.strip().removeprefix(">>>").removeprefix("...").split())
            code = code.replace("from lsru import", "from lsru_geo import").replace("from lsru.", "from lsru_geo.")
            if not code or code.startswith(("#", "class ")):  # comments; a signature, listed in section 2.1
                continue
            if code not in page:
                missing.append(code)
    assert missing == []


def test_the_configuration_block_is_what_lsru_geo_reads(tmp_path, monkeypatch):
    for name in ("LSRU_USERNAME", "LSRU_TOKEN", "LSRU_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    (ini,) = blocks("ini")
    conf = tmp_path / "lsru.ini"
    conf.write_text(ini)
    conf.chmod(0o600)
    config = load_config(conf)
    assert config.username == "your_usgs_username" and config.token.reveal() == "your_m2m_application_token"
    assert config.password.reveal() == "your_very_secure_password"


def test_utils_take_a_result_row_as_they_took_lsrus_dict(usgs):
    from lsru_geo.utils import bounds, geom_from_metadata

    scenes = usgs.search("landsat_ot_c2_l2", bbox=(3.5, 43.4, 4, 44), begin="2019-06-01", end="2019-06-30")
    row = scenes.iloc[1]
    assert bounds(row) == tuple(row.geometry.bounds) and bounds(row) != bounds(scenes.iloc[0])
    assert geom_from_metadata(row)["coordinates"][0][0] == tuple(row.geometry.exterior.coords[0])
