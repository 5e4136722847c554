"""Commands for terminals: delivered at least once until their result arrives, results counted
once per command ID, ``set_time`` taken when the answer is sent (issue 16, items 5 and 6).

Every test runs on the in-memory reference store and on SqlStore over SQLite and PostgreSQL,
through the sans-IO server with signed requests (the same bytes a terminal sends)."""

from __future__ import annotations

import itertools
import json

import pytest
from cloud_support import EPOCH, SECRET, TENANT, TERMINAL, request
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from protocol.memstore import MemoryStore
from protocol.server import COMMANDS_MAX, Server
from simulator.cloud.store import SqlStore

_names = itertools.count(1)
STATE = {"journal": {"next": 1, "unsent": 0, "cap": 100}}


class Memory:
    """MemoryStore with the registry calls the tests need."""

    def __init__(self):
        self.store = MemoryStore()
        self.store.add_tenant(TENANT)
        self.store.add_terminal(TENANT, TERMINAL, SECRET)
        self._n = 0

    def queue(self, command):
        self._n += 1
        cid = "m%d" % self._n
        self.store.pending.setdefault((TENANT, TERMINAL), []).append(dict(command, id=cid))
        return cid

    def results(self):
        return {r[2]["id"]: (r[2]["status"], r[2]["detail"]) for r in self.store.results}


class Sql:
    def __init__(self, store: SqlStore):
        self.store = store

    def queue(self, command):
        return self.store.queue_command(TENANT, TERMINAL, command)

    def results(self):
        return {
            "c%d" % n: (status, detail)
            for n, _op, _sent, status, detail in self.store.command_log(TENANT, TERMINAL)
            if status
        }


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def stores(request, tmp_path, clock):
    if request.param == "memory":
        yield Memory()
        return
    if request.param == "sqlite":
        url = str(tmp_path / "receiver.db")
    else:
        url = request.getfixturevalue("pg_cluster").new_database("cmd%d" % next(_names))
    store = SqlStore.open(url, clock=clock)
    store.add_tenant(TENANT, "Acme")
    store.add_terminal(TENANT, TERMINAL, SECRET)
    yield Sql(store)
    store.close()


def heartbeat(server, now, results=(), boot=1):
    body = dict(STATE, clock={"synced": True, "time": now, "boot": boot, "up": 5})
    body["results"] = list(results)
    answer = server.handle(request("POST", "/v1/heartbeat", body, t=now), now)
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer[:300]
    return json.loads(payload)["commands"]


def hello(server, now, boot):
    body = dict(STATE, fw="0.1.0", board="pit", cfg=0, roster=0)
    body["clock"] = {"synced": True, "time": now, "boot": boot, "up": 5}
    answer = server.handle(request("POST", "/v1/hello", body, t=now), now)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]


def test_a_command_is_sent_again_until_its_result_arrives(stores):
    """PRT-CMD-2: the answer carrying the command is lost; the next heartbeat brings it again,
    and only its result ends it. A result repeated (its heartbeat resent) counts once."""
    server = Server(stores.store)
    cid = stores.queue({"op": "upload_now"})
    assert [c["id"] for c in heartbeat(server, EPOCH)] == [cid]  # this answer is lost
    assert [c["id"] for c in heartbeat(server, EPOCH + 300)] == [cid]
    done = {"id": cid, "status": "ok", "detail": "first"}
    assert heartbeat(server, EPOCH + 600, [done]) == []
    again = {"id": cid, "status": "failed", "detail": "second"}
    assert heartbeat(server, EPOCH + 900, [again]) == []
    assert stores.results() == {cid: ("ok", "first")}


def test_set_time_carries_the_time_of_the_answer_not_of_the_queueing(stores):
    server = Server(stores.store)
    stores.queue({"op": "set_time", "time": EPOCH})  # as the command line queued it at EPOCH
    sent = heartbeat(server, EPOCH + 600)
    assert [(c["op"], c["time"]) for c in sent] == [("set_time", EPOCH + 600)]
    sent = heartbeat(server, EPOCH + 7200)  # that answer was lost; hours later, offline since
    assert [(c["op"], c["time"]) for c in sent] == [("set_time", EPOCH + 7200)]


