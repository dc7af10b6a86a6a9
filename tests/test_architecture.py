"""Layering rules that keep the emulator honest: the library never imports it, and it imports nothing from the
library (so it cannot share the client's bugs)."""

import ast
import pathlib
import subprocess
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "lsru_geo"


def test_importing_the_library_loads_no_emulator_or_heavy_optional_modules():
    code = "import sys, lsru_geo; print(sorted(m for m in sys.modules if m.startswith(('lsru_geo.emulator', 'matplotlib', 'rioxarray', 'dask'))))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def test_library_modules_never_import_the_emulator():
    library = [p for p in PACKAGE.rglob("*.py") if "emulator" not in p.relative_to(PACKAGE).parts]
    assert PACKAGE / "_open" / "_access.py" in library  # subpackages are checked too
    for path in library:
        if path.name in ("cli.py", "_demo.py"):  # the application layer may start an emulator, lazily
            continue
        assert not any("emulator" in name for name in imported_modules(path)), path.name


def test_emulator_imports_nothing_from_the_library():
    for path in (PACKAGE / "emulator").glob("*.py"):
        for name in imported_modules(path):
            assert not name.startswith("lsru_geo") and not name.startswith(".."), f"{path.name} imports {name}"
