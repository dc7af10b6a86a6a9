"""Strip outputs, execution counts and run-time metadata from notebooks before committing them.

Usage: ``python notebooks/strip_outputs.py [notebook.ipynb ...]`` (every notebook of this folder by default).
The notebooks are kept in git without outputs; ``tests/test_notebooks.py`` executes them and checks this.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

#: Cell metadata that only records a run or a view (cell ids, tags and the rest are kept).
RUN_METADATA = ("execution", "collapsed", "scrolled", "jupyter", "ExecuteTime")


def strip(path: Path) -> bool:
    """Strip one notebook in place; return whether it changed."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    for cell in nb.cells:
        for key in RUN_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    nb.metadata["language_info"] = {"name": "python"}  # drop the version of whoever ran it last
    after = nbformat.writes(nb)
    if after != before:
        path.write_text(after, encoding="utf-8")
    return after != before


def main(argv: list[str]) -> int:
    """Strip the notebooks named in ``argv``, or every notebook of this folder."""
    paths = [Path(a) for a in argv] or sorted(Path(__file__).parent.glob("*.ipynb"))
    for path in paths:
        print(f"{path}: {'stripped' if strip(path) else 'clean'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
