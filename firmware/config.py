"""Terminal configuration: checked, versioned, kept in two flash copies (MicroPython, sans-IO).

docs/CONFIGURATION.md lists every key and its default. A configuration is a version number and a
dict of values; every value is checked against :data:`KEYS` before anything changes, and an
invalid one is refused with a reason naming the key (nothing partial is applied).

On flash it lives in two sectors, copy A and copy B. A save erases and writes the copy that does
not hold the newest valid configuration, so a power cut during a save leaves the previous one
intact; a load takes the valid copy with the higher generation. Each copy:

    0   4  magic "DKCF"
    4   1  format version (1)
    5   1  reserved
    6   2  payload length (LE)
    8   4  generation (LE, +1 per save)
    12  4  configuration version (LE, the service's number)
    16  n  payload: the values as compact JSON, UTF-8
    16+n 4 CRC-32 of bytes 0 .. 16+n-1
"""

import binascii
import json
import struct

from micropython import const

MAGIC = b"DKCF"
FORMAT_VERSION = const(1)
_HEAD = "<4sBBHII"
_HEAD_SIZE = const(16)

# The two copies' names, as whole constants: indexing "AB" would intern a 1-char string at run
# time on MicroPython, and the first new qstr after import allocates a qstr pool.
_COPY_NAMES = ("A", "B")

# key: (kind, default, check) — kind is "int", "bool", "str", "choice", "hours", "list"; check is
# (lo, hi) for int, the choices for choice, the maximum length for str and list.
KEYS = {  # type: dict[str, tuple]
    "language": ("choice", "ja", ("ja", "en")),
    "utc_offset_min": ("int", 540, (-720, 840)),
    "day_start_hour": ("int", 5, (0, 23)),
    "double_punch_s": ("int", 60, (0, 3600)),
    "feedback_ms": ("int", 2000, (300, 10000)),
    "offline_punching": ("bool", True, None),
    "unknown_card": ("choice", "record", ("record", "refuse")),
    "keys_present": ("bool", True, None),
    "kind_schedule": ("list", [[5, 0, 1], [11, 0, 3], [12, 0, 4], [15, 0, 2]], 12),
    "finger_retry_limit": ("int", 3, (1, 10)),
    "identify_mode": ("choice", "card", ("card", "finger", "card_then_finger", "card_or_finger")),
    "clock_jump_log_s": ("int", 120, (1, 86400)),
    "service_pin": ("str", "", 8),
    "admin_cards": ("list", [], 8),
    "nearly_full_percent": ("int", 90, (50, 99)),
    "ntp": ("bool", True, None),
    # MNT-08: the service's minimum firmware for offline punching, as the terminal last heard
    # it (hello); kept here so that it holds after a reboot without the service.
    "min_offline_fw": ("str", "", 32),
}


class ConfigError(ValueError):
    """An invalid value; the message names the key."""


def defaults():
    values = {}
    for key in KEYS:
        default = KEYS[key][1]
        values[key] = list(default) if isinstance(default, list) else default
    return values


def _check_schedule(value):
    for entry in value:
        if not isinstance(entry, list) or len(entry) != 3:
            return "entries must be [hour, minute, kind]"
        for n in entry:
            if not isinstance(n, int) or isinstance(n, bool):
                return "entries must be whole numbers"
        if not (0 <= entry[0] <= 23 and 0 <= entry[1] <= 59 and 0 <= entry[2] <= 4):
            return "hour 0-23, minute 0-59, kind 0-4"
    return None


def _check_cards(value):
    for card in value:
        if not isinstance(card, str) or len(card) != 16:
            return "FeliCa IDms as 16 lower-case hex digits"
        for ch in card:
            if ch not in "0123456789abcdef":
                return "FeliCa IDms as 16 lower-case hex digits"
    return None


def check(key, value):
    """Raise ConfigError if ``value`` is not valid for ``key``."""
    spec = KEYS.get(key)
    if spec is None:
        raise ConfigError("%s: unknown key" % key)
    kind, _default, rule = spec
    problem = None
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            problem = "must be a whole number"
        elif not rule[0] <= value <= rule[1]:
            problem = "must be within %d..%d" % rule
        elif key == "utc_offset_min" and value % 15:
            problem = "must be whole quarter hours"
    elif kind == "bool":
        if not isinstance(value, bool):
            problem = "must be true or false"
    elif kind == "choice":
        if value not in rule:
            problem = "must be one of " + ", ".join(rule)
    elif kind == "str":
        if not isinstance(value, str) or len(value) > rule:
            problem = "must be text of at most %d characters" % rule
        elif key == "service_pin" and value and (not value.isdigit() or len(value) < 4):
            problem = "must be 4 to 8 digits, or empty (no PIN entry)"
    elif kind == "list":
        if not isinstance(value, list) or len(value) > rule:
            problem = "must be a list of at most %d entries" % rule
        elif key == "kind_schedule":
            problem = _check_schedule(value)
        elif key == "admin_cards":
            problem = _check_cards(value)
    if problem is not None:
        raise ConfigError("%s: %s" % (key, problem))


