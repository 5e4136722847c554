"""The card reader the board gives ``firmware/main.py``: ``selftest`` and ``poll(now_ms)``.

``Reader(chip, link)`` runs a chip's programs (``hardware/chip.py``) over a ``Link``, one
exchange step per call, paced by the time passed in: no sleeps, the board's loop waits.

``poll(now_ms)`` returns, and never raises:

- ``None``: nothing new (no card, the card already reported is still there, an exchange in
  progress, or a fault being retried);
- a ``firmware.terminal.Card`` once per arrival: the IDm, how many targets answered, whether
  two reads in a row gave the same IDm (``stable``: a second read, and a third when the first
  two differ, since the PN53x's 8-bit checksum misses some spoilt frames, such as a lost 00
  byte; random-ID cards and NFC-DEP phones are never stable), and ``readable`` False when the
  card left between the reads or a later read failed;
- ``("fault", text)`` once, after ``fault_after`` consecutive failed cycles; then the reader
  re-runs the chip's init every ``retry_ms`` and returns ``("ok",)`` once it answers again.

A failed exchange is cancelled and the input flushed (``Link``); the next poll follows at
once, and from the second failure in a row it is preceded by the chip's init (a chip that was
reset mid-session forgot its configuration). After a report the card must leave the field
(one empty poll) before the next report. Buffers are allocated once: a poll that reports
nothing allocates nothing.

``selftest(ticks_ms, wait_ms)`` runs the init program to its end (the board's clock and
idle functions drive it) and returns None, or what failed; the chip's name and firmware
version are in ``version``.
"""

from micropython import const

from hardware import chip, felica, pn53x
from hardware.link import DONE, FAILED, PENDING

_NONE = const(0)
_INIT = const(1)
_POLL1 = const(2)
_POLL2 = const(3)
_AFTER = const(4)
_POLL3 = const(5)

OK_EVENT = ("ok",)


