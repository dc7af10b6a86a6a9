"""What the benchmark scripts share: this process's memory figures, and running cases with saved results."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path


def memory_mb(field: str = "VmHWM") -> float:
    """A memory figure of this process from ``/proc/self/status``, in MiB (``VmHWM``: peak resident, which unlike
    ``ru_maxrss`` is not inherited across exec; ``VmRSS``: resident now); without ``/proc``, ``ru_maxrss`` for the
    peak (kilobytes on Linux) and NaN otherwise."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if field == "VmHWM":
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return float("nan")


def run_saved_cases(
    order: Iterable[str], only: list[str] | None, saved: Path, run_one: Callable[[str], dict]
) -> dict[str, dict]:
    """Run each case of ``order`` (or ``only`` these, keeping the others' results from ``saved``), printing each
    result as a JSON line and saving all after each case, so that an interrupted run keeps what it measured."""
    results = json.loads(saved.read_text()) if only and saved.exists() else {}
    for name in order:
        if only and name not in only:
            continue
        results[name] = run_one(name)
        print(json.dumps(results[name]), flush=True)
        saved.write_text(json.dumps(results, indent=1))
    print()
    return results
