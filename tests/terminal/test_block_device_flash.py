"""The board adapter over MicroPython's extended block-device protocol, with a journal on it."""

from firmware.journal import Journal
from hardware.flash import BlockDeviceFlash
from simulator.norflash import SimulatedNorFlash
from simulator.powercut import make_punch

MICROPYTHON_HEAPSIZE = "512K"


class ExtendedBlockDevice:
    """What esp32.Partition / rp2.Flash look like: blocks, offsets, ioctl(4/5/6)."""

    def __init__(self, nor):
        self.nor = nor
        self.calls = []

    def readblocks(self, block, buf, offset=0):
        self.calls.append("read")
        self.nor.readinto(block * self.nor.sector_size + offset, buf)

    def writeblocks(self, block, buf, offset=None):
        self.calls.append("write")
        if offset is None:  # the simple protocol erases first; the journal never uses it
            raise AssertionError("journal must use the extended (offset) form")
        self.nor.program(block * self.nor.sector_size + offset, buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self.nor.sector_count
        if op == 5:
            return self.nor.sector_size
        if op == 6:
            self.calls.append("erase")
            self.nor.erase(arg)
            return 0
        return None


def test_geometry_comes_from_ioctl():
    dev = ExtendedBlockDevice(SimulatedNorFlash(sector_size=4096, sector_count=6))
    flash = BlockDeviceFlash(dev)
    assert (flash.sector_size, flash.sector_count, flash.size) == (4096, 6, 6 * 4096)


def test_journal_runs_on_a_block_device_and_remounts():
    nor = SimulatedNorFlash(sector_size=4096, sector_count=4)
    dev = ExtendedBlockDevice(nor)
    journal = Journal.mount(BlockDeviceFlash(dev))
    for i in range(200):
        assert journal.append(make_punch(i)) == i + 1
    journal.mark_delivered_up_to(150)
    again = Journal.mount(BlockDeviceFlash(dev))
    assert again.next_seq == 201 and again.unsent_count == 50
    assert [p.seq for p in again.unsent(2)] == [151, 152]
    assert "erase" in dev.calls and "write" in dev.calls


def test_out_of_range_and_page_crossing_are_refused():
    flash = BlockDeviceFlash(ExtendedBlockDevice(SimulatedNorFlash(4096, 2)))
    for call, args in (
        (flash.readinto, (8190, bytearray(4))),
        (flash.program, (250, b"\x00" * 10)),
        (flash.erase, (2,)),
    ):
        try:
            call(*args)
        except ValueError:
            continue
        raise AssertionError("must refuse %r" % (args,))


def test_failed_erase_is_an_error():
    class Failing(ExtendedBlockDevice):
        def ioctl(self, op, arg):
            return -5 if op == 6 else ExtendedBlockDevice.ioctl(self, op, arg)

    flash = BlockDeviceFlash(Failing(SimulatedNorFlash(4096, 2)))
    try:
        flash.erase(0)
    except OSError:
        return
    raise AssertionError("a failed erase must raise")


def test_device_without_geometry_is_refused():
    class Broken(ExtendedBlockDevice):
        def ioctl(self, op, arg):
            return 0

    try:
        BlockDeviceFlash(Broken(SimulatedNorFlash(4096, 2)))
    except ValueError:
        return
    raise AssertionError("no geometry must be refused")
