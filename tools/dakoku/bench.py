"""dakoku bench NAME [--json]: benchmarks that print measured figures.

Performance targets live here, never in timed tests. Each benchmark is a function returning a
dict of figures; --json prints exactly one JSON object per benchmark, one per line.
"""

from __future__ import annotations

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


_GUEST_MOUNT_HEAP = """
import gc
from firmware.journal import Journal
from simulator.norflash import SimulatedNorFlash
flash = SimulatedNorFlash(sector_size=4096, sector_count=1024, path="journal.img")
gc.collect()
before = gc.mem_alloc()
journal = Journal.mount(flash)
gc.collect()  # heap retained by the mounted journal (transient garbage collected)
after = gc.mem_alloc()
print(after - before, journal.unsent_count, flash.reads)
"""


def bench_journal() -> dict:
    """The flash journal: capacity, write cost, wear, mount cost, heap, power-cut sweep."""
    from dakoku.micropython import shared_interpreter
    from firmware.journal import FULL, Journal
    from simulator.norflash import SimulatedNorFlash
    from simulator.powercut import Workload, make_punch, sweep

    sectors, sector_size = 1024, 4096  # a 4 MiB partition
    out: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        image = Path(scratch) / "journal.img"
        flash = SimulatedNorFlash(sector_size, sectors)
        journal = Journal.mount(flash)
        journal.prepare()
        appended = 0
        while journal.append(make_punch(appended)) != FULL:
            appended += 1
        out["capacity_punches_per_mib"] = round(appended / (flash.size / 2**20))
        out["capacity_punches_4mib"] = appended
        flash.reset_counters()
        Journal.mount(flash)
        out["mount_flash_reads"] = flash.reads
        out["mount_sectors"] = sectors
        # The same full journal, mounted by the real MicroPython from a file-backed flash.
        image.write_bytes(bytes(flash._mem))
        t0 = time.perf_counter()
        res = shared_interpreter().run(
            ["-X", "heapsize=1M", "-c", _GUEST_MOUNT_HEAP], scratch=Path(scratch), timeout_s=300
        )
        if not res.ok:
            raise RuntimeError("guest mount failed: " + res.stderr.decode(errors="replace"))
        heap, unsent, _reads = (int(v) for v in res.stdout.split())
        out["heap_bytes_mounted_micropython"] = heap
        out["mount_seconds_micropython"] = round(time.perf_counter() - t0, 2)
        out["mount_unsent_micropython"] = unsent

    # Steady state: append, acknowledge in batches of 100 (as the uplink does), 20 wraps of a
    # 64-sector ring; every byte programmed and every erase counted.
    flash = SimulatedNorFlash(sector_size, 64)
    journal = Journal.mount(flash)
    total = 20 * journal.capacity
    for i in range(total):
        if journal.append(make_punch(i)) == FULL:
            raise RuntimeError("steady-state workload reached FULL")
        if i % 100 == 99:
            journal.mark_delivered_up_to(journal.next_seq - 1)
        if i % 50 == 0:
            journal.prepare()
    out["flash_bytes_programmed_per_punch"] = round(flash.bytes_programmed / total, 2)
    out["flash_programs_per_punch"] = round(flash.programs / total, 3)
    out["erases_per_1000_punches"] = round(flash.erases * 1000 / total, 2)
    counts = flash.erase_counts
    out["max_over_mean_sector_erases"] = round(max(counts) / (sum(counts) / len(counts)), 4)
    out["wraps"] = round(total / journal.capacity, 1)

    # A 4 MiB partition whose every header is torn and which holds no record (the worst mount:
    # each sector's slots are searched for a record that identifies it).
    flash = SimulatedNorFlash(sector_size, sectors)
    for s in range(sectors):
        flash.program(s * sector_size, b"DAKO\x01\x02\x20\xff")
    flash.reset_counters()
    Journal.mount(flash)
    out["mount_flash_reads_all_headers_torn"] = flash.reads

    # Power cut at every program and erase step of a workload, under 20 fault seeds.
    t0 = time.perf_counter()
    points = lost = duplicated = corrupt = wrong = refused = 0
    for seed in range(1, 21):
        r = sweep(Workload(rounds=12, burst=17), sector_size=512, sector_count=4, seed=seed * 7919)
        points += r.cut_points
        lost += r.lost
        duplicated += r.duplicated
        corrupt += r.corrupt_accepted
        wrong += r.wrong_delivered
        refused += r.refused_append
    out["power_cut_points"] = points
    out["lost"] = lost
    out["duplicated"] = duplicated
    out["corrupt_accepted"] = corrupt
    out["false_delivered"] = wrong
    out["refused_after_recovery"] = refused
    out["sweep_seconds"] = round(time.perf_counter() - t0, 1)
    out.update(_fault_classes())
    return out


