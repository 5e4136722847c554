"""The journal on faulty flash: the defects of issue 14, each as it was seen, and the fault
classes of docs/JOURNAL.md ("Fault model") swept in small versions (`dakoku bench journal`
runs them in full)."""

from test_journal import expect, fill, flash

from firmware.journal import (
    ISSUE_BAD_HEADER,
    ISSUE_WRITE_FAILED,
    GeometryChanged,
    Journal,
    JournalError,
)
from simulator.norflash import PowerCut, SimulatedNorFlash
from simulator.powercut import Workload, make_punch, run_class

# The sweeps are logic tests: automatic GC off on a large heap, as for the power-cut sweep (a
# collection under this garbage load corrupts the WASI interpreter's heap).
MICROPYTHON_HEAPSIZE = "48M"


# -- defect 1: a slot program the chip ignores -------------------------------------------------


def test_a_slot_program_the_chip_ignores_is_never_taken_for_the_end_of_the_ring():
    f = flash()
    j = Journal.mount(f)
    assert fill(j, 7) == list(range(1, 8))
    f.ignore_program_at(1)  # the record of seq 8: the slot stays all FF
    issues = []
    j.on_issue = lambda code, where: issues.append((code, where))
    assert fill(j, 3, start=7) == [9, 10, 11]  # 8 voided and skipped
    assert issues == [(ISSUE_WRITE_FAILED, 8)] and f.faults_hit == 1
    k = Journal.mount(f)  # a reboot
    assert [p.seq for p in k.unsent()] == [1, 2, 3, 4, 5, 6, 7, 9, 10, 11]
    assert k.unsent_count == 10
    seq = k.append(make_punch(99))
    assert seq == 12  # never 8 again
    assert not k.is_delivered(seq) and [p.seq for p in k.unsent()][-1] == 12
    # 9–11 (punches 7–9: 8 took none) were not programmed over.
    stored = [k.read(s).key()[1:] for s in (9, 10, 11)]
    assert stored == [make_punch(i).key()[1:] for i in (7, 8, 9)]


# -- defect 2: a resized partition -------------------------------------------------------------


def _wrapped_with_backlog(sectors=4):
    f = flash(sectors)
    j = Journal.mount(f)
    for _ in range(2 * sectors):
        fill(j, j.slots)
        j.mark_delivered_up_to(j.next_seq - 1)
    fill(j, 17)
    assert j.unsent_count == 17
    return f, j


def test_a_grown_partition_is_refused_with_a_clear_error_and_left_untouched():
    f, _ = _wrapped_with_backlog()
    for sectors in (5, 6, 8):
        g = f.resized(sectors)
        before = g.image()
        exc = expect(GeometryChanged, Journal.mount, g)
        assert isinstance(exc, JournalError)
        assert "4 sectors" in str(exc) and "%d" % sectors in str(exc), str(exc)
        assert g.image() == before and g.erases == 0 and g.programs == 0
    # The partition put back as it was: all 17 are there.
    assert len(list(Journal.mount(f).unsent())) == 17


def test_a_shrunk_partition_is_refused_even_before_the_ring_wrapped():
    f = flash(6)
    j = Journal.mount(f)
    fill(j, 5 * j.slots + 3)  # the head in sector 5
    for sectors in (5, 3):
        g = f.resized(sectors)
        before = g.image()
        expect(GeometryChanged, Journal.mount, g)
        assert g.image() == before


def test_a_legacy_header_without_a_sector_count_is_checked_by_its_sequence_numbers():
    """Format-1 headers written before the sector count was recorded hold FF there: a wrapped
    ring tells its own size by which sector holds which numbers."""
    import binascii
    import struct

    f, _ = _wrapped_with_backlog()
    image = bytearray(f.image())
    for s in range(4):  # every header as the older firmware wrote it
        at = s * 512
        image[at + 20 : at + 24] = b"\xff\xff\xff\xff"
        crc = binascii.crc32(bytes(image[at : at + 28])) & 0xFFFFFFFF
        struct.pack_into("<I", image, at + 28, crc)
    f.restore(bytes(image))
    assert len(list(Journal.mount(f).unsent())) == 17  # same geometry: mounts as before
    expect(GeometryChanged, Journal.mount, f.resized(6))


# -- defect 3: one decayed bit of a young journal's header -------------------------------------


