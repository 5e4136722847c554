"""The flash punch journal: every operation, and every kind of bad flash contents."""

from firmware.journal import (
    FULL,
    ISSUE_BAD_HEADER,
    ISSUE_BAD_RECORD,
    ISSUE_TORN_APPEND,
    ISSUE_WRITE_FAILED,
    STATE_FULL,
    STATE_NEARLY_FULL,
    STATE_OK,
    ForeignPartition,
    Journal,
    UnknownFormat,
    geometry,
)
from firmware.punch import KIND_CLOCK_IN, METHOD_FINGER, Punch
from simulator.norflash import PowerCut, SimulatedNorFlash
from simulator.powercut import make_punch

# Smaller heaps trip heap corruption in the WASI interpreter under GC pressure
# (tests/tools/test_interpreter_issues.py); the journal's own heap use is measured by
# `dakoku bench journal` (heap_bytes_mounted_micropython).
MICROPYTHON_HEAPSIZE = "512K"


def flash(sectors=4, size=512, seed=1):
    return SimulatedNorFlash(sector_size=size, sector_count=sectors, seed=seed)


def fill(journal, count, start=0):
    seqs = []
    for i in range(start, start + count):
        seqs.append(journal.append(make_punch(i)))
    return seqs


def expect(exc_type, func, *args):
    try:
        func(*args)
    except exc_type as exc:
        return exc
    raise AssertionError("expected %s" % exc_type.__name__)


def test_geometry_of_a_4k_sector():
    assert geometry(4096) == (64, 126, 16)
    assert geometry(512) == (64, 14, 2)


def test_append_returns_consecutive_sequence_numbers_and_round_trips():
    j = Journal.mount(flash())
    p = Punch(
        1700000123,
        kind=KIND_CLOCK_IN,
        method=METHOD_FINGER,
        credential=b"\x01\x01\x07\x01\x26\x0c\xca\x02",
        clock_synced=False,
        utc_offset_min=540,
        boot_id=77,
        flags=3,
    )
    assert j.append(p) == 1 and p.seq == 1
    assert j.append(make_punch(1)) == 2
    assert j.read(1) == p
    assert j.read(2).seq == 2
    assert j.read(3) is None and j.read(0) is None
    assert j.status()["unsent"] == 2 and j.next_seq == 3


def test_unsent_is_oldest_first_and_limit_works():
    j = Journal.mount(flash())
    fill(j, 30)
    assert [p.seq for p in j.unsent()] == list(range(1, 31))
    assert [p.seq for p in j.unsent(5)] == [1, 2, 3, 4, 5]
    assert j.oldest_unsent_seq() == 1


def test_mark_up_to_and_single_marks():
    j = Journal.mount(flash())
    fill(j, 30)
    assert j.mark_delivered_up_to(10) == 10
    assert j.mark_delivered_up_to(10) == 0  # idempotent
    assert j.mark_delivered(20) is True
    assert j.mark_delivered(20) is False
    assert j.mark_delivered(99) is False  # never appended
    assert j.unsent_count == 19
    assert [p.seq for p in j.unsent(3)] == [11, 12, 13]
    assert 20 not in [p.seq for p in j.unsent()]
    assert j.is_delivered(5) and j.is_delivered(20) and not j.is_delivered(21)
    # Delivered punches stay readable (a service may ask for a range again).
    assert j.read(5).seq == 5


def test_acknowledging_beyond_what_exists_is_clamped():
    j = Journal.mount(flash())
    fill(j, 5)
    assert j.mark_delivered_up_to(10**6) == 5
    assert j.append(make_punch(9)) == 6
    assert j.unsent_count == 1


def test_state_survives_remount():
    f = flash()
    j = Journal.mount(f)
    fill(j, 40)
    j.mark_delivered_up_to(17)
    j.mark_delivered(30)
    k = Journal.mount(f)
    assert k.next_seq == 41 and k.unsent_count == 22
    assert [p.seq for p in k.unsent()] == [s for s in range(18, 41) if s != 30]
    assert k.read(40) == j.read(40)


