"""The terminal's event log: coded events in a bounded ring on flash (MicroPython, sans-IO).

MNG-01/MNG-06: boot, configuration changes, clock set and jumps, network errors (with
``[res=N]`` when the service answered), maintenance start and end, journal nearly full and full,
reader faults, set-aside punches. Events are numbered ``n`` = 1, 2, … and readable for export and
upload (``events(after, limit)`` has the shape ``protocol.client`` reads).

It is a ring: when every sector is used, the oldest sector is erased for new events (unlike the
punch journal, old events may go). Layout per sector: a 64-byte header (magic ``DKEV``, format,
first event number, CRC) and 128-byte records::

    0  4  n            12 2 boot ID       16 1 flags (bit 0: clock synced)
    4  4  time (UTC)   14 2 code          17 1 text length
    8  4  seconds since boot              18 106 text (UTF-8)     124 4 CRC-32 of 0..123

A record torn by a power cut fails its CRC and is skipped; mounting reads one header per sector
and the slots of the newest sector only.
"""

import binascii
import struct

from micropython import const

MAGIC = b"DKEV"
FORMAT_VERSION = const(1)
HEADER_SIZE = const(64)
RECORD_SIZE = const(128)
TEXT_MAX = const(106)
_HEAD = "<4sBBHI"  # magic, format, reserved, reserved, first n; CRC at 12
_RECORD = "<IIIHHBB106s"

# Event codes (docs/ARCHITECTURE.md lists them with their texts).
BOOT = const(1)
CONFIG_CHANGED = const(2)
CONFIG_REJECTED = const(3)
CONFIG_FALLBACK = const(4)
SELF_TEST = const(5)
CLOCK_SET = const(10)
CLOCK_JUMP = const(11)
CLOCK_INVALID = const(12)
CLOCK_SYNC_FAILED = const(13)
CLOCK_REFUSED = const(14)  # a time outside the sane range (firmware.clock.plausible) refused
NET_ERROR = const(20)
NET_RESTORED = const(21)
MAINTENANCE_START = const(30)
MAINTENANCE_END = const(31)
JOURNAL_NEARLY_FULL = const(40)
JOURNAL_FULL = const(41)
JOURNAL_ISSUE = const(42)
READER_FAULT = const(50)
READER_RECOVERED = const(51)
PUNCH_SET_ASIDE = const(60)
COMMAND = const(70)
SERVICE_MODE = const(80)
ENROLMENT = const(81)  # a credential enrolled or refused (PRT-ENROL-*)
UNKNOWN_CARD = const(90)
TAP_FAILED = const(91)  # an error inside a tap, caught: the tap was refused, the loop goes on


def _clip(text):
    """UTF-8 bytes of ``text``, cut to TEXT_MAX on a character boundary."""
    data = text.encode()
    if len(data) <= TEXT_MAX:
        return data
    end = TEXT_MAX
    while end > 0 and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[:end]