class Config:
    """The current configuration; ``store`` persists it on a 2-sector flash region."""

    def __init__(self, flash=None):
        self.flash = flash
        self.values = defaults()
        self.version = 0
        self.generation = 0
        self.source = "defaults"  # "defaults", "A", "B"
        self.problems = []  # what load() found wrong, for the event log

    def __getitem__(self, key):
        return self.values[key]

    def get(self, key):
        return self.values[key]

    # ------------------------------------------------------------------------------ apply

    def validate(self, values):
        """A complete value dict from ``values`` over the current ones; ConfigError if any
        value is invalid (the message names the key). Unknown keys are refused."""
        merged = {}
        for key in self.values:
            merged[key] = self.values[key]
        for key in values:
            check(key, values[key])
            merged[key] = values[key]
        return merged

    def holds(self, version, values):
        """True if taking ``values`` as ``version`` would change nothing."""
        if version != self.version:
            return False
        for key in values:
            if key not in self.values or self.values[key] != values[key]:
                return False
        return True

    def apply(self, version, values):
        """Check, then take ``values`` (all or nothing) and save them. Returns None on
        success or the reason they were refused. A configuration already held is not written
        again: a receiver that repeats it must not wear the sectors out (PRT-SAFE-3)."""
        if self.holds(version, values):
            return None
        try:
            merged = self.validate(values)
        except ConfigError as e:
            return str(e)
        old = (self.values, self.version)
        self.values, self.version = merged, version
        if self.flash is not None:
            try:
                self.save()
            except OSError as e:
                self.values, self.version = old
                return "flash: %s" % e
        return None

    # -------------------------------------------------------------------------- on flash

    def _encode(self, generation):
        payload = json.dumps(self.values, separators=(",", ":")).encode()
        if _HEAD_SIZE + len(payload) + 4 > self.flash.sector_size:
            raise OSError("configuration larger than a sector")
        head = struct.pack(
            _HEAD, MAGIC, FORMAT_VERSION, 0xFF, len(payload), generation, self.version
        )
        body = head + payload
        return body + struct.pack("<I", binascii.crc32(body) & 0xFFFFFFFF)

    def _read_copy(self, sector):
        """(generation, version, values) of a valid copy, or None with a problem noted."""
        flash = self.flash
        base = sector * flash.sector_size
        head = bytearray(_HEAD_SIZE)
        flash.readinto(base, head)
        magic, fmt, _r, length, generation, version = struct.unpack(_HEAD, head)
        name = _COPY_NAMES[sector]
        if magic == b"\xff\xff\xff\xff":
            return None  # blank: never written
        if magic != MAGIC or fmt != FORMAT_VERSION or _HEAD_SIZE + length + 4 > flash.sector_size:
            self.problems.append("copy %s: not a configuration" % name)
            return None
        body = bytearray(_HEAD_SIZE + length + 4)
        flash.readinto(base, body)
        crc = struct.unpack("<I", body[-4:])[0]
        if binascii.crc32(body[:-4]) & 0xFFFFFFFF != crc:
            self.problems.append("copy %s: CRC mismatch (torn or decayed)" % name)
            return None
        try:
            values = json.loads(bytes(body[_HEAD_SIZE:-4]))
        except ValueError:
            self.problems.append("copy %s: payload is not JSON" % name)
            return None
        if not isinstance(values, dict):
            self.problems.append("copy %s: payload is not an object" % name)
            return None
        return generation, version, values

    def load(self):
        """Take the newest valid copy; defaults when neither is valid. Returns the source."""
        self.problems = []
        best = None
        for sector in (0, 1):
            copy = self._read_copy(sector)
            if copy is not None and (best is None or copy[0] > best[1][0]):
                best = (sector, copy)
        if best is None:
            self.values, self.version, self.generation = defaults(), 0, 0
            self.source = "defaults"
            return self.source
        sector, (generation, version, stored) = best
        values = defaults()
        for key in stored:
            try:
                check(key, stored[key])
            except ConfigError as e:
                self.problems.append("copy %s: %s; default used" % (_COPY_NAMES[sector], e))
                continue
            values[key] = stored[key]
        self.values, self.version, self.generation = values, version, generation
        self.source = _COPY_NAMES[sector]
        return self.source

    def save(self):
        """Write the values to the copy that does not hold the newest one."""
        target = 1 if self.source == "A" else 0
        generation = self.generation + 1
        data = self._encode(generation)
        flash = self.flash
        base = target * flash.sector_size
        page = flash.page_size
        check_buf = bytearray(len(data))
        for _ in range(3):  # an erase or program the chip skipped shows in the read-back
            flash.erase(target)
            for off in range(0, len(data), page):
                flash.program(base + off, data[off : off + page])
            flash.readinto(base, check_buf)
            if check_buf == data:
                break
        else:
            raise OSError("configuration copy %s did not verify" % _COPY_NAMES[target])
        self.generation = generation
        self.source = _COPY_NAMES[target]
