"""``dakoku bench receiver``: ingest rate of the reference receiver, and the resend storm.

Three processes on 127.0.0.1: this one (it prepares the database and checks it afterwards), the
receiver (``dakoku cloud serve``) and the load generator (``python -m simulator.cloud.loadgen``).

- ``ingest_punches_per_s_sqlite`` / ``_postgres``: 100-punch batches over HTTP, kept-alive
  connections, signed requests prepared before the clock starts.
- ``raw_insert_punches_per_s_sqlite``: the same rows inserted directly into the same schema, one
  durable transaction per 100 (WAL, synchronous=FULL): the ceiling the HTTP path is held against.
- ``storm``: 2,000 terminals x 200 punches released together against a receiver with a global
  ingest budget; ``lost`` and ``duplicated`` are counted in the database afterwards.

Both bounded: a fixed number of punches, and deadlines on every process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

INGEST_TERMINALS = 50
INGEST_PER_TERMINAL = 2000  # 100,000 punches
STORM_TERMINALS = 2000
STORM_PER_TERMINAL = 200
# Punches per second the receiver admits during the storm: below what it can store (about
# 21,000/s on SQLite here), so admitted requests do not queue behind each other.
STORM_BUDGET = 15000
STORM_DEADLINE_S = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Receiver:
    def __init__(self, db: str, *extra: str, workers: int | None = None) -> None:
        self.port = _free_port()
        argv = [sys.executable, "-m", "dakoku.cli", "cloud", "--db", db, "serve",
                "--port", str(self.port), "--log-level", "warning", *extra]  # fmt: skip
        if workers:
            argv += ["--workers", str(workers)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("receiver exited: %s" % self.proc.stderr.read().decode()[-500:])
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("receiver did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _loadgen(*argv: str, timeout: float) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "simulator.cloud.loadgen", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode:
        raise RuntimeError("load generator failed: %s" % done.stderr[-800:])
    return json.loads(done.stdout)


def _prepare(url: str, terminals: int):
    from simulator.cloud.loadgen import register
    from simulator.cloud.store import SqlStore

    # Registered two days ago: the load's punches are dated yesterday, and would otherwise all
    # be flagged as taken before their terminal's registration (code 23).
    store = SqlStore.open(url, clock=lambda: int(time.time()) - 2 * 86400)
    register(store, terminals)
    store.close()


def _ingest(url: str, workers: int | None = None) -> dict:
    _prepare(url, INGEST_TERMINALS)
    rx = _Receiver(url, workers=workers)
    try:
        return _loadgen("ingest", "127.0.0.1", str(rx.port), "--terminals", str(INGEST_TERMINALS),
                        "--per-terminal", str(INGEST_PER_TERMINAL), "--concurrency", "8",
                        timeout=300)  # fmt: skip
    finally:
        rx.stop()


def _raw_insert(path: str) -> float:
    from simulator.cloud.db import SqliteDb
    from simulator.cloud.loadgen import card

    db = SqliteDb(path)
    now = int(time.time())
    n = INGEST_TERMINALS * INGEST_PER_TERMINAL
    rows = [
        ("BENCH1", "B%05d" % (i // INGEST_PER_TERMINAL), i % INGEST_PER_TERMINAL + 1, 1,
         now + i, 540, 1, 1, 1, card(i % 100), 0, 0, "B%05d" % (i % 100), now)
        for i in range(n)
    ]  # fmt: skip
    t0 = time.perf_counter()
    for i in range(0, n, 100):
        with db.transaction() as tx:
            tx.many(
                "INSERT INTO punches (tenant, terminal, seq, synced, t, tz, boot, kind, method, "
                "credential, flags, code, employee, received) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows[i : i + 100],
            )
    elapsed = time.perf_counter() - t0
    db.close()
    return n / elapsed


def _count(url: str) -> tuple[int, int]:
    from simulator.cloud.store import SqlStore

    store = SqlStore.open(url)
    try:
        with store.db.transaction() as tx:
            row = tx.one("SELECT COUNT(*), COUNT(DISTINCT terminal || ':' || seq) FROM punches")
    finally:
        store.close()
    assert row is not None
    return int(row[0]), int(row[1])


def _storm(url: str) -> dict:
    _prepare(url, STORM_TERMINALS)
    rx = _Receiver(url, "--ingest-budget", str(STORM_BUDGET))
    try:
        out = _loadgen("storm", "127.0.0.1", str(rx.port), "--terminals", str(STORM_TERMINALS),
                       "--per-terminal", str(STORM_PER_TERMINAL), "--deadline",
                       str(STORM_DEADLINE_S), timeout=STORM_DEADLINE_S + 120)  # fmt: skip
    finally:
        rx.stop()
    rows, distinct = _count(url)
    expected = STORM_TERMINALS * STORM_PER_TERMINAL
    out["ingest_budget_per_s"] = STORM_BUDGET
    out["held"] = distinct
    out["lost"] = expected - distinct
    out["duplicated"] = rows - distinct
    return out


def bench_receiver(postgres: bool = True) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="dakoku-bench-") as tmp:
        ingest = _ingest(os.path.join(tmp, "ingest.db"))
        out["ingest_punches_per_s_sqlite"] = ingest["punches_per_s"]
        out["ingest_sqlite"] = ingest
        out["raw_insert_punches_per_s_sqlite"] = round(_raw_insert(os.path.join(tmp, "raw.db")))
        if postgres:
            from simulator.cloud.pgcluster import Cluster, Unavailable

            try:
                cluster = Cluster().start()
            except Unavailable as e:
                out["ingest_punches_per_s_postgres"] = None
                out["postgres_unavailable"] = str(e)
            else:
                try:
                    pg = _ingest(cluster.new_database("bench_ingest"), workers=4)
                    out["ingest_punches_per_s_postgres"] = pg["punches_per_s"]
                    out["ingest_postgres"] = pg
                finally:
                    cluster.stop()
        out["storm"] = _storm(os.path.join(tmp, "storm.db"))
    return out


def _list_employees(url: str, n: int) -> dict:
    """``dakoku cloud employee list`` of a generated tenant of ``n`` employees."""
    import contextlib
    import io

    from dakoku import cloud
    from simulator.cloud.loadgen import TENANT, generate_employees
    from simulator.cloud.store import SqlStore

    store = SqlStore.open(url)
    try:
        store.add_tenant(TENANT)
        generate_employees(store, TENANT, n)
    finally:
        store.close()
    sink = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sink):
        status = cloud.main(["--db", url, "employee", "list", TENANT])
    seconds = time.perf_counter() - t0
    lines = sink.getvalue().count("\n")
    return {"employees": n, "listed": lines, "status": status, "seconds": round(seconds, 2)}


def bench_registry(postgres: bool = True) -> dict:
    """Listings of big tenants: 250,000 employees on SQLite, 66,000 on PostgreSQL (beyond each
    engine's parameter limit: the listing must page)."""
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="dakoku-bench-") as tmp:
        out["sqlite_250k"] = _list_employees(os.path.join(tmp, "registry.db"), 250_000)
    if postgres:
        from simulator.cloud.pgcluster import Cluster, Unavailable

        try:
            cluster = Cluster().start()
        except Unavailable as e:
            out["postgres_unavailable"] = str(e)
        else:
            try:
                out["postgres_66k"] = _list_employees(cluster.new_database("registry"), 66_000)
            finally:
                cluster.stop()
    return out
