"""The terminal interns no new qstr while it runs (MicroPython only).

On MicroPython a 1-character string made by ``chr()``, by indexing a str or by iterating over one
is interned as a qstr; so are names passed to ``getattr`` that are not already qstrs. Qstrs are
never freed, and the first one past the last pool's room allocates a new pool (about 9 KB with
this firmware's imports): the heap figure of ``dakoku bench firmware`` once swung by that much
between builds that differed only in code layout. Three such places were found this way and
fixed (percent-encoding the roster cursor, naming the configuration copy, negated guards of the
state table). This test runs a day's kinds of work in the guest and compares the qstr count
that ``micropython.qstr_info()`` prints before and after.
"""

import re

from dakoku.micropython import shared_interpreter

GUEST = """
import micropython
from simulator.door import Rig
from firmware.terminal import Card
print("BEFORE")
micropython.qstr_info()
r = Rig(employees=12, values={"language": "en", "double_punch_s": 30})  # configuration saved
r.power_on()  # and loaded again, from the copy it was saved to
r.settle()  # hello, then the roster in pages (a cursor in each next request)
for i in range(1, 8):
    r.key("in" if i % 2 else "out")
    r.tap(i)
    r.now += 3000
r.tap(1)  # already recorded
r.tap(card=Card(bytes(8)))  # unknown card
r.network = False
r.now += 61000
r.tap(3)
r.tick()
r.network = True
r.now += 600000
r.settle()
r.key("service")
r.tick()
print("AFTER", r.journal.unsent_count, r.journal.next_seq)
micropython.qstr_info()
"""


def _qstrs(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"n_qstr=(\d+)", text)]


def test_a_day_of_work_interns_no_qstr():
    result = shared_interpreter().run(["-X", "heapsize=32M", "-c", GUEST], timeout_s=300)
    out = result.stdout.decode(errors="replace")
    assert result.ok, (result.trap, result.stderr.decode(errors="replace")[-2000:])
    assert "AFTER 0 10" in out, out[-500:]  # the work was done: 9 punches, all delivered
    before, after = _qstrs(out)
    assert after == before, f"{after - before} qstrs interned at run time"
