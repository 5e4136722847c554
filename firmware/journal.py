"""The flash punch journal: every punch kept through any power cut (MicroPython, sans-IO).

Written against a NOR flash interface — ``readinto(addr, buf)``, ``program(addr, data)`` (clears
bits only, within a page), ``erase(sector)``, and ``sector_size``, ``sector_count``,
``page_size`` — implemented by ``simulator/norflash.py`` and by ``hardware/flash.py`` on boards.
The byte layout, the recovery algorithm and the invariants are in docs/JOURNAL.md; in short:

- sectors form a ring used round-robin; each starts with a header (magic, version, geometry,
  first sequence number, erase count, CRC) followed by two copies of a "done" bitmap, then
  fixed 32-byte slots: slot *k* of a sector holds sequence number ``first_seq + k``;
- ``append`` programs one slot and reads it back; it returns the sequence number only then;
- a slot is *pending* (unsent) until its bit is cleared in **both** bitmap copies, so a decayed
  bit can never make an unsent punch look delivered;
- a sector holding a pending slot is never erased: when the ring is full, ``append`` returns
  :data:`FULL`;
- mounting reads each sector's header and bitmaps once and binary-searches the newest sector:
  no record is read except the last one written.
"""

import binascii
import struct

from micropython import const

from firmware.punch import Punch

FORMAT_VERSION = const(1)
MAGIC = b"DAKO"
RECORD_SIZE = const(32)
_CORE = const(32)  # header bytes covered by the header CRC (incl. the CRC itself)
_HEADER_FMT = "<4sBBBBIIII4sI"  # magic ver hdr/32 rec rsv sector_size first erases sectors rsv crc
_NO_COUNT = 0xFFFFFFFF  # sector count of a header written before it was recorded
_TRIES = const(3)  # erase-and-head attempts before a sector is given up as broken
_RECORD_FMT = "<IIHbBBBBB12sI"  # seq time boot utc/15 flags kind method status len cred crc
_STATUS_SYNCED = const(0x01)
_RECORD_TYPE = const(0x10)  # record format 1, in the upper nibble of the status byte

#: ``append`` result when no slot can be had without erasing an unsent punch.
FULL = const(0)

STATE_OK = "ok"
STATE_NEARLY_FULL = "nearly_full"
STATE_FULL = "full"

# Problems found on flash, reported through ``on_issue(code, where)`` and kept in ``issues``.
ISSUE_BAD_HEADER = "bad_header"  # where = sector index
ISSUE_BAD_RECORD = "bad_record"  # where = sequence number (slot skipped)
ISSUE_WRITE_FAILED = "write_failed"  # where = sequence number (slot voided, next one used)
ISSUE_TORN_APPEND = "torn_append"  # where = sequence number (power cut mid-append)
ISSUE_FLASH_FAULT = "flash_fault"  # where = sector index (does not erase; prepare gave up)
_MAX_ISSUES = const(16)

_BLANK_RECORD = b"\xff" * RECORD_SIZE
_POPCOUNT = bytes(bin(i).count("1") for i in range(256))


class JournalError(Exception):
    """The flash cannot be mounted as a journal; nothing was written to it."""


class ForeignPartition(JournalError):
    pass


class UnknownFormat(JournalError):
    pass


class GeometryChanged(JournalError):
    """The partition is not the one the journal was written on (grown, shrunk or moved)."""


class FlashFault(OSError):
    """A sector does not erase after several tries: the chip is failing. Raised by ``append``
    (an OSError, as any flash error: the terminal answers the tap "not recorded", never OK);
    ``prepare`` reports it (``flash_fault``) and returns False."""


def _crc(buf, n):
    return binascii.crc32(memoryview(buf)[:n]) & 0xFFFFFFFF


def _is_blank(buf, start, end):
    for i in range(start, end):
        if buf[i] != 0xFF:
            return False
    return True


