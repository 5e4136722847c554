"""Registry listings of big tenants: paged queries, never one parameter per row (issue 16,
item 10).

``employee list`` passed every employee code of the tenant as a parameter of one query: 66,000
employees broke PostgreSQL (65,535 parameters at most) and 250,000 broke SQLite (the limit of
this build; 999 on builds before 3.32). The employees are generated in the database with one
statement (an import of that size is not what is tested here). ``make test`` lists the full
66,000 on PostgreSQL and 250,000 on SQLite (about 2 s each here), and terminals and tenants
beyond a page under SQLite's old limit of 999; ``dakoku bench registry`` prints the times.
"""

from __future__ import annotations

import sqlite3

import pytest
from cloud_support import CARD, TENANT

from simulator.cloud import loadgen
from simulator.cloud.store import LIST_PAGE, SqlStore
from tools.dakoku import cloud


def generate_employees(store: SqlStore, n: int) -> None:
    loadgen.generate_employees(store, TENANT, n)


def listed(url, capsys) -> list[str]:
    assert cloud.main(["--db", url, "employee", "list", TENANT]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out.splitlines()


def test_employee_list_at_66000_on_postgresql(pg_cluster, capsys):
    url = pg_cluster.new_database("scale66k")
    store = SqlStore.open(url)
    try:
        store.add_tenant(TENANT, "Acme")
        generate_employees(store, 66_000)
        store.add_employee(TENANT, "Z1", "山田", cards=[CARD])
    finally:
        store.close()
    lines = listed(url, capsys)
    assert len(lines) == 66_001
    assert lines[0].startswith("E000001 ") and lines[65_999].startswith("E066000 ")
    assert lines[-1].split()[:4] == ["Z1", "山田", "cards", CARD.hex()]


def test_employee_list_at_250000_on_sqlite(tmp_path, capsys):
    url = str(tmp_path / "big.db")
    store = SqlStore.open(url)
    try:
        store.add_tenant(TENANT, "Acme")
        generate_employees(store, 250_000)
        store.add_employee(TENANT, "Z1", "山田", cards=[CARD])
    finally:
        store.close()
    lines = listed(url, capsys)
    assert len(lines) == 250_001 and lines[249_999].startswith("E250000 ")
    assert lines[-1].split()[:4] == ["Z1", "山田", "cards", CARD.hex()]


def test_listings_beyond_sqlites_old_parameter_limit(tmp_path, capsys, monkeypatch):
    """SQLite with the limit of builds before 3.32 (999 parameters): employees, terminals and
    tenants beyond a page of each."""
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    url = str(tmp_path / "old.db")
    store = SqlStore.open(url)
    try:
        store.add_tenant(TENANT, "Acme")
        generate_employees(store, 3000)
        with store.db.transaction() as tx:  # one commit, not a thousand
            n = range(LIST_PAGE + 3)
            tx.many(
                "INSERT INTO terminals (tenant, id, secret) VALUES (?, ?, ?)",
                [(TENANT, "T%04d" % i, b"k" * 16) for i in n],
            )
            tx.many("INSERT INTO tenants (code) VALUES (?)", [("X%04d" % i,) for i in n])
    finally:
        store.close()
    lines = listed(url, capsys)
    assert len(lines) == 3000 and lines[2999].startswith("E003000 ")
    assert cloud.main(["--db", url, "terminal", "list", TENANT]) == 0
    assert len(capsys.readouterr().out.splitlines()) == LIST_PAGE + 3
    assert cloud.main(["--db", url, "tenant", "list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == LIST_PAGE + 4


@pytest.mark.parametrize("page", [1, 2, 7])
def test_pages_join_up_without_gaps_or_repeats(tmp_path, page):
    store = SqlStore.open(str(tmp_path / "p.db"))
    try:
        store.add_tenant(TENANT)
        generate_employees(store, 15)
        codes = [e["code"] for e in store.iter_employees(TENANT, page=page)]
        assert codes == ["E%06d" % i for i in range(1, 16)]
        for i in range(5):
            store.add_terminal(TENANT, "T%d" % i, b"k" * 16)
        assert [t["id"] for t in store.iter_terminals(TENANT, page=page)] == [
            "T%d" % i for i in range(5)
        ]
        for _ in range(9):
            store.queue_command(TENANT, "T0", {"op": "upload_now"})
        numbers = [r[0] for r in store.iter_command_log(TENANT, "T0", page=page)]
        assert numbers == list(range(1, 10))
    finally:
        store.close()
