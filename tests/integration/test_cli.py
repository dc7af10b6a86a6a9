"""The lsru-geo command against the emulator: every command, exit codes, one-line errors."""

import subprocess
import sys

import geopandas as gpd
import matplotlib.image as mpimg
import numpy as np
import pytest
import shapely

from lsru_geo.cli import main

BOX = ["--bbox", "3.5", "43.4", "4.0", "44.0"]


@pytest.fixture
def cli(emu, monkeypatch, capsys):
    monkeypatch.setattr(emu.options, "processing_seconds", 3600)

    def run(*args):
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".parquet", ".csv", ".shp", ".fgb"])
def test_search_writes_every_format(cli, tmp_path, suffix):
    target = tmp_path / f"scenes{suffix}"
    args = ["search", *BOX, "--begin", "2019-06-01", "--end", "2019-06-30", "--max-cloud", "80"]
    code, ids, _ = cli(*args, "--format", "ids")
    code, out, err = cli(*args, "-o", str(target))
    assert code == 0 and "LC08_L2SP_" in out and f"to {target}" in err
    from lsru_geo.cli import read_frame

    frame = read_frame(target)
    assert sorted(frame["display_id"]) == sorted(ids.split()) and len(frame) >= 2
    assert frame.geometry.is_valid.all()


def test_search_with_an_aoi_file_and_months(cli, tmp_path):
    aoi = tmp_path / "aoi.geojson"
    gpd.GeoSeries([shapely.box(3.6, 43.6, 3.8, 43.8)], crs=4326).to_file(aoi)
    code, out, _ = cli(
        "search",
        "--aoi",
        str(aoi),
        "--collection",
        "landsat_etm_c2_l2",
        "--begin",
        "2005-01-01",
        "--end",
        "2005-12-31",
        "--months",
        "6",
        "7",
    )
    assert code == 0 and "LE07_L2SP_" in out and ("_200506" in out or "_200507" in out)
    assert "_200508" not in out and "_200505" not in out


def test_order_orders_status_wait_download(cli, emu, tmp_path):
    scenes = tmp_path / "scenes.gpkg"
    assert cli("search", *BOX, "--begin", "2019-06-01", "--end", "2019-06-15", "-o", str(scenes))[0] == 0
    code, out, _ = cli("order", "--scenes", str(scenes), "--products", "l1", "--note", "cli")
    orderid = out.strip()
    assert code == 0 and orderid.startswith("espa-demo@example.com-")
    code, out, _ = cli("orders")
    assert code == 0 and f"{orderid}  ordered" in out
    code, out, _ = cli("status", orderid)
    assert code == 0 and out.startswith(f"{orderid}: ordered") and "submitted" in out
    emu.clock.advance(days=1)
    code, out, _ = cli("wait", orderid, "--poll", "0.01", "--timeout", "10")
    assert code == 0 and "complete" in out
    code, out, _ = cli("download", "--order", orderid, "--out", str(tmp_path / "data"), "--unpack")
    folders = [line for line in out.splitlines() if line]
    assert code == 0 and folders and all((tmp_path / "data" / f.rsplit("/", 1)[-1]).is_dir() for f in folders)


def test_download_from_usgs(cli, emu, tmp_path, monkeypatch):
    monkeypatch.setattr(emu.options, "m2m_prepare_seconds", 0)
    scenes = tmp_path / "scenes.parquet"
    assert (
        cli("search", *BOX, "--begin", "2019-06-01", "--end", "2019-06-10", "--max-results", "1", "-o", str(scenes))[0]
        == 0
    )
    code, out, _ = cli(
        "download", "--scenes", str(scenes), "--out", str(tmp_path / "usgs"), "--bands", "red", "qa_pixel"
    )
    files = out.split()
    assert code == 0 and len(files) == 4 and any(f.endswith("_SR_B4.TIF") for f in files)


def test_order_by_ids_with_options(cli):
    code, out, _err = cli(
        "order",
        "--ids",
        "LC08_L2SP_196030_20190629_20210414_02_T1",
        "--products",
        "sr_ndvi",
        "--projection",
        '{"utm": {"zone": 31, "zone_ns": "north"}}',
        "--resolution",
        "60",
        "--extent",
        "3.6",
        "43.5",
        "3.9",
        "43.9",
    )
    assert code == 0 and out.startswith("espa-")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["search", "--bbox", "4", "44", "3.5", "43.4"], 2, "reversed"),
        (["search", *BOX, "--begin", "soon"], 2, "begin must be a date"),
        (["search", *BOX, "-o", "x.nosuchformat"], 2, "unknown output format"),
        (["order", "--ids", "nonsense", "--products", "l1"], 2, "not a Landsat product id"),
        (
            ["order", "--ids", "LC08_L2SP_196030_20190629_20210414_02_T1", "--products", "l1", "--projection", "{utm"],
            2,
            "not valid JSON",
        ),
        (["status", "espa-demo@example.com-01012020-000000-000"], 1, "ESPA has no order"),
    ],
)
def test_errors_are_one_line_with_exit_codes(cli, args, code, message):
    got, _out, err = cli(*args)
    assert got == code and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_verbose_adds_the_traceback(cli):
    code, _, err = cli("-v", "status", "espa-demo@example.com-01012020-000000-000")
    assert code == 1 and "Traceback" in err


def test_usage_errors_exit_2():
    result = subprocess.run([sys.executable, "-m", "lsru_geo", "search"], capture_output=True, text=True)
    assert (
        result.returncode == 2 and "one of the arguments --bbox --point --path-row --aoi is required" in result.stderr
    )


@pytest.mark.parametrize(
    "command", ["demo", "datasets", "search", "order", "orders", "status", "wait", "cancel", "download", "emulator"]
)
def test_every_command_has_help(command):
    result = subprocess.run([sys.executable, "-m", "lsru_geo", command, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith(f"usage: lsru-geo {command}")


def test_emulator_command_serves(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "lsru_geo", "emulator", "--port", "0", "--clock-speed", "10"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stderr.readline()
        assert first.startswith("lsru_geo emulator on http://127.0.0.1:")
        url = first.split(" on ")[1].strip()
        import requests

        answer = requests.post(
            url + "/api/api/json/stable/login-token", json={"username": "demo", "token": "demo-token"}
        ).json()
        assert answer["errorCode"] is None and answer["data"]
    finally:
        process.terminate()
        process.wait(10)


def pixels_vary(path):
    image = mpimg.imread(path)
    return path.stat().st_size > 20_000 and float(np.std(image)) > 0.05


def test_demo_produces_the_documented_files(tmp_path):
    """The README's first command, as a user runs it (a subprocess with its own emulator)."""
    out = tmp_path / "demo-output"
    script = (
        "import os, sys; from lsru_geo.cli import main; before = dict(os.environ); code = main(sys.argv[1:]); "
        "print('environment unchanged:', dict(os.environ) == before); sys.exit(code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "demo", "--out", str(out)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("environment unchanged: True")  # the demo sets no LSRU_* variable
    footprints = gpd.read_file(out / "footprints.gpkg")
    assert len(footprints) == 15 and footprints.crs.to_epsg() == 4326
    assert footprints.display_id.str.startswith("LC08_L2SP_").all()
    assert pixels_vary(out / "coverage.png") and pixels_vary(out / "ndvi.png")
    assert len(list((out / "products").glob("*.tar.gz"))) == 15
    assert "15 intersect the polygon" in result.stdout and "Cloud-masked median NDVI: mean 0." in result.stdout
