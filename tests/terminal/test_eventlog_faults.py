"""The event log on faulty flash: defect 5 of issue 14 (numbers reused after one decayed bit)
and the fault classes of docs/JOURNAL.md ("Fault model") swept over appends."""

from test_eventlog import flash

from firmware.eventlog import BOOT, EventLog

MICROPYTHON_HEAPSIZE = "48M"  # a logic sweep: GC off on a large heap (see the journal's)


def test_a_decayed_bit_in_the_newest_header_never_sends_numbers_back():
    f = flash(4)
    log = EventLog.mount(f)
    assert [log.append(BOOT, "e%d" % i) for i in range(12)] == list(range(1, 13))
    f.flip(1024 + 12, 0)  # sector 1 (events 8-12): its header CRC
    again = EventLog.mount(f)
    assert [e["n"] for e in again.events(limit=100)] == list(range(1, 13))
    assert again.append(BOOT, "after") == 13
    assert [e["n"] for e in again.events(after=12)] == [13]
    assert EventLog.mount(f).next_n == 14


def test_an_ignored_header_program_never_sends_numbers_back():
    f = flash(4)
    log = EventLog.mount(f)
    [log.append(BOOT, "e%d" % i) for i in range(7)]
    f.ignore_program_at(1)  # sector 1's header
    assert log.append(BOOT, "e7") == 8
    again = EventLog.mount(f)
    assert again.append(BOOT, "after") == 9
    assert [e["n"] for e in again.events(limit=100)] == list(range(1, 10))