def test_a_reboot_is_done_when_the_terminal_says_hello_from_a_new_boot(stores):
    """The terminal reboots before it can report; its hello from the next boot is the result
    (without this rule the reboot would be sent again after every reboot)."""
    server = Server(stores.store)
    hello(server, EPOCH, boot=1)
    cid = stores.queue({"op": "reboot"})
    assert [c["op"] for c in heartbeat(server, EPOCH + 10, boot=1)] == ["reboot"]
    hello(server, EPOCH + 20, boot=1)  # a hello of the same boot (a new session) is not it
    assert [c["id"] for c in heartbeat(server, EPOCH + 30, boot=1)] == [cid]
    hello(server, EPOCH + 60, boot=2)
    assert heartbeat(server, EPOCH + 70, boot=2) == []
    assert stores.results()[cid][0] == "ok"


def test_a_heartbeat_answer_carries_at_most_the_schemas_commands(stores):
    """openapi.json HeartbeatReply.commands maxItems 20: 21 queued go out 20, then 1."""
    server = Server(stores.store)
    ids = [stores.queue({"op": "upload_now"}) for _ in range(COMMANDS_MAX + 1)]
    first = heartbeat(server, EPOCH)
    assert [c["id"] for c in first] == ids[:COMMANDS_MAX]
    results = [{"id": c, "status": "ok"} for c in ids[:COMMANDS_MAX]]
    assert [c["id"] for c in heartbeat(server, EPOCH + 300, results)] == ids[COMMANDS_MAX:]


# ---------------------------------------------------------------------- state machine


class DeliveryMachine(RuleBasedStateMachine):
    """Commands queued; heartbeats whose answers arrive or are lost; results reported, some
    twice with another status. Always: every command without a result is in the next answer
    (the oldest 20), none with a result is, and the result kept is the first reported."""

    def __init__(self):
        super().__init__()
        self.stores = Memory()  # the reference; SQLite runs the same rules below
        self.server = Server(self.stores.store)
        self.now = EPOCH
        self.queued = []  # command IDs, oldest first
        self.first = {}  # command ID -> first status reported
        self.to_report = []

    @rule()
    def queue(self):
        self.queued.append(self.stores.queue({"op": "upload_now"}))

    @rule(lost=st.booleans(), repeat=st.booleans(), status=st.sampled_from(["ok", "failed"]))
    def heartbeat(self, lost, repeat, status):
        self.now += 300
        results = [{"id": c, "status": status, "detail": ""} for c in self.to_report]
        if repeat and self.first:  # an earlier result again, as a resent heartbeat would
            again = sorted(self.first)[0]
            results.append({"id": again, "status": "rejected", "detail": "again"})
        sent = heartbeat(self.server, self.now, results)
        for r in results:
            self.first.setdefault(r["id"], r["status"])
        self.to_report = []
        waiting = [c for c in self.queued if c not in self.first]
        assert [c["id"] for c in sent] == waiting[:20]
        if not lost:
            self.to_report = [c["id"] for c in sent]

    @invariant()
    def results_are_the_first_reported(self):
        kept = {cid: status for cid, (status, _detail) in self.stores.results().items()}
        assert kept == self.first


class SqliteDeliveryMachine(DeliveryMachine):
    def __init__(self):
        import tempfile

        RuleBasedStateMachine.__init__(self)
        self._dir = tempfile.TemporaryDirectory()
        store = SqlStore.open(self._dir.name + "/m.db")
        store.add_tenant(TENANT, "Acme")
        store.add_terminal(TENANT, TERMINAL, SECRET)
        self.stores = Sql(store)
        self.server = Server(store)
        self.now = EPOCH
        self.queued, self.first, self.to_report = [], {}, []

    def teardown(self):
        self.stores.store.close()
        self._dir.cleanup()


TestDelivery = DeliveryMachine.TestCase
TestDelivery.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestSqliteDelivery = SqliteDeliveryMachine.TestCase
TestSqliteDelivery.settings = settings(max_examples=8, stateful_step_count=25, deadline=None)
