"""Run every benchmark: ``python -m benchmarks [--quick] [name ...]`` (``make bench``).

Each module ``benchmarks/bench_<name>.py`` exposes ``main(quick: bool = False)`` and prints its
own table: wall time, peak RSS (per run, measured in a subprocess) and ratios against a baseline
measured in the same run (``startup``: CPU time of commands that run no kernel, against the bare
interpreter and ``import numba``). Figures depend on the machine; compare ratios, not absolute
times.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="short durations (a smoke run)")
    args = parser.parse_args()
    here = Path(__file__).parent
    found = sorted(
        m.name[len("bench_") :]
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )
    names = args.names or found
    unknown = [n for n in names if n not in found]
    if unknown:
        print(
            f"error: unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(found)}",
            file=sys.stderr,
        )
        return 2
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    )
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        importlib.import_module(f"benchmarks.bench_{name}").main(quick=args.quick)
        print(f"({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
