"""The roster, configuration and event log under every fault class of docs/JOURNAL.md ("Fault
model"), thinned (simulator/storefaults.py; `dakoku bench journal` runs them in full)."""

from simulator.storefaults import CLASSES, run_store

MICROPYTHON_HEAPSIZE = "48M"  # a logic sweep: GC off on a large heap (see the journal's)

# Every n-th fault point here; the benchmark takes every one.
EVERY = {"stuck_byte": 41, "decay": 211, "two_cuts": 3}


def _all_classes(store):
    import gc

    gc.disable()
    runs = 0
    for name in CLASSES:
        result = run_store(store, name, EVERY.get(name, 1))
        assert result.failures == [], (store, name, result.failures)
        assert result.failed_runs == 0 and result.runs > 0, (store, name)
        runs += result.runs
    gc.enable()
    return runs


def test_roster_under_every_fault_class():
    assert _all_classes("roster") > 400


def test_configuration_under_every_fault_class():
    assert _all_classes("config") > 50


def test_event_log_under_every_fault_class():
    assert _all_classes("eventlog") > 200
