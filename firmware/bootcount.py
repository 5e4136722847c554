"""The boot counter: a number that grows at every boot and never repeats (MicroPython, sans-IO).

The protocol client puts it in every nonce (PRT-AUTH-5, PRT-SAFE-1): an answer is signed over
its request's nonce, so an answer recorded in one boot can never be valid in another, even when
the board's boot ID repeats (it is 16 bits, and a board may reset it). The counter is written
to flash **before** the first request of a boot: a value is used only once it is durable.

Its own small region of at least two sectors; 16-byte records appended in order, a sector at a
time, the next sector (a ring) erased only when the current one is full::

    0  4  magic "DKBC"
    4  4  value (LE)
    8  4  value XOR 0xFFFFFFFF (LE)
    12 4  CRC-32 of bytes 0..11

Mounting takes the highest valid value anywhere in the region. A record torn by a power cut
fails its check and is skipped (its value was never used: the boot did not get past writing
it); a sector torn while being erased holds no valid record, and the full sector before it
still holds the highest value. With a 4 KiB sector an erase comes every 256 boots.
"""

import binascii
import struct

from micropython import const

from firmware.eventlog import SELF_TEST

MAGIC = b"DKBC"
RECORD_SIZE = const(16)
_MASK = 0xFFFFFFFF


class BootCounter:
    def __init__(self, flash):
        if flash.sector_count < 2:
            raise ValueError("the boot counter needs two sectors (one is erased while in use)")
        self.flash = flash
        self.slots = flash.sector_size // RECORD_SIZE
        self.value = 0  # the highest value on flash (0: none yet)
        self._sector = 0  # where the highest value is
        self._slot = -1  # its slot (-1: no record at all)
        self._rec = bytearray(RECORD_SIZE)

    @classmethod
    def mount(cls, flash):
        counter = cls(flash)
        counter._mount()
        return counter

    def _read(self, sector, slot):
        """The value of a valid record, -1 for a blank slot, -2 for anything else."""
        rec = self._rec
        self.flash.readinto(sector * self.flash.sector_size + slot * RECORD_SIZE, rec)
        magic, value, inverse, crc = struct.unpack("<4sIII", rec)
        if magic == MAGIC and value ^ inverse == _MASK:
            if binascii.crc32(rec[:12]) & _MASK == crc:
                return value
        for b in rec:
            if b != 0xFF:
                return -2
        return -1

    def _mount(self):
        for sector in range(self.flash.sector_count):
            for slot in range(self.slots):
                value = self._read(sector, slot)
                if value > self.value:  # values start at 1
                    self.value, self._sector, self._slot = value, sector, slot

    def _next_place(self):
        """(sector, slot) for the next record, and whether the sector must be erased first."""
        sector, slot = self._sector, self._slot + 1
        while 0 <= self._slot and slot < self.slots:
            if self._read(sector, slot) == -1:
                return sector, slot, False
            slot += 1  # a torn record: its slot stays spent
        if self._slot < 0 and self._read(0, 0) == -1:
            return 0, 0, False
        return (sector + 1) % self.flash.sector_count, 0, True

    def advance(self):
        """Write the next value durably and return it; OSError if the flash did not take it."""
        sector, slot, erase = self._next_place()
        flash = self.flash
        if erase:
            flash.erase(sector)
        value = (self.value + 1) & _MASK
        head = struct.pack("<4sII", MAGIC, value, value ^ _MASK)
        rec = head + struct.pack("<I", binascii.crc32(head) & _MASK)
        addr = sector * flash.sector_size + slot * RECORD_SIZE
        flash.program(addr, rec)
        check = self._rec
        flash.readinto(addr, check)
        if bytes(check) != rec:
            self._sector, self._slot = sector, slot  # that slot is spent; the value not taken
            raise OSError("boot counter record did not verify")
        self.value, self._sector, self._slot = value, sector, slot
        return value


def count_boot(flash, log, now_ms, boot_id):
    """This boot's number from the boot counter region, durable before any request
    (PRT-SAFE-1); None (nonces then rest on the boot ID and the board's entropy, logged as a
    self-test problem) when the board has no such region or its flash fails."""
    problem = "no boot counter region"
    if flash is not None:
        try:
            return BootCounter.mount(flash).advance()
        except (OSError, ValueError) as e:
            problem = "boot counter: %s" % e
    log.append(SELF_TEST, (problem + "; nonces rest on boot ID and entropy")[:106], None,
               now_ms // 1000, boot_id)  # fmt: skip
    return None
