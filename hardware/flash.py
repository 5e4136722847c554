"""NOR flash over a board's flash partition (MicroPython).

Adapts MicroPython's *extended* block-device protocol — what ``esp32.Partition`` and
``rp2.Flash`` implement — to the journal's flash interface:

- ``readinto(addr, buf)``  → ``bdev.readblocks(block, buf, offset)``
- ``program(addr, data)``  → ``bdev.writeblocks(block, data, offset)`` (with an offset the
  extended protocol writes without erasing: bits can only be cleared, as on raw NOR)
- ``erase(sector)``        → ``bdev.ioctl(6, block)`` (BP_IOCTL_SEC_ERASE)

Geometry comes from ``ioctl(4)`` (block count) and ``ioctl(5)`` (block size); a journal sector is
one erase block. On an ESP32::

    import esp32
    from hardware.flash import BlockDeviceFlash
    part = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="journal")[0]
    flash = BlockDeviceFlash(part)
"""

from micropython import const

_IOCTL_BLOCK_COUNT = const(4)
_IOCTL_BLOCK_SIZE = const(5)
_IOCTL_BLOCK_ERASE = const(6)


class BlockDeviceFlash:
    def __init__(self, bdev, page_size=256):
        self.bdev = bdev
        self.sector_size = bdev.ioctl(_IOCTL_BLOCK_SIZE, 0)
        self.sector_count = bdev.ioctl(_IOCTL_BLOCK_COUNT, 0)
        if not self.sector_size or not self.sector_count:
            raise ValueError("block device reports no geometry")
        if self.sector_size % page_size:
            raise ValueError("block size is not a multiple of the page size")
        self.page_size = page_size
        self.size = self.sector_size * self.sector_count

    def readinto(self, addr, buf):
        if addr < 0 or addr + len(buf) > self.size:
            raise ValueError("read outside the partition")
        # A read may span blocks; the extended protocol allows offset + len beyond one block.
        self.bdev.readblocks(addr // self.sector_size, buf, addr % self.sector_size)

    def program(self, addr, data):
        n = len(data)
        if addr < 0 or addr + n > self.size:
            raise ValueError("program outside the partition")
        if n and addr // self.page_size != (addr + n - 1) // self.page_size:
            raise ValueError("program crosses a page boundary")
        self.bdev.writeblocks(addr // self.sector_size, data, addr % self.sector_size)

    def erase(self, sector):
        if not 0 <= sector < self.sector_count:
            raise ValueError("no such sector")
        if self.bdev.ioctl(_IOCTL_BLOCK_ERASE, sector):
            raise OSError("flash erase failed")