def test_a_decayed_magic_bit_of_a_young_journal_never_bricks_it():
    magic_bits = 0
    for byte in range(4):
        for bit in range(8):
            f = flash()
            j = Journal.mount(f)
            fill(j, 10)  # one sector in use
            if not f.read(byte, 1)[0] & (1 << bit):
                continue
            magic_bits += 1
            f.flip(byte, bit)
            k = Journal.mount(f)
            assert (ISSUE_BAD_HEADER, 0) in k.issues
            assert [p.seq for p in k.unsent()] == list(range(1, 11))
            assert k.append(make_punch(50)) == 11
    assert magic_bits == 13


# -- the fault classes, thinned (the full sweeps: dakoku bench journal) ------------------------


def _swept(name, every, min_runs):
    import gc

    gc.disable()
    result = run_class(name, every=every, workload=Workload(rounds=8, burst=17))
    gc.enable()
    assert result.failures == [], (name, result.failures)
    assert result.failed_runs == 0 and result.runs >= min_runs, (name, result.runs)
    return result


def test_sweep_two_cuts_in_a_row():
    _swept("two_cuts", 11, 60)


def test_sweep_a_program_the_chip_ignores():
    _swept("ignored_program", 3, 40)


def test_sweep_a_byte_that_never_programs():
    _swept("stuck_byte", 61, 30)


def test_sweep_an_erase_that_does_nothing_or_leaves_a_mix():
    _swept("silent_erase", 1, 8)
    _swept("partial_erase", 1, 8)


def test_sweep_one_decayed_bit_in_every_state():
    for state in ("fresh", "wrapped", "full", "partly_delivered"):
        _swept("decay_" + state, 97, 150)


def test_sweep_changed_geometry():
    result = _swept("geometry", 1, 28)
    assert result.refused >= 20  # grown or shrunk sectors, other sector sizes: refused


# -- shrunk failures of tests/firmware/test_journal_stateful.py --------------------------------


def test_a_header_program_the_chip_ignores_hides_no_record():
    f = flash()
    f.ignore_program_at(1)  # sector 0's header, on the first append
    j = Journal.mount(f)
    assert j.append(make_punch(0)) == 1
    k = Journal.mount(f)
    assert [p.seq for p in k.unsent()] == [1]
    assert k.append(make_punch(1)) == 2


def test_an_empty_journal_with_a_decayed_magic_bit_still_mounts():
    for torn in (False, True):
        f = flash()
        if torn:
            f.cut_at(2)  # the header program of sector 0, torn
        try:
            Journal.mount(f).prepare()
        except PowerCut:  # a BaseException: no "except Exception" in the firmware swallows it
            f.power_on()
        f.flip(0, 2)  # 'D' = 0x44: its bit 2 decays
        j = Journal.mount(f)
        assert j.unsent_count == 0 and j.append(make_punch(0)) == 1


class _SectorThatWillNotErase(SimulatedNorFlash):
    def erase(self, sector):
        if sector == 1:
            self.erases += 1
            return  # silently, every time
        SimulatedNorFlash.erase(self, sector)


def test_a_sector_that_never_erases_fails_appends_as_an_oserror_and_loses_nothing():
    f = _SectorThatWillNotErase(sector_size=512, sector_count=4)
    f.program(512 + 100, b"\x00")  # so that sector 1 is not blank
    j = Journal.mount(f)
    assert fill(j, j.slots) == list(range(1, j.slots + 1))  # sector 0 full
    assert j.prepare() is False  # background work reports, never raises
    assert j.issues[-1] == ("flash_fault", 1)
    exc = expect(OSError, j.append, make_punch(99))
    assert "does not erase" in str(exc)
    k = Journal.mount(f)
    assert [p.seq for p in k.unsent()] == list(range(1, j.slots + 1))


class _HeaderThatNeverTakes(SimulatedNorFlash):
    def program(self, addr, data):
        if addr == 512:  # sector 1's header: never programs (its first page is worn out)
            self.programs += 1
            return
        SimulatedNorFlash.program(self, addr, data)


def test_a_sector_whose_header_never_takes_is_used_and_found_by_its_records():
    f = _HeaderThatNeverTakes(sector_size=512, sector_count=4)
    j = Journal.mount(f)
    seqs = fill(j, 20)  # 14 in sector 0, 6 in sector 1 (its header all FF)
    assert seqs == list(range(1, 21)) and (ISSUE_BAD_HEADER, 1) in j.issues
    k = Journal.mount(f)
    assert (ISSUE_BAD_HEADER, 1) in k.issues
    assert [p.seq for p in k.unsent()] == seqs
    assert k.unsent_count == 20 and k.append(make_punch(20)) == 21
    assert k.mark_delivered_up_to(18) == 18 and [p.seq for p in k.unsent()] == [19, 20, 21]
