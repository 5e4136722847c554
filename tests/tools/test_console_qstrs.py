"""The service console interns no qstr while it answers (MicroPython only).

tests/tools/test_runtime_qstrs.py explains why a qstr interned at run time matters (a new pool,
about 9 KB, whenever the last one fills). This runs a session of every console command, with
a login, configuration changes, garbage and an over-long line, on the real loop in the guest
(tests/terminal/console_support.py) and compares the qstr count before and after.
"""

import re

from dakoku.micropython import shared_interpreter

GUEST = """
import sys
sys.path.append("/repo/tests/terminal")
import micropython
from console_support import Desk, PIN
d = Desk()
d.settle()
d.ask("version")
print("BEFORE")
micropython.qstr_info()
lines = ["help", "status", "screen", "journal", "log all", "config get", "config get language",
         "roster", "roster 0123456789abcdef", "version", "login 1111", "login " + PIN,
         "config set language en", "config set kind_schedule [[6,0,1]]",
         "config set double_punch_s x", "config set service_pin 97531", "logout", "nope",
         "x" * 250, "card 0123456789abcdef", "finger a few 300", "key 1", "key toaster",
         "net down", "net up", "enrol 1 a", "lift", "", "a b c d e f", "STATUS", "journal 1"]
answered = 0
for line in lines:
    d.send(line + "\\r\\n")
    d.turns(12)
    answered += len([x for x in d.output() if x == "ok" or x[:4] == "ok: " or x[:7] == "error: "])
d.send(b"\\xff\\xfe\\x00abc\\n\\x1b[A\\n")
d.turns(4)
print("ANSWERED", answered + len(d.output()))
micropython.qstr_info()
"""


def _qstrs(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"n_qstr=(\d+)", text)]


def test_a_console_session_interns_no_qstr():
    result = shared_interpreter().run(["-X", "heapsize=32M", "-c", GUEST], timeout_s=300)
    out = result.stdout.decode(errors="replace")
    assert result.ok, (result.trap, result.stderr.decode(errors="replace")[-2000:])
    assert "ANSWERED 33" in out, out[-500:]  # every line had its one final line
    before, after = _qstrs(out)
    assert after == before, f"{after - before} qstrs interned at run time"
