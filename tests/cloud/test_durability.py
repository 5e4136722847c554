"""What the receiver says is true: metrics count what is committed, health says whether it can
commit, and a database file swapped or cut away under it is noticed (issue 16, items 1-3)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import contextmanager

import pytest
from cloud_support import CARD, EPOCH, TENANT, punch, request, send, serving

from simulator.cloud import loadgen
from simulator.cloud.service import RunningReceiver
from simulator.cloud.store import SqlStore


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


# ---------------------------------------------------------------------- the file under serve


def _upload(address, signer, first, count=50):
    body = loadgen.batch_body(first, count, int(time.time()) - 3600)
    return send(address, signer.request(body, int(time.time())))


def test_a_deleted_wal_stops_acknowledgements_and_keeps_what_was_acknowledged(tmp_path):
    """The issue's case: 550 punches acknowledged, the -wal deleted under a running serve, kill
    -9. Before, SQLite went on writing to the unlinked WAL, answered 200, health said ok, and
    everything was gone after the kill. Now: 503 from the deletion on, health 503, and the 550
    acknowledged punches are in the database file (checkpointed from the open WAL)."""
    db = str(tmp_path / "wal.db")
    store = SqlStore.open(db)
    loadgen.register(store, 1)
    store.close()
    name = loadgen.terminal_id(0)
    signer = loadgen.Signer(name)
    acked = set()
    with serving(db) as (address, _proc):
        for first in range(1, 551, 50):
            answer = _upload(address, signer, first)
            assert answer.status == 200
            acked.update(r["seq"] for r in answer.json()["results"])
        os.unlink(db + "-wal")
        for first in (551, 601):
            answer = _upload(address, signer, first)
            assert answer.status == 503 and answer.json()["code"] == 9
            assert answer.header("retry-after")
        health = send(address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
        assert (health.status, health.json()["status"]) == (503, "failing")
        assert "the database-wal file was deleted" in health.json()["error"]
    # killed (SIGKILL) on leaving the block
    assert len(acked) == 550
    store = SqlStore.open(db)
    try:
        assert set(store.held(loadgen.TENANT, name)) == acked
    finally:
        store.close()


def test_a_database_file_replaced_under_serve_is_noticed(rx, tmp_path):
    """An administrator restores a copy over the database (cp, then mv into place): the file at
    the path is no longer the one open. Nothing more is acknowledged (it would go to the file
    renamed away), health is 503 and says why, and the new file is left as it was put."""
    assert post_punches(rx, 1).status == 200
    path = rx.store.db.path
    shutil.copyfile(path, path + ".restored")
    os.replace(path + ".restored", path)
    answer = post_punches(rx, 2)
    assert answer.status == 503 and answer.json()["code"] == 9
    answer = health(rx)
    assert answer.status == 503 and "the database file was replaced" in answer.json()["error"]
    assert post_punches(rx, 3).status == 503  # and stays so until a restart


# ---------------------------------------------------------------------- health


def test_health_fails_while_commits_fail_though_reads_pass(store, clock, monkeypatch):
    """Both engines: every write is refused (as on a full disk), reads still answer. Uploads
    are 500, so health must be 503 (it was 200: it only ran SELECT 1); once writes pass again,
    health is 200 and uploads are stored, without a restart."""
    from simulator.cloud import db as dbmod

    store.add_employee(TENANT, "E1", "山田", cards=[CARD])
    real = dbmod.Tx.execute

    def refuse_writes(self, sql, args=()):
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
            raise OSError(28, "No space left on device")
        return real(self, sql, args)

    with RunningReceiver(store, clock=clock) as running:
        running.store, running.address = store, running.receiver.address
        assert health(running).status == 200
        monkeypatch.setattr(dbmod.Tx, "execute", refuse_writes)
        assert post_punches(running, 1).status == 500
        answer = health(running)
        assert answer.status == 503 and answer.json()["db"] == "cannot commit"
        monkeypatch.undo()
        assert health(running).status == 200
        assert post_punches(running, 1).status == 200
    assert store.held(TENANT, "T0001") == {1: 0}


@pytest.fixture
def full_disk(tmp_path):
    """A 2 MiB tmpfs (needs root; under CI its absence fails, never skips)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode:
        if os.environ.get("CI"):
            raise AssertionError("cannot mount a tmpfs: %s" % done.stderr.decode()[-200:])
        pytest.skip("mounting a tmpfs needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(directory):
    fd = os.open(os.path.join(directory, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_health_fails_on_a_really_full_disk_and_recovers(full_disk, clock):
    store = SqlStore.open(str(full_disk / "full.db"), clock=clock)
    try:
        store.add_tenant(TENANT, "Acme")
        store.add_terminal(TENANT, "T0001", b"0123456789abcdef0123456789abcdef")
        store.add_employee(TENANT, "E1", "山田", cards=[CARD])
        with RunningReceiver(store, clock=clock) as running:
            running.store, running.address = store, running.receiver.address
            assert post_punches(running, 1).status == 200
            _fill(full_disk)
            assert post_punches(running, 2).status == 500
            answer = health(running)
            assert answer.status == 503 and answer.json()["status"] == "failing"
            os.unlink(full_disk / "filler")
            assert health(running).status == 200
            assert post_punches(running, 2).status == 200
        assert store.held(TENANT, "T0001") == {1: 0, 2: 0}
    finally:
        store.close()