def _fault_classes() -> dict:
    """Every fault class of docs/JOURNAL.md ("Fault model") at every point, for the journal,
    the roster, the configuration and the event log: runs and failed runs per class."""
    from simulator.powercut import CLASSES, run_class
    from simulator.storefaults import CLASSES as STORE_CLASSES
    from simulator.storefaults import run_store

    out: dict = {}
    t0 = time.perf_counter()
    for name in CLASSES:
        r = run_class(name)
        out[f"faults_journal_{name}"] = f"{r.runs} runs, {r.failed_runs} failed"
        if name in ("ignored_program", "stuck_byte", "silent_erase", "partial_erase"):
            out[f"faults_journal_{name}"] += f" (the fault reached in {r.faults_hit})"
        if name == "geometry":
            out[f"faults_journal_{name}"] += f" ({r.refused} refused, nothing written)"
    for store in ("roster", "config", "eventlog"):
        for name in STORE_CLASSES:
            r = run_store(store, name)
            out[f"faults_{store}_{name}"] = f"{r.runs} runs, {r.failed_runs} failed"
    out["faults_seconds"] = round(time.perf_counter() - t0, 1)
    return out


def bench_protocol() -> dict:
    """The upload protocol: bytes on the wire per punch, encode time, MicroPython fuel."""
    from dakoku.bench_protocol import bench_protocol as run

    return run()


def bench_firmware() -> dict:
    """The terminal core: fuel of a tap (small and large), heap over a day, flash per tap."""
    from dakoku.bench_firmware import bench_firmware as run

    return run()


def bench_receiver() -> dict:
    """The reference receiver: ingest over HTTP (SQLite, PostgreSQL), raw insert, resend storm."""
    from dakoku.bench_receiver import bench_receiver as run

    return run()


def bench_readers() -> dict:
    """The card readers: wire time per poll, heap and fuel per poll on MicroPython, resync."""
    from dakoku.bench_readers import bench_readers as run

    return run()


def bench_protocol_stateful() -> dict:
    """The protocol's stateful property test (issue 15) with many more examples."""
    from dakoku.bench_stateful import bench_stateful as run

    return run()


def bench_registry() -> dict:
    """The receiver's registry: employee list of 250,000 (SQLite) and 66,000 (PostgreSQL)."""
    from dakoku.bench_receiver import bench_registry as run

    return run()


def bench_terminal_stateful() -> dict:
    """The terminal's hypothesis state machine (issue 13) with many more examples than make test."""
    from dakoku.terminal_stateful import run

    return run(examples=500, steps=50)


def bench_console_stateful() -> dict:
    """The service console's hypothesis state machine (issue 20) with many more examples."""
    import sys
    import time
    from pathlib import Path

    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test

    tests = Path(__file__).resolve().parents[2] / "tests"
    sys.path[:0] = [str(tests / "terminal"), str(tests / "firmware")]
    from console_machine import ConsoleMachine

    t0 = time.perf_counter()
    run_state_machine_as_test(
        ConsoleMachine,
        settings=settings(max_examples=1000, stateful_step_count=50, deadline=None,
                          database=None, suppress_health_check=list(HealthCheck)),
    )  # fmt: skip
    return {**ConsoleMachine.runs, "seconds": round(time.perf_counter() - t0, 1)}


def bench_board() -> dict:
    """The board: the display's draw time, font reads and RAM; modelled tap-to-OK time on the
    PiT profile; boot self-tests."""
    from dakoku.bench_board import bench_board as run

    return run()


BENCHMARKS: dict[str, Callable[[], dict]] = {
    "micropython": bench_micropython,
    "journal": bench_journal,
    "protocol": bench_protocol,
    "firmware": bench_firmware,
    "receiver": bench_receiver,
    "readers": bench_readers,
    "terminal-stateful": bench_terminal_stateful,
    "protocol-stateful": bench_protocol_stateful,
    "console-stateful": bench_console_stateful,
    "registry": bench_registry,
    "board": bench_board,
}


def _parser():
    from dakoku.clihelp import parser as make_parser

    parser = make_parser("dakoku bench", (__doc__ or "").strip())
    parser.add_argument(
        "name",
        choices=["all", *BENCHMARKS],
        metavar="NAME",
        help="benchmark to run: all (each in turn), " + ", ".join(BENCHMARKS),
    )
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per benchmark")  # fmt: skip
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
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
