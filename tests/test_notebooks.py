"""The notebooks in ``notebooks/`` run from a clean kernel, against the emulator each one starts itself.

Each notebook runs in its own temporary working directory (its downloads land there) on a kernel of *this*
interpreter: the test writes a kernel spec whose ``argv`` is ``sys.executable`` under ``tmp_path`` and asks
for it by name, so a user-wide ``python3`` spec (perhaps another Python, without lsru_geo) is never used, and
nothing is installed into Jupyter's own folders. ``HOME`` points at a temporary folder, so a developer's
``~/.lsru`` is never read; the notebooks' first code cell sets the ``LSRU_*`` variables.

Needs ``nbformat``, ``nbclient``, ``ipykernel`` and ``distributed`` (the ``test`` extra); skipped without them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("distributed")  # notebook 03 starts a LocalCluster

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402  (comes with nbclient)
from jupyter_client.manager import AsyncKernelManager  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL = "lsru-geo-test"
#: Seconds any one cell may take (a whole notebook takes 10-40 s on a 2-core machine).
CELL_TIMEOUT = 180
PROBE = "import sys; print('KERNEL-PYTHON', sys.executable)"


@pytest.fixture(scope="session")
def kernel_specs(tmp_path_factory) -> Path:
    """A folder holding one kernel spec that starts ipykernel on the interpreter running the tests."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / KERNEL
    spec.mkdir()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--HistoryManager.enabled=False"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "lsru_geo tests", "language": "python"})
    )
    return root


@pytest.fixture(scope="session")
def config_dirs(tmp_path_factory) -> dict[str, str]:
    """Per-session configuration folders (matplotlib's font cache is then built once, not per notebook)."""
    root = tmp_path_factory.mktemp("config")
    return {name: str(root / name) for name in ("MPLCONFIGDIR", "IPYTHONDIR", "DASK_CONFIG")}


def run_notebook(name: str, workdir: Path, kernel_specs: Path) -> tuple[nbformat.NotebookNode, float]:
    """Execute ``notebooks/<name>`` in ``workdir`` on a fresh kernel; return the executed copy and its run time."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))  # which interpreter runs the kernel
    manager = AsyncKernelManager(
        kernel_name=KERNEL,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_specs)], ensure_native_kernel=False),
    )
    client = nbclient.NotebookClient(
        nb, km=manager, timeout=CELL_TIMEOUT, startup_timeout=60, resources={"metadata": {"path": str(workdir)}}
    )
    started = time.perf_counter()
    try:
        client.execute()
    finally:  # keep the executed copy next to the outputs, to read after a failure
        nbformat.write(nb, workdir / f"executed-{name}")
    return nb, time.perf_counter() - started


def outputs(nb, kind: str) -> list:
    """Every output of type ``kind`` (``stream``, ``display_data``, ``execute_result``, ``error``)."""
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == kind]


def stdout(nb) -> str:
    return "".join(o.text for o in outputs(nb, "stream") if o.name == "stdout")


def images(nb) -> int:
    return sum(
        "image/png" in o.get("data", {}) for kind in ("display_data", "execute_result") for o in outputs(nb, kind)
    )


@pytest.fixture
def execute(tmp_path, kernel_specs, config_dirs, monkeypatch):
    """Run a notebook from a clean kernel in a temporary folder; check what every notebook must satisfy."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # never read a developer's ~/.lsru
    for variable, folder in config_dirs.items():
        monkeypatch.setenv(variable, folder)
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    for variable in ("LSRU_M2M_URL", "LSRU_ESPA_URL", "LSRU_USERNAME", "LSRU_TOKEN", "LSRU_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)  # the notebook's setup cell is the only source
    workdir = tmp_path / "work"
    workdir.mkdir()

    def run(name: str):
        nb, seconds = run_notebook(name, workdir, kernel_specs)
        print(f"{name}: {seconds:.1f} s")
        assert f"KERNEL-PYTHON {sys.executable}\n" in stdout(nb)
        assert not outputs(nb, "error")
        stderr = "".join(o.text for o in outputs(nb, "stream") if o.name == "stderr")
        assert "LsruWarning" not in stderr and "Traceback" not in stderr, stderr
        return nb, workdir

    return run


def test_notebooks_are_stored_without_outputs():
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert [p.name for p in paths] == [
        "01_search_and_coverage.ipynb",
        "02_order_and_download.ipynb",
        "03_lazy_analysis.ipynb",
    ]
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code), f"{path.name}: strip outputs"
        assert "Emulator(" in code[0].source and "emu.env()" in code[0].source, (
            f"{path.name}: first cell starts the emulator"
        )


def test_search_and_coverage(execute):
    nb, _ = execute("01_search_and_coverage.ipynb")
    text = stdout(nb)
    assert "scenes in 2023" in text
    assert "acquisition dates;" in text and "of 12 months can be covered" in text
    assert images(nb) >= 5  # footprints, coverage per date, timeline, observations, browse images
    html = [o for o in outputs(nb, "execute_result") if "text/html" in o.get("data", {})]
    assert any("folium" in o.data["text/html"] or "leaflet" in o.data["text/html"].lower() for o in html)


def test_order_and_download(execute):
    nb, workdir = execute("02_order_and_download.ipynb")
    tarballs = sorted((workdir / "data" / "espa").glob("*.tar.gz"))
    assert len(tarballs) >= 3
    assert not list((workdir / "data").rglob("*.part"))  # every download completed
    files = {p.name[41:] for p in (workdir / "data" / "usgs").rglob("*.TIF")}  # after "<product id>_"
    assert files == {"SR_B4.TIF", "SR_B5.TIF", "QA_PIXEL.TIF"}  # only the bands asked for
    assert f"{len(tarballs)} tarballs" in stdout(nb)


def test_lazy_analysis(execute):
    nb, workdir = execute("03_lazy_analysis.ipynb")
    text = stdout(nb)
    assert "ran on 2 workers" in text
    assert "max |NDVI difference| between the local and the cluster run" in text  # the notebook asserts it is ~0
    assert images(nb) >= 3  # cloud masking, NDVI time series, summer composite
    assert any((workdir / "data").iterdir())
