"""The R30x / R503 fingerprint module for the board: ``selftest``, ``poll(now_ms)``, enrolment.

``FingerPrint(uart)`` drives one module over an injected UART (``write``, ``readinto``, ``any``:
a ``machine.UART(…, 57600)``, a pyserial port, the simulator's serial line), one exchange step
per call, paced by the time passed in: no sleeps, the board's loop waits.

``poll(now_ms)`` never raises. It returns:

- ``None``: nothing new (no finger, the finger already reported is still resting, an exchange
  in progress, a fault being retried);
- a ``firmware.terminal.Finger`` once per placed finger: ``match`` with ``template`` (the page
  of the module's library) and ``score``; ``no_match``; ``poor`` (the image or its features
  were not good enough: the module's codes 03, 06, 07); in enrolment ``enrolled`` (with the
  page it was stored under) or ``enrol_failed`` (``detail`` says why);
- ``("fault", text)`` once, after ``fault_after`` failed exchanges in a row (no answer, a
  bad checksum twice, an answer that is not an acknowledgement, or a confirmation code the
  step does not expect: ``"R503: Search: unknown code 0x42"``); the module's init is then
  retried every ``retry_ms`` and ``("ok",)`` is returned once when it answers again.

Identification is 1:N (GenImg, Img2Tz into buffer 1, Search over the whole library) unless
``expect(templates)`` named the templates of the card just read: then each is loaded into
buffer 2 (LoadChar) and compared (Match), the first match wins ("card then finger"). After a
report the finger must be lifted (GenImg answers "no finger") before the next one.

Enrolment (``start_enrol(page)``; ``page`` None takes the first free page from the index table):
finger, Img2Tz 1, lift, finger again, Img2Tz 2, RegModel, Store. ``cancel_enrol()`` stops it;
an enrolment not finished within ``enrol_ms`` fails. ``delete(page)`` (DeleteChar) and
``template_count()`` (TemplateNum) run to their end through the board's clock and idle
functions, like ``selftest``.
"""

from micropython import const

from hardware import r30x
from hardware.r30x import DONE, FAILED, PENDING

# What the driver is doing
_IDLE = const(0)
_INIT_PWD = const(1)
_INIT_PARA = const(2)
_INIT_COUNT = const(3)
_IMAGE = const(4)  # GenImg for identification
_TZ = const(5)
_SEARCH = const(6)
_LOAD = const(7)
_MATCH = const(8)
_E_INDEX = const(9)  # enrolment: find a free page
_E_IMAGE1 = const(10)
_E_TZ1 = const(11)
_E_LIFT = const(12)
_E_IMAGE2 = const(13)
_E_TZ2 = const(14)
_E_MODEL = const(15)
_E_STORE = const(16)
_OP = const(17)  # a one-off command (delete, count) run by _run

_STEP_INSTRUCTION = (
    0,
    r30x.VFY_PWD,
    r30x.READ_SYS_PARA,
    r30x.TEMPLATE_NUM,
    r30x.GEN_IMG,
    r30x.IMG2TZ,
    r30x.SEARCH,
    r30x.LOAD_CHAR,
    r30x.MATCH,
    r30x.READ_INDEX_TABLE,
    r30x.GEN_IMG,
    r30x.IMG2TZ,
    r30x.GEN_IMG,
    r30x.GEN_IMG,
    r30x.IMG2TZ,
    r30x.REG_MODEL,
    r30x.STORE,
    0,
)

# Module answer times: the R503 datasheet's upper bounds plus a margin; Search: 10 ms a
# template over the library (1:N < 10 ms per fingerprint).
_IMAGE_MS = const(600)  # image acquiring < 0.2 s
_TZ_MS = const(1000)  # generating features < 0.5 s
_PLAIN_MS = const(300)
_SEARCH_MS_PER_TEMPLATE = const(10)

OK_EVENT = ("ok",)


