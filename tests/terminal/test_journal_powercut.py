"""Power cut at every program and erase step of a journal workload (simulator/powercut.py).

The full sweep (every step of a longer workload, ≥ 5,000 cut points) is in
`dakoku bench journal`; this runs every step of a shorter workload on both runtimes.
"""

from simulator.powercut import Workload, count_steps, sweep

# The sweep is a logic test, not a footprint test: on MicroPython it runs with automatic GC off
# on a large heap, because a collection under its garbage load corrupts the WASI interpreter's
# heap (tests/tools/test_interpreter_issues.py).
MICROPYTHON_HEAPSIZE = "48M"


def test_cut_at_every_step_loses_and_duplicates_nothing():
    import gc

    gc.disable()
    workload = Workload(rounds=12, burst=17)
    result = sweep(workload, sector_size=512, sector_count=4)
    assert result.cut_points == result.total_steps > 250
    assert result.failures == [], result.failures
    assert result.ok()
    assert (result.lost, result.duplicated, result.corrupt_accepted) == (0, 0, 0)
    gc.enable()


def test_the_workload_wraps_the_ring_and_reaches_full():
    from firmware.journal import FULL
    from simulator.norflash import SimulatedNorFlash
    from simulator.powercut import Model

    flash = SimulatedNorFlash(sector_size=512, sector_count=4)
    model = Model()
    journal = Workload().run(flash, model)
    assert journal.next_seq > 3 * journal.capacity  # several wraps
    assert min(flash.erase_counts) >= 3
    # FULL was reached: the model saw more appends attempted than numbers handed out.
    assert model.next_index > len(model.appended)
    assert FULL == 0
    assert count_steps(Workload(), 512, 4) == flash.programs + flash.erases
