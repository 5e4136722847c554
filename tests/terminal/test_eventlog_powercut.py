"""Power cut at every program and erase step of event-log appends."""

from firmware.eventlog import BOOT, EventLog
from simulator.norflash import PowerCut, SimulatedNorFlash

# A logic sweep, not a footprint test: automatic GC off on a large heap, as for the journal's
# sweep (a collection under this garbage load corrupts the WASI interpreter's heap).
MICROPYTHON_HEAPSIZE = "48M"


def flash(sectors):
    return SimulatedNorFlash(sector_size=1024, sector_count=sectors, page_size=256)


def test_power_cut_at_every_step_loses_at_most_the_event_being_written():
    import gc

    gc.disable()
    step = 1
    while step < 200:
        f = flash(2)
        log = EventLog.mount(f)
        written = []
        f.cut_at(step)
        try:
            for i in range(20):
                written.append(log.append(BOOT, "event %d" % i))
        except PowerCut:
            pass
        f.disarm()
        f.power_on()
        after = EventLog.mount(f)
        got = [e["n"] for e in after.events(limit=100)]
        if len(written) == 20:
            break
        # Every completed event still in the ring is there, in order; nothing invented.
        assert got == [n for n in written if n >= (got[0] if got else 1)], (step, got, written)
        assert all(n in written for n in got)
        n = after.append(BOOT, "after the cut")
        assert n > (max(written) if written else 0)
        step += 1
    assert step > 20
    gc.enable()