class FingerPrint:
    name = "R503"

    def __init__(
        self,
        uart,
        address=r30x.DEFAULT_ADDRESS,
        password=0,
        interval_ms=100,
        fault_after=3,
        retry_ms=1000,
        enrol_ms=20000,
        match_score=50,
        ticks_ms=None,
        wait_ms=None,
    ):
        from firmware.terminal import Finger  # the terminal's own event type

        self._finger = Finger
        self.exchange = r30x.Exchange(uart, address)
        self.address = bytes(address)
        self.interval_ms = interval_ms
        self.fault_after = fault_after
        self.retry_ms = retry_ms
        self.enrol_ms = enrol_ms
        self.match_score = match_score  # Match: the lowest score taken as the same finger
        self.ticks_ms = ticks_ms
        self.wait_ms = wait_ms
        self.capacity = 0  # library size, from ReadSysPara
        self.security_level = 0
        self.templates = 0  # TemplateNum at init
        self.version = ""  # "R503 (200 templates, level 3)" after the init
        self.last_error = ""
        self.last_score = 0
        self.faulted = False
        self.polls = 0
        self.failures = 0
        pw = bytes(((password >> 24) & 0xFF, (password >> 16) & 0xFF,
                    (password >> 8) & 0xFF, password & 0xFF))  # fmt: skip
        a = address
        self._frames = {
            _INIT_PWD: r30x.command(r30x.VFY_PWD, pw, a),
            _INIT_PARA: r30x.command(r30x.READ_SYS_PARA, b"", a),
            _INIT_COUNT: r30x.command(r30x.TEMPLATE_NUM, b"", a),
            _IMAGE: r30x.command(r30x.GEN_IMG, b"", a),
            _TZ: r30x.command(r30x.IMG2TZ, b"\x01", a),
            _MATCH: r30x.command(r30x.MATCH, b"", a),
            _E_INDEX: r30x.command(r30x.READ_INDEX_TABLE, b"\x00", a),
            _E_TZ2: r30x.command(r30x.IMG2TZ, b"\x02", a),
            _E_MODEL: r30x.command(r30x.REG_MODEL, b"", a),
        }
        self._search = b""  # built once the capacity is known
        self._step = _IDLE
        self._need_init = True
        self._next_ms = 0
        self._strikes = 0
        self._resting = False  # a finger was reported and has not been lifted since
        self._expect = ()  # type: tuple  # templates of the card just read (card then finger)
        self._expect_at = 0
        self._enrol_page = -1  # -1: not enrolling; else the page (or -2: find one)
        self._enrol_step = _IDLE  # the enrolment step the next poll starts
        self._index = 0
        self._op_instruction = 0
        self._enrol_until = 0
        self._op_frame = b""
        self._why = ""

    # ------------------------------------------------------------------ board interface

    def selftest(self, ticks_ms=None, wait_ms=None, limit_ms=3000):
        """VfyPwd, ReadSysPara and TemplateNum now; None when the module answered, else what
        failed (``"R503: VfyPwd: no answer"``, ``"R503: VfyPwd: wrong password"``)."""
        ticks_ms = ticks_ms or self.ticks_ms
        wait_ms = wait_ms or self.wait_ms
        start = ticks_ms()
        self._begin(_INIT_PWD, start)
        while True:
            now = ticks_ms()
            r = self._advance(now)
            if r == FAILED or self._step == _IDLE:
                break
            if now - start > limit_ms:
                self._why = "%s: init took too long" % self.name
                break
            wait_ms(1)
        if self._step == _IDLE and not self._why:
            self._need_init = False
            self._next_ms = now
            return None
        self.exchange.cancel()
        self._step = _IDLE
        self.last_error = self._why
        self.faulted = True
        self._need_init = True
        self._next_ms = now + self.retry_ms
        return self.last_error

    def poll(self, now_ms):
        try:
            return self._poll(now_ms)
        except Exception as e:  # never raise into the board loop: a defect becomes a fault
            self._step = _IDLE
            self._need_init = True
            self.last_error = "%s: driver defect %r" % (self.name, e)
            self._next_ms = now_ms + self.retry_ms
            if self.faulted:
                return None
            self.faulted = True
            return ("fault", self.last_error)

    def expect(self, templates, now_ms=0, hold_ms=10000):
        """The next finger is compared (1:1) with these templates only, for ``hold_ms``."""
        self._expect = tuple(templates)
        self._expect_at = now_ms + hold_ms

    def start_enrol(self, page=None):
        """Enrol the next finger placed (twice) under ``page``, or the first free page."""
        self._enrol_page = -2 if page is None else page
        self._enrol_step = _E_INDEX if page is None else _E_IMAGE1
        self._enrol_until = 0  # set when the first step starts
        self._next_ms = 0  # an identification step under way ends first, unreported

    def cancel_enrol(self):
        self._enrol_page = -1  # an enrolment step under way ends first, unreported

    def enrolling(self):
        return self._enrol_page != -1

    def busy(self):
        return self._step != _IDLE

    def delete(self, page, count=1, ticks_ms=None, wait_ms=None):
        """DeleteChar now: None, or what failed."""
        params = bytes((page >> 8, page & 0xFF, count >> 8, count & 0xFF))
        return self._run(r30x.DELETE_CHAR, params, ticks_ms, wait_ms)

    def template_count(self, ticks_ms=None, wait_ms=None):
        """TemplateNum now: the number of stored templates, or the text of what failed."""
        why = self._run(r30x.TEMPLATE_NUM, b"", ticks_ms, wait_ms)
        if why is not None:
            return why
        body = self.exchange.decoder.body
        return (body[1] << 8) | body[2]

    # ----------------------------------------------------------------------- the cycle

    def _run(self, instruction, params, ticks_ms, wait_ms, limit_ms=2000):
        ticks_ms = ticks_ms or self.ticks_ms
        wait_ms = wait_ms or self.wait_ms
        now = ticks_ms()
        start = now
        # A step under way ends first (its answer would come in the middle of ours); what it
        # found is not reported, and the cycle starts again after this command.
        while self._step != _IDLE and self.exchange.step(now) == PENDING:
            wait_ms(1)
            now = ticks_ms()
        self._step = _IDLE
        self._op_frame = r30x.command(instruction, params, self.address)
        self._op_instruction = instruction
        self._step = _OP
        self.exchange.start(self._op_frame, now, _PLAIN_MS)
        while True:
            r = self.exchange.step(now)
            if r != PENDING:
                break
            if now - start > limit_ms:
                break
            wait_ms(1)
            now = ticks_ms()
        self._step = _IDLE
        name = r30x.INSTRUCTION_NAMES[instruction]
        if r != DONE:
            self.exchange.cancel()
            return "%s: %s: %s" % (self.name, name, self.exchange.error_text() or "no answer")
        code = self.exchange.decoder.body[0]
        if code != r30x.OK:
            return "%s: %s: %s" % (self.name, name, _code_text(code))
        return None

    def _poll(self, now):
        if self._step == _IDLE:
            if now < self._next_ms:
                return None
            if self._need_init:
                self._begin(_INIT_PWD, now)
            elif self._enrol_page != -1:
                if self._enrol_until == 0:
                    self._enrol_until = now + self.enrol_ms
                if now >= self._enrol_until:
                    return self._enrol_failed(now, "time-out")
                self._begin(self._enrol_step, now)
            else:
                self.polls += 1
                self._begin(_IMAGE, now)
        r = self._advance(now)
        if r is None or r == PENDING:
            return None
        if r == FAILED:
            return self._failed(now)
        return r  # an event

    def _begin(self, step, now):
        self._step = step
        self._why = ""
        if step == _SEARCH:
            frame = self._search
            timeout = _PLAIN_MS + _SEARCH_MS_PER_TEMPLATE * self.capacity
        elif step == _LOAD:
            t = self._expect[self._index]
            frame = r30x.command(r30x.LOAD_CHAR, bytes((2, t >> 8, t & 0xFF)), self.address)
            timeout = _PLAIN_MS
        elif step == _E_STORE:
            p = self._enrol_page
            frame = r30x.command(r30x.STORE, bytes((1, p >> 8, p & 0xFF)), self.address)
            timeout = _PLAIN_MS
        elif step == _E_IMAGE1 or step == _E_LIFT or step == _E_IMAGE2:
            frame = self._frames[_IMAGE]
            timeout = _IMAGE_MS
        elif step == _E_TZ1:
            frame = self._frames[_TZ]
            timeout = _TZ_MS
        else:
            frame = self._frames[step]
            timeout = _TZ_MS if step in (_TZ, _E_TZ2, _E_MODEL) else _PLAIN_MS
            if step == _IMAGE:
                timeout = _IMAGE_MS
        self.exchange.start(frame, now, timeout)

    def _advance(self, now):
        """Step the exchange; None (under way), FAILED, or the step's outcome."""
        r = self.exchange.step(now)
        if r == PENDING:
            return None
        if r == FAILED:
            self._why = "%s: %s: %s" % (self.name, self._step_name(), self.exchange.error_text())
            return FAILED
        d = self.exchange.decoder
        return self._answer(now, d.body[0], d.body, d.length)

    def _step_name(self):
        return r30x.INSTRUCTION_NAMES.get(_STEP_INSTRUCTION[self._step], "?")

    def _unexpected(self, code):
        self._why = "%s: %s: %s" % (self.name, self._step_name(), _code_text(code))
        return FAILED

    def _answer(self, now, code, body, n):  # one table of steps, in one place
        step = self._step
        if (self._enrol_page != -1 and _IMAGE <= step <= _MATCH) or (
            self._enrol_page == -1 and _E_INDEX <= step < _OP
        ):  # enrolment started or cancelled while this step was under way: drop it
            return self._idle(now, now, None)
        # -- init
        if step == _INIT_PWD:
            if code != r30x.OK:
                return self._unexpected(code)
            self._begin(_INIT_PARA, now)
            return None
        if step == _INIT_PARA:
            if code != r30x.OK or n < 17:
                return self._unexpected(code)
            self.security_level = (body[7] << 8) | body[8]
            self.capacity = (body[5] << 8) | body[6]
            c = self.capacity
            self._search = r30x.command(
                r30x.SEARCH, bytes((1, 0, 0, c >> 8, c & 0xFF)), self.address
            )
            self._begin(_INIT_COUNT, now)
            return None
        if step == _INIT_COUNT:
            if code != r30x.OK or n < 3:
                return self._unexpected(code)
            self.templates = (body[1] << 8) | body[2]
            self.version = "%s (%d templates, level %d)" % (
                self.name,
                self.capacity,
                self.security_level,
            )
            return self._idle(now, now, OK_EVENT if self.faulted else None, init=True)
        # -- identification
        if step == _IMAGE:
            if code == r30x.NO_FINGER:
                self._resting = False
                return self._idle(now, now + self.interval_ms, None)
            if self._resting:  # the finger reported is still there
                return self._idle(now, now + self.interval_ms, None)
            if code == r30x.IMAGE_FAIL:
                return self._report(now, "poor")
            if code != r30x.OK:
                return self._unexpected(code)
            self._begin(_TZ, now)
            return None
        if step == _TZ:
            if code == r30x.TOO_DISORDERED or code == r30x.TOO_FEW_FEATURES:
                return self._report(now, "poor")
            if code != r30x.OK:
                return self._unexpected(code)
            if self._expect and now < self._expect_at:
                self._index = 0
                self._begin(_LOAD, now)
            else:
                self._expect = ()
                self._begin(_SEARCH, now)
            return None
        if step == _SEARCH:
            if code == r30x.NOT_FOUND:
                return self._report(now, "no_match")
            if code != r30x.OK or n < 5:
                return self._unexpected(code)
            self.last_score = (body[3] << 8) | body[4]
            return self._report(now, "match", (body[1] << 8) | body[2], self.last_score)
        if step == _LOAD:
            if code == r30x.OK:
                self._begin(_MATCH, now)
                return None
            if code != r30x.BAD_LOCATION and code != r30x.READ_ERROR:
                return self._unexpected(code)
            return self._next_expected(now)  # nothing stored there: try the next template
        if step == _MATCH:
            if code == r30x.OK and n >= 3:
                self.last_score = (body[1] << 8) | body[2]
                if self.last_score >= self.match_score:
                    t = self._expect[self._index]
                    self._expect = ()
                    return self._report(now, "match", t, self.last_score)
                return self._next_expected(now)
            if code == r30x.NO_MATCH:
                return self._next_expected(now)
            return self._unexpected(code)
        # -- enrolment
        if step == _E_INDEX:
            if code != r30x.OK:
                return self._unexpected(code)
            page = _first_free(body, n, self.capacity)
            if page < 0:
                return self._enrol_failed(now, "library full")
            self._enrol_page = page
            self._begin(_E_IMAGE1, now)
            return None
        if step == _E_IMAGE1 or step == _E_IMAGE2:
            if code == r30x.NO_FINGER or code == r30x.IMAGE_FAIL:
                return self._idle(now, now + self.interval_ms, None, keep=step)
            if code != r30x.OK:
                return self._unexpected(code)
            self._begin(_E_TZ1 if step == _E_IMAGE1 else _E_TZ2, now)
            return None
        if step == _E_TZ1 or step == _E_TZ2:
            if code == r30x.TOO_DISORDERED or code == r30x.TOO_FEW_FEATURES:
                # a poor image: place the finger again for this step
                back = _E_IMAGE1 if step == _E_TZ1 else _E_IMAGE2
                return self._idle(now, now + self.interval_ms, None, keep=back)
            if code != r30x.OK:
                return self._unexpected(code)
            if step == _E_TZ1:
                self._begin(_E_LIFT, now)
            else:
                self._begin(_E_MODEL, now)
            return None
        if step == _E_LIFT:
            if code == r30x.NO_FINGER:
                self._begin(_E_IMAGE2, now)
                return None
            if code == r30x.OK or code == r30x.IMAGE_FAIL:
                return self._idle(now, now + self.interval_ms, None, keep=_E_LIFT)
            return self._unexpected(code)
        if step == _E_MODEL:
            if code == r30x.ENROLL_MISMATCH:
                return self._enrol_failed(now, "the two images differ")
            if code != r30x.OK:
                return self._unexpected(code)
            self._begin(_E_STORE, now)
            return None
        if step == _E_STORE:
            if code == r30x.BAD_LOCATION or code == r30x.FLASH_ERROR:
                return self._enrol_failed(now, _code_text(code))
            if code != r30x.OK:
                return self._unexpected(code)
            page = self._enrol_page
            self._enrol_page = -1
            self._resting = True  # the finger is on the sensor: not identified at once
            self.templates += 1
            self._strikes = 0
            self._step = _IDLE
            self._next_ms = now + self.interval_ms
            return self._finger("enrolled", page)
        return self._unexpected(code)

    def _next_expected(self, now):
        self._index += 1
        if self._index < len(self._expect):
            self._begin(_LOAD, now)
            return None
        self._expect = ()
        return self._report(now, "no_match")

    def _idle(self, now, next_ms, event, init=False, keep=_IDLE):
        """The step ended well; wait until ``next_ms``; an enrolment goes on at ``keep``."""
        self._strikes = 0
        if init:
            self._need_init = False
            self.faulted = False
        self._step = _IDLE
        self._next_ms = next_ms
        if keep != _IDLE:
            self._enrol_step = keep
        return event

    def _report(self, now, result, template=0, score=0):
        self._resting = True
        self._strikes = 0
        self._step = _IDLE
        self._next_ms = now + self.interval_ms
        return self._finger(result, template, score)

    def _enrol_failed(self, now, why):
        self._enrol_page = -1
        self._step = _IDLE
        self._next_ms = now + self.interval_ms
        self._resting = True
        return self._finger("enrol_failed", 0, 0, why)

    def _failed(self, now):
        self.exchange.cancel()
        self._step = _IDLE
        self.last_error = self._why
        self.failures += 1
        self._strikes += 1
        self._need_init = self._strikes >= 2 or self._need_init
        if self._enrol_page != -1:  # start the enrolment again with a new first image
            self._enrol_step = _E_INDEX if self._enrol_page == -2 else _E_IMAGE1
        if self.faulted:
            self._next_ms = now + self.retry_ms
            return None
        if self._strikes >= self.fault_after:
            self.faulted = True
            self._next_ms = now + self.retry_ms
            return ("fault", self.last_error)
        self._next_ms = now
        return None


def _code_text(code):
    text = r30x.CODE_TEXTS.get(code)
    if text is None:
        return "unknown code 0x%02X" % code
    return "unexpected code 0x%02X (%s)" % (code, text)


def _first_free(body, n, capacity):
    """The first free page in a ReadIndexTable answer (32 bytes: bit i of byte j = page 8j+i)."""
    for j in range(1, n):
        b = body[j]
        if b != 0xFF:
            for i in range(8):
                page = (j - 1) * 8 + i
                if not (b >> i) & 1:
                    return page if page < capacity else -1
    return -1
