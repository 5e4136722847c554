"""A client and a server wired in memory, the server doing what the spec allows (issue 15).

``ProtocolMachine`` is a hypothesis rule-based state machine: its rules tap punches, let time
pass, and make the receiver do something legal but unusual — lose or delay answers, answer 429
or 503 with ``Retry-After``, fail with 500, put a proxy in between (502, 503, 504, 413), step
its clock, change its limits between hellos, refuse a poison record, change the roster during a
fetch, send commands (odd ones too), keep the event log's ``high`` where it is — and forge an
answer now and then (a hostile path). Every exchange is checked for safety:

- one request in flight (the client asks for nothing while an answer is awaited);
- no request over the limits of the last hello answer the client received;
- no request before the ``Retry-After`` of an answer the client read;
- nothing marked delivered without the receiver's own signed acknowledgement of it, nothing
  set aside but a punch the receiver refused.

``teardown`` checks liveness: the receiver turns well-behaved, and within a bounded virtual
time every punch is held (or was set aside as a poison record), every command has a result and
the terminal holds the receiver's roster, version and content.

Used by tests/protocol/test_protocol_stateful.py (a bounded run in ``make test``) and by
``dakoku bench protocol-stateful`` (more examples).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "terminal"))

from protocol_support import EPOCH, SECRET, TENANT, TERMINAL, Source, make_store  # noqa: E402

from protocol import client as C  # noqa: E402
from protocol.client import Client, Identity, Send, Settings  # noqa: E402
from protocol.codes import MALFORMED, ProtocolError  # noqa: E402
from protocol.http import encode_response  # noqa: E402
from protocol.server import Server  # noqa: E402

HOSTILE_EXCHANGES = 400  # per rule that lets time pass: more is a client that spins
LIVENESS_MS = 4 * 3600 * 1000  # the receiver well-behaved: everything arrives within this
LIVENESS_EXCHANGES = 3000


class PickyServer(Server):
    """The reference server, refusing the punches in ``bad`` as malformed (PRT-CLI-7)."""

    def __init__(self, store):
        Server.__init__(self, store)
        self.bad = set()

    def _punches(self, tenant, terminal_id, punches, now):
        # The batch arrives decoded (the receiver paces by its decoded size, issue 16).
        for i in range(len(punches)):
            if punches[i].seq in self.bad:
                field = f"punches[{i}].cred"
                raise ProtocolError(MALFORMED, field + ": refused", field)
        return Server._punches(self, tenant, terminal_id, punches, now)


def _retry_after(reply):
    head = reply.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"retry-after" and value.strip().isdigit():
            return int(value.strip())
    return None


def _body(data):
    return data.split(b"\r\n\r\n", 1)[1]


def _unsigned(reply):
    head, body = reply.split(b"\r\n\r\n", 1)
    lines = [x for x in head.split(b"\r\n") if not x.lower().startswith(b"dakoku-signature")]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class ProtocolMachine(RuleBasedStateMachine):
    @initialize()
    def boot(self):
        self.store = make_store()
        self.server = PickyServer(self.store)
        identity = Identity(TENANT, TERMINAL, SECRET, "1.2.0", "pit-esp32")
        settings = Settings(roster_page=3, log_batch=20)  # multi-page fetches and uploads
        self.client = Client(identity, settings, boot_id=7, entropy=b"stateful")
        self.source = Source()
        self.now = 0
        self.offset = 0  # the receiver's clock minus the terminal's first idea of it, seconds
        self.client.start(0, EPOCH)
        self.announced = None  # (batch, body) of the last hello answer the client took
        self.not_before = 0  # no request before this: a Retry-After the client read
        self.lose = self.late = self.forge = 0  # answers to lose, delay, forge
        self.proxy = None  # [status, retry_after or None, count]
        self.retry_after_500 = None
        self.churn = 0  # roster answers preceded by a roster change
        self.employees = 1
        for _ in range(8):  # a full fetch takes several pages of three
            self.change_roster_now(True)
        self.poisoned = set()
        self.aside = set()
        self.commands = []  # ids queued at the receiver
        self.received = []  # ids of commands in heartbeat answers the terminal took
        self.roster = {}  # the terminal's roster as the firmware would hold it: code -> cards
        self.building = {}
        self.held_version = 0
        self.log_stalled = False
        self.exchanges = 0

    # ------------------------------------------------------------------------ the loop

    def run_until(self, end_ms, budget):
        """Every exchange due until ``end_ms`` (time jumps to each Wait); at most ``budget``."""
        for _ in range(budget):
            action = self.client.next_action(self.now, self.source)
            if isinstance(action, Send):
                self.exchange(action)
                continue
            if action.until_ms is None or action.until_ms > end_ms:
                self.now = max(self.now, end_ms)
                return
            self.now = max(self.now, action.until_ms)
        raise AssertionError(f"the client spins: {budget} exchanges before {end_ms} ms")

    def server_time(self):
        return EPOCH + self.now // 1000 + self.offset

    def exchange(self, send):
        self.exchanges += 1
        # Safety: one request in flight, nothing before a Retry-After, within the limits.
        again = self.client.next_action(self.now, self.source)
        assert not isinstance(again, Send) and again.until_ms == send.deadline_ms
        assert self.now >= self.not_before, (send, self.now, self.not_before)
        if send.kind != C.HELLO:
            assert self.announced is not None, "a request before any hello"
            body = _body(send.data)
            assert len(body) <= self.announced[1], (send, self.announced)
            if send.kind == C.PUNCHES:
                assert 1 <= len(send.seqs) <= self.announced[0], (send, self.announced)
        deadline = send.deadline_ms
        genuine = False
        reply = None
        if self.proxy is not None:
            status, retry, _ = self.proxy
            headers = [("Retry-After", str(retry))] if retry is not None else []
            reply = encode_response(status, headers, b"<html>proxy</html>")
            self.proxy[2] -= 1
            if self.proxy[2] <= 0:
                self.proxy = None
        else:
            if send.kind == C.ROSTER and self.churn and b"&after=" in send.data.split(b"\r\n")[0]:
                self.churn -= 1
                self.change_roster_now(True)
            reply = self.server.handle(send.data, self.server_time())
            if self.retry_after_500 is not None and reply.startswith(b"HTTP/1.1 500"):
                head, body = reply.split(b"\r\n\r\n", 1)
                reply = head + b"\r\nRetry-After: %d\r\n\r\n" % self.retry_after_500 + body
            if self.forge and reply.startswith(b"HTTP/1.1 200"):
                self.forge -= 1
                reply = _unsigned(reply)
            else:
                genuine = True
        if self.lose:
            self.lose -= 1
            out = self.client.timed_out(deadline)
            self.now = deadline
            genuine = False
        elif self.late:
            self.late -= 1
            self.now = deadline + 1
            out = self.client.receive(self.now, reply)
            if out is None:
                out = self.client.closed(self.now)
            genuine = False
            assert out.error == C.TIMEOUT
        else:
            out = self.client.receive(self.now, reply)
            if out is None:
                out = self.client.closed(self.now)
            retry = _retry_after(reply)
            if retry is not None and not reply.startswith(b"HTTP/1.1 200"):
                self.not_before = max(self.not_before, self.now + min(retry, 86400) * 1000)
        assert out is not None and not self.client.busy
        self.check(send, out, reply, genuine)
        self.apply(out)

    def check(self, send, out, reply, genuine):
        """Safety: delivered and set aside only on the receiver's own signed word."""
        held = self.store.held(TENANT, TERMINAL)
        if out.delivered:
            assert genuine and send.kind == C.PUNCHES and reply.startswith(b"HTTP/1.1 200")
            assert set(out.delivered) <= set(send.seqs)
            assert all(seq in held for seq in out.delivered)
        for seq, _reason in out.set_aside:
            assert genuine and reply.startswith(b"HTTP/1.1 400") and seq in self.poisoned
        if send.kind == C.HELLO and out.ok:
            self.announced = (self.server.settings.batch, self.server.settings.body)
        if send.kind == C.HEARTBEAT and out.ok:
            assert genuine
            body = json.loads(_body(reply))
            self.received.extend(c["id"] for c in body.get("commands", []))

    def apply(self, out):
        """What the firmware does with an outcome."""
        for seq in out.delivered:
            if seq not in self.source.delivered:
                self.source.delivered.append(seq)
        for seq, _reason in out.set_aside:
            self.aside.add(seq)
            if seq not in self.source.delivered:
                self.source.delivered.append(seq)
            self.client.forget_set_aside(seq)
        for cmd in out.commands:
            self.client.report(cmd["id"], "ok", "")
        page = out.roster
        if page is not None:
            last = page["next"] is None
            if page["full"]:
                if page["first"]:
                    self.building = {}
                for e in page["upsert"]:
                    self.building[e["code"]] = sorted(c.hex() for c in e["cards"])
                if last:
                    self.roster = self.building
                    self.building = {}
            else:
                for e in page["upsert"]:
                    self.roster[e["code"]] = sorted(c.hex() for c in e["cards"])
                for code in page["delete"]:
                    self.roster.pop(code, None)
            if last:
                self.held_version = page["version"]
            self.client.roster_applied(self.held_version)

    # --------------------------------------------------------------------------- rules

    @rule(count=st.integers(1, 30))
    def tap(self, count):
        self.source.add(count)
        self.client.upload_now(self.now)  # what the uplink does for a stored punch

    @rule()
    def link_flap(self):
        self.client.link_down(self.now)
        self.client.link_up(self.now)

    @rule(card=st.integers(0, 3))
    def enrol(self, card):
        self.client.enrol(self.now, "E001", 1, bytes([9, card, 0, 0, 0, 0, 0, 1]))

    @rule(seconds=st.sampled_from([0, 1, 5, 30, 300, 900]))
    def wait(self, seconds):
        self.run_until(self.now + seconds * 1000, HOSTILE_EXCHANGES)

    @rule(seconds=st.sampled_from([0, 1, 30, 600]))
    def throttle(self, seconds):
        self.store.throttle_s = seconds

    @rule(seconds=st.sampled_from([60, 600, 1800]))
    def maintenance(self, seconds):
        start = self.server_time()
        self.store.windows.append({"start": start, "end": start + seconds, "notice": "m"})

    @rule()
    def maintenance_over(self):
        self.store.windows = []

    @rule(on=st.booleans(), retry=st.sampled_from([None, 5, 600]))
    def server_error(self, on, retry):
        self.store.fail = RuntimeError("database down") if on else None
        self.retry_after_500 = retry

    @rule(
        status=st.sampled_from([502, 503, 504, 413]),
        retry=st.sampled_from([None, 5, 600]),
        count=st.integers(1, 3),
    )
    def proxy_error(self, status, retry, count):
        self.proxy = [status, retry, count]

    @rule(count=st.integers(1, 3))
    def lose_answers(self, count):
        self.lose = count

    @rule(count=st.integers(1, 3))
    def late_answers(self, count):
        self.late = count

    @rule(count=st.integers(1, 2))
    def forge_answers(self, count):
        self.forge = count

    @rule(seconds=st.sampled_from([-4000, -400, 400, 1000, 3600]))
    def clock_step(self, seconds):
        self.offset += seconds

    @rule(
        batch=st.sampled_from([1, 5, 10, 37, 100]),
        body=st.sampled_from([1024, 2048, 16384]),
        page=st.sampled_from([1, 2, 200]),
    )
    def limits(self, batch, body, page):
        self.server.settings.batch = batch
        self.server.settings.body = body
        self.server.settings.roster_page = page  # fewer than the terminal asks for: legal

    @rule(pick=st.integers(0, 40))
    def poison(self, pick):
        unsent = [p.seq for p in self.source.unsent()]
        seq = unsent[pick % len(unsent)] if unsent else self.source.next_seq
        self.server.bad.add(seq)
        self.poisoned.add(seq)

    def change_roster_now(self, add):
        if add or len(self.store.employees) <= 1:
            self.employees += 1
            n = self.employees
            card = bytes([5, n & 0xFF, n >> 8, 0, 0, 0, 0, 1])
            code = f"R{n * 37 % 1000:03d}"  # codes before and after any cursor
            self.store.add_employee(TENANT, code, f"N{n}", cards=[card])
        else:
            code = sorted(key[1] for key in self.store.employees)[0]
            self.store.remove_employee(TENANT, code)

    @rule(add=st.booleans())
    def roster_change(self, add):
        self.change_roster_now(add)

    @rule(count=st.integers(1, 4))
    def roster_churn(self, count):
        """The roster changes before each of the next ``count`` pages after a first one."""
        self.churn = count

    @rule(
        op=st.sampled_from(
            ["resend", "bad_resend", "upload_log", "upload_now", "set_config", "bogus"]
        ),
        span=st.integers(0, 40),
    )
    def command(self, op, span):
        queue = self.store.pending.setdefault((TENANT, TERMINAL), [])
        if len(queue) >= 20:
            return  # the schema's maxItems for one answer (the reference stores send them all)
        cid = f"c{len(self.commands)}"
        self.commands.append(cid)
        if op == "resend":
            first = max(1, self.source.next_seq - span)
            cmd = {"id": cid, "op": "resend", "from": first, "to": first + span}
        elif op == "bad_resend":
            cmd = {"id": cid, "op": "resend", "from": span + 5, "to": 2}
        elif op == "upload_log":
            cmd = {"id": cid, "op": "upload_log", "since": 0}
        elif op == "set_config":
            cmd = {"id": cid, "op": "set_config", "config": {"version": span, "values": {}}}
        else:
            cmd = {"id": cid, "op": op}
        queue.append(cmd)

    @rule(count=st.integers(1, 60))
    def events(self, count):
        start = len(self.source.events) + 1
        for n in range(start, start + count):
            self.source.events.append({"n": n, "code": 40, "up": n, "boot": 7, "text": f"e{n}"})

    @rule(on=st.booleans())
    def log_stall(self, on):
        self.log_stalled = on
        if on:
            self.store.store_log = lambda tenant, terminal, events, now: 0
        else:
            self.store.__dict__.pop("store_log", None)

    @invariant()
    def nothing_lost(self):
        if not hasattr(self, "store"):
            return
        held = self.store.held(TENANT, TERMINAL)
        for seq in self.source.delivered:
            assert seq in held or seq in self.aside

    # ----------------------------------------------------------------------- liveness

    def teardown(self):
        if not hasattr(self, "store"):
            return
        # The receiver turns well-behaved (its clock and limits stay as they are now).
        self.store.throttle_s = 0
        self.store.windows = []
        self.store.fail = None
        self.retry_after_500 = None
        self.proxy = None
        self.lose = self.late = self.forge = self.churn = 0
        self.server.bad = set()
        self.store.__dict__.pop("store_log", None)
        start = self.now
        self.run_until(start + LIVENESS_MS, LIVENESS_EXCHANGES)
        held = self.store.held(TENANT, TERMINAL)
        assert self.source.unsent_count() == 0, "punches never delivered"
        for p in self.source.punches:
            assert p.seq in held or p.seq in self.aside, p.seq
        assert self.aside <= self.poisoned
        # Every command the terminal received has a result. (A command whose heartbeat
        # answer was lost is lost with it: the reference stores mark a command sent when
        # they answer, a receiver defect reported apart, not the client's.)
        answered = {r[2]["id"] for r in self.store.results}
        missing = [cid for cid in self.received if cid not in answered]
        assert not missing, f"commands without a result: {missing}"
        version = self.store.roster_version[TENANT]
        assert self.client.roster_version == self.held_version == version
        want = {}
        for (tenant, code), e in self.store.employees.items():
            if tenant == TENANT:
                want[code] = sorted(e["cards"])
        assert self.roster == want, "the terminal's roster is not the receiver's"
