"""Fixtures of the receiver's tests: a store on each engine, and a running receiver.

``store`` is parametrised: every test that takes it runs on SQLite (a fresh file) and on
PostgreSQL (a fresh database in a throw-away cluster on 127.0.0.1, started once per session).
"""

from __future__ import annotations

import itertools
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from cloud_support import EPOCH, SECRET, TENANT, TERMINAL, Clock

from simulator.cloud import pgcluster
from simulator.cloud.store import SqlStore

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster():
    try:
        cluster = pgcluster.Cluster().start()
    except pgcluster.Unavailable as e:
        if os.environ.get("CI"):
            raise  # CI must run the PostgreSQL half, never skip it
        pytest.skip("PostgreSQL unavailable: %s" % e)
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def engine_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "receiver.db")
    cluster = request.getfixturevalue("pg_cluster")
    return cluster.new_database("t%d" % next(_names))


@pytest.fixture
def clock():
    return Clock(EPOCH)


@pytest.fixture
def store(engine_url, clock):
    s = SqlStore.open(engine_url, clock=clock)
    s.add_tenant(TENANT, "Acme")
    s.add_terminal(TENANT, TERMINAL, SECRET)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path, clock):
    s = SqlStore.open(str(tmp_path / "receiver.db"), clock=clock)
    s.add_tenant(TENANT, "Acme")
    s.add_terminal(TENANT, TERMINAL, SECRET)
    yield s
    s.close()