def test_full_refuses_and_recovers_after_delivery():
    j = Journal.mount(flash(sectors=4), nearly_full_percent=75)
    assert j.capacity == 56
    assert j.state() == STATE_OK
    seqs = fill(j, 56)
    assert seqs == list(range(1, 57))
    assert j.state() == STATE_FULL
    assert j.append(make_punch(99)) == FULL
    assert j.unsent_count == 56  # nothing overwritten
    j.mark_delivered_up_to(5)  # not a whole sector yet
    assert j.append(make_punch(99)) == FULL
    j.mark_delivered_up_to(14)  # sector 0 fully delivered
    assert j.append(make_punch(100)) == 57
    assert [p.seq for p in j.unsent(1)] == [15]


def test_nearly_full_threshold():
    j = Journal.mount(flash(sectors=4), nearly_full_percent=50)
    fill(j, 20)
    assert j.state() == STATE_OK
    fill(j, 10, start=20)
    assert j.free_slots() == 26 and j.state() == STATE_NEARLY_FULL


def test_prepare_erases_ahead_so_appends_do_not_erase():
    f = flash(sectors=4)
    j = Journal.mount(f)
    assert j.prepare() is True  # opens the first sector
    fill(j, 10)
    assert j.prepare() is True  # the next sector, ahead of time
    assert j.prepare() is False  # already done
    erases = f.erases
    fill(j, 10, start=10)  # crosses into the prepared sector
    assert f.erases == erases
    # A remount with a prepared sector continues in the current one (no gap).
    k = Journal.mount(f)
    assert k.next_seq == 21
    fill(k, 3, start=50)
    assert [p.seq for p in k.unsent()][-3:] == [21, 22, 23]


def test_prepared_sector_before_the_head_fills_is_found_on_mount():
    f = flash(sectors=4)
    j = Journal.mount(f)
    fill(j, 5)
    j.prepare()
    k = Journal.mount(f)
    assert (k.head_sector, k.head_slot, k.prepared) == (0, 5, True)
    assert k.append(make_punch(5)) == 6


def test_wraps_many_times_with_even_wear():
    f = flash(sectors=4)
    j = Journal.mount(f)
    for round_ in range(20):
        fill(j, 14, start=round_ * 14)
        j.mark_delivered_up_to(j.next_seq - 1)
    assert j.next_seq == 281
    counts = f.erase_counts
    assert max(counts) - min(counts) <= 1
    k = Journal.mount(f)
    assert k.next_seq == 281 and k.unsent_count == 0


def test_mount_reads_headers_not_records():
    f = flash(sectors=8, size=4096)
    j = Journal.mount(f)
    fill(j, 126 * 6 + 40)
    f.reset_counters()
    Journal.mount(f)
    assert f.reads <= 2 * 8 + 64
    assert f.programs == 0 and f.erases == 0  # mounting a clean journal writes nothing


def test_invalid_punch_is_refused_before_anything_is_written():
    f = flash()
    j = Journal.mount(f)
    bad = [
        Punch(-1),
        Punch(1, kind=9),
        Punch(1, method=0),
        Punch(1, credential=b"x" * 13),
        Punch(1, utc_offset_min=10),
        Punch(1, boot_id=70000),
    ]
    for punch in bad:
        expect(ValueError, j.append, punch)
    assert f.programs == 0 and j.next_seq == 1


# -- bad flash contents --------------------------------------------------------------------


def test_foreign_partition_is_refused_and_left_untouched():
    f = flash()
    f.program(0, b"FAT16   \x00\x00\x00\x00" * 2)
    f.program(600, b"\x12\x34\x56")
    before = f.read(0, f.size)
    exc = expect(ForeignPartition, Journal.mount, f)
    assert "something other" in str(exc)
    assert f.read(0, f.size) == before and f.erases == 0
    Journal.format(f)
    j = Journal.mount(f)
    assert j.append(make_punch(0)) == 1


