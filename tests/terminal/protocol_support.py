"""A client and a server wired together in memory, under virtual time (MicroPython too).

``Source`` plays the terminal's journal; ``Wire`` carries one request at a time from a
``protocol.client.Client`` to a ``protocol.server.Server`` and can replace, cut, delay or drop
the answer, the faults of PRT-CLI-9.
"""

from firmware.punch import KIND_CLOCK_IN, METHOD_FELICA, Punch
from protocol import sign
from protocol.client import Client, Identity, Send, Settings
from protocol.http import encode_response
from protocol.memstore import MemoryStore
from protocol.server import Server
from protocol.server import Settings as ServerSettings

TENANT = "ACME01"
TERMINAL = "T0001"
SECRET = b"0123456789abcdef0123456789abcdef"
EPOCH = 1795000000  # 2026-11-18, the service's clock at virtual time 0
CARD = bytes([1, 46, 76, 210, 163, 180, 197, 214])
UNKNOWN_CARD = bytes([1, 1, 1, 1, 1, 1, 1, 1])


class Source:
    """An in-memory journal with the interface the client reads."""

    def __init__(self):
        self.punches = []
        self.delivered = []
        self.next_seq = 1
        self.capacity = 1000
        self.synced = True
        self.events = []

    def add(self, count=1, card=CARD, synced=True, time=EPOCH):
        added = []
        for i in range(count):
            p = Punch(time + i, KIND_CLOCK_IN, METHOD_FELICA, card, synced, 540, 7)
            p.seq = self.next_seq
            self.next_seq += 1
            self.punches.append(p)
            added.append(p)
        return added

    def unsent(self, limit=-1):
        given = 0
        for p in self.punches:
            if p.seq not in self.delivered:
                yield p
                given += 1
                if given == limit:
                    return

    def read(self, seq):
        for p in self.punches:
            if p.seq == seq:
                return p
        return None

    def journal_status(self):
        unsent = len([p for p in self.punches if p.seq not in self.delivered])
        return {"next_seq": self.next_seq, "unsent": unsent, "capacity": self.capacity}

    def clock_state(self):
        return {"synced": self.synced, "time": EPOCH, "boot": 7, "up": 100}

    def log_events(self, after, limit):
        return [e for e in self.events if e["n"] > after][:limit]

    def unsent_count(self):
        return self.journal_status()["unsent"]


def signed_answer(request, body, status=200, secret=SECRET):
    """An answer to ``request`` with ``body``, signed as the receiver would sign it."""
    nonce = request.split(b"Dakoku-Nonce: ")[1].split(b"\r\n")[0].decode()
    signature = sign.sign(secret, sign.response_string(status, nonce, body))
    return encode_response(status, [("Dakoku-Signature", signature)], body)


class PickyServer(Server):
    """A receiver that keeps calling the punch with sequence number ``bad`` malformed, naming
    its index in the batch (``indexed``) or only "punches"."""

    def __init__(self, store, bad, indexed=True, settings=None):
        Server.__init__(self, store, settings)
        self.bad = bad
        self.indexed = indexed

    def _punches(self, tenant, terminal_id, punches, now):
        from protocol.codes import MALFORMED, ProtocolError

        for i in range(len(punches)):
            if punches[i].seq == self.bad:
                field = "punches[%d].cred" % i if self.indexed else "punches"
                raise ProtocolError(MALFORMED, field + ": refused", field)
        return Server._punches(self, tenant, terminal_id, punches, now)


def make_store():
    store = MemoryStore()
    store.add_tenant(TENANT)
    store.add_terminal(TENANT, TERMINAL, SECRET)
    store.add_employee(TENANT, "E001", "山田 太郎", cards=[CARD], lines=["残業残り 40 h"])
    return store


class Wire:
    """Runs exchanges between a client and a server; ``now`` is virtual milliseconds."""

    def __init__(self, store=None, settings=None, secret=SECRET, clock_epoch=EPOCH, **server_kw):
        self.store = store if store is not None else make_store()
        self.server = Server(self.store, ServerSettings(**server_kw))
        identity = Identity(TENANT, TERMINAL, secret, "1.2.0", "pit-esp32")
        self.client = Client(identity, settings or Settings(), boot_id=7)
        self.source = Source()
        self.now = 0
        self.outcomes = []
        self.sent = []
        self.client.start(0, clock_epoch)
        self.apply_roster = True  # confirm roster pages as the firmware would
        self.fault = None  # a function (request bytes, answer bytes) -> answer bytes or None

    def server_time(self):
        return EPOCH + self.now // 1000

    def step(self):
        """The next exchange, advancing virtual time to it; None if nothing is due."""
        action = self.client.next_action(self.now, self.source)
        if not isinstance(action, Send):
            if action.until_ms is None:
                return None
            self.now = max(self.now, action.until_ms)
            action = self.client.next_action(self.now, self.source)
            if not isinstance(action, Send):
                return None
        return self.exchange(action)

    def settle(self, max_steps=50):
        """Every exchange due now, without advancing time; returns how many ran."""
        for n in range(max_steps):
            action = self.client.next_action(self.now, self.source)
            if not isinstance(action, Send):
                return n
            self.exchange(action)
        return max_steps

    def exchange(self, action):
        self.sent.append(action)
        answer = self.server.handle(action.data, self.server_time())
        if self.fault is not None:
            answer = self.fault(action.data, answer)
        if answer is None:
            out = self.client.timed_out(action.deadline_ms)
            self.now = action.deadline_ms
        else:
            out = self.client.receive(self.now, answer)
            if out is None:
                out = self.client.closed(self.now)
        self.apply(out)
        return out

    def apply(self, out):
        """What the firmware does with an outcome: mark acknowledged punches delivered."""
        self.outcomes.append(out)
        for seq in out.delivered:
            if seq not in self.delivered_list():
                self.source.delivered.append(seq)
        if self.apply_roster and out.roster is not None:  # every page "applied" at once
            last = out.roster["next"] is None
            held = out.roster["version"] if last else self.client.roster_version
            self.client.roster_applied(held)
        for seq, _reason in out.set_aside:
            self.source.delivered.append(seq)
            self.client.forget_set_aside(seq)

    def delivered_list(self):
        return self.source.delivered

    def run(self, max_steps=50, until=None):
        """Step until ``until()`` is true (or the queue is empty), at most ``max_steps``."""
        for _ in range(max_steps):
            if until is not None and until():
                return True
            if until is None and self.source.unsent_count() == 0 and self.outcomes:
                return True
            self.step()
        return False
