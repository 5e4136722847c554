"""The cached roster on flash, with a hash index (MicroPython, sans-IO).

A terminal identifies known cards offline and during maintenance (MNT-04, PRT-ROSTER-3) from its
own copy of the roster. 5,000 employees with two cards each do not fit in RAM, so the roster is
kept on flash with an open-addressing hash index: a lookup reads a few index slots and one
record, whatever the roster's size, and RAM holds only the two bank headers.

The flash region is split into two banks. The active bank is the valid one with the higher
generation; a change is built in the other bank and becomes active only when its header (written
last, with a CRC) is programmed, so a power cut during a build leaves the previous roster in
force. Bank layout (sector 0 holds the header, records start at sector 1)::

    header: magic "DKRS", format 2, generation, roster version, employee count, record bytes,
            index start (byte offset in the bank), index slots, CRC-32 of the records, CRC-32 of
            the index, CRC-32
    record: u16 length, u8 cards, u8 fingers, u8 lines, u8 lang/code/name lengths (8 bytes), code,
            name, lang, cards (u8 length + bytes), fingers (u16 BE each), lines (u8 length + UTF-8),
            CRC-32 of the record before it (the length counts it)
    index:  slots of 8 bytes: u32 key hash (FFFFFFFF = empty), u32 record offset in the bank

Mounting checks the records and the index of the roster in force against their CRCs in the
header (read in 256-byte pieces: a mount allocates next to nothing, whatever the size). Damage
(a decayed bit) is reported in ``problems`` and makes :attr:`version` 0, so the client fetches
the roster again in full; until then lookups go on from the damaged copy, whose records are
each checked when read (a damaged one is never returned). A delta is never applied over a
damaged copy. A format-1 bank (firmware before record checks) is read the same way, unchecked,
and fetched again in full.

Keys are a card's bytes, or ``b"\\xf1"`` + a finger template ID (2 bytes, big-endian).

Applying the service's pages (``protocol.messages.decode_roster_reply``): a full roster is
written page by page into the inactive bank and committed with the last page; a delta page is
applied at once by copying the active roster into the inactive bank without the page's codes,
adding the page's employees and committing (the version moves only with the last page, so an
interrupted fetch is simply fetched again).
"""

import binascii
import struct

from micropython import const

MAGIC = b"DKRS"
FORMAT_VERSION = const(2)
_FORMAT_UNCHECKED = const(1)  # records without a CRC, header without the index CRC
_HEAD = "<4sBBHIIIIIIII"  # magic fmt rsv rsv generation version count rec_bytes index_at slots
# records_crc index_crc (format 1 ends before records_crc)
_HEAD_SIZE = const(40)  # + CRC
_HEAD_SIZE_1 = const(32)
_CHUNK = const(256)  # bytes per read when the records or the index are checked
_EMPTY = 0xFFFFFFFF
_FINGER = b"\xf1"
_BLANK_SLOT = b"\xff" * 8
_BLANK_CHUNK = const(64)  # bytes per read when an erase is checked (sector sizes: multiples)
_BLANK_64 = b"\xff" * 64
_REC_HEAD = "<HBBBBBB"  # length, cards, fingers, lines, lang, code, name lengths
_REC_HEAD_SIZE = const(8)
_COPY, _ADD, _SIZE, _INDEX, _COMMIT, _ABANDON = range(6)  # phases of applying a page


class RosterError(Exception):
    """The roster region cannot hold the roster (too many employees, record too long)."""


class Employee:
    def __init__(self, code, name, lang="", lines=(), cards=(), fingers=()):
        self.code = code
        self.name = name
        self.lang = lang
        self.lines = list(lines)
        self.cards = list(cards)
        self.fingers = list(fingers)

    def __repr__(self):
        return "Employee(%s, %s)" % (self.code, self.name)


def finger_key(template_id):
    return _FINGER + bytes(((template_id >> 8) & 0xFF, template_id & 0xFF))


def _hash(key):
    h = binascii.crc32(key) & 0xFFFFFFFF
    return 0xFFFFFFFE if h == _EMPTY else h