class Reader:
    def __init__(self, chip_driver, link, interval_ms=100, fault_after=3, retry_ms=1000):
        from firmware.terminal import Card  # the terminal's own event type

        self._card = Card
        self.chip = chip_driver
        self.link = link
        self.interval_ms = interval_ms
        self.fault_after = fault_after
        self.retry_ms = retry_ms
        self.idm = bytearray(8)
        self.pmm = bytearray(8)
        self.count = 0
        self._first = bytearray(8)
        self.version = ""  # "PN532 v1.6" once the chip answered GetFirmwareVersion
        self.last_error = ""
        self.faulted = False
        self.polls = 0  # poll cycles started
        self.failures = 0  # failed cycles, over the reader's life
        self._program = ()  # type: tuple
        self._purpose = _NONE
        self._index = 0
        self._hold_until = 0
        self._next_ms = 0
        self._cycle_ms = 0
        self._need_init = True
        self._strikes = 0
        self._present = False
        self._why = ""
        self._step_done = False

    # ------------------------------------------------------------------ board interface

    def selftest(self, ticks_ms, wait_ms, limit_ms=2000):
        """Run the init program now; None when the chip answered, else what failed."""
        start = ticks_ms()
        self._begin(self.chip.init, _INIT, start)
        while True:
            now = ticks_ms()
            r = self._advance(now)
            if r == DONE:
                self._program = ()
                self._need_init = False
                self._next_ms = now
                return None
            if r == FAILED or now - start > limit_ms:
                self.last_error = self._failure_text() if r == FAILED else "init took too long"
                self._program = ()
                self.faulted = True
                self._need_init = True
                self._next_ms = now + self.retry_ms
                return self.last_error
            wait_ms(1)

    def poll(self, now_ms):
        try:
            return self._poll(now_ms)
        except Exception as e:  # never raise into the board loop: a defect becomes a fault
            self._program = ()
            self._need_init = True
            self.last_error = "%s: reader defect %r" % (self.chip.name, e)
            self._next_ms = now_ms + self.retry_ms
            if self.faulted:
                return None
            self.faulted = True
            return ("fault", self.last_error)

    def busy(self):
        """An exchange or a program is under way (a bench waits for the end of a cycle)."""
        return bool(self._program)

    def card_present(self):
        """A card was reported and the field has not been seen empty since."""
        return self._present

    # ----------------------------------------------------------------------- the cycle

    def _poll(self, now):
        if not self._program:
            if now < self._next_ms:
                return None
            if self._need_init:
                self._begin(self.chip.init, _INIT, now)
            else:
                self.polls += 1
                self._cycle_ms = now
                self._begin(self.chip.poll, _POLL1, now)
        r = self._advance(now)
        if r == PENDING:
            return None
        purpose = self._purpose
        if r == FAILED:
            self.last_error = self._failure_text()
            self._program = ()
            return self._failed(now, purpose)
        self._program = ()
        if purpose == _INIT:
            self._need_init = False
            self._next_ms = now
            if self.faulted:
                self.faulted = False
                self._strikes = 0
                return OK_EVENT
            return None
        if purpose == _AFTER:
            self._next_ms = self._cycle_ms + self.interval_ms
            return None
        self._strikes = 0
        if purpose == _POLL1:
            if self.count == 0:
                self._present = False
                return self._finish(now, None)
            if self._present:
                return self._finish(now, None)
            self._keep_idm()
            if self.count > 1:
                return self._report(now, self.count, True, True)
            self._begin(self.chip.poll, _POLL2, now)
            return None
        # _POLL2, _POLL3: the next read of a new card
        if self.count == 0:  # it left between the reads
            return self._report(now, 1, True, False)
        if self.count > 1:
            self._keep_idm()
            return self._report(now, self.count, True, True)
        if felica.same(self.idm, self._first):
            return self._report(now, 1, not felica.is_nfc_dep(self._first), True)
        self._keep_idm()
        if purpose == _POLL2:  # one read may have been spoilt on the line: a third decides
            self._begin(self.chip.poll, _POLL3, now)
            return None
        return self._report(now, 1, False, True)  # a new IDm at every read: a random ID

    def _keep_idm(self):
        for i in range(8):
            self._first[i] = self.idm[i]

    def _report(self, now, count, stable, readable):
        self._present = True
        return self._finish(now, self._card(bytes(self._first), count, stable, readable))

    def _finish(self, now, event):
        if self.chip.after_poll:
            self._begin(self.chip.after_poll, _AFTER, now)
        else:
            self._next_ms = self._cycle_ms + self.interval_ms
        return event

    def _failed(self, now, purpose):
        self.failures += 1
        self._strikes += 1
        if self._strikes >= 2:
            self._need_init = True
        event = None
        if purpose == _POLL2 or purpose == _POLL3:  # the card was seen: ask to touch again
            event = self._report(now, 1, True, False)
            self._program = ()  # no RF-off program after a failure: the init follows
        if self.faulted:
            self._next_ms = now + self.retry_ms
            return event
        if self._strikes >= self.fault_after:
            self.faulted = True
            self._present = False
            self._next_ms = now + self.retry_ms
            return ("fault", self.last_error)
        self._next_ms = now
        return event

    def _failure_text(self):
        if self._why:
            return self._why
        step = self._program[self._index] if self._program else None
        name = self.chip.command_name(step[1]) if step is not None else "?"
        text = "%s: %s: %s" % (self.chip.name, name, self.link.error_text())
        if self.link.wrong:
            text += " (%02X)" % self.link.wrong
        return text

    # --------------------------------------------------------------- program execution

    def _begin(self, program, purpose, now):
        self._program = program
        self._purpose = purpose
        self._index = 0
        self._hold_until = now
        self._why = ""
        self.link.wrong = 0
        self._start_step(now)

    def _start_step(self, now):
        frame, code, timeout_ms, kind, hold_ms = self._program[self._index]
        if kind == chip.RAW:
            self.link.write(frame)
            self._hold_until = now + hold_ms
            self._step_done = True
        else:
            self._step_done = False
            self.link.start(frame, code, now, timeout_ms)

    def _advance(self, now):
        """Run the current program on; PENDING, DONE or FAILED."""
        program = self._program
        while True:
            step = program[self._index]
            if not self._step_done:
                r = self.link.step(now)
                if r == PENDING:
                    return PENDING
                if r == FAILED:
                    return FAILED
                if not self._take(step[3], now):
                    return FAILED
                self._hold_until = now + step[4]
                self._step_done = True
            if now < self._hold_until:
                return PENDING
            if self._index + 1 >= len(program):
                return DONE
            self._index += 1
            self._start_step(now)

    def _take(self, kind, now):
        d = self.link.decoder
        body = d.body
        n = d.length
        if kind == chip.POLL:
            self.count = self.chip.parse_poll(body, n, self.idm, self.pmm)
            if self.count < 0:
                self._why = "%s: malformed poll answer" % self.chip.name
                self.link.cancel()
                return False
        elif kind == chip.VERSION:
            version = self.chip.version(body, n)
            if version is None:
                self._why = "%s: GetFirmwareVersion answers %s" % (
                    self.chip.name,
                    ("IC %02X" % body[2]) if n > 2 else "nothing",
                )
                return False
            self.version = version
        elif kind == chip.STATUS:
            if n < 3 or body[2] != 0:
                self._why = "%s: status %02X" % (self.chip.name, body[2] if n > 2 else 0xFF)
                return False
        elif kind == chip.RESET:
            self.link.write(pn53x.ACK_FRAME)
        return True
