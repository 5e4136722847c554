"""A key matrix with debounce (MicroPython): the terminal's kind and service keys.

``KeyMatrix(rows, cols, keymap, debounce_ms)``: ``rows`` are output pins (``value(v)``), idle
high; ``cols`` are input pins with pull-ups (``value()`` reads 0 where a key joins the driven
row). ``keymap[r][c]`` names the key at row ``r``, column ``c`` (the terminal's key names: "in",
"out", "break_start", "break_end", "service", digits …; None for no key).

The logic is sans-IO: :class:`Debouncer` is fed a bit mask of the keys seen down, with the time,
and reports a key once, when it has been down and alone for ``debounce_ms``. Contacts bounce
for a few milliseconds at press and release: a mask that changes restarts the wait. Two keys
down together report nothing (a matrix without diodes shows ghost keys then, and a palm on the
keypad is not a choice); holding a key reports it once. ``poll(now_ms)`` scans and feeds: the
key name or None; it allocates nothing.

``selftest()`` scans once: a key that is down at boot is stuck (or the matrix is shorted):
``"keys: 'in' down at boot (stuck?)"``; it is then ignored until it has been seen up.
"""

from micropython import const

DEBOUNCE_MS = const(30)


class Debouncer:
    def __init__(self, debounce_ms=DEBOUNCE_MS):
        self.debounce_ms = debounce_ms
        self.stable = 0  # the mask of keys accepted as down
        self._candidate = 0
        self._since = 0
        self.ignored = 0  # keys to forget until they are seen up (stuck at boot)

    def feed(self, now_ms, mask):
        """The index of a key newly down and alone, or -1."""
        if mask != self._candidate:
            self._candidate = mask
            self._since = now_ms
            return -1
        if mask == self.stable or now_ms - self._since < self.debounce_ms:
            return -1
        before = self.stable
        self.stable = mask
        self.ignored &= mask  # a stuck key that came up counts again
        pressed = mask & ~before & ~self.ignored
        if not pressed or mask & (mask - 1):  # nothing new, or more than one key down
            return -1
        index = 0
        while not pressed & 1:
            pressed >>= 1
            index += 1
        return index


class KeyMatrix:
    def __init__(self, rows, cols, keymap, debounce_ms=DEBOUNCE_MS):
        if len(keymap) != len(rows) or any(len(r) != len(cols) for r in keymap):
            raise ValueError("keymap is %d rows of %d keys" % (len(rows), len(cols)))
        if len(rows) * len(cols) > 30:
            raise ValueError("at most 30 keys (a small-int mask)")
        self.rows = rows
        self.cols = cols
        self.names = [name for row in keymap for name in row]
        self.debouncer = Debouncer(debounce_ms)
        for pin in rows:
            pin.value(1)

    def scan(self):
        """The mask of keys down now: bit r * len(cols) + c."""
        mask = 0
        bit = 1
        for row in self.rows:
            row.value(0)
            for col in self.cols:
                if not col.value():
                    mask |= bit
                bit <<= 1
            row.value(1)
        return mask

    def poll(self, now_ms):
        index = self.debouncer.feed(now_ms, self.scan())
        if index < 0:
            return None
        return self.names[index]

    def selftest(self):
        mask = self.scan()
        if not mask:
            return None
        self.debouncer.ignored = mask
        self.debouncer.stable = mask
        self.debouncer._candidate = mask
        down = [repr(self.names[i]) for i in range(len(self.names)) if mask >> i & 1]
        return "keys: %s down at boot (stuck?)" % ", ".join(down)
