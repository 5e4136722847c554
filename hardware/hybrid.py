"""A BT-style hybrid finger reader (MicroPython): a fingerprint (R503) and a finger vein (XG)
fused by a configured rule, with the same board interface as ``hardware.fingerprint``.

The finger lies on both sensors at once. When the print module has a result for a placed finger
(match, no match, poor image), the vein module is asked to Verify 1:N, and ``fuse`` decides:

- rule ``"both"``: a match only when the print matched and the vein verified **the same**
  template; one saying yes and the other no (or two different templates) is ``disagree``;
- rule ``"either"``: a match when the print matched with a score of at least ``min_score``, or
  when the vein verified (it gives no score); still ``disagree`` when both matched different
  templates.

Otherwise ``no_vein`` (the vein module saw no veins: the finger is not flat on the sensor),
``poor`` (the print image was poor) or ``no_match``. ``disagree`` and ``no_vein`` have their
own messages (firmware/texts.py: ``finger_disagree``, ``finger_no_vein``). The decision is in
``detail`` (e.g. "print 5 score 180, vein 5").

IDs: a finger enrolled on the print module under page ``p`` is enrolled on the vein module under
ID ``p + 1`` (the vein protocol uses 0 for 1:N). ``start_enrol`` enrols the print first (two
images), then the vein (three, prompted by the module), and reports ``enrolled`` with the page.

Faults: the print module's faults pass through; the vein module's exchange failures are counted
the same way (3 in a row make one ``("fault", "XG vein: …")``, then Connect is retried every
second and ``("ok",)`` comes once it answers). A single vein failure makes that attempt
``poor`` (place the finger again), with the failure in ``detail``.
"""

from micropython import const

from hardware import xgvein

RULES = ("both", "either")

_IDLE = const(0)
_VERIFY = const(1)
_ENROL = const(2)
_CONNECT = const(3)


def fuse(rule, min_score, p_result, p_template, p_score, v_status, v_id):
    """(result, template, score, detail) from the print's and the vein's answers."""
    vein_ok = v_status == xgvein.OK
    v_page = v_id - 1
    detail = "print %s %d score %d, vein %s" % (
        p_result,
        p_template,
        p_score,
        ("%d" % v_page) if vein_ok else xgvein.status_text(v_status),
    )
    p_match = p_result == "match"
    no_vein = v_status == xgvein.NO_VEIN or v_status == xgvein.TIME_OUT
    if p_match and vein_ok and p_template != v_page:
        return ("disagree", 0, 0, detail)
    if rule == "both":
        if p_match and vein_ok:
            return ("match", p_template, p_score, detail)
        if no_vein:
            return ("no_vein", 0, 0, detail)  # lay the finger flat, then both can say
        if p_match or vein_ok:
            return ("disagree", 0, 0, detail)
    else:
        if p_match and p_score >= min_score:
            return ("match", p_template, p_score, detail)
        if vein_ok:
            return ("match", v_page, p_score if p_match else 0, detail)
    if no_vein:
        return ("no_vein", 0, 0, detail)
    if p_result == "poor":
        return ("poor", 0, 0, detail)
    return ("no_match", 0, 0, detail)


