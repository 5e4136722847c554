"""The event log: a bounded ring of coded events on flash; torn writes and decay are skipped."""

from firmware.eventlog import BOOT, NET_ERROR, READER_FAULT, TEXT_MAX, EventLog
from simulator.norflash import SimulatedNorFlash

MICROPYTHON_HEAPSIZE = "512K"  # see test_journal.py


def flash(sectors=3):
    # 1024-byte sectors: a 64-byte header and 7 records of 128 bytes each.
    return SimulatedNorFlash(sector_size=1024, sector_count=sectors, page_size=256)


def test_append_and_read_back_with_and_without_a_valid_clock():
    log = EventLog.mount(flash())
    assert log.append(BOOT, "boot 0.1.0", 1795000000, 2, 7) == 1
    assert log.append(NET_ERROR, "no route [res=none]", None, 30, 7) == 2
    events = log.events()
    assert events[0] == {
        "n": 1,
        "code": BOOT,
        "t": 1795000000,
        "up": 2,
        "boot": 7,
        "text": "boot 0.1.0",
    }
    assert "t" not in events[1] and events[1]["up"] == 30
    assert [e["n"] for e in log.events(after=1)] == [2]
    assert log.events(after=2) == []


def test_mount_finds_the_head_and_numbering_continues():
    f = flash()
    log = EventLog.mount(f)
    for i in range(10):
        log.append(READER_FAULT, "fault %d" % i, None, i, 1)
    again = EventLog.mount(f)
    assert again.next_n == 11
    assert again.append(BOOT, "x") == 11
    assert [e["n"] for e in again.events(limit=100)] == list(range(1, 12))


def test_the_ring_drops_the_oldest_sector_when_full():
    f = flash(3)  # 21 records
    log = EventLog.mount(f)
    for i in range(30):
        log.append(BOOT, "e%d" % i)
    numbers = [e["n"] for e in EventLog.mount(f).events(limit=100)]
    assert numbers == list(range(15, 31))  # sectors hold 15-21, 22-28, 29-30
    assert [e["n"] for e in log.events(after=20, limit=3)] == [21, 22, 23]


def test_long_text_is_cut_on_a_character_boundary():
    log = EventLog.mount(flash())
    log.append(BOOT, "打" * 50)  # 150 bytes of UTF-8
    text = log.events()[0]["text"]
    assert text == "打" * (TEXT_MAX // 3)


def test_decayed_and_foreign_records_are_skipped():
    f = flash()
    log = EventLog.mount(f)
    for i in range(5):
        log.append(BOOT, "e%d" % i)
    f.decay(4, 64 + 128 + 20, 64 + 128 + 30)  # inside event 2's text
    events = EventLog.mount(f).events()
    assert [e["n"] for e in events] == [1, 3, 4, 5]
    g = flash()
    g.program(0, b"JUNK" * 4)
    assert EventLog.mount(g).events() == [] and EventLog.mount(g).next_n == 1