def test_unknown_format_version_is_refused_and_left_untouched():
    f = flash()
    j = Journal.mount(f)
    fill(j, 3)
    # A future firmware's sector: same magic, version 2, valid CRC.
    import binascii
    import struct

    hdr = bytearray(f.read(512, 32))
    for i in range(32):
        hdr[i] = 0xFF
    struct.pack_into("<4sBBBBIII8sI", hdr, 0, b"DAKO", 2, 2, 32, 0xFF, 512, 15, 1, b"\xff" * 8, 0)
    struct.pack_into("<I", hdr, 28, binascii.crc32(bytes(hdr[:28])) & 0xFFFFFFFF)
    f.program(512, hdr)
    before = f.read(0, f.size)
    exc = expect(UnknownFormat, Journal.mount, f)
    assert "version 2" in str(exc)
    assert f.read(0, f.size) == before


def test_other_geometry_is_refused():
    f = flash(sectors=4, size=512)
    j = Journal.mount(f)
    fill(j, 3)
    g = SimulatedNorFlash(sector_size=1024, sector_count=2)
    g.program(0, f.read(0, 256))
    expect(UnknownFormat, Journal.mount, g)


def test_corrupt_record_is_reported_skipped_and_never_returned():
    f = flash()
    issues = []
    j = Journal.mount(f, on_issue=lambda code, where: issues.append((code, where)))
    fill(j, 10)
    f.program(64 + 4 * 32 + 5, b"\x00")  # damage seq 5's time field
    k = Journal.mount(f, on_issue=lambda code, where: issues.append((code, where)))
    got = [p.seq for p in k.unsent()]
    assert got == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert (ISSUE_BAD_RECORD, 5) in issues
    assert k.read(5) is None
    assert k.unsent_count == 9  # corrected once the bad record was found


def test_corrupt_header_is_reported_and_the_rest_mounts():
    f = flash()
    j = Journal.mount(f)
    fill(j, 40)  # sectors 0, 1, 2 in use
    f.program(512 + 20, b"\x00")  # damage sector 1's header (erase count field)
    issues = []
    k = Journal.mount(f, on_issue=lambda code, where: issues.append((code, where)))
    assert (ISSUE_BAD_HEADER, 1) in issues
    # Sector 1's records are still found (by their own sequence numbers).
    assert [p.seq for p in k.unsent()] == list(range(1, 41))
    assert k.next_seq == 41


def test_torn_append_is_voided_and_its_number_skipped():
    f = flash()
    j = Journal.mount(f)
    fill(j, 3)
    f.cut_at(1)
    try:
        j.append(make_punch(3))
    except PowerCut:
        pass
    f.power_on()
    issues = []
    k = Journal.mount(f, on_issue=lambda code, where: issues.append((code, where)))
    assert issues == [(ISSUE_TORN_APPEND, 4)]
    assert [p.seq for p in k.unsent()] == [1, 2, 3]
    assert k.append(make_punch(4)) == 5  # 4 is never reused


def test_a_slot_that_will_not_program_is_skipped():
    f = flash()
    j = Journal.mount(f)
    fill(j, 2)
    f.program(64 + 2 * 32, b"\x00")  # a stuck cell where seq 3 will go
    issues = []
    j.on_issue = lambda code, where: issues.append((code, where))
    assert j.append(make_punch(2)) == 4
    assert issues == [(ISSUE_WRITE_FAILED, 3)]
    assert [p.seq for p in j.unsent()] == [1, 2, 4]


def test_decay_never_yields_a_corrupt_punch_or_a_false_delivery():
    for seed in range(1, 6):
        f = flash(sectors=4, seed=seed)
        j = Journal.mount(f)
        expected = {}
        for i in range(40):
            p = make_punch(i)
            seq = j.append(p)
            expected[seq] = p.key()
        j.mark_delivered_up_to(10)
        f.decay(12)
        try:
            k = Journal.mount(f)
        except (ForeignPartition, UnknownFormat):
            raise AssertionError("decay must not stop a journal from mounting")
        for punch in k.unsent():
            assert punch.key() == expected[punch.seq]
        for seq in range(11, 41):
            # A decayed bitmap bit can lose at most a "delivered" mark, never fake one.
            assert not k.is_delivered(seq) or k.read(seq) is None
