"""The service console as a hypothesis rule-based state machine, on the real loop (CPython).

``tests/firmware/test_console_stateful.py`` runs it with a bounded number of examples;
``dakoku bench console-stateful`` runs many more and prints what it covered.

Random byte chunks and lines reach firmware/console.py on tests/terminal/console_support.py's
``Desk``: commands with good and bad arguments, right and wrong PINs, configuration changes valid
and not, text with control characters, binary garbage, lines far over the limit, line ends of
every kind split anywhere, hang-ups mid-line, and card taps between. After every step:

- every complete line has had exactly one final line (``ok``, ``ok: …``, ``error: …``), and an
  over-long one its one error, once the console has caught up (the line model below is the
  protocol of docs/HARDWARE.md, "Service console");
- nothing raised into the loop (a rule would fail with it);
- the configuration changed only while a login was open;
- a card tapped between punches in the same turn, whatever the console was busy with.
"""

from console_support import PIN, Desk, finals
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from firmware.config import KEYS
from firmware.terminal import Card
from simulator.door import card_of

IDM = card_of(1).hex()
LINE_MAX = 200

COMMANDS = [
    "help", "status", "screen", "journal", "journal 3", "journal 100", "journal 0", "log",
    "log 5", "log all", "log x", "config get", "config get language", "config get nope",
    "roster", "roster " + IDM, "roster zz", "version", "logout", "reboot", "lift", "net down",
    "net up", "card " + IDM, "card 0123456789abcdef 300", "card 12", "finger alice",
    "finger bob few 200", "finger nobody", "enrol 2 alice", "enrol x y", "key toaster", "",
    "   ", "STATUS", "status extra", "power", "nope",
]  # fmt: skip
# Valid changes that leave a card punching; then values that must be refused.
GOOD = [("language", "en"), ("language", "ja"), ("feedback_ms", "500"), ("ntp", "false"),
        ("keys_present", "false"), ("day_start_hour", "4"), ("clock_jump_log_s", "60")]  # fmt: skip
BAD = ["9999999", "-1", "true", '"x"', "[1, 2]", "{}", "null", "1.5", "ja en", "[[25,0,1]]"]

lines = st.one_of(
    st.sampled_from(COMMANDS),
    st.sampled_from(["login " + PIN, "login 0000", "login 1", "login"]),
    st.sampled_from(GOOD).map(lambda kv: f"config set {kv[0]} {kv[1]}"),
    st.tuples(st.sampled_from([*sorted(KEYS), "nope"]), st.sampled_from(BAD)).map(
        lambda kv: f"config set {kv[0]} {kv[1]}"
    ),
    st.text(max_size=60),
)
ends = st.sampled_from([b"\n", b"\r\n", b"\r"])


class ConsoleMachine(RuleBasedStateMachine):
    runs = {"examples": 0, "steps": 0, "lines": 0, "taps": 0, "hang_ups": 0}  # noqa: RUF012

    def __init__(self):
        super().__init__()
        self.d = Desk(values={"double_punch_s": 0})  # every tap is a punch
        self.d.settle()
        self.d.output()
        self.written = []  # every line the console wrote
        self.expected = 0  # final lines the line model expects
        self.seg = 0  # bytes of the line under way
        self.skipping = False
        self.after_cr = False
        self.config = dict(self.d.loop.config.values)
        self.taps = 0

    # ------------------------------------------------------------------- the model

    def _model(self, data):
        for b in data:
            if self.after_cr and b == 10:
                self.after_cr = False
                continue
            if b in (10, 13):
                self.after_cr = b == 13
                if not self.skipping:
                    self.expected += 1
                self.skipping = False
                self.seg = 0
                continue
            self.after_cr = False
            if self.skipping:
                continue
            if self.seg >= LINE_MAX:
                self.skipping = True
                self.expected += 1  # answered at once
                continue
            self.seg += 1

    def _step(self, data, turns):
        self.runs["steps"] += 1
        console = self.d.console
        logged_in = console._login_at >= 0
        if data is not None:
            self.d.send(data)
            self._model(data)
        self.d.turns(turns)
        out = self.d.output()
        self.written += out
        if not (logged_in or console._login_at >= 0 or "ok: logged in" in " ".join(out)):
            assert self.d.loop.config.values == self.config, out
        self.config = dict(self.d.loop.config.values)

    def _idle(self):
        c = self.d.console
        return c._more is None and c._pos >= len(c._data) and not self.d.board.inbox

    def _catch_up(self):
        for _ in range(400):
            if self._idle():
                break
            self._step(None, 1)
        assert self._idle()

    # ------------------------------------------------------------------- the rules

    @rule(line=lines, end=ends, turns=st.integers(0, 3))
    def line(self, line, end, turns):
        self._step(line.encode() + end, turns)

    @rule(data=st.binary(max_size=300), turns=st.integers(0, 3))
    def garbage(self, data, turns):
        self._step(data, turns)

    @rule(n=st.integers(LINE_MAX - 2, 700), end=st.sampled_from([b"", b"\n", b"\r\n"]))
    def long_line(self, n, end):
        self._step(b"w" * n + end, 1)

    @rule(pieces=st.lists(st.binary(max_size=8), max_size=6), line=lines, end=ends)
    def in_pieces(self, pieces, line, end):
        data = line.encode() + end
        cut = [len(p) for p in pieces]
        at = 0
        for n in cut:
            self._step(data[at : at + n], 1)
            at += n
        self._step(data[at:], 1)

    @rule(half=st.sampled_from([b"", b"config set lang", b"log al", b"\xff\xfe", b"x" * 300]))
    def hang_up(self, half):
        self._catch_up()  # the peer read its replies, typed half a line, and went
        self._step(half, 1)
        self.d.board.inbox.append(None)
        self._step(None, 2)
        self.seg = 0
        self.skipping = self.after_cr = False
        self.runs["hang_ups"] += 1

    @rule(who=st.integers(1, 5))
    def tap(self, who):
        while self.d.board.events:  # a finger placed earlier comes first (one event a turn)
            self._step(None, 1)
        seq = self.d.loop.journal.next_seq
        self.d.board.events.append(Card(card_of(who)))
        self._step(None, 1)  # the tap's own turn: the console is polled after it
        assert self.d.loop.journal.next_seq == seq + 1
        assert self.d.board.shown[1] in ("ok", "offline")
        self.taps += 1
        self.runs["taps"] += 1

    @rule()
    def catch_up(self):
        self._catch_up()

    # -------------------------------------------------------------- the invariants

    @invariant()
    def one_final_line_per_line(self):
        if self._idle():
            assert finals(self.written) == self.expected, self.written[-8:]

    def teardown(self):
        self.runs["examples"] += 1
        self.runs["lines"] += self.expected
