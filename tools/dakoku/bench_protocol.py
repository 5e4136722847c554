"""``dakoku bench protocol``: wire size and cost of the upload protocol.

Bytes are whole HTTP requests (request line, headers, body; before TLS) of a 100-punch batch as
the terminal's client builds it after an outage (``simulator/protocolload.py``). Fuel is wasmtime
fuel on the real MicroPython, which is deterministic: a setup-only guest run is subtracted from
the same run plus the work for N punches.
"""

from __future__ import annotations

import statistics
import time

N = 100

# MODE 0: setup only; 1: + the client encodes the batch; 2: + the server handles it.
_GUEST = """
import gc
gc.disable()  # the work itself; also keeps the WASI interpreter's GC defect out of the figures
from simulator.protocolload import encode, prepare, serve
client, server, backlog = prepare(%(n)d)
if %(mode)d >= 1:
    send = encode(client, backlog, %(n)d)
if %(mode)d == 2:
    serve(server, send)
print("ok")
"""


def _fuel(mode: int) -> int:
    from dakoku.micropython import shared_interpreter

    code = _GUEST % {"n": N, "mode": mode}
    res = shared_interpreter().run(["-X", "heapsize=4M", "-c", code], timeout_s=120)
    if not res.ok or b"ok" not in res.stdout:
        raise RuntimeError("guest failed: " + res.stderr.decode(errors="replace"))
    return res.fuel_used


def bench_protocol() -> dict:
    from simulator.protocolload import encode, prepare

    timings = []
    data = b""
    for boot in range(30):
        client, _server, backlog = prepare(N, boot_id=boot)
        t0 = time.perf_counter()
        data = encode(client, backlog, N).data
        timings.append(time.perf_counter() - t0)
    head, body = data.split(b"\r\n\r\n", 1)
    setup = _fuel(0)
    encoded = _fuel(1)
    served = _fuel(2)
    return {
        "bytes_per_punch": round(len(data) / N, 2),
        "body_bytes_per_punch": round(len(body) / N, 2),
        "header_bytes_per_request": len(head) + 4,
        "batch_punches": N,
        "encode_us_per_punch_cpython": round(statistics.median(timings) * 1e6 / N, 2),
        "fuel_per_punch_encode_micropython": round((encoded - setup) / N),
        "fuel_per_punch_server_micropython": round((served - encoded) / N),
        "fuel_setup_micropython": setup,
    }
