"""The door day (simulator/door.py) with its taps through the simulated PN532 and the real
driver: every tap is a FeliCa poll on the wire, and every punch is delivered once."""

from __future__ import annotations

from simulator.door import Rig, card_of, day
from simulator.readers.desk import SimulatedReader


def test_the_day_takes_its_taps_through_the_reader():
    reader = SimulatedReader("pn532")
    rig = Rig(employees=10, journal_sectors=16, reader=reader)
    ok, lines, rig = day(10, lambda line: None, rig)
    assert ok, lines
    taps = 4 * 10 + 2  # four a person, an unknown card, a double tap
    assert reader.chip.commands.count(0x4A) >= 2 * taps  # two reads per tap, at least
    assert reader.reader.failures == 0 and reader.wire_bytes() > 1000
    recorded = rig.journal.next_seq - 1
    assert recorded == taps - 1  # the double tap within the window is not a new punch


def test_a_card_read_through_the_reader_is_the_card_the_rig_holds():
    reader = SimulatedReader("rcs620s")
    rig = Rig(employees=3, reader=reader)
    rig.run_until(60_000)
    rig.tap(2)
    screen = rig.last_screen()
    assert screen.style == "ok" and "社員2" in screen.lines[0], screen.lines
    assert rig.journal.read(1).credential == card_of(2)  # the IDm the driver read
