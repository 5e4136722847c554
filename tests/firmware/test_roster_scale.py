"""The roster at the size of issue 5: 5,000 employees with two cards each, on simulated flash."""

from firmware.roster import Roster
from simulator.norflash import SimulatedNorFlash


def card(i):
    return bytes([1, 46, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF, 0, 0, 9])


def test_five_thousand_employees_every_card_found_with_few_reads():
    flash = SimulatedNorFlash(sector_size=4096, sector_count=320)
    roster = Roster.mount(flash)
    for start in range(0, 5000, 200):
        items = [
            {
                "code": f"E{i:05d}",
                "name": f"社員 {i}",
                "cards": [card(i), card(100000 + i)],
                "fingers": [i],
                "lines": ["残業残り 40 h"],
            }
            for i in range(start, start + 200)
        ]
        last = start + 200 == 5000
        page = {
            "full": True,
            "version": 3,
            "upsert": items,
            "delete": [],
            "next": None if last else f"E{start + 199:05d}",
            "first": start == 0,
        }
        roster.apply_page(page)
    roster = Roster.mount(flash)
    assert roster.count == 5000
    reads = []
    for i in range(0, 5000, 7):
        for c in (card(i), card(100000 + i)):
            flash.reset_counters()
            assert roster.lookup_card(c).code == f"E{i:05d}"
            reads.append(flash.reads)
    # A few index slots and one record (two reads): independent of the roster's size.
    assert sum(reads) / len(reads) < 4.5 and max(reads) < 32
    flash.reset_counters()
    assert roster.lookup_card(card(77777)) is None
