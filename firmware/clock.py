"""The terminal's clock: real time when it is known, monotonic time always (MicroPython).

The board gives a monotonic millisecond count (``now_ms``, from ``time.ticks_ms`` widened by the
main loop) and, when its RTC's backup battery held, a wall-clock reading at boot. The service
(hello, heartbeat: PRT-HELLO-4) and NTP set it. Until it is valid, punches are taken with
seconds since boot and the boot ID, marked unsynced (PRT-PUNCH-1), never with a made-up date.

After a failed first sync the next tries come 1, 3, 5, 10, 30 and 60 minutes later, then hourly;
once synced, a re-sync every 24 hours.
"""

from micropython import const

RETRY_MINUTES = (1, 3, 5, 10, 30, 60)
_HOURLY_MS = const(3600000)
_DAILY_MS = 86400000
EARLIEST_VALID = 1704067200  # 2024-01-01: an RTC earlier than this lost its battery
# 2100-01-01: a later time is surely wrong (a hostile or broken receiver, a corrupt RTC). It
# leaves six years before 2**32, the last second a punch can hold (Punch.check, the journal).
LATEST_VALID = 4102444800


def plausible(epoch):
    """True if ``epoch`` (UTC seconds) is within the sane range the clock accepts."""
    return EARLIEST_VALID <= epoch <= LATEST_VALID


class Clock:
    def __init__(self, utc_offset_min=540, jump_log_s=120):
        self.utc_offset_min = utc_offset_min
        self.jump_log_s = jump_log_s
        self.valid = False
        self.source = ""  # "rtc", "service", "ntp"
        self._base = 0  # epoch seconds at now_ms == 0
        self.failures = 0
        self.next_sync_ms = 0

    def set(self, now_ms, epoch, source):
        """Set from a trusted source; returns the jump in seconds (0 when it was not valid).
        A time outside the sane range (:func:`plausible`) changes nothing."""
        if not plausible(epoch):
            return 0
        jump = 0
        if self.valid:
            jump = epoch - self.now(now_ms)
        self._base = epoch - now_ms // 1000
        self.valid = True
        self.source = source
        self.failures = 0
        self.next_sync_ms = now_ms + _DAILY_MS
        return jump

    def from_rtc(self, now_ms, epoch):
        """The RTC's reading at boot, if plausible."""
        if epoch is not None and plausible(epoch):
            self._base = epoch - now_ms // 1000
            self.valid = True
            self.source = "rtc"
            self.next_sync_ms = now_ms  # confirm with the service or NTP at once
            return True
        return False

    def sync_failed(self, now_ms):
        """A sync attempt failed: when to try again."""
        if self.failures < len(RETRY_MINUTES):
            wait = RETRY_MINUTES[self.failures] * 60000
        else:
            wait = _HOURLY_MS
        self.failures += 1
        self.next_sync_ms = now_ms + wait
        return self.next_sync_ms

    def now(self, now_ms):
        """UTC seconds, or None when the clock is not valid."""
        if not self.valid:
            return None
        return self._base + now_ms // 1000

    def local_minutes(self, now_ms):
        """Minutes since local midnight, or None when the clock is not valid: minutes since
        boot are no time of day (a kind schedule or a display must not take them for one)."""
        t = self.now(now_ms)
        if t is None:
            return None
        return ((t + self.utc_offset_min * 60) // 60) % 1440

    def hhmm(self, now_ms):
        m = self.local_minutes(now_ms)
        if m is None:
            return "--:--"
        return "%02d:%02d" % (m // 60, m % 60)

    def big_jump(self, jump):
        return jump > self.jump_log_s or -jump > self.jump_log_s
