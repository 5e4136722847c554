"""The simulated NOR flash: NOR semantics, counters, power cuts, decay, file backing."""

from support import scratch_path

from simulator.norflash import PowerCut, SimulatedNorFlash, XorShift32

# Smaller heaps trip heap corruption in the WASI interpreter under GC pressure
# (tests/tools/test_interpreter_issues.py); the journal's own heap use is measured by
# `dakoku bench journal` (heap_bytes_mounted_micropython).
MICROPYTHON_HEAPSIZE = "512K"


def small(**kw):
    return SimulatedNorFlash(sector_size=512, sector_count=4, page_size=256, **kw)


def expect_error(exc_type, func, *args):
    try:
        func(*args)
    except exc_type:
        return
    raise AssertionError("expected %s" % exc_type.__name__)


def test_starts_erased_and_program_only_clears_bits():
    f = small()
    assert f.read(0, 4) == b"\xff\xff\xff\xff"
    f.program(0, b"\xf0\x0f\xaa\xff")
    f.program(0, b"\x3c\x3c\xff\x00")
    assert f.read(0, 4) == b"\x30\x0c\xaa\x00"


def test_erase_sets_the_whole_sector_to_ff_and_counts():
    f = small()
    f.program(512, b"\x00" * 32)
    f.program(0, b"\x00")
    f.erase(1)
    assert f.read(512, 512) == b"\xff" * 512
    assert f.read(0, 1) == b"\x00"  # other sectors untouched
    assert f.erase_counts == [0, 1, 0, 0]
    assert (f.programs, f.erases, f.bytes_programmed) == (2, 1, 33)


def test_out_of_range_and_page_crossing_are_refused():
    f = small()
    expect_error(ValueError, f.program, 250, b"\x00" * 10)  # crosses 256
    expect_error(ValueError, f.program, 2040, b"\x00" * 16)  # past the end
    expect_error(ValueError, f.read, 2047, 2)
    expect_error(ValueError, f.erase, 4)


def test_power_cut_mid_program_leaves_bits_between_old_and_new():
    f = small(seed=7)
    f.cut_at(2)
    f.program(0, b"\x0f" * 16)  # step 1 completes
    try:
        f.program(32, b"\x00" * 64)  # step 2 is cut
    except PowerCut:
        pass
    else:
        raise AssertionError("the second program must be cut")
    torn = f.read(32, 64)
    assert torn != b"\x00" * 64 and torn != b"\xff" * 64  # somewhere in between
    assert f.read(0, 16) == b"\x0f" * 16
    # Until power returns, every write fails.
    expect_error(PowerCut, f.program, 100, b"\x00")
    expect_error(PowerCut, f.erase, 3)
    f.power_on()
    f.program(100, b"\x00")
    assert f.read(100, 1) == b"\x00"


def test_power_cut_mid_program_never_clears_a_bit_it_was_not_clearing():
    for seed in range(1, 20):
        f = small(seed=seed)
        f.program(0, b"\xf0" * 8)
        f.cut_at(1)
        try:
            f.program(0, b"\x3c" * 8)
        except PowerCut:
            pass
        # old 0xF0, new 0x3C: the program clears bits 6 and 7 only. Bits 4 and 5 are set in
        # both and must stay set; bits 0-3 are clear already and stay clear.
        for byte in f.read(0, 8):
            assert byte & 0x30 == 0x30
            assert byte & 0x0F == 0


def test_power_cut_mid_erase_leaves_a_mix():
    f = small(seed=3)
    f.program(512, b"\x00" * 256)
    f.program(768, b"\x00" * 256)
    f.cut_at(1)
    try:
        f.erase(1)
    except PowerCut:
        pass
    else:
        raise AssertionError("erase must be cut")
    data = f.read(512, 512)
    assert data != b"\xff" * 512 and data != b"\x00" * 512


def test_decay_flips_exactly_the_bits_it_reports():
    f = small(seed=11)
    hit = f.decay(5, 0, 64)
    assert len(hit) == 5
    data = f.read(0, 64)
    flipped = sum(bin(0xFF ^ b).count("1") for b in data)
    assert 1 <= flipped <= 5  # two flips may land on the same bit and cancel
    for addr in range(64):
        if data[addr] != 0xFF:
            assert addr in hit


def test_xorshift_is_deterministic():
    a, b = XorShift32(42), XorShift32(42)
    assert [a.next() for _ in range(5)] == [b.next() for _ in range(5)]
    assert XorShift32(0).next() != 0


def test_file_backed_flash_persists_across_reopen():
    path = scratch_path("flash.img")
    f = SimulatedNorFlash(sector_size=4096, sector_count=8, path=path)
    f.program(4096 * 7 + 10, b"\x12\x34")
    f.erase(0)
    f.close()
    g = SimulatedNorFlash(sector_size=4096, sector_count=8, path=path)
    assert g.read(4096 * 7 + 10, 2) == b"\x12\x34"
    assert g.read(0, 4) == b"\xff" * 4
    g.close()


def test_file_of_the_wrong_size_is_refused():
    path = scratch_path("short.img")
    with open(path, "wb") as out:
        out.write(b"\xff" * 100)
    expect_error(ValueError, SimulatedNorFlash, 4096, 8, 256, path)


def test_an_ignored_program_changes_nothing_and_raises_nothing():
    f = small()
    f.ignore_program_at(2)
    f.program(0, b"\x00")
    f.program(1, b"\x00")  # ignored
    f.program(2, b"\x00")
    assert f.read(0, 3) == b"\x00\xff\x00" and f.faults_hit == 1 and f.programs == 3


def test_a_stuck_byte_never_programs_but_still_erases():
    f = small()
    f.stick(5)
    f.program(4, b"\x00\x00\x00")
    assert f.read(4, 3) == b"\x00\xff\x00" and f.faults_hit == 1
    f.erase(0)
    assert f.read(4, 3) == b"\xff\xff\xff"
    expect_error(ValueError, f.stick, f.size)


def test_a_silent_erase_does_nothing_and_a_partial_one_leaves_a_mix():
    f = small()
    f.program(0, b"\x00" * 64)
    f.fail_erase_at(1)
    f.erase(0)
    assert f.read(0, 64) == b"\x00" * 64
    f.fail_erase_at(1, partial=True)
    f.erase(0)
    mixed = f.read(0, 512)
    assert mixed != b"\x00" * 512 and mixed != b"\xff" * 512
    f.erase(0)  # the next one works
    assert f.read(0, 512) == b"\xff" * 512 and f.faults_hit == 2


def test_flip_image_restore_and_resized():
    f = small()
    f.program(600, b"\x12")
    image = f.image()
    f.flip(600, 0)
    assert f.read(600, 1) == b"\x13"
    f.restore(image)
    assert f.read(600, 1) == b"\x12"
    grown = f.resized(6)
    assert grown.sector_count == 6 and grown.read(600, 1) == b"\x12"
    assert grown.read(4 * 512, 512) == b"\xff" * 512
    shrunk = f.resized(2)
    assert shrunk.size == 1024 and shrunk.read(600, 1) == b"\x12"
    other = f.resized(2, 1024)
    assert other.sector_size == 1024 and other.read(600, 1) == b"\x12"
