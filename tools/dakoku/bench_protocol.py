"""``dakoku bench protocol``: wire size and cost of the upload protocol.

Bytes are whole HTTP requests (request line, headers, body; before TLS) of a 100-punch batch as
the terminal's client builds it after an outage: every punch offline-flagged, 6-digit sequence
numbers, 8-byte FeliCa IDms. Fuel is wasmtime fuel on the real MicroPython, which is
deterministic: a setup-only guest run is subtracted from the same run plus the work for N punches.
"""

from __future__ import annotations

import statistics
import time

N = 100

# Shared by both guest runs: imports, a client and a server in memory, the hello done, N punches
# in the source. MODE selects what is measured on top (0: nothing).
_GUEST = """
import gc
gc.disable()  # fuel of the work itself; also keeps the WASI GC defect out of the figures
from firmware.punch import Punch
from protocol.client import Client, Identity, Settings, Send
from protocol.memstore import MemoryStore
from protocol.server import Server
N = %(n)d
MODE = %(mode)d
EPOCH = 1795000000
CARD = bytes([1, 46, 76, 210, 163, 180, 197, 214])


class Source:
    def __init__(self):
        self.punches = []

    def unsent(self, limit=-1):
        return iter(self.punches[:limit])

    def journal_status(self):
        return {"next_seq": 100000 + len(self.punches), "unsent": len(self.punches),
                "capacity": 129024}

    def clock_state(self):
        return {"synced": True, "time": EPOCH, "boot": 3, "up": 100}


store = MemoryStore()
store.add_tenant("ACME01")
store.add_terminal("ACME01", "T0001", b"0123456789abcdef0123456789abcdef")
store.add_employee("ACME01", "E001", "A", cards=[CARD])
server = Server(store)
client = Client(Identity("ACME01", "T0001", b"0123456789abcdef0123456789abcdef"), Settings(),
                boot_id=3)
client.start(0, EPOCH)
source = Source()
hello = client.next_action(0, source)
client.receive(0, server.handle(hello.data, EPOCH))
client.roster_applied(1)
for i in range(N):
    p = Punch(EPOCH + 37 * i, 1 + i %% 2, 1, CARD, True, 540, 3, 1, 100000 + i)
    source.punches.append(p)
if MODE >= 1:
    send = client.next_action(0, source)
    assert isinstance(send, Send) and len(send.seqs) == N, send
if MODE == 2:
    answer = server.handle(send.data, EPOCH)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:80]
print("ok")
"""


def _fuel(mode: int) -> int:
    from dakoku.micropython import shared_interpreter

    code = _GUEST % {"n": N, "mode": mode}
    res = shared_interpreter().run(["-X", "heapsize=4M", "-c", code], timeout_s=120)
    if not res.ok or b"ok" not in res.stdout:
        raise RuntimeError("guest failed: " + res.stderr.decode(errors="replace"))
    return res.fuel_used


def _batch_request():
    """A 100-punch request exactly as the client sends it, and the client's time to build it."""
    from firmware.punch import FLAG_OFFLINE, KIND_CLOCK_IN, Punch
    from protocol.client import Client, Identity, Send, Settings
    from protocol.memstore import MemoryStore
    from protocol.server import Server

    card = bytes([1, 46, 76, 210, 163, 180, 197, 214])
    secret = b"0123456789abcdef0123456789abcdef"
    store = MemoryStore()
    store.add_tenant("ACME01")
    store.add_terminal("ACME01", "T0001", secret)
    server = Server(store)

    class Source:
        def __init__(self):
            self.punches = []

        def unsent(self, limit=-1):
            return iter(self.punches[:limit])

        def journal_status(self):
            return {"next_seq": 100000, "unsent": 0, "capacity": 129024}

        def clock_state(self):
            return {"synced": True, "time": 1795000000, "boot": 3, "up": 100}

    timings = []
    send = None
    for boot in range(30):
        identity = Identity("ACME01", "T0001", secret, "0.1.0", "pit-esp32")
        client = Client(identity, Settings(), boot_id=boot)
        client.start(0, 1795000000)
        source = Source()
        hello = client.next_action(0, source)
        greeted = client.receive(0, server.handle(hello.data, 1795000000))
        assert greeted is not None and greeted.ok, greeted
        source.punches = [
            Punch(1795000000 + 37 * i, KIND_CLOCK_IN, 1, card, True, 540, 3, FLAG_OFFLINE, seq)
            for i, seq in enumerate(range(100000, 100000 + N))
        ]
        t0 = time.perf_counter()
        send = client.next_action(0, source)
        timings.append(time.perf_counter() - t0)
    assert isinstance(send, Send) and len(send.seqs) == N, send
    return send.data, statistics.median(timings)


def bench_protocol() -> dict:
    data, seconds = _batch_request()
    head, body = data.split(b"\r\n\r\n", 1)
    setup = _fuel(0)
    encoded = _fuel(1)
    served = _fuel(2)
    return {
        "bytes_per_punch": round(len(data) / N, 2),
        "body_bytes_per_punch": round(len(body) / N, 2),
        "header_bytes_per_request": len(head) + 4,
        "batch_punches": N,
        "encode_us_per_punch_cpython": round(seconds * 1e6 / N, 2),
        "fuel_per_punch_encode_micropython": round((encoded - setup) / N),
        "fuel_per_punch_server_micropython": round((served - encoded) / N),
        "fuel_setup_micropython": setup,
    }
