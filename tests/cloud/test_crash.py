"""A receiver killed mid-load (SIGKILL) has every punch it acknowledged on disk, on SQLite.

The receiver runs as ``dakoku cloud serve`` in its own process; a client uploads batches and
remembers what was acknowledged; the process is killed without warning while requests are in
flight; the database is then opened again. Every acknowledged punch must be there (PRT-PUNCH-8:
the answer is written only after the commit), and no batch may be half there.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

from cloud_support import send

from protocol.http import HttpError
from simulator.cloud import loadgen
from simulator.cloud.store import SqlStore


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_acknowledged_punches_survive_a_kill(tmp_path):
    db = str(tmp_path / "crash.db")
    store = SqlStore.open(db)
    loadgen.register(store, 4)
    store.close()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dakoku.cli", "cloud", "--db", db, "serve", "--port", str(port),
         "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "receiver did not start"
                time.sleep(0.05)
        acked: dict[str, set[int]] = {}
        stop = threading.Event()

        def upload(i):
            name = loadgen.terminal_id(i)
            signer = loadgen.Signer(name)
            mine = acked.setdefault(name, set())
            first = 1
            while not stop.is_set() and first < 100_000:
                body = loadgen.batch_body(first, 50, int(time.time()) - 3600)
                try:
                    answer = send(("127.0.0.1", port), signer.request(body, int(time.time())))
                except (OSError, HttpError):
                    return  # the receiver is gone (killed mid-request)
                if answer.status == 200:
                    mine.update(r["seq"] for r in answer.json()["results"])
                    first += 50

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        stop.set()
        for t in threads:
            t.join(20)
    finally:
        if proc.poll() is None:
            proc.kill()
    total = sum(len(s) for s in acked.values())
    assert total >= 500, "too little was acknowledged before the kill to mean anything"
    store = SqlStore.open(db)
    try:
        for name, seqs in acked.items():
            held = set(store.held(loadgen.TENANT, name))
            assert seqs <= held, "acknowledged but lost: %s" % sorted(seqs - held)[:5]
            # Batches are whole: what is held is a run of complete 50-punch batches.
            assert len(held) % 50 == 0 and held == set(range(1, len(held) + 1))
    finally:
        store.close()