class HybridFinger:
    name = "hybrid"

    def __init__(self, prints, veins, rule="both", min_score=100, fault_after=3, retry_ms=1000):
        if rule not in RULES:
            raise ValueError("hybrid rule %r: one of %s" % (rule, ", ".join(RULES)))
        from firmware.terminal import Finger

        self._finger = Finger
        self.prints = prints
        self.veins = veins
        self.rule = rule
        self.min_score = min_score
        self.fault_after = fault_after
        self.retry_ms = retry_ms
        self.vein_faulted = False
        self.last_error = ""
        self._step = _IDLE
        self._strikes = 0
        self._next_ms = 0
        self._print = None  # the print result waiting for the vein's
        self._page = 0  # the page being enrolled

    @property
    def version(self):
        return "%s + %s" % (self.prints.version, self.veins.name)

    # ------------------------------------------------------------------ board interface

    def selftest(self, ticks_ms=None, wait_ms=None):
        found = []
        why = self.prints.selftest(ticks_ms, wait_ms)
        if why is not None:
            found.append(why)
        why = self.veins.selftest(ticks_ms, wait_ms)
        if why is not None:
            found.append(why)
            self.vein_faulted = True
            self._next_ms = (ticks_ms or self.prints.ticks_ms)() + self.retry_ms
        return "; ".join(found) if found else None

    def expect(self, templates, now_ms=0, hold_ms=10000):
        self.prints.expect(templates, now_ms, hold_ms)

    def start_enrol(self, page=None):
        self.prints.start_enrol(page)

    def cancel_enrol(self):
        self.prints.cancel_enrol()
        if self._step == _ENROL:
            self.veins.cancel(0)
            self._step = _IDLE

    def enrolling(self):
        return self.prints.enrolling() or self._step == _ENROL

    def template_count(self, ticks_ms=None, wait_ms=None):
        return self.prints.template_count(ticks_ms, wait_ms)

    def delete(self, page, ticks_ms=None, wait_ms=None):
        why = self.prints.delete(page, 1, ticks_ms, wait_ms)
        vein = self.veins.delete(page + 1, ticks_ms, wait_ms)
        if why is None and vein is not None and not vein.endswith("empty ID"):
            why = vein
        return why

    def poll(self, now_ms):
        try:
            return self._poll(now_ms)
        except Exception as e:  # a defect becomes a fault, never an exception in the loop
            self._step = _IDLE
            self.last_error = "%s: driver defect %r" % (self.name, e)
            return ("fault", self.last_error)

    # ----------------------------------------------------------------------- the cycle

    def _poll(self, now):
        if self._step == _IDLE:
            if self.vein_faulted:
                if now >= self._next_ms:
                    self._step = _CONNECT
                    self.veins.start_connect(now)
                return None
            e = self.prints.poll(now)
            if e is None or isinstance(e, tuple):
                return e
            if e.result == "enrolled":
                self._page = e.template
                self._step = _ENROL
                self.veins.start_enrol(e.template + 1, now)
                return None
            if e.result == "enrol_failed":
                return e
            self._print = e
            self._step = _VERIFY
            self.veins.start_verify(now)
            return None
        r = self.veins.step(now)
        if r is None:
            return None
        step = self._step
        self._step = _IDLE
        status, ident = r
        if step == _CONNECT:
            if status == xgvein.OK:
                self.vein_faulted = False
                self._strikes = 0
                return ("ok",)
            self._next_ms = now + self.retry_ms
            return None
        if status == -1:
            return self._vein_failed(now, step)
        self._strikes = 0
        if step == _ENROL:
            if status == xgvein.OK:
                return self._finger("enrolled", self._page, 0, "print and vein")
            if self.prints.ticks_ms is not None:  # no print without its vein
                self.prints.delete(self._page)
            why = "vein: " + xgvein.status_text(status)
            return self._finger("enrol_failed", 0, 0, why)
        p = self._print
        self._print = None
        if p is None:
            return None
        if status not in (xgvein.OK, xgvein.VERIFY_FAILED, xgvein.NO_VEIN, xgvein.TIME_OUT):
            self.last_error = "%s: Verify: %s" % (self.veins.name, xgvein.status_text(status))
            return self._vein_failed(now, step, self.last_error)
        result, template, score, detail = fuse(
            self.rule, self.min_score, p.result, p.template, p.score, status, ident
        )
        return self._finger(result, template, score, detail)

    def _vein_failed(self, now, step, text=None):
        self.last_error = text or self.veins.error
        self._strikes += 1
        if self._strikes >= self.fault_after:
            self.vein_faulted = True
            self._next_ms = now + self.retry_ms
            self._print = None
            return ("fault", self.last_error)
        if step == _ENROL:
            return self._finger("enrol_failed", 0, 0, self.last_error)
        self._print = None
        return self._finger("poor", 0, 0, self.last_error)
