"""The reader of a BT-style terminal (MicroPython): a card reader and a finger module as one
``reader_poll`` for ``firmware/main.py``, following the configured identification method.

``CardAndFinger(cards, finger, method, roster)``: ``cards`` is a ``hardware.reader.Reader``,
``finger`` a ``hardware.fingerprint.FingerPrint`` or a ``hardware.hybrid.HybridFinger``,
``method`` the configuration's ``identify_mode`` ("card", "finger", "card_then_finger",
"card_or_finger"), ``roster`` the terminal's roster (optional: with it, the finger after a card
is compared 1:1 with that employee's templates, else searched 1:N; the terminal checks it is the
same person either way).

- ``selftest(ticks_ms, wait_ms)``: both parts. It returns what failed when a part the method
  needs for every punch failed (the terminal starts in ``reader_fault``), else None; the failure
  of a part the method can do without comes as the first ``("notice", text)``.
- ``poll(now_ms)`` polls both parts each turn (the finger not in "card" mode) and returns one
  event: a Card, a Finger, ``("fault", text)`` / ``("ok",)`` for a needed part (``("ok",)`` only
  once no needed part is faulted), ``("notice", text)`` for a part the method can do without
  (the terminal logs it and goes on punching), or None. Cards are read in every mode, so an
  administrator's card opens service mode on a finger-only terminal too.
- ``follow(state)``: the board passes the terminal's state every turn; entering ``service``
  starts a finger enrolment (the next finger placed twice is stored on the first free page and
  reported as ``enrolled``), leaving the service states cancels it.
- ``delete(page)``, ``template_count()``: the finger module's.

``finger_module(print_uart, vein_uart=None, rule, min_score, ticks_ms, wait_ms)`` makes the
finger part from the board's UARTs: an R503 alone, or the hybrid with an XG vein module.
"""

METHODS = ("card", "finger", "card_then_finger", "card_or_finger")
_SERVICE_STATES = ("service", "enrol_code", "enrolling")


def finger_module(print_uart, vein_uart=None, rule="both", min_score=100, ticks_ms=None,
                  wait_ms=None):  # fmt: skip
    from hardware.fingerprint import FingerPrint

    prints = FingerPrint(print_uart, ticks_ms=ticks_ms, wait_ms=wait_ms)
    if vein_uart is None:
        return prints
    from hardware.hybrid import HybridFinger
    from hardware.xgvein import FingerVein

    veins = FingerVein(vein_uart, ticks_ms=ticks_ms, wait_ms=wait_ms)
    return HybridFinger(prints, veins, rule, min_score)


class CardAndFinger:
    def __init__(self, cards, finger, method="card_or_finger", roster=None):
        if method not in METHODS:
            raise ValueError("identify method %r: one of %s" % (method, ", ".join(METHODS)))
        from firmware.terminal import Card

        self._card = Card
        self.cards = cards
        self.finger = finger
        self.method = method
        self.roster = roster
        self.faulted = [False, False]  # card reader, finger module
        self._pending = []  # events waiting for the next polls
        self._state = ""

    def needs(self, part):
        """Whether the method cannot punch without part 0 (cards) or 1 (finger)."""
        m = self.method
        if m == "card_then_finger":
            return True
        if m == "card_or_finger":
            return False  # either alone still punches; both down is a fault (below)
        return (part == 0) == (m == "card")

    def selftest(self, ticks_ms, wait_ms):
        found = []
        whys = (self.cards.selftest(ticks_ms, wait_ms), self.finger.selftest(ticks_ms, wait_ms))
        for part in (0, 1):
            why = whys[part]
            if why is None:
                continue
            self.faulted[part] = True
            if self._blocks(part):
                found.append(why)
            else:
                self._pending.append(("notice", why))
        return "; ".join(found) if found else None

    def _blocks(self, part):
        """A fault of ``part`` stops punching (with the other part's state as it is)."""
        if self.needs(part):
            return True
        return self.method == "card_or_finger" and self.faulted[1 - part]

    def follow(self, state):
        if state == self._state:
            return
        was = self._state
        self._state = state
        if state == "service" and was not in _SERVICE_STATES and self.method != "card":
            self.finger.start_enrol()
        elif state not in _SERVICE_STATES and was in _SERVICE_STATES and self.finger.enrolling():
            self.finger.cancel_enrol()

    def delete(self, page, ticks_ms=None, wait_ms=None):
        return self.finger.delete(page, ticks_ms=ticks_ms, wait_ms=wait_ms)

    def template_count(self, ticks_ms=None, wait_ms=None):
        return self.finger.template_count(ticks_ms, wait_ms)

    def poll(self, now_ms):
        e = self._part(0, self.cards.poll(now_ms), now_ms)
        if e is not None:
            self._pending.append(e)
        if self.method != "card":
            e = self._part(1, self.finger.poll(now_ms), now_ms)
            if e is not None:
                self._pending.append(e)
        if self._pending:
            return self._pending.pop(0)
        return None

    def _part(self, part, e, now):
        if e is None:
            return None
        if not isinstance(e, tuple):
            if part == 0 and isinstance(e, self._card):
                self._after_card(e, now)
            return e
        if e[0] == "fault":
            self.faulted[part] = True
            if self._blocks(part):
                return e
            return ("notice", e[1])
        if e[0] == "ok":
            was_blocking = self._blocks(part)
            self.faulted[part] = False
            name = ("card reader", "finger module")[part]
            if not was_blocking:
                return ("notice", name + " answers again")
            if self.faulted[1 - part] and self._blocks(1 - part):
                return ("notice", name + " answers again")
            return e
        return e

    def _after_card(self, card, now):
        if self.method != "card_then_finger" or self.roster is None:
            return
        if not (card.readable and card.stable and card.count == 1):
            return
        employee = self.roster.lookup_card(card.idm)
        if employee is not None and employee.fingers:
            self.finger.expect(employee.fingers, now)
