"""The receiver benchmark's load generator, small: a paced storm loses and doubles nothing."""

from __future__ import annotations

import asyncio

from simulator.cloud import loadgen
from simulator.cloud.pacing import Pacer
from simulator.cloud.service import RunningReceiver
from simulator.cloud.store import SqlStore


def test_small_storm_every_punch_once_and_429s_honoured(tmp_path):
    store = SqlStore.open(str(tmp_path / "storm.db"))
    loadgen.register(store, 30)
    store.pacer = Pacer(rate=2000, burst_s=0.5, jitter_s=1)
    with RunningReceiver(store) as running:
        host, port = running.receiver.address
        out = asyncio.run(loadgen.storm(host, port, 30, 100, 50, deadline_s=60))
    assert out["acknowledged"] == out["punches"] == 3000
    assert out["statuses"].get("429", 0) > 0  # the budget was hit and the terminals came back
    assert out["max_retry_after_s"] >= 1
    with store.db.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM punches") == (3000,)
    store.close()


def test_ingest_load_counts_what_was_acknowledged(tmp_path):
    store = SqlStore.open(str(tmp_path / "ingest.db"))
    loadgen.register(store, 4)
    with RunningReceiver(store) as running:
        host, port = running.receiver.address
        out = asyncio.run(loadgen.ingest(host, port, 4, 300, 100, 2))
    assert (out["punches"], out["requests"], out["errors"]) == (1200, 12, {})
    assert store.counts()["punches"] == 1200
    store.close()
