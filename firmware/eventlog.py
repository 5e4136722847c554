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
and the slots of the newest sector. Event numbers never go back: a sector whose header fails its
check (a decayed bit, a program the chip ignored) is placed by its first valid record, every
erase and header is read back, and a record that does not read back is zeroed and its number
skipped.
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
CONSOLE_FAILED = const(92)  # an error inside a service-console command, caught (firmware.console)


def _clip(text):
    """UTF-8 bytes of ``text``, cut to TEXT_MAX on a character boundary."""
    data = text.encode()
    if len(data) <= TEXT_MAX:
        return data
    end = TEXT_MAX
    while end > 0 and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[:end]


_TRIES = const(3)
_BLANK_HEAD = b"\xff" * 16
_BLANK_RECORD = b"\xff" * RECORD_SIZE
_ZEROS = bytes(RECORD_SIZE)


def _valid_n(buf):
    """The number of a record that checks out, else 0."""
    if binascii.crc32(buf[:124]) & 0xFFFFFFFF != struct.unpack("<I", buf[124:128])[0]:
        return 0
    return struct.unpack("<I", buf[:4])[0]


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
        """first n of a sector from its header; 0 if the header fails its check, -1 blank."""
        head = bytearray(16)
        self.flash.readinto(sector * self.flash.sector_size, head)
        if head == _BLANK_HEAD:
            return -1
        magic, fmt, _a, _b, first = struct.unpack(_HEAD, head[:12])
        crc = struct.unpack("<I", head[12:16])[0]
        if magic != MAGIC or fmt != FORMAT_VERSION:
            return 0
        if binascii.crc32(head[:12]) & 0xFFFFFFFF != crc or first < 1:
            return 0
        return first

    def _recover_first(self, sector):
        """first n of a sector from its first valid record, 0 if it holds none."""
        buf = self._rec
        for slot in range(self.slots):
            self.flash.readinto(self._addr(sector, slot), buf)
            n = _valid_n(buf)
            if n > slot:
                return n - slot
        return 0

    def _mount(self):
        newest = -1
        for sector in range(self.flash.sector_count):
            first = self._read_header(sector)
            if first < 0 and self._blank(sector, 0):
                first = 0  # a free sector
            elif first <= 0:
                first = self._recover_first(sector)
            self._firsts[sector] = first
            if first and (newest < 0 or first > self._firsts[newest]):
                newest = sector
        if newest < 0:
            return
        self.head_sector = newest
        self.head_first = self._firsts[newest]
        slot = self.slots  # after the last slot used (a slot left blank by a fault is skipped)
        while slot > 0 and self._blank(newest, slot - 1):
            slot -= 1
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
        head = struct.pack(_HEAD, MAGIC, FORMAT_VERSION, 0xFF, 0xFFFF, first)
        head += struct.pack("<I", binascii.crc32(head) & 0xFFFFFFFF)
        base = sector * self.flash.sector_size
        check = bytearray(16)
        for attempt in range(3):
            self.flash.erase(sector)
            if not self._erased(sector):
                if attempt == 2:
                    raise OSError("event log sector %d does not erase" % sector)
                continue
            self.flash.program(base, head)
            self.flash.readinto(base, check)
            if check == head:
                break
        # (a header that will not take: the records place the sector at the next mount)
        self._firsts[sector] = first
        self.head_sector, self.head_first, self.head_slot = sector, first, 0

    def append(self, code, text="", time=None, up=0, boot=0):
        """Record an event; returns its number. ``time`` is None when the clock is not valid."""
        data = _clip(text)
        flags = 0 if time is None else 1
        for _ in range(_TRIES):
            if self.head_sector < 0 or self.head_slot >= self.slots:
                self._open_next()
            n = self.head_first + self.head_slot
            rec = struct.pack(
                _RECORD, n, time or 0, up & 0xFFFFFFFF, boot & 0xFFFF, code, flags, len(data), data
            )
            rec += struct.pack("<I", binascii.crc32(rec) & 0xFFFFFFFF)
            addr = self._addr(self.head_sector, self.head_slot)
            self.head_slot += 1
            self._write(addr, rec)
            self.flash.readinto(addr, self._rec)
            if self._rec == rec:
                return n
            # Did not take (a cell that never programs, a program ignored): zero the slot so
            # it is never blank, skip its number and write the event in the next one.
            self._write(addr, _ZEROS)
        raise OSError("event log: %d slots in a row did not take a record" % _TRIES)

    def _write(self, addr, rec):
        page = self.flash.page_size
        off = 0
        while off < RECORD_SIZE:  # a record may cross a page boundary on small pages
            room = page - ((addr + off) % page)
            self.flash.program(addr + off, rec[off : off + room])
            off += room

    def _erased(self, sector):
        buf = self._rec
        base = sector * self.flash.sector_size
        for off in range(0, self.flash.sector_size - RECORD_SIZE + 1, RECORD_SIZE):
            self.flash.readinto(base + off, buf)
            if buf != _BLANK_RECORD:
                return False
        return True

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
