"""The lsru-geo command as a user runs it: a subprocess against the emulator, pipes, Ctrl-C and exit codes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import shapely

from lsru_geo import __version__
from lsru_geo.cli import _parser
from lsru_geo.emulator._wrs2 import grid

COMMAND = [sys.executable, "-m", "lsru_geo"]
BOX = ["--bbox", "3.5", "43.4", "4.0", "44.0"]
JUNE = ["--begin", "2019-06-01", "--end", "2019-06-30"]


def run(*args, **options):
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=120, **options)


def one_line(err):
    lines = err.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("lsru-geo: ") and "Traceback" not in err


@pytest.fixture
def slow_orders(emu, monkeypatch):
    monkeypatch.setattr(emu.options, "processing_seconds", 3600)
    return emu


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"lsru-geo {__version__}"


def test_search_by_point_prints_ids(emu):
    result = run("search", "--point", "3.88", "43.61", *JUNE, "--format", "ids")
    ids = result.stdout.split()
    assert result.returncode == 0 and result.stderr == "" and len(ids) >= 2
    frame = run("search", "--point", "3.88", "43.61", *JUNE, "--format", "geojson")
    features = json.loads(frame.stdout)["features"]
    assert [f["properties"]["display_id"] for f in features] == ids
    assert all(shapely.geometry.shape(f["geometry"]).contains(shapely.Point(3.88, 43.61)) for f in features)


def test_search_by_path_row_keeps_those_scenes(emu):
    result = run("search", "--path-row", "196", "30", "--path-row", "197", "29", *JUNE, "--format", "json")
    rows = json.loads(result.stdout)
    assert result.returncode == 0 and {(r["path"], r["row"]) for r in rows} == {(196, 30), (197, 29)}
    assert all(r["display_id"][10:16] in ("196030", "197029") for r in rows)
    bad = run("search", "--path-row", "300", "30")
    assert bad.returncode == 2 and one_line(bad.stderr) and "path must be a whole number from 1 to 233" in bad.stderr


def test_path_row_centres_fall_inside_every_wrs2_cell():
    from lsru_geo._pathrow import scene_centre

    cells = grid()
    points = shapely.points([scene_centre(int(p), int(r)) for p, r in zip(cells.path, cells.row, strict=True)])
    assert len(points) > 28_000 and shapely.contains(cells.cells, points).all()


def test_table_says_when_rows_were_cut(emu):
    args = ["search", *BOX, "--begin", "2018-01-01", "--end", "2019-12-31"]
    full = run(*args, "--format", "ids").stdout.split()
    assert len(full) > 30
    table = run(*args).stdout.splitlines()
    assert table[-1] == f"{len(full)} scenes; {len(full) - 30} not shown (--limit {len(full)} shows them all, " + (
        "or use --format csv / -o FILE)"
    )
    assert len(table) == 1 + 30 + 1 and table[0].split() == ["display_id", "acquired", "path", "row", "cloud_cover"]
    limited = run(*args, "--limit", "5").stdout.splitlines()
    assert len(limited) == 7 and limited[1].split()[0] == full[0]
    everything = run(*args, "--limit", str(len(full))).stdout.splitlines()
    assert everything[-1] == f"{len(full)} scenes" and len(everything) == len(full) + 2


def test_csv_to_a_closed_pipe_exits_quietly(emu):
    # enough rows to overflow the pipe buffer once `head` has gone
    script = (
        f"{' '.join(COMMAND)} search --bbox 0 40 10 50 --begin 2018-01-01 --end 2019-12-31 --format csv | head -1; "
        "echo status ${PIPESTATUS[0]}"
    )
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("display_id,entity_id,dataset,")
    assert lines[1] == "status 141"  # 128 + SIGPIPE, as other Unix tools exit
    assert result.stderr == ""


def test_bad_output_is_refused_before_the_search(emu, tmp_path):
    for target, message in (
        (tmp_path / "x.nosuch", "unknown output format"),
        (tmp_path / "no" / "x.gpkg", "does not exist"),
    ):
        result = run("search", *BOX, *JUNE, "-o", str(target))
        assert result.returncode == 2 and one_line(result.stderr) and message in result.stderr
    assert emu.log.select("m2m") == []  # not even a login


def test_shapefile_output(emu, tmp_path):
    result = run("search", *BOX, *JUNE, "-o", str(tmp_path / "scenes.shp"), "--format", "ids")
    import geopandas as gpd

    written = gpd.read_file(tmp_path / "scenes.shp")
    assert result.returncode == 0 and sorted(written["display_id"]) == sorted(result.stdout.split())


def test_datasets():
    result = run("datasets")
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and lines[0].split() == ["dataset", "level", "satellites"]
    assert any(line.split()[:2] == ["landsat_ot_c2_l2", "2"] for line in lines)
    assert len(lines) == 1 + 7


def test_cancel_and_unknown_orders(slow_orders, tmp_path):
    placed = run("order", "--ids", "LC08_L2SP_196030_20190629_20210414_02_T1", "--products", "l1")
    orderid = placed.stdout.strip()
    nothing = run("download", "--order", orderid, "--out", str(tmp_path))
    assert nothing.returncode == 1 and one_line(nothing.stderr) and f"lsru-geo wait {orderid}" in nothing.stderr
    cancelled = run("cancel", orderid)
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == f"{orderid}: cancelled"
    unknown = "espa-demo@example.com-01012020-000000-000"
    for args in (["download", "--order", unknown, "--out", str(tmp_path)], ["cancel", unknown], ["wait", unknown]):
        result = run(*args)
        assert result.returncode == 1 and one_line(result.stderr) and "ESPA has no order" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_wait_is_one_line_and_130(slow_orders):
    placed = run("order", "--ids", "LC08_L2SP_196030_20190629_20210414_02_T1", "--products", "l1")
    orderid = placed.stdout.strip()
    process = subprocess.Popen(
        [*COMMAND, "wait", orderid, "--poll", "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not slow_orders.log.select("espa", "item-status") and time.monotonic() < deadline:
        time.sleep(0.1)  # until it is really waiting
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and out == ""
    assert err.strip() == "lsru-geo: interrupted"


def test_refused_password_exits_1_with_the_next_step(emu, monkeypatch):
    env = {**os.environ, "LSRU_PASSWORD": "Pw-Not-This-1"}
    result = run("orders", env=env)
    assert result.returncode == 1 and one_line(result.stderr)
    assert "LSRU_PASSWORD" in result.stderr and "Pw-Not-This-1" not in result.stderr


def test_every_option_has_help():
    parser = _parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    missing = []
    for name, sub in [("lsru-geo", parser), *commands.choices.items()]:
        missing += [f"{name} {a.option_strings or a.dest}" for a in sub._actions if not a.help]
    assert missing == []


def test_unreadable_files_and_unwritable_formats_are_one_line(emu, tmp_path):
    junk = tmp_path / "area.geojson"
    junk.write_text("not json at all")
    result = run("search", "--aoi", str(junk))
    assert result.returncode == 2 and one_line(result.stderr) and f"cannot read {junk}" in result.stderr
    result = run("order", "--scenes", str(junk), "--products", "l1")
    assert result.returncode == 2 and one_line(result.stderr) and f"cannot read {junk}" in result.stderr
    gpx = tmp_path / "scenes.gpx"  # GPX holds points and lines, not footprints: GDAL says so once it sees them
    result = run("search", *BOX, *JUNE, "-o", str(gpx), "--format", "ids")
    assert result.returncode == 1 and one_line(result.stderr) and "cannot write" in result.stderr


def test_ctrl_c_during_download_stops_at_once_and_keeps_the_partial_files(emu, monkeypatch, tmp_path):
    monkeypatch.setattr(emu.options, "processing_seconds", 1)
    placed = run("order", "--ids", "LC08_L2SP_196030_20190629_20210414_02_T1", "--products", "l1")
    orderid = placed.stdout.strip()
    emu.clock.advance(hours=1)
    emu.faults.add("download", "*.tar.gz", "bandwidth", bytes_per_second=20_000, times=None)
    process = subprocess.Popen(
        [*COMMAND, "download", "--order", orderid, "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("*.part")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.strip() == "lsru-geo: interrupted" and out == ""
    assert time.monotonic() - interrupted < 15
    assert list(tmp_path.glob("*.part")) and not list(tmp_path.glob("*.tar.gz"))  # resumable, nothing half-named
