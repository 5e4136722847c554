"""The cached roster on flash: lookups by card and finger, full and delta pages, power cuts."""

from firmware.roster import Roster, RosterError
from simulator.norflash import SimulatedNorFlash

MICROPYTHON_HEAPSIZE = "512K"  # see test_journal.py


def flash(sectors=16):
    return SimulatedNorFlash(sector_size=1024, sector_count=sectors, page_size=256)


def card(i):
    return bytes([1, 46, (i >> 8) & 0xFF, i & 0xFF, 0, 0, 0, 9])


def item(i, **kw):
    e = {
        "code": "E%04d" % i,
        "name": "社員 %d" % i,
        "lang": "ja" if i % 2 else "en",
        "cards": [card(i), card(i + 5000)],
        "fingers": [i],
        "lines": ["残業残り %d h" % (i % 60)],
    }
    e.update(kw)
    return e


def page(items, version, full=True, delete=(), next_=None, first=True):
    return {
        "time": 0,
        "version": version,
        "full": full,
        "upsert": items,
        "delete": list(delete),
        "next": next_,
        "first": first,
    }


def test_empty_region_has_no_roster():
    r = Roster.mount(flash())
    assert r.version == 0 and r.count == 0 and r.lookup_card(card(1)) is None


def test_full_roster_in_pages_then_lookups_by_card_and_finger():
    f = flash()
    r = Roster.mount(f)
    assert not r.apply_page(page([item(i) for i in range(1, 21)], 7, next_="E0020"))
    assert r.version == 0  # not committed until the last page
    assert r.apply_page(page([item(i) for i in range(21, 41)], 7, first=False))
    assert r.version == 7 and r.count == 40
    again = Roster.mount(f)
    e = again.lookup_card(card(33))
    assert e.code == "E0033" and e.name == "社員 33" and e.lines == ["残業残り 33 h"]
    assert again.lookup_card(card(5033)).code == "E0033"
    assert again.lookup_finger(12).code == "E0012"
    assert again.lookup_card(card(99)) is None and again.lookup_finger(99) is None
    assert [x.code for x in again.employees()][:3] == ["E0001", "E0002", "E0003"]


def test_a_restarted_full_fetch_does_not_double_employees():
    r = Roster.mount(flash())
    r.apply_page(page([item(1), item(2)], 3, next_="E0002"))
    r.apply_page(page([item(1), item(2)], 3, next_="E0002"))  # fetch started again
    r.apply_page(page([item(3)], 3, first=False))
    assert r.count == 3


def test_delta_pages_replace_add_and_delete():
    r = Roster.mount(flash())
    r.apply_page(page([item(i) for i in range(1, 6)], 1))
    renamed = item(2, name="改名", cards=[card(77)])
    done = r.apply_page(page([renamed, item(9)], 2, full=False, delete=["E0004"]))
    assert done and r.version == 2 and r.count == 5
    assert r.lookup_card(card(77)).name == "改名"
    assert r.lookup_card(card(2)) is None  # the old card of E0002 is gone
    assert r.lookup_card(card(4)) is None and r.lookup_card(card(9)).code == "E0009"
    assert sorted(e.code for e in r.employees()) == ["E0001", "E0002", "E0003", "E0005", "E0009"]


def test_an_interrupted_delta_keeps_the_old_version_until_its_last_page():
    r = Roster.mount(flash())
    r.apply_page(page([item(1)], 1))
    assert not r.apply_page(page([item(2)], 5, full=False, next_="E0002"))
    assert r.version == 1 and r.lookup_card(card(2)) is not None
    assert r.apply_page(page([item(3)], 5, full=False, first=False))
    assert r.version == 5 and r.count == 3


def test_a_corrupt_header_leaves_the_other_bank_or_no_roster():
    f = flash()
    r = Roster.mount(f)
    r.apply_page(page([item(1)], 1))
    r.apply_page(page([item(2)], 2))  # in bank 1 now
    f.decay(2, 8 * 1024 + 4, 8 * 1024 + 20)
    again = Roster.mount(f)
    assert again.version == 1 and again.problems
    assert again.lookup_card(card(1)) is not None and again.lookup_card(card(2)) is None


def test_a_roster_too_big_for_the_region_is_refused_and_the_old_one_stays():
    r = Roster.mount(flash(6))  # banks of 3 sectors: 2 KiB of records and index
    r.apply_page(page([item(1)], 1))
    try:
        r.apply_page(page([item(i) for i in range(100)], 2))
    except RosterError as e:
        assert "full" in str(e)
    else:
        raise AssertionError("an oversized roster was accepted")
    assert Roster.mount(r.flash).version == 1


def test_a_page_is_applied_a_few_records_per_turn_and_the_old_roster_serves_until_the_end():
    """PRT-ROSTER-1, PRT-ROSTER-3: background work in bounded steps."""
    f = flash(32)
    r = Roster.mount(f)
    r.apply_page(page([item(i) for i in range(1, 4)], 1))
    r.start_page(page([item(i) for i in range(1, 31)], 2))  # 30 employees, 60 cards
    turns = 0
    while r.busy:
        programs = f.programs
        done = r.work(4)
        turns += 1
        # 4 records a turn: each record is one or two page programs, or 3 index slots
        assert f.programs - programs <= 12, f.programs - programs
        if not done:
            assert r.version == 1 and r.lookup_card(card(2)) is not None
            assert r.lookup_card(card(20)) is None  # not in force before the header
    assert turns >= 30 * 2 // 4 and r.outcome is True
    assert r.version == 2 and r.count == 30 and r.lookup_card(card(20)).code == "E0020"
    assert r.lookup_finger(30).code == "E0030"


def test_a_delta_page_copies_the_old_records_raw_and_a_failed_job_keeps_the_old_roster():
    """PRT-ROSTER-2"""
    r = Roster.mount(flash(6))  # banks of 3 sectors
    r.apply_page(page([item(i) for i in range(1, 6)], 1))
    r.start_page(page([item(3, name="名前")], 2, full=False, delete=["E0001"]))
    while not r.work(1):
        pass
    assert r.outcome is True and r.version == 2
    assert sorted(e.code for e in r.employees()) == ["E0002", "E0003", "E0004", "E0005"]
    assert r.lookup_card(card(3)).name == "名前" and r.lookup_card(card(1)) is None
    assert r.lookup_card(card(5004)).code == "E0004"  # copied raw, indexed again
    r.start_page(page([item(i) for i in range(100)], 3))
    try:
        while not r.work(8):
            pass
    except RosterError as e:
        assert "full" in str(e)
    else:
        raise AssertionError("an oversized roster was accepted")
    assert not r.busy and r.outcome is False and r.version == 2
    assert Roster.mount(r.flash).version == 2 and r.lookup_card(card(3)).name == "名前"