def encode_employee(e):
    code, name, lang = e.code.encode(), e.name.encode(), e.lang.encode()
    body = bytearray()
    body += code + name + lang
    for card in e.cards:
        body.append(len(card))
        body += card
    for f in e.fingers:
        body += bytes(((f >> 8) & 0xFF, f & 0xFF))
    for line in e.lines:
        data = line.encode()
        body.append(len(data))
        body += data
    n = _REC_HEAD_SIZE + len(body) + 4
    if n > 0xFFFF or len(code) > 255 or len(name) > 255 or len(lang) > 255:
        raise RosterError("employee record too long: " + e.code)
    head = struct.pack(
        _REC_HEAD, n, len(e.cards), len(e.fingers), len(e.lines), len(lang), len(code), len(name)
    )
    rec = head + bytes(body)
    return rec + struct.pack("<I", binascii.crc32(rec) & 0xFFFFFFFF)


def decode_employee(rec):
    _n, nc, nf, nl, ll, cl, nl2 = struct.unpack(_REC_HEAD, rec[:_REC_HEAD_SIZE])
    at = _REC_HEAD_SIZE
    code = str(rec[at : at + cl], "utf-8")
    at += cl
    name = str(rec[at : at + nl2], "utf-8")
    at += nl2
    lang = str(rec[at : at + ll], "utf-8")
    at += ll
    cards = []
    for _ in range(nc):
        k = rec[at]
        cards.append(bytes(rec[at + 1 : at + 1 + k]))
        at += 1 + k
    fingers = []
    for _ in range(nf):
        fingers.append((rec[at] << 8) | rec[at + 1])
        at += 2
    lines = []
    for _ in range(nl):
        k = rec[at]
        lines.append(str(rec[at + 1 : at + 1 + k], "utf-8"))
        at += 1 + k
    return Employee(code, name, lang, lines, cards, fingers)


def employee_from_wire(item):
    """An :class:`Employee` from a decoded roster page item."""
    return Employee(
        item["code"],
        item["name"],
        item.get("lang", ""),
        item.get("lines", ()),
        item.get("cards", ()),
        item.get("fingers", ()),
    )


class _Bank:
    def __init__(self, index, first_sector, sectors):
        self.index = index
        self.first = first_sector
        self.sectors = sectors
        self.valid = False
        self.generation = 0
        self.version = 0
        self.count = 0
        self.rec_bytes = 0
        self.index_at = 0
        self.slots = 0
        self.checked = True  # format 2: records carry a CRC
        self.records_crc = 0
        self.index_crc = 0