class EventLog:
    def __init__(self, flash):
        self.flash = flash
        self.slots = (flash.sector_size - HEADER_SIZE) // RECORD_SIZE
        if self.slots < 1:
            raise ValueError("sector too small for the event log")
        self.head_sector = -1  # sector being filled (-1: none yet)
        self.head_slot = 0
        self.head_first = 1
        self._firsts = [0] * flash.sector_count  # first n of each valid sector (0: none)
        self._rec = bytearray(RECORD_SIZE)
        self.skipped = 0  # torn or decayed records met while reading

    @classmethod
    def mount(cls, flash):
        log = cls(flash)
        log._mount()
        return log

    def _read_header(self, sector):
        head = bytearray(16)
        self.flash.readinto(sector * self.flash.sector_size, head)
        magic, fmt, _a, _b, first = struct.unpack(_HEAD, head[:12])
        crc = struct.unpack("<I", head[12:16])[0]
        if magic != MAGIC or fmt != FORMAT_VERSION:
            return 0
        if binascii.crc32(head[:12]) & 0xFFFFFFFF != crc or first < 1:
            return 0
        return first

    def _mount(self):
        newest = -1
        for sector in range(self.flash.sector_count):
            first = self._read_header(sector)
            self._firsts[sector] = first
            if first and (newest < 0 or first > self._firsts[newest]):
                newest = sector
        if newest < 0:
            return
        self.head_sector = newest
        self.head_first = self._firsts[newest]
        slot = 0
        while slot < self.slots and not self._blank(newest, slot):
            slot += 1
        self.head_slot = slot

    def _addr(self, sector, slot):
        return sector * self.flash.sector_size + HEADER_SIZE + slot * RECORD_SIZE

    def _blank(self, sector, slot):
        buf = self._rec
        self.flash.readinto(self._addr(sector, slot), buf)
        for b in buf:
            if b != 0xFF:
                return False
        return True

    @property
    def next_n(self):
        return self.head_first + self.head_slot if self.head_sector >= 0 else self.head_first

    def _open_next(self):
        """Erase the next sector of the ring and give it a header."""
        n = self.flash.sector_count
        sector = 0 if self.head_sector < 0 else (self.head_sector + 1) % n
        first = self.next_n
        self._firsts[sector] = 0
        self.flash.erase(sector)
        head = struct.pack(_HEAD, MAGIC, FORMAT_VERSION, 0xFF, 0xFFFF, first)
        head += struct.pack("<I", binascii.crc32(head) & 0xFFFFFFFF)
        self.flash.program(sector * self.flash.sector_size, head)
        self._firsts[sector] = first
        self.head_sector, self.head_first, self.head_slot = sector, first, 0

    def append(self, code, text="", time=None, up=0, boot=0):
        """Record an event; returns its number. ``time`` is None when the clock is not valid."""
        if self.head_sector < 0 or self.head_slot >= self.slots:
            self._open_next()
        n = self.head_first + self.head_slot
        data = _clip(text)
        flags = 0 if time is None else 1
        rec = struct.pack(
            _RECORD, n, time or 0, up & 0xFFFFFFFF, boot & 0xFFFF, code, flags, len(data), data
        )
        rec += struct.pack("<I", binascii.crc32(rec) & 0xFFFFFFFF)
        addr = self._addr(self.head_sector, self.head_slot)
        self.head_slot += 1
        page = self.flash.page_size
        off = 0
        while off < RECORD_SIZE:  # a record may cross a page boundary on small pages
            room = page - ((addr + off) % page)
            self.flash.program(addr + off, rec[off : off + room])
            off += room
        return n

    def _decode(self, buf, expect):
        if binascii.crc32(buf[:124]) & 0xFFFFFFFF != struct.unpack("<I", buf[124:128])[0]:
            return None
        n, time, up, boot, code, flags, length, text = struct.unpack(_RECORD, buf[:124])
        if n != expect or length > TEXT_MAX:
            return None
        try:
            words = str(text[:length], "utf-8")
        except UnicodeError:
            words = ""
        event = {"n": n, "code": code, "up": up, "boot": boot, "text": words}
        if flags & 1:
            event["t"] = time
        return event

    def events(self, after=0, limit=50):
        """Events with ``n`` > ``after``, oldest first, at most ``limit`` (protocol source)."""
        out = []
        order = []
        for sector in range(self.flash.sector_count):
            if self._firsts[sector]:
                order.append((self._firsts[sector], sector))
        order.sort()
        buf = self._rec
        for first, sector in order:
            used = self.head_slot if sector == self.head_sector else self.slots
            if first + used - 1 <= after:
                continue
            for slot in range(used):
                if first + slot <= after:
                    continue
                self.flash.readinto(self._addr(sector, slot), buf)
                event = self._decode(buf, first + slot)
                if event is None:
                    self.skipped += 1
                    continue
                out.append(event)
                if len(out) >= limit:
                    return out
        return out

    def log_events(self, after, limit):
        return self.events(after, limit)
