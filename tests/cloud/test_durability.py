"""What the receiver says is true: metrics count what is committed, health says whether it can
commit, and a database file swapped or cut away under it is noticed (issue 16, items 1-3)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from cloud_support import CARD, EPOCH, TENANT, punch, request, send

from simulator.cloud.service import RunningReceiver


@pytest.fixture
def rx(sqlite_store, clock):
    sqlite_store.add_employee(TENANT, "E1", "山田", cards=[CARD])
    with RunningReceiver(sqlite_store, clock=clock) as running:
        running.store = sqlite_store
        running.address = running.receiver.address
        yield running


def post_punches(rx, *seqs):
    body = {"punches": [punch(s, t=EPOCH + s) for s in seqs]}
    return send(rx.address, request("POST", "/v1/punches", body))


def metric(rx, name):
    text = send(rx.address, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "GET").body.decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(name + " missing")


def health(rx):
    return send(rx.address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "GET")


def test_punches_are_counted_only_once_their_group_commit_succeeded(rx, monkeypatch):
    """The group's COMMIT fails: the batch was answered 500 and is not on disk, so it must not
    be in dakoku_punches_ingested_total (it was: the count came at the savepoint)."""
    assert post_punches(rx, 1, 2).status == 200
    real = rx.store.db.group

    @contextmanager
    def failing_group():
        with real():
            yield
            raise OSError("commit failed")  # as if the final COMMIT had failed

    monkeypatch.setattr(rx.store.db, "group", failing_group)
    for first in (3, 5, 7):
        assert post_punches(rx, first, first + 1).status == 500
    monkeypatch.undo()
    assert metric(rx, "dakoku_punches_ingested_total") == 2
    assert post_punches(rx, 3, 4).status == 200
    assert metric(rx, "dakoku_punches_ingested_total") == 4
