"""``dakoku bench NAME [--json]``: benchmarks that print measured figures.

Performance targets live here, never in timed tests. Each benchmark is a function returning a
dict of figures; ``--json`` prints exactly one JSON object per benchmark, one per line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def bench_micropython() -> dict:
    """Start-up cost of the MicroPython runner: compile (cold), start (cached), fuel of a no-op."""
    from dakoku.micropython import MicroPython

    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        MicroPython(cache_dir=Path(cache))  # cold: compiles and writes the cache
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        interp = MicroPython(cache_dir=Path(cache))  # warm: loads the serialized module
        load_s = time.perf_counter() - t0
    runs = []
    fuel = None
    for _ in range(20):
        t0 = time.perf_counter()
        result = interp.run(["-c", "pass"])
        runs.append(time.perf_counter() - t0)
        fuel = result.fuel_used
    return {
        "compile_cold_ms": round(cold_s * 1000, 1),
        "load_cached_ms": round(load_s * 1000, 2),
        "run_noop_median_ms": round(statistics.median(runs) * 1000, 2),
        "run_noop_fuel": fuel,
    }


BENCHMARKS: dict[str, Callable[[], dict]] = {
    "micropython": bench_micropython,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dakoku bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=["all", *BENCHMARKS], help="benchmark to run")
    parser.add_argument("--json", action="store_true", help="print one JSON object per benchmark")
    args = parser.parse_args(argv)
    names = list(BENCHMARKS) if args.name == "all" else [args.name]
    for name in names:
        figures = BENCHMARKS[name]()
        if args.json:
            print(json.dumps({"benchmark": name, **figures}))
        else:
            print(f"== {name}")
            for key, value in figures.items():
                print(f"  {key:<40} {value}")
        sys.stdout.flush()
    return 0
