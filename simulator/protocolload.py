"""The protocol benchmark's workload (MicroPython-compatible).

``dakoku bench protocol`` runs it on CPython (bytes, encode time) and inside the real MicroPython
(fuel): a terminal's client that has said hello to a receiver's server in memory, with a backlog
of offline punches as after an outage — 6-digit sequence numbers, 8-byte FeliCa IDms.
"""

from firmware.punch import FLAG_OFFLINE, KIND_CLOCK_IN, KIND_CLOCK_OUT, Punch
from protocol.client import Client, Identity, Send, Settings
from protocol.memstore import MemoryStore
from protocol.server import Server

EPOCH = 1795000000
SECRET = b"0123456789abcdef0123456789abcdef"
CARD = bytes([1, 46, 76, 210, 163, 180, 197, 214])
FIRST_SEQ = 100000


class Backlog:
    """Unsent punches, with the interface the client reads (see protocol.client)."""

    def __init__(self):
        self.punches = []

    def unsent(self, limit=-1):
        return iter(self.punches if limit < 0 else self.punches[:limit])

    def journal_status(self):
        return {
            "next_seq": FIRST_SEQ + len(self.punches),
            "unsent": len(self.punches),
            "capacity": 129024,
        }

    def clock_state(self):
        return {"synced": True, "time": EPOCH, "boot": 3, "up": 100}


def prepare(n, boot_id=1):
    """(client, server, backlog): hello done, roster current, ``n`` punches waiting."""
    store = MemoryStore()
    store.add_tenant("ACME01")
    store.add_terminal("ACME01", "T0001", SECRET)
    server = Server(store)
    identity = Identity("ACME01", "T0001", SECRET, "0.1.0", "pit-esp32")
    client = Client(identity, Settings(), boot_id=boot_id)
    client.start(0, EPOCH, 0, 0)
    backlog = Backlog()
    hello = client.next_action(0, backlog)
    greeted = client.receive(0, server.handle(hello.data, EPOCH))
    if greeted is None or not greeted.ok:
        raise RuntimeError("hello failed: %r" % greeted)
    for i in range(n):
        kind = KIND_CLOCK_IN if i % 2 == 0 else KIND_CLOCK_OUT
        p = Punch(EPOCH + 37 * i, kind, 1, CARD, True, 540, 3, FLAG_OFFLINE, FIRST_SEQ + i)
        backlog.punches.append(p)
    return client, server, backlog


def encode(client, backlog, n):
    """The client builds the request for the backlog: one batch of ``n`` punches."""
    send = client.next_action(0, backlog)
    if not isinstance(send, Send) or len(send.seqs) != n:
        raise RuntimeError("expected a batch of %d punches, got %r" % (n, send))
    return send


def serve(server, send):
    """The server answers the batch (stores every punch)."""
    answer = server.handle(send.data, EPOCH)
    if not answer.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError("receiver refused the batch: %r" % answer[:120])
    return answer
