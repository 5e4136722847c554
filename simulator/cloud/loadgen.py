"""Load against a running receiver, from a second process on 127.0.0.1 (``dakoku bench receiver``).

Two loads, both bounded in count and time:

- ``ingest``: ``terminals`` terminals each upload ``per_terminal`` punches in batches of
  ``batch`` over ``concurrency`` kept-alive connections, as fast as the receiver answers. The
  requests are signed before the clock starts, so the figure is the receiver's, not ours.
- ``storm``: every terminal holds ``per_terminal`` punches and all start at the same instant, as
  a fleet does when maintenance ends (MNT-04, MNG-05) — without the maintenance answer's own
  per-terminal spread, the worst case. Each terminal behaves as the firmware's client does: one
  request at a time, a new connection per request (a terminal on LTE), a 429/503 honoured with its
  ``Retry-After`` plus up to 10 % jitter (PRT-CLI-5), then the same batch again under a new nonce.
  A deadline bounds the whole run.

Run as ``python -m simulator.cloud.loadgen ingest|storm HOST PORT …``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import resource
import sys
import time

from protocol import sign
from protocol.http import HttpError, ResponseParser, encode_request

TENANT = "BENCH1"
SECRET = b"bench-secret-0123456789abcdef012"
CARD_PREFIX = bytes([1, 46, 76, 210, 0xBE])


def terminal_id(i: int) -> str:
    return "B%05d" % i


def card(i: int) -> bytes:
    return CARD_PREFIX + bytes([(i >> 8) & 0xFF, i & 0xFF, 1])


def register(store, terminals: int, employees: int = 100) -> None:
    """The bench tenant, its terminals (all with one secret) and employees with one card each."""
    store.add_tenant(TENANT, "benchmark")
    for i in range(terminals):
        store.add_terminal(TENANT, terminal_id(i), SECRET)
    store.add_employees(
        TENANT,
        [
            {"code": "B%05d" % i, "name": "bench %d" % i, "cards": [card(i)]}
            for i in range(employees)
        ],
    )


def generate_employees(store, tenant: str, n: int) -> None:
    """``n`` employees E000001… (no cards) in ``tenant``, in one statement: the registry of a
    big company for listing tests and ``dakoku bench registry`` (an import is not measured)."""
    if store.db.engine == "postgres":
        sql = (
            "INSERT INTO employees (tenant, code, name, version) SELECT ?, "
            "'E' || lpad(x::text, 6, '0'), 'Employee ' || x, 1 FROM generate_series(1, ?) x"
        )
        args: tuple = (tenant, n)
    else:
        sql = (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
            "INSERT INTO employees (tenant, code, name, version) "
            "SELECT ?, printf('E%06d', x), 'Employee ' || x, 1 FROM c"
        )
        args = (n, tenant)
    with store.db.transaction() as tx:
        tx.execute(sql, args)
        tx.execute(
            "UPDATE tenants SET roster_version = roster_version + 1 WHERE code = ?", (tenant,)
        )


def batch_body(first_seq: int, count: int, t0: int, employees: int = 100) -> bytes:
    punches = []
    for seq in range(first_seq, first_seq + count):
        punches.append(
            '{"seq":%d,"t":%d,"tz":540,"k":1,"m":1,"cred":"%s","boot":1}'
            % (seq, t0 + seq, card(seq % employees).hex())
        )
    return ('{"punches":[' + ",".join(punches) + "]}").encode()


class Signer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.n = 0

    def request(self, body: bytes, now: int) -> bytes:
        self.n += 1
        nonce = "%s%08x" % (hashlib.sha256(self.name.encode()).hexdigest()[:8], self.n)
        text = sign.request_string("POST", "/v1/punches", TENANT, self.name, now, nonce, body)
        headers = [
            ("Dakoku-Tenant", TENANT),
            ("Dakoku-Terminal", self.name),
            ("Dakoku-Time", str(now)),
            ("Dakoku-Nonce", nonce),
            ("Dakoku-Signature", sign.sign(SECRET, text)),
            ("Content-Type", "application/json"),
        ]
        return encode_request("POST", "/v1/punches", "receiver", headers, body)


async def _answer(reader: asyncio.StreamReader):
    parser = ResponseParser("POST")
    while True:
        data = await reader.read(65536)
        msg = parser.feed(data) if data else parser.eof()
        if msg is not None:
            return msg


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def ingest(host: str, port: int, terminals: int, per_terminal: int, batch: int,
                 concurrency: int) -> dict:  # fmt: skip
    now = int(time.time())
    jobs = []
    for i in range(terminals):
        signer = Signer(terminal_id(i))
        for first in range(1, per_terminal + 1, batch):
            jobs.append((signer.request(batch_body(first, batch, now - 86400), now), batch))
    queue = list(reversed(jobs))
    latencies: list[float] = []
    errors: dict[int, int] = {}
    acked = 0

    async def worker() -> None:
        nonlocal acked
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while queue:
                data, n = queue.pop()
                t0 = time.perf_counter()
                writer.write(data)
                msg = await _answer(reader)
                latencies.append(time.perf_counter() - t0)
                if msg.status == 200:
                    acked += n
                else:
                    errors[msg.status] = errors.get(msg.status, 0) + 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "punches": acked,
        "requests": len(jobs),
        "seconds": round(elapsed, 3),
        "punches_per_s": round(acked / elapsed),
        "p50_request_ms": round(_percentile(latencies, 0.5) * 1000, 2),
        "p99_request_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "errors": errors,
    }


async def storm(host: str, port: int, terminals: int, per_terminal: int, batch: int,
                deadline_s: float) -> dict:  # fmt: skip
    _raise_fd_limit()
    base = int(time.time()) - 86400
    bodies = {first: batch_body(first, batch, base) for first in range(1, per_terminal + 1, batch)}
    latencies: list[float] = []
    retry_afters: list[int] = []
    statuses: dict[int, int] = {}
    acked: dict[str, set[int]] = {}
    failures: dict[str, int] = {}
    release = asyncio.Event()
    t_release = 0.0
    finished: list[float] = []

    async def terminal(i: int) -> None:
        name = terminal_id(i)
        signer = Signer(name)
        seen = acked.setdefault(name, set())
        await release.wait()
        for _first, body in bodies.items():
            while time.perf_counter() - t_release < deadline_s:
                t0 = time.perf_counter()
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                    try:
                        writer.write(signer.request(body, int(time.time())))
                        msg = await asyncio.wait_for(_answer(reader), 30)
                    finally:
                        writer.close()
                except (TimeoutError, OSError, HttpError) as e:
                    failures[type(e).__name__] = failures.get(type(e).__name__, 0) + 1
                    await asyncio.sleep(1 + _jitter(name, signer.n))  # the client's back-off
                    continue
                latencies.append(time.perf_counter() - t0)
                statuses[msg.status] = statuses.get(msg.status, 0) + 1
                if msg.status == 200:
                    for r in json.loads(msg.body)["results"]:
                        seen.add(r["seq"])
                    break
                wait = msg.header("retry-after")
                seconds = int(wait) if wait and wait.isdigit() else 5
                retry_afters.append(seconds)
                await asyncio.sleep(seconds * (1 + 0.1 * _jitter(name, signer.n)))
        finished.append(time.perf_counter())

    tasks = [asyncio.create_task(terminal(i)) for i in range(terminals)]
    await asyncio.sleep(0.2)  # every terminal is waiting at the gate
    t_release = time.perf_counter()
    release.set()
    await asyncio.gather(*tasks)
    expected = terminals * per_terminal
    got = sum(len(s) for s in acked.values())
    return {
        "terminals": terminals,
        "punches": expected,
        "acknowledged": got,
        "drain_s": round(max(finished) - t_release, 2) if finished else None,
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "connection_failures": failures,
        "p50_request_ms": round(_percentile(latencies, 0.5) * 1000, 1),
        "p99_request_ms": round(_percentile(latencies, 0.99) * 1000, 1),
        "max_retry_after_s": max(retry_afters) if retry_afters else 0,
    }


def _jitter(name: str, n: int) -> float:
    digest = hashlib.sha256(("%s/%d" % (name, n)).encode()).digest()
    return int.from_bytes(digest[:2], "big") / 65536


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator.cloud.loadgen")
    p.add_argument("load", choices=["ingest", "storm"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--terminals", type=int, default=50)
    p.add_argument("--per-terminal", type=int, default=2000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--deadline", type=float, default=180.0)
    args = p.parse_args(argv)
    if args.load == "ingest":
        coro = ingest(args.host, args.port, args.terminals, args.per_terminal, args.batch,
                      args.concurrency)  # fmt: skip
    else:
        coro = storm(args.host, args.port, args.terminals, args.per_terminal, args.batch,
                     args.deadline)  # fmt: skip
    print(json.dumps(asyncio.run(coro)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
