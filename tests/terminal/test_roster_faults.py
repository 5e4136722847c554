"""The roster on faulty flash: defect 4 of issue 14 (records without a check) and the fault
classes of docs/JOURNAL.md ("Fault model") swept over a roster update."""

from test_roster import card, flash, item, page

from firmware.roster import Roster

MICROPYTHON_HEAPSIZE = "48M"  # a logic sweep: GC off on a large heap (see the journal's)


def forty():
    f = flash()
    r = Roster.mount(f)
    r.apply_page(page([item(i) for i in range(1, 41)], 1))
    return f, r


def record_offsets(f, r):
    """Flash address of every record of the active bank, in stored order."""
    base = r.active.first * f.sector_size
    at, end, out = f.sector_size, f.sector_size + r.active.rec_bytes, []
    while at < end:
        out.append(base + at)
        raw = f.read(base + at, 2)
        at += raw[0] | raw[1] << 8
    return out


def test_a_decayed_length_field_is_reported_at_mount_and_never_committed_over():
    f, r = forty()
    at = record_offsets(f, r)[9]  # employee 10's length field
    f.flip(at, 3)
    again = Roster.mount(f)
    assert again.problems, "damage must be reported at mount"
    assert again.version == 0  # so the client fetches the roster again, in full
    assert again.lookup_card(card(20)).code == "E0020"  # the rest still answers offline
    # A delta over the damaged copy is not applied: nothing committed without employees.
    done = again.apply_page(page([item(41)], 2, full=False))
    assert not done and again.version == 0
    assert Roster.mount(f).version == 0
    # The full re-fetch repairs it: all 40 back.
    assert again.apply_page(page([item(i) for i in range(1, 41)], 2))
    fresh = Roster.mount(f)
    assert fresh.version == 2 and not fresh.problems
    assert all(fresh.lookup_card(card(i)).code == "E%04d" % i for i in range(1, 41))


def test_a_fetch_that_goes_on_after_an_abandoned_delta_never_commits_a_partial_roster():
    f, r = forty()
    f.flip(record_offsets(f, r)[0] + 9, 0)  # employee 1's code
    r = Roster.mount(f)
    assert r.version == 0
    # The client's delta fetch goes on with version 0: the service answers full pages, the
    # first of which is not the roster's first (the cursor was already past it).
    assert not r.apply_page(page([item(41)], 2, full=False, next_="E0041"))
    assert not r.apply_page(page([item(i) for i in range(30, 41)], 2, first=False))
    assert r.version == 0 and Roster.mount(f).version == 0
    assert r.apply_page(page([item(i) for i in range(1, 41)], 2))  # started again: all of it
    assert Roster.mount(f).count == 40


def test_a_shrunk_region_is_reported_and_fetched_again_in_full():
    f = flash(16)
    r = Roster.mount(f)
    r.apply_page(page([item(i) for i in range(1, 31)], 1))  # bank 0: 5 of its 8 sectors
    small = f.resized(8)  # banks of 4 sectors: bank 0's index now reaches past its end
    before = Roster.mount(f)
    assert before.version == 1 and not before.problems
    again = Roster.mount(small)
    assert again.version == 0 and "resized" in again.problems[0]
    assert again.apply_page(page([item(i) for i in range(1, 11)], 2))  # what fits
    assert Roster.mount(small).lookup_card(card(7)).code == "E0007"