def _zero_bits(buf, start, end):
    """Bits cleared in ``buf[start:end]`` (stops counting at 2)."""
    count = 0
    for i in range(start, end):
        if buf[i] != 0xFF:
            count += 8 - _POPCOUNT[buf[i]]
            if count > 1:
                return count
    return count


def _could_be_ours(buf):
    """True if the magic could be ours after a torn program or a torn erase, and one decayed bit.

    Both only move bits towards a superset of the intended ones (a torn program clears a
    subset of what it clears; a torn erase sets bits), so every 1-bit of MAGIC is still set —
    but for at most one, which decay may have cleared. Random data passes with a chance of
    14 in 8,192 per sector; a foreign partition is refused if any of its sectors fails.
    """
    missing = 0
    for i in range(4):
        missing += _POPCOUNT[MAGIC[i] & ~buf[i] & 0xFF]
    return missing <= 1


def geometry(sector_size):
    """(header size, slots per sector, bitmap bytes per copy) for a sector size."""
    slots = (sector_size - _CORE) // RECORD_SIZE
    while slots > 0:
        bm = (slots + 7) // 8
        hdr = _CORE + ((2 * bm + RECORD_SIZE - 1) // RECORD_SIZE) * RECORD_SIZE
        if hdr + slots * RECORD_SIZE <= sector_size:
            return hdr, slots, bm
        slots -= 1
    raise ValueError("sector too small for a journal")


class Journal:
    """A mounted journal. Use :meth:`mount` (or :meth:`format` then :meth:`mount`)."""

    def __init__(self, flash, nearly_full_percent=90, on_issue=None):
        self.flash = flash
        self.sector_size = flash.sector_size
        self.sector_count = flash.sector_count
        self.header_size, self.slots, self._bm = geometry(self.sector_size)
        if self.sector_count < 2:
            raise JournalError("a journal needs at least two sectors")
        if not 1 <= nearly_full_percent <= 100:
            raise ValueError("nearly_full_percent must be 1..100")
        self.nearly_full_percent = nearly_full_percent
        self.on_issue = on_issue
        self.issues = []
        self.issue_count = 0
        # Preallocated buffers: nothing on the append or mark path allocates flash-sized data.
        self._hdr = bytearray(self.header_size)
        self._rec = bytearray(RECORD_SIZE)
        self._chk = bytearray(RECORD_SIZE)
        self._ibuf = bytearray(RECORD_SIZE)
        self._icrc = memoryview(self._ibuf)[: RECORD_SIZE - 4]  # what a record's CRC covers
        self._crc4 = bytearray(4)
        self._mask = bytearray(2 * self._bm)
        # Ring state (all derived on mount).
        self.head_sector = 0  # sector receiving appends
        self.head_first = 1  # its first sequence number
        self.head_slot = 0  # next free slot in it
        self.head_open = False  # it has a valid header
        self.prepared = False  # the sector after it is erased and has its header
        self.tail_sector = -1  # oldest sector with a pending slot, -1 if none
        self.unsent_count = 0
        self.max_erase_count = 0

    # ------------------------------------------------------------------ format and mount
    @classmethod
    def format(cls, flash):
        """Erase the whole partition. The only way a foreign partition is ever erased."""
        for s in range(flash.sector_count):
            flash.erase(s)

    @classmethod
    def mount(cls, flash, nearly_full_percent=90, on_issue=None):
        journal = cls(flash, nearly_full_percent, on_issue)
        journal._mount()
        return journal

    def _mount(self):
        n = self.sector_count
        hdr = self._hdr
        newest = -1
        newest_first = 0
        suspect = []  # non-blank sectors whose header fails its check
        foreign = False
        raw_pending = 0
        tail_first = -1
        tail = -1

        def account(s, first):
            # A ring sector whose header and bitmaps are in ``hdr``: count it.
            nonlocal raw_pending, newest, newest_first, tail, tail_first
            pending = self._pending(hdr, 0, self.slots)
            raw_pending += pending
            if first > newest_first:
                newest, newest_first = s, first
            if pending and (tail < 0 or first < tail_first):
                tail, tail_first = s, first

        for s in range(n):
            self.flash.readinto(s * self.sector_size, hdr)
            if _zero_bits(hdr, 0, _CORE) <= 1:  # blank, or blank but for one decayed bit
                # Free, unless its header program was lost (records or marks behind it).
                if self._behind_blank_header(s):
                    suspect.append(s)
                continue
            first = self._valid_header_first(hdr, s)
            if first < 0:
                if not _could_be_ours(hdr):
                    foreign = True
                suspect.append(s)
                continue
            account(s, first)
        if newest < 0 and foreign and not self._any_record(suspect):
            raise ForeignPartition(
                "the partition holds something other than a dakoku journal; "
                "nothing was changed (format it explicitly to use it)"
            )
        for s in suspect:
            self._report(ISSUE_BAD_HEADER, s)
            first = self._recover_first(s)
            if first < 0:
                continue  # nothing recoverable: a free sector, erased before reuse
            self._check_position(s, first, _NO_COUNT)
            self.flash.readinto(s * self.sector_size, hdr)
            account(s, first)
        if newest < 0:
            return  # empty journal: the first append opens sector 0
        used = self._find_head_slot(newest)
        self.head_sector, self.head_first, self.head_slot = newest, newest_first, used
        self.head_open = True
        prev = (newest - 1) % n
        if used == 0 and prev != newest:
            # The newest sector may be one prepared ahead of time: appends continue in the
            # previous one if it still has room.
            prev_first = self._sector_first(prev)
            if prev_first == newest_first - self.slots:
                prev_used = self._find_head_slot(prev)
                if prev_used < self.slots:
                    raw_pending -= self.slots  # the prepared sector's blank bitmap
                    if tail == newest:
                        tail = prev
                    self.head_sector, self.head_first, self.head_slot = prev, prev_first, prev_used
                    self.prepared = True
        raw_pending -= self._pending_from_flash(self.head_sector, self.head_slot, self.slots)
        self.unsent_count = raw_pending
        self.tail_sector = tail if raw_pending > 0 else -1
        self._check_torn_append()

    def _valid_header_first(self, hdr, sector=-1):
        """first_seq of a valid header, -1 if the header fails its check.

        Raises UnknownFormat for a valid header of another version or sector size, and (given
        the ``sector`` it was read from) GeometryChanged if it was written on a partition of
        another size or position.
        """
        magic, version, hdr_units, rec, _, ssize, first, erases, count, _, crc = struct.unpack_from(
            _HEADER_FMT, hdr, 0
        )
        if magic != MAGIC or crc != _crc(hdr, _CORE - 4):
            return -1
        if version != FORMAT_VERSION:
            raise UnknownFormat(
                "journal format version %d is not supported (this firmware reads %d); "
                "nothing was changed" % (version, FORMAT_VERSION)
            )
        if ssize != self.sector_size or rec != RECORD_SIZE or hdr_units * 32 != self.header_size:
            raise UnknownFormat(
                "journal was written with %d-byte sectors, the flash has %d; nothing was changed"
                % (ssize, self.sector_size)
            )
        if erases > self.max_erase_count:
            self.max_erase_count = erases
        if sector >= 0:
            self._check_position(sector, first, count)
        return first

    def _check_position(self, sector, first, count):
        """Raise GeometryChanged unless a sector holding ``first`` belongs at ``sector`` of a
        ring of this partition's size: the header records the sector count, and sector *s*
        of an *n*-sector ring only ever holds numbers 1 + (k·n + s)·slots onwards. The second
        check is all a header of older firmware (count FFFFFFFF) can be held to."""
        n = self.sector_count
        moved = (first - 1) % self.slots != 0 or ((first - 1) // self.slots) % n != sector
        if count != _NO_COUNT and count != n:
            raise GeometryChanged(
                "journal was written on a partition of %d sectors, this one has %d; nothing "
                "was changed (restore the partition table, or drain and format it)" % (count, n)
            )
        if moved:
            raise GeometryChanged(
                "journal sector %d holds numbers from %d, which do not belong there on a "
                "partition of %d sectors: the partition was resized or moved; nothing was "
                "changed (restore the partition table, or drain and format it)" % (sector, first, n)
            )

    def _behind_blank_header(self, sector):
        """With a blank header and bitmaps in ``_hdr``: True if the sector holds marks or a
        first record all the same (its header program was lost), so it is not free."""
        if not _is_blank(self._hdr, _CORE, self.header_size):
            return True
        return self._read_slot(sector, 0, self._ibuf)

    def _any_record(self, sectors):
        """True if any of ``sectors`` holds a record that checks out (it is ours)."""
        for s in sectors:
            if self._recover_first(s) >= 0:
                return True
        return False

    def _recover_first(self, sector):
        """first_seq of a sector with a damaged header, from its first valid record; or -1."""
        for slot in range(self.slots):
            if self._read_slot(sector, slot, self._ibuf) and self._record_ok(self._ibuf):
                seq = struct.unpack_from("<I", self._ibuf, 0)[0]
                if seq > slot:
                    return seq - slot
        return -1

    def _sector_first(self, sector):
        """first_seq of any sector, from its header or, if damaged, its records; or -1."""
        self.flash.readinto(sector * self.sector_size, self._hdr)
        try:
            first = self._valid_header_first(self._hdr)
        except UnknownFormat:
            return -1
        return first if first >= 0 else self._recover_first(sector)

    def _ring_first(self, sector):
        """The first sequence number ``sector`` holds if it is in the ring (by position)."""
        return self.head_first - ((self.head_sector - sector) % self.sector_count) * self.slots

    def _load_sector(self, sector):
        """Read a ring sector's header and bitmaps into ``_hdr``; its first_seq, or -1 if it
        does not hold ring data. A damaged header is trusted to be where the ring says: its
        records are then checked one by one against their sequence numbers."""
        expected = self._ring_first(sector)
        self.flash.readinto(sector * self.sector_size, self._hdr)
        if _zero_bits(self._hdr, 0, _CORE) <= 1 and not self._behind_blank_header(sector):
            return -1
        try:
            first = self._valid_header_first(self._hdr)
        except UnknownFormat:
            return -1
        if first < 0 or first == expected:
            return expected
        return -1

    def _find_head_slot(self, sector):
        """Index of the first unused slot (slots are used in order). A slot is used if its
        record is not blank or it was voided (done in both bitmap copies): a record program
        the chip ignored leaves a blank, voided slot that is not the end of the ring."""
        self.flash.readinto(sector * self.sector_size, self._hdr)
        hdr = self._hdr
        bm = self._bm
        lo, hi = 0, self.slots
        while lo < hi:
            mid = (lo + hi) // 2
            byte, bit = mid >> 3, 1 << (mid & 7)
            voided = not (hdr[_CORE + byte] | hdr[_CORE + bm + byte]) & bit
            if not voided and not self._read_slot(sector, mid, self._ibuf):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _check_torn_append(self):
        """A power cut mid-append leaves the last written slot invalid: void it."""
        if self.head_slot == 0:
            return
        slot = self.head_slot - 1
        self._read_slot(self.head_sector, slot, self._ibuf)
        if not self._record_ok(self._ibuf, self.head_first + slot):
            if self._is_pending(self.head_sector, slot):
                self.unsent_count -= 1
                self._void(self.head_sector, slot)
            self._report(ISSUE_TORN_APPEND, self.head_first + slot)

    # ------------------------------------------------------------------ bitmaps
    def _pending(self, hdr, lo, hi):
        """Pending slots in [lo, hi) given a buffer holding the header and both bitmaps.

        A slot is pending unless its bit is cleared in both copies.
        """
        if lo >= hi:
            return 0
        a0 = _CORE
        b0 = _CORE + self._bm
        first_byte, last_byte = lo >> 3, (hi - 1) >> 3
        count = 0
        for byte in range(first_byte, last_byte + 1):
            v = hdr[a0 + byte] | hdr[b0 + byte]
            if byte == first_byte:
                v &= (0xFF << (lo & 7)) & 0xFF
            if byte == last_byte:
                v &= 0xFF >> (7 - ((hi - 1) & 7))
            count += _POPCOUNT[v]
        return count

    def _pending_from_flash(self, sector, lo, hi):
        if lo >= hi:
            return 0
        self.flash.readinto(sector * self.sector_size, self._hdr)
        return self._pending(self._hdr, lo, hi)

    def _is_pending(self, sector, slot):
        return self._pending_from_flash(sector, slot, slot + 1) == 1

    def _clear_bits(self, sector, lo, hi):
        """Mark slots [lo, hi) done in both bitmap copies (one program per page touched)."""
        mask = self._mask
        bm = self._bm
        for i in range(2 * bm):
            mask[i] = 0xFF
        for slot in range(lo, hi):
            byte, bit = slot >> 3, 1 << (slot & 7)
            mask[byte] &= ~bit & 0xFF
            mask[bm + byte] &= ~bit & 0xFF
        first_byte, last_byte = lo >> 3, (hi - 1) >> 3
        base = sector * self.sector_size + _CORE
        # Program copy A's touched bytes through copy B's: bytes in between are 0xFF (no-op).
        self._program(base + first_byte, memoryview(mask)[first_byte : bm + last_byte + 1])

    def _void(self, sector, slot):
        self._clear_bits(sector, slot, slot + 1)

    def _kill(self, addr):
        """Program a failed slot to zeros: never blank again, never a valid record."""
        chk = self._chk
        for i in range(RECORD_SIZE):
            chk[i] = 0
        self.flash.program(addr, chk)

    def _program(self, addr, data):
        page = self.flash.page_size
        start = 0
        n = len(data)
        while start < n:
            room = page - (addr + start) % page
            end = start + room if start + room < n else n
            self.flash.program(addr + start, data[start:end])
            start = end

    # ------------------------------------------------------------------ records
    def _slot_addr(self, sector, slot):
        return sector * self.sector_size + self.header_size + slot * RECORD_SIZE

    def _read_slot(self, sector, slot, buf):
        self.flash.readinto(self._slot_addr(sector, slot), buf)
        return not _is_blank(buf, 0, RECORD_SIZE)

    def _record_ok(self, buf, seq=-1):
        # Compared byte by byte: unpacking the stored CRC and sequence number would allocate
        # a tuple and long ints for every record read (an upload reads a batch of them).
        if buf[14] & 0xF0 != _RECORD_TYPE or buf[15] > 12:
            return False
        view = self._icrc if buf is self._ibuf else memoryview(buf)[: RECORD_SIZE - 4]
        c4 = self._crc4
        struct.pack_into("<I", c4, 0, binascii.crc32(view) & 0xFFFFFFFF)
        at = RECORD_SIZE - 4
        if c4[0] != buf[at] or c4[1] != buf[at + 1] or c4[2] != buf[at + 2] or c4[3] != buf[at + 3]:
            return False
        return seq < 0 or buf[0] | buf[1] << 8 | buf[2] << 16 | buf[3] << 24 == seq

    def _encode(self, punch, seq, buf):
        cred = punch.credential
        status = _RECORD_TYPE | (_STATUS_SYNCED if punch.clock_synced else 0)
        struct.pack_into(
            _RECORD_FMT,
            buf,
            0,
            seq,
            punch.time,
            punch.boot_id,
            punch.utc_offset_min // 15,
            punch.flags,
            punch.kind,
            punch.method,
            status,
            len(cred),
            cred,
            0,
        )
        struct.pack_into("<I", buf, RECORD_SIZE - 4, _crc(buf, RECORD_SIZE - 4))

    @staticmethod
    def _decode(buf):
        seq, t, boot, utc, flags, kind, method, status, n, cred, _ = struct.unpack_from(
            _RECORD_FMT, buf, 0
        )
        return Punch(
            t,
            kind=kind,
            method=method,
            credential=cred[:n],
            clock_synced=bool(status & _STATUS_SYNCED),
            utc_offset_min=utc * 15,
            boot_id=boot,
            flags=flags,
            seq=seq,
        )

    @staticmethod
    def _decode_into(buf, p):
        """Fill the :class:`Punch` ``p`` from a record (the upload's reusable punch: no new
        object, no tuple per record)."""
        p.seq = buf[0] | buf[1] << 8 | buf[2] << 16 | buf[3] << 24
        p.time = buf[4] | buf[5] << 8 | buf[6] << 16 | buf[7] << 24
        p.boot_id = buf[8] | buf[9] << 8
        utc = buf[10]
        p.utc_offset_min = (utc - 256 if utc > 127 else utc) * 15
        p.flags = buf[11]
        p.kind = buf[12]
        p.method = buf[13]
        p.clock_synced = bool(buf[14] & _STATUS_SYNCED)
        p.credential = bytes(buf[16 : 16 + buf[15]])
        return p

    # ------------------------------------------------------------------ sectors
    def _next_reusable(self):
        """The sector after the head may be (re)used: it holds no pending slot."""
        nxt = (self.head_sector + 1) % self.sector_count
        return not (self.unsent_count > 0 and self.tail_sector == nxt)

    def _open_sector(self, sector, first):
        """Erase ``sector`` and write its header. Never called on a sector with pending slots."""
        self.flash.readinto(sector * self.sector_size, self._hdr)
        erases = self.max_erase_count
        try:
            if self._valid_header_first(self._hdr) >= 0:
                erases = struct.unpack_from("<I", self._hdr, 16)[0]
        except UnknownFormat:
            pass
        erases += 1
        if erases > self.max_erase_count:
            self.max_erase_count = erases
        hdr = self._rec  # 32 bytes: exactly the CRC-covered core
        struct.pack_into(
            _HEADER_FMT,
            hdr,
            0,
            MAGIC,
            FORMAT_VERSION,
            self.header_size // 32,
            RECORD_SIZE,
            0xFF,
            self.sector_size,
            first,
            erases,
            self.sector_count,
            b"\xff" * 4,
            0,
        )
        struct.pack_into("<I", hdr, _CORE - 4, _crc(hdr, _CORE - 4))
        base = sector * self.sector_size
        chk = self._chk
        erased = False
        for _ in range(_TRIES):
            # An erase or a program the chip silently skipped, or an erase that left a mix,
            # shows here: the sector is erased and headed again rather than used half-blank.
            self.flash.erase(sector)
            if not self._erased(base):
                continue
            erased = True
            self._program(base, hdr)
            self.flash.readinto(base, chk)
            if chk == hdr:
                return
        if not erased:
            raise FlashFault(
                "flash sector %d does not erase after %d tries; nothing unsent was in it"
                % (sector, _TRIES),
                sector,
            )
        # Erased, but the header will not take (a cell that never programs): the sector is
        # used all the same; its records identify it, as for a header that decayed.
        self._report(ISSUE_BAD_HEADER, sector)

    def _erased(self, base):
        """True if the sector at ``base`` reads back all FF (an erase is verified)."""
        chk = self._chk
        for off in range(0, self.sector_size, RECORD_SIZE):
            self.flash.readinto(base + off, chk)
            if chk != _BLANK_RECORD:
                return False
        return True

    def prepare(self):
        """Background work: erase and head the next sector ahead of time, so that no append
        waits for an erase. Returns True if it erased something; False also when the sector
        would not erase (reported as ``flash_fault``: the next append tries again and fails
        as an OSError if it still will not)."""
        try:
            if not self.head_open:
                self._open_sector(self.head_sector, self.head_first)
                self.head_open = True
                return True
            if self.prepared or not self._next_reusable():
                return False
            nxt = (self.head_sector + 1) % self.sector_count
            self._open_sector(nxt, self.head_first + self.slots)
        except FlashFault as e:
            self._report(ISSUE_FLASH_FAULT, e.args[1])
            return False
        self.prepared = True
        return True

    def _advance(self):
        """Move the head to a fresh sector; False if that would erase unsent punches."""
        if not self.head_open:
            self._open_sector(self.head_sector, self.head_first)
            self.head_open = True
            return True
        if not self.prepared:
            if not self._next_reusable():
                return False
            nxt = (self.head_sector + 1) % self.sector_count
            self._open_sector(nxt, self.head_first + self.slots)
        self.head_sector = (self.head_sector + 1) % self.sector_count
        self.head_first += self.slots
        self.head_slot = 0
        self.prepared = False
        return True

    # ------------------------------------------------------------------ public API
    @property
    def next_seq(self):
        return self.head_first + self.head_slot

    @property
    def capacity(self):
        """Unsent punches the journal can hold."""
        return self.sector_count * self.slots

    def free_slots(self):
        """Appends possible before :data:`FULL`, if nothing more is delivered."""
        room = (self.slots - self.head_slot) if self.head_open else self.slots
        if self.unsent_count == 0 or self.tail_sector < 0:
            return room + (self.sector_count - 1) * self.slots
        between = (self.tail_sector - self.head_sector - 1) % self.sector_count
        if self.tail_sector == self.head_sector:
            between = self.sector_count - 1
        return room + between * self.slots

    def state(self):
        free = self.free_slots()
        if free == 0:
            return STATE_FULL
        if free * 100 <= self.capacity * (100 - self.nearly_full_percent):
            return STATE_NEARLY_FULL
        return STATE_OK

    def append(self, punch):
        """Store ``punch`` durably; return its sequence number, or FULL (0).

        Only a returned number means the punch is on flash: the terminal says OK after this.
        """
        punch.check()
        while True:
            if not self.head_open or self.head_slot >= self.slots:
                if not self._advance():
                    return FULL
            sector, slot = self.head_sector, self.head_slot
            seq = self.head_first + slot
            self._encode(punch, seq, self._rec)
            addr = self._slot_addr(sector, slot)
            self.head_slot = slot + 1
            self.flash.program(addr, self._rec)
            self.flash.readinto(addr, self._chk)
            if self._chk == self._rec:
                self.unsent_count += 1
                if self.tail_sector < 0:
                    self.tail_sector = sector
                punch.seq = seq
                return seq
            # A slot that did not take the record (a bad cell, bits already cleared, a program
            # the chip ignored): zero it so it is never blank, void it and use the next one.
            # The sequence number is skipped, never reused.
            self._kill(addr)
            self._void(sector, slot)
            self._report(ISSUE_WRITE_FAILED, seq)

    def _locate(self, seq):
        """(sector, slot) where ``seq`` is or was stored, or None if out of the ring."""
        if seq < 1 or seq >= self.next_seq:
            return None
        back = (self.head_first - seq + self.slots - 1) // self.slots
        if back >= self.sector_count:
            return None
        sector = (self.head_sector - back) % self.sector_count
        return sector, seq - (self.head_first - back * self.slots)

    def read(self, seq):
        """The stored punch ``seq`` (delivered or not), or None if gone or unreadable."""
        where = self._locate(seq)
        if where is None:
            return None
        if not self._read_slot(where[0], where[1], self._ibuf):
            return None
        if not self._record_ok(self._ibuf, seq):
            return None
        return self._decode(self._ibuf)

    def is_delivered(self, seq):
        """True if ``seq`` is stored and marked delivered (or voided)."""
        where = self._locate(seq)
        if where is None or self._load_sector(where[0]) < 0:
            return False
        return not self._pending(self._hdr, where[1], where[1] + 1)

    def unsent(self, limit=-1, into=None):
        """Yield unsent punches, oldest first (at most ``limit`` when given). With ``into`` (a
        :class:`Punch`), that one object is refilled and yielded each time: for a caller that
        uses each punch before asking for the next (the upload), it saves an object a punch.

        Read-only apart from voiding slots found corrupt (reported as ``bad_record``). Collect
        a batch before marking it: bitmaps are read once per sector.
        """
        if self.tail_sector < 0 or self.unsent_count == 0:
            return
        n = self.sector_count
        sector = self.tail_sector
        given = 0
        bm = self._bm
        while True:
            first = self._load_sector(sector)
            used = self.head_slot if sector == self.head_sector else self.slots
            if first >= 0:
                bits = bytes(self._hdr[_CORE : _CORE + 2 * bm])
                for slot in range(used):
                    byte, bit = slot >> 3, 1 << (slot & 7)
                    if not (bits[byte] | bits[bm + byte]) & bit:
                        continue
                    buf = self._ibuf
                    self._read_slot(sector, slot, buf)
                    if not self._record_ok(buf, first + slot):
                        self._void(sector, slot)
                        self.unsent_count -= 1
                        self._report(ISSUE_BAD_RECORD, first + slot)
                        self._advance_tail()
                        continue
                    yield self._decode(buf) if into is None else self._decode_into(buf, into)
                    given += 1
                    if given == limit:
                        return
            if sector == self.head_sector:
                return
            sector = (sector + 1) % n

    def mark_delivered_up_to(self, seq):
        """Mark every pending punch with a sequence number <= ``seq`` delivered.

        Returns how many were newly marked. A number beyond what was ever appended is
        clamped (a receiver cannot acknowledge what the terminal never sent).
        """
        if seq >= self.next_seq:
            seq = self.next_seq - 1
        if self.tail_sector < 0 or seq < 1:
            return 0
        marked = 0
        sector = self.tail_sector
        while True:
            first = self._load_sector(sector)
            used = self.head_slot if sector == self.head_sector else self.slots
            if first >= 0 and seq >= first:
                hi = seq - first + 1
                if hi > used:
                    hi = used
                pending = self._pending(self._hdr, 0, hi)
                if pending:
                    self._clear_bits(sector, 0, hi)
                    marked += pending
            if sector == self.head_sector or seq < self._ring_first(sector) + self.slots:
                break
            sector = (sector + 1) % self.sector_count
        self.unsent_count -= marked
        self._advance_tail()
        return marked

    def mark_delivered(self, seq):
        """Mark one punch delivered; True if it was pending."""
        where = self._locate(seq)
        if where is None or self._load_sector(where[0]) < 0:
            return False
        if not self._pending(self._hdr, where[1], where[1] + 1):
            return False
        self._clear_bits(where[0], where[1], where[1] + 1)
        self.unsent_count -= 1
        self._advance_tail()
        return True

    def _advance_tail(self):
        if self.unsent_count <= 0:
            self.unsent_count = 0
            self.tail_sector = -1
            return
        sector = self.tail_sector if self.tail_sector >= 0 else self.head_sector
        while True:
            used = self.head_slot if sector == self.head_sector else self.slots
            if self._pending_from_flash(sector, 0, used):
                self.tail_sector = sector
                return
            if sector == self.head_sector:
                self.tail_sector = -1
                return
            sector = (sector + 1) % self.sector_count

    def oldest_unsent_seq(self):
        for punch in self.unsent(1):
            return punch.seq
        return 0

    def status(self):
        """Counters for status displays and the hello message."""
        return {
            "next_seq": self.next_seq,
            "unsent": self.unsent_count,
            "capacity": self.capacity,
            "free": self.free_slots(),
            "state": self.state(),
            "issues": self.issue_count,
        }

    def _report(self, code, where):
        self.issue_count += 1
        if len(self.issues) < _MAX_ISSUES:
            self.issues.append((code, where))
        if self.on_issue is not None:
            self.on_issue(code, where)