class Roster:
    def __init__(self, flash):
        self.flash = flash
        half = flash.sector_count // 2
        if half < 3:
            raise ValueError("the roster region needs at least 6 sectors")
        self.banks = (_Bank(0, 0, half), _Bank(1, half, half))
        self.active = None
        self.problems = []
        self._slot = bytearray(8)
        self._check = bytearray(8)
        self._blank_check = bytearray(_BLANK_CHUNK)
        self._chunk = bytearray(_CHUNK)
        self._crc4 = bytearray(4)
        self._head = bytearray(_REC_HEAD_SIZE)
        self._build = {}  # {"bank", "cursor", "count", "keys", "erased"} while a build is open
        self._job = {}  # the page being applied (see start_page)
        self._rec = bytearray(64)  # scratch for one record, grown to the longest seen
        self._keys = {}  # reusable key buffers by length
        self.outcome = None  # of the last job: True when the roster's version moved
        self.damaged = False  # the roster in force failed a check: fetch it again in full

    @classmethod
    def mount(cls, flash):
        roster = cls(flash)
        roster._mount()
        return roster

    # ----------------------------------------------------------------------- reading

    def _base(self, bank):
        return bank.first * self.flash.sector_size

    def _read_header(self, bank):
        buf = bytearray(_HEAD_SIZE + 4)
        self.flash.readinto(self._base(bank), buf)
        if buf[:4] == b"\xff\xff\xff\xff":
            return
        fmt = buf[4]
        size = _HEAD_SIZE if fmt == FORMAT_VERSION else _HEAD_SIZE_1
        if buf[:4] != MAGIC or fmt not in (FORMAT_VERSION, _FORMAT_UNCHECKED):
            self.problems.append("bank %d: not a roster" % bank.index)
            return
        crc = buf[size] | buf[size + 1] << 8 | buf[size + 2] << 16 | buf[size + 3] << 24
        if binascii.crc32(memoryview(buf)[:size]) & 0xFFFFFFFF != crc:
            self.problems.append("bank %d: header CRC mismatch" % bank.index)
            return
        if fmt == _FORMAT_UNCHECKED:
            buf[_HEAD_SIZE_1 : _HEAD_SIZE_1 + 8] = bytes(8)
        fields = struct.unpack(_HEAD, buf[:_HEAD_SIZE])
        bank.generation, bank.version, bank.count = fields[4], fields[5], fields[6]
        bank.rec_bytes, bank.index_at, bank.slots = fields[7], fields[8], fields[9]
        bank.records_crc, bank.index_crc = fields[10], fields[11]
        bank.checked = fmt == FORMAT_VERSION
        bank.valid = True

    def _mount(self):
        self.problems = []
        self.active = None
        for bank in self.banks:
            bank.valid = False
            self._read_header(bank)
            if bank.valid and (self.active is None or bank.generation > self.active.generation):
                self.active = bank
        self.damaged = False
        if self.active is not None:
            self._check_bank(self.active)

    def _check_bank(self, bank):
        """Read every record and the index of ``bank``; note damage (see the docstring)."""
        if not bank.checked:
            self._damage("bank %d: format 1 roster (records unchecked)" % bank.index)
            return
        size = self.flash.sector_size
        room = bank.sectors * size
        if size + bank.rec_bytes > room or bank.index_at + bank.slots * 8 > room:
            # Written for larger banks: the region was resized under it.
            self._damage("bank %d: does not fit its bank (region resized)" % bank.index)
            return
        if self._area_crc(bank, size, bank.rec_bytes) != bank.records_crc:
            self._damage("bank %d: damaged records" % bank.index)
        elif self._area_crc(bank, bank.index_at, bank.slots * 8) != bank.index_crc:
            self._damage("bank %d: damaged index" % bank.index)

    def _damage(self, problem):
        self.problems.append(problem + ": the roster is fetched again in full")
        self.damaged = True

    def _area_crc(self, bank, start, length):
        """CRC-32 of ``length`` bytes at ``start`` of ``bank``, read in pieces."""
        crc = 0
        buf = self._chunk
        at = self._base(bank) + start
        while length >= _CHUNK:
            self.flash.readinto(at, buf)
            crc = binascii.crc32(buf, crc)
            at += _CHUNK
            length -= _CHUNK
        if length:
            view = memoryview(buf)[:length]
            self.flash.readinto(at, view)
            crc = binascii.crc32(view, crc)
        return crc & 0xFFFFFFFF

    @property
    def version(self):
        """The version in force; 0 without a roster or with a damaged one (fetched in full)."""
        if self.active is None or self.damaged:
            return 0
        return self.active.version

    @property
    def count(self):
        return self.active.count if self.active is not None else 0

    def _read(self, bank, offset, end):
        """(employee, record length) at ``offset`` of ``bank``, or (None, 0)."""
        n = self._record_into(self._base(bank) + offset, end - offset, bank.checked)
        if not n:
            return None, 0
        try:
            return decode_employee(memoryview(self._rec)[:n]), n
        except (ValueError, IndexError, UnicodeError):
            return None, 0

    def _end(self, bank):
        return self.flash.sector_size + bank.rec_bytes

    def _find(self, key):
        bank = self.active
        if bank is None or not bank.slots:
            return None
        h = _hash(key)
        mask = bank.slots - 1
        slot = h & mask
        base = self._base(bank) + bank.index_at
        buf = self._slot
        for _ in range(bank.slots):
            self.flash.readinto(base + slot * 8, buf)
            stored = buf[0] | (buf[1] << 8) | (buf[2] << 16) | (buf[3] << 24)
            if stored == _EMPTY:
                return None
            if stored == h:
                offset = buf[4] | (buf[5] << 8) | (buf[6] << 16) | (buf[7] << 24)
                e = self._read(bank, offset, self._end(bank))[0]
                if e is not None and (key in e.cards or _finger_of(key, e)):
                    return e
            slot = (slot + 1) & mask
        return None

    def lookup_card(self, credential):
        """The employee holding this card (IDm bytes), or None."""
        return self._find(bytes(credential))

    def lookup_finger(self, template_id):
        return self._find(finger_key(template_id))

    def employees(self):
        """Every employee of the active roster, in stored order (a generator)."""
        bank = self.active
        if bank is None:
            return
        offset = self.flash.sector_size
        end = self._end(bank)
        while offset < end:
            e, n = self._read(bank, offset, end)
            if e is None:
                self.problems.append("bank %d: unreadable record at %d" % (bank.index, offset))
                return
            yield e
            offset += n

    # ----------------------------------------------------------------------- writing

    def _other(self):
        if self.active is None:
            return self.banks[0]
        return self.banks[1 - self.active.index]

    def begin(self):
        """Start a new roster in the inactive bank (its header sector is erased first)."""
        bank = self._other()
        self._erase(bank.first)  # the old header goes first: the bank is now invalid
        bank.valid = False
        self._build = {"bank": bank, "cursor": self.flash.sector_size, "count": 0, "erased": 1}
        self._build["keys"] = 0

    def _write(self, data):
        b = self._build
        bank = b["bank"]
        flash = self.flash
        size = flash.sector_size
        limit = bank.sectors * size
        at = b["cursor"]
        if at + len(data) > limit:
            raise RosterError("roster region full")
        base = self._base(bank)
        view = memoryview(data)  # page-sized pieces without copies
        off = 0
        while off < len(data):
            sector = (at + off) // size
            while b["erased"] <= sector:
                self._erase(bank.first + b["erased"])
                b["erased"] += 1
            page_room = flash.page_size - ((at + off) % flash.page_size)
            end = off + page_room if off + page_room < len(data) else len(data)
            flash.program(base + at + off, view[off:end])
            off = end
        b["cursor"] = at + len(data)
        return at

    def add(self, employee):
        self._write(encode_employee(employee))
        self._build["count"] += 1
        self._build["keys"] += len(employee.cards) + len(employee.fingers)

    def _record_into(self, address, limit, checked=True):
        """The record at flash ``address`` in the scratch buffer (grown as needed); its length,
        or 0 when its length field is impossible or (``checked``) it fails its CRC.
        ``limit``: bytes readable from ``address``."""
        head = self._head
        self.flash.readinto(address, head)
        n = head[0] | (head[1] << 8)
        if n < _REC_HEAD_SIZE + (4 if checked else 0) or n > limit:
            return 0
        if len(self._rec) < n:
            self._rec = bytearray(n + 32)
        rec = self._rec
        self.flash.readinto(address, memoryview(rec)[:n])
        if not checked:
            return n
        # Compared packed, byte by byte: a lookup allocates one more view and the CRC's int.
        c4 = self._crc4
        struct.pack_into("<I", c4, 0, binascii.crc32(memoryview(rec)[: n - 4]) & 0xFFFFFFFF)
        at = n - 4
        if c4[0] != rec[at] or c4[1] != rec[at + 1] or c4[2] != rec[at + 2] or c4[3] != rec[at + 3]:
            return 0
        return n

    def _index_record(self, bank, offset, base, mask, limit):
        """Put the keys of the record at ``offset`` into the index; returns its length."""
        flash = self.flash
        n = self._record_into(self._base(bank) + offset, limit - offset)
        if not n:
            raise RosterError("record at %d did not read back" % offset)
        rec = self._rec
        nc, nf = rec[2], rec[3]
        at = _REC_HEAD_SIZE + rec[5] + rec[6] + rec[7]  # after code, name and lang
        slot_buf = self._slot
        for i in range(nc + nf):
            if i < nc:
                k = rec[at]
                key = self._key(k)
                key[:] = rec[at + 1 : at + 1 + k]
                at += 1 + k
            else:
                key = self._key(3)
                key[0] = 0xF1
                key[1] = rec[at]
                key[2] = rec[at + 1]
                at += 2
            h = _hash(key)
            slot = h & mask
            for _ in range(mask + 1):
                flash.readinto(base + slot * 8, slot_buf)
                if slot_buf == _BLANK_SLOT:
                    break
                slot = (slot + 1) & mask
            else:
                raise RosterError("roster index has no blank slot (flash not erased)")
            struct.pack_into("<II", slot_buf, 0, h, offset)
            flash.program(base + slot * 8, slot_buf)
            flash.readinto(base + slot * 8, self._check)
            if self._check != slot_buf:
                raise RosterError("roster index slot did not read back")
        return n

    def _erase(self, sector):
        """Erase and read back (an erase the chip skipped or left half done shows here)."""
        flash = self.flash
        buf = self._blank_check
        for _ in range(3):
            flash.erase(sector)
            base = sector * flash.sector_size
            for off in range(0, flash.sector_size, _BLANK_CHUNK):
                flash.readinto(base + off, buf)
                if buf != _BLANK_64:
                    break
            else:
                return
        raise RosterError("flash sector %d does not erase" % sector)

    def _key(self, n):
        """A reusable key buffer of ``n`` bytes (the index build allocates no keys)."""
        key = self._keys.get(n)
        if key is None:
            key = self._keys[n] = bytearray(n)
        return key

    # ------------------------------------------------------------------ service pages
    #
    # A page is applied as background work (PRT-ROSTER-1; Uplink.background calls work()),
    # a few records at a time, so a tap is never kept waiting by a roster of 5,000 employees
    # and no step holds more than one record in RAM. The phases of a job:
    #   copy   (delta pages) the active roster's records, raw, except the page's codes
    #   add    the page's employees
    #   size   (last page, or delta) erase the index area
    #   index  one record's keys per step
    #   commit the header: the new roster is in force

    @property
    def busy(self):
        """True while a page is being applied."""
        return bool(self._job)

    def start_page(self, page):
        """Start applying one decoded roster page; :meth:`work` does it.

        ``page["first"]`` (set by ``protocol.client``) starts a full roster afresh, so a fetch
        that was interrupted and started again never doubles employees.
        """
        last = page["next"] is None
        job = {"page": page, "last": last, "i": 0, "version": page["version"]}
        if page["full"] and page.get("first", True):
            self.begin()
            self._build["full"] = True
            job["phase"] = _ADD
        elif page["full"] and self._build.get("full"):
            job["phase"] = _ADD
        elif page["full"]:
            # A later page of a full roster whose build is gone (a delta abandoned over a
            # damaged copy, then the fetch went on as full): never commit a roster without its
            # first pages. The job ends; the client starts the fetch again after the last page.
            job["phase"] = _ABANDON
        elif self.damaged or (self.active is not None and not self.active.checked):
            # Never a delta over a copy that failed its check: the job ends at once, the
            # version stays 0 and the client fetches the roster again in full.
            job["phase"] = _ABANDON
        else:
            changed = {}
            for item in page["upsert"]:
                changed[item["code"]] = True
            for code in page["delete"]:
                changed[code] = True
            job["changed"] = changed
            if not last:
                job["version"] = self.version  # the version moves with the last page only
            job["from"] = self.active
            job["offset"] = self.flash.sector_size
            self.begin()
            job["phase"] = _COPY
        self.outcome = None
        self._job = job

    def work(self, budget=8):
        """Apply up to ``budget`` records of the page in hand; True when nothing is left.

        When the job ends, :attr:`outcome` is True if the roster's version moved (the fetch is
        complete), else False. A failure (region full, flash error) drops the job, keeps the
        roster in force and is raised.
        """
        job = self._job
        try:
            while job and budget > 0:
                budget -= self._step(job)
                job = self._job
        except Exception:
            self._job = {}
            self._build = {}
            self.outcome = False
            raise
        return not job

    def apply_page(self, page):
        """Apply one decoded roster page at once; True when the fetch is complete."""
        self.start_page(page)
        while not self.work(1 << 30):
            pass
        return self.outcome

    def _finish(self, moved):
        self._job = {}
        self.outcome = moved

    def _step(self, job):
        phase = job["phase"]
        if phase == _ABANDON:
            self._build = {}
            self._finish(False)
            return 1
        if phase == _COPY:
            return self._copy_step(job)
        if phase == _ADD:
            items = job["page"]["upsert"]
            i = job["i"]
            if i < len(items):
                self.add(employee_from_wire(items[i]))
                job["i"] = i + 1
                return 1
            if job["page"]["full"] and not job["last"]:
                self._finish(False)  # more pages of this full roster to come
                return 1
            job["phase"] = _SIZE
            return 0
        if phase == _SIZE:
            return self._size_index(job)
        if phase == _INDEX:
            b = self._build
            if job["offset"] < b["cursor"]:
                job["offset"] += self._index_record(
                    b["bank"], job["offset"], job["base"], job["mask"], b["cursor"]
                )
                return 1
            job["phase"] = _COMMIT
            return 0
        self._commit_header(job["slots"], job["index_at"], job["version"])
        self._finish(job["last"])
        return 1

    def _copy_step(self, job):
        bank = job["from"]
        if bank is None or job["offset"] >= self._end(bank):
            job["phase"] = _ADD
            return 0
        offset = job["offset"]
        n = self._record_into(self._base(bank) + offset, self._end(bank) - offset)
        if not n:
            # Damaged since mount: the new version is not committed without the rest.
            self._damage("bank %d: damaged record at %d" % (bank.index, offset))
            job["phase"] = _ABANDON
            return 1
        rec = self._rec
        code_at = _REC_HEAD_SIZE
        code = str(rec[code_at : code_at + rec[6]], "utf-8")
        if code not in job["changed"]:
            self._write(memoryview(rec)[:n])
            self._build["count"] += 1
            self._build["keys"] += rec[2] + rec[3]
        job["offset"] = offset + n
        return 1

    def _size_index(self, job):
        """Size the index (a power of two, at most half full) and erase its sectors."""
        b = self._build
        bank = b["bank"]
        size = self.flash.sector_size
        slots = 16
        while slots < 2 * b["keys"]:
            slots *= 2
        index_at = ((b["cursor"] + size - 1) // size) * size
        if index_at + slots * 8 > bank.sectors * size:
            raise RosterError("roster region full (index)")
        if b["erased"] * size < index_at + slots * 8:
            self._erase(bank.first + b["erased"])  # one sector per step
            b["erased"] += 1
            return 1
        job["slots"], job["index_at"] = slots, index_at
        job["base"] = self._base(bank) + index_at
        job["mask"] = slots - 1
        job["offset"] = size
        job["phase"] = _INDEX
        return 0

    def _commit_header(self, slots, index_at, version):
        """Write the header: the built roster becomes the active one."""
        b = self._build
        bank = b["bank"]
        generation = (self.active.generation if self.active is not None else 0) + 1
        bank.index_at, bank.slots = index_at, slots
        head = struct.pack(
            _HEAD,
            MAGIC,
            FORMAT_VERSION,
            0xFF,
            0xFFFF,
            generation,
            version,
            b["count"],
            b["cursor"] - self.flash.sector_size,
            index_at,
            slots,
            self._area_crc(bank, self.flash.sector_size, b["cursor"] - self.flash.sector_size),
            self._area_crc(bank, index_at, slots * 8),
        )
        head += struct.pack("<I", binascii.crc32(head) & 0xFFFFFFFF)
        self.flash.program(self._base(bank), head)
        self._build = {}
        self._read_header(bank)
        if not bank.valid:
            raise RosterError("roster header did not verify")
        self.active = bank
        self.damaged = False  # (every record and index slot was read back as it was written)


def _finger_of(key, e):
    if len(key) != 3 or key[0] != 0xF1:
        return False
    return ((key[1] << 8) | key[2]) in e.fingers
