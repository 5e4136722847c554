"""A punch: what the terminal records when someone taps (MicroPython).

Plain object with a fixed set of fields; the journal stores it in 32 bytes on flash
(docs/JOURNAL.md), the protocol sends it as JSON. Time is either real (``clock_synced``: UTC
seconds since 1970, plus the terminal's UTC offset) or, when the clock is not valid, monotonic
seconds since boot together with the boot ID — never a made-up date passed off as real.
"""

from micropython import const

# Punch kinds.
KIND_UNSPECIFIED = const(0)
KIND_CLOCK_IN = const(1)
KIND_CLOCK_OUT = const(2)
KIND_BREAK_START = const(3)
KIND_BREAK_END = const(4)
KIND_NAMES = ("unspecified", "clock_in", "clock_out", "break_start", "break_end")

# Identification methods.
METHOD_FELICA = const(1)
METHOD_FINGER = const(2)
METHOD_CARD_AND_FINGER = const(3)
METHOD_PIN = const(4)
METHOD_NAMES = (None, "felica", "finger", "card_and_finger", "pin")

# Flag bits.
FLAG_OFFLINE = const(0x01)  # taken while the service could not be reached
FLAG_UNKNOWN_CREDENTIAL = const(0x02)  # credential not in the roster (kept for the admin)

MAX_CREDENTIAL = const(12)


class Punch:
    """One punch. ``seq`` is 0 until the journal assigns it."""

    def __init__(
        self,
        time,
        kind=KIND_UNSPECIFIED,
        method=METHOD_FELICA,
        credential=b"",
        clock_synced=True,
        utc_offset_min=0,
        boot_id=0,
        flags=0,
        seq=0,
    ):
        self.seq = seq
        self.time = time
        self.kind = kind
        self.method = method
        self.credential = bytes(credential)
        self.clock_synced = bool(clock_synced)
        self.utc_offset_min = utc_offset_min
        self.boot_id = boot_id
        self.flags = flags

    def check(self):
        """Raise ValueError naming the field that cannot be stored."""
        if not 0 <= self.time <= 0xFFFFFFFF:
            raise ValueError("time out of range")
        if not 0 <= self.kind < len(KIND_NAMES):
            raise ValueError("unknown punch kind")
        if not 1 <= self.method < len(METHOD_NAMES):
            raise ValueError("unknown method")
        if len(self.credential) > MAX_CREDENTIAL:
            raise ValueError("credential longer than 12 bytes")
        if self.utc_offset_min % 15 or not -720 <= self.utc_offset_min <= 840:
            raise ValueError("UTC offset must be whole quarter hours within -12:00..+14:00")
        if not 0 <= self.boot_id <= 0xFFFF:
            raise ValueError("boot ID out of range")
        if not 0 <= self.flags <= 0xFF:
            raise ValueError("flags out of range")

    def key(self):
        return (
            self.seq,
            self.time,
            self.kind,
            self.method,
            self.credential,
            self.clock_synced,
            self.utc_offset_min,
            self.boot_id,
            self.flags,
        )

    def __eq__(self, other):
        return isinstance(other, Punch) and self.key() == other.key()

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "Punch(seq=%d, time=%d, kind=%s, method=%s, credential=%s, synced=%s)" % (
            self.seq,
            self.time,
            KIND_NAMES[self.kind] if 0 <= self.kind < len(KIND_NAMES) else self.kind,
            METHOD_NAMES[self.method] if 0 < self.method < len(METHOD_NAMES) else self.method,
            self.credential.hex(),
            self.clock_synced,
        )
