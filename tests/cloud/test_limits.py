"""Every limit of protocol/openapi.json on what the receiver sends, each with its test (issue
16, item 4).

A terminal decodes an answer strictly: one member over its schema's limit and it refuses the
whole answer — 21 announced windows, a notice over 200 characters, 21 commands, 1,001 roster
removals each cut every terminal off (the terminal retries, is refused again, and never moves
on). So the command line refuses what the schema cannot carry, and the receiver pages or caps
what it sends. ``test_every_limit_of_an_answer_has_its_test`` walks the answers' schemas and
fails on a limit that is neither tested below nor bounded by construction (with the reason).

The answers are made by the sans-IO server over SqlStore on both engines (the ``store``
fixture), validated with jsonschema against the document itself.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pytest
from cloud_support import CARD, EPOCH, TENANT, TERMINAL, request

from protocol.memstore import MemoryStore
from protocol.server import Server, Settings
from simulator.cloud import loadgen
from tools.dakoku import cloud

DOC = json.loads((Path(__file__).parents[2] / "protocol" / "openapi.json").read_text("utf-8"))
STATE = {"journal": {"next": 1, "unsent": 0, "cap": 100}}
CLOCK = {"synced": True, "time": EPOCH, "boot": 1, "up": 5}

# Every maxItems / maxLength of a schema an answer carries: the test that drives the receiver
# past it, or why nothing can.
LIMITS = {
    "Maintenance.windows": "test_at_most_20_windows_are_announced",
    "Window.notice": "test_a_notice_over_200_characters",
    "Error.message": "test_a_notice_over_200_characters",
    "HeartbeatReply.commands": "test_at_most_20_commands_per_heartbeat",
    "RosterReply.delete": "test_more_than_1000_removals_make_a_full_roster",
    "RosterReply.upsert": "test_a_roster_page_holds_at_most_1000",
    "Employee.cards": "test_no_ninth_card_or_eleventh_finger",
    "Employee.fingers": "test_no_ninth_card_or_eleventh_finger",
    "Employee.code": "test_employee_records_within_the_schema",
    "Employee.name": "test_employee_records_within_the_schema",
    "Employee.lang": "test_employee_records_within_the_schema",
    "Employee.lines": "test_employee_records_within_the_schema",
    "Employee.lines[]": "test_employee_records_within_the_schema",
    "HelloReply.min_offline_fw": "test_command_line_numbers_and_versions",
    "EnrolReply.code": "the employee's code (Employee.code)",
    "EnrolReply.name": "the employee's name (Employee.name)",
    "RosterReply.next": "an employee's code (Employee.code)",
    "RosterReply.delete[]": "employee codes (Employee.code)",
    "Command.id": "'c' and a database row number",
    "Command.op": "one of the command line's choices",
    "Command.url": "update_firmware cannot be queued (no firmware update in this build)",
    "Command.version": "update_firmware cannot be queued",
    "Command.signature": "update_firmware cannot be queued",
    "Error.field": "field names of the decoder, all short",
}


def _schemas_of_answers():
    names, todo = set(), []
    for ops in DOC["paths"].values():
        for op in ops.values():
            for answer in op.get("responses", {}).values():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if schema:
                    todo.append(schema)
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref:
                name = ref.rsplit("/", 1)[1]
                if name not in names:
                    names.add(name)
                    todo.append(DOC["components"]["schemas"][name])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return names


def _limits():
    found = set()
    for name in _schemas_of_answers():
        for prop, spec in DOC["components"]["schemas"][name].get("properties", {}).items():
            for node, key in ((spec, prop), (spec.get("items", {}), prop + "[]")):
                for alt in [node, *node.get("oneOf", [])]:
                    if "maxItems" in alt or "maxLength" in alt:
                        found.add(name + "." + key)
    return found


def test_every_limit_of_an_answer_has_its_test():
    assert _limits() == set(LIMITS)
    names = {v for v in LIMITS.values() if v.startswith("test_")}
    missing = [n for n in names if n not in globals()]
    assert not missing


def check(schema, instance):
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/" + schema, "components": DOC["components"]}
    )
    errors = [e.message[:120] for e in validator.iter_errors(instance)]
    assert not errors, f"{schema}: {errors[:3]}"


def answer(server, method, target, body=None, now=EPOCH):
    data = server.handle(request(method, target, body, t=now), now)
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(payload)


def hello(server, now=EPOCH):
    body = dict(STATE, fw="0.1.0", board="pit", cfg=0, roster=0, clock=dict(CLOCK, time=now))
    status, reply = answer(server, "POST", "/v1/hello", body, now)
    check("HelloReply" if status == 200 else "Error", reply)
    return status, reply


def heartbeat(server, now=EPOCH):
    body = dict(STATE, clock=dict(CLOCK, time=now), results=[])
    status, reply = answer(server, "POST", "/v1/heartbeat", body, now)
    assert status == 200
    check("HeartbeatReply", reply)
    return reply


def cli(store_url, capsys, *argv):
    status = cloud.main(["--db", store_url, *argv])
    _out, err = capsys.readouterr()
    return status, err


def url_of(store):
    db = store.db
    return db.path if db.engine == "sqlite" else db.dsn


# ---------------------------------------------------------------------- maintenance


def test_at_most_20_windows_are_announced(store):
    """The receiver announces every window within 31 days: 21 (one a day) were all sent."""
    for day in range(21, 0, -1):  # added latest first: the soonest 20 go out, in order
        store.add_maintenance(EPOCH + day * 86400, EPOCH + day * 86400 + 3600, "day %d" % day)
    server = Server(store)
    windows = hello(server)[1]["maintenance"]["windows"]
    assert [w["notice"] for w in windows] == ["day %d" % d for d in range(1, 21)]
    assert len(heartbeat(server)["maintenance"]["windows"]) == 20


def test_a_notice_over_200_characters(store, capsys):
    soon = int(time.time()) + 3600  # a window still to come (one already over is refused)
    status, err = cli(url_of(store), capsys, "maintenance", "schedule", str(soon),
                      str(soon + 3600), "--notice", "x" * 201)  # fmt: skip
    assert status == 1 and "at most 200 characters" in err
    status, err = cli(url_of(store), capsys, "maintenance", "now", "--notice", "y" * 201)
    assert status == 1 and "at most 200 characters" in err
    assert store.maintenance_windows() == []
    # One already in the database (written before this check existed) is cut, not sent whole.
    with store.db.transaction() as tx:
        tx.execute(
            "INSERT INTO maintenance (start_t, end_t, notice, emergency) VALUES (?, ?, ?, 0)",
            (EPOCH + 60, EPOCH + 600, "点検" * 150),
        )
    store._maint_cache = None
    server = Server(store)
    notice = hello(server)[1]["maintenance"]["windows"][0]["notice"]
    assert notice == ("点検" * 150)[:200]
    status, reply = hello(server, EPOCH + 120)  # inside the window: the 503's message
    assert status == 503 and reply["message"] == ("点検" * 150)[:200]


# ---------------------------------------------------------------------- commands


def test_at_most_20_commands_per_heartbeat(store, capsys):
    for _ in range(21):
        assert (
            cli(url_of(store), capsys, "terminal", "command", TENANT, TERMINAL, "upload_now")[0]
            == 0
        )
    server = Server(store)
    assert len(heartbeat(server)["commands"]) == 20


# ---------------------------------------------------------------------- roster


def _remove_generated(store, n):
    """``n`` removals in one roster version (as many single removals would make)."""
    with store.db.transaction() as tx:
        version = store._bump(tx, TENANT)
        tx.many(
            "INSERT INTO deleted_employees (tenant, code, version) VALUES (?, ?, ?)",
            [(TENANT, "R%05d" % i, version) for i in range(n)],
        )
    return version


@pytest.mark.parametrize("removed, full", [(1000, False), (1001, True)])
def test_more_than_1000_removals_make_a_full_roster(store, removed, full):
    """A delta of 1,001 removals does not fit a page (the terminal refused it and never moved
    on): the receiver answers the whole roster instead, which says every removal too."""
    store.add_employee(TENANT, "E1", "山田", cards=[CARD])
    since = store.tenant_info(TENANT)["roster_version"]
    version = _remove_generated(store, removed)
    status, page = answer(Server(store), "GET", "/v1/roster?since=%d&limit=5" % since)
    assert status == 200
    check("RosterReply", page)
    assert page["version"] == version and page["full"] is full
    if full:
        assert [e["code"] for e in page["upsert"]] == ["E1"] and page["delete"] == []
    else:
        assert len(page["delete"]) == 1000 and page["upsert"] == []


@pytest.mark.parametrize("removed, full", [(1000, False), (1001, True)])
def test_more_than_1000_removals_make_a_full_roster_in_memory(removed, full):
    """The same rule in the in-memory reference store."""
    store = MemoryStore()
    store.add_tenant(TENANT)
    store.add_employee(TENANT, "E1", "山田", cards=[CARD])
    for i in range(removed):
        store.add_employee(TENANT, "R%05d" % i, "x")
    since = store.roster_version[TENANT]
    for i in range(removed):
        store.remove_employee(TENANT, "R%05d" % i)
    page = store.roster(TENANT, since, None, 5)
    assert page["full"] is full and len(page["delete"]) == (0 if full else removed)


def test_a_roster_page_holds_at_most_1000(store):
    loadgen.generate_employees(store, TENANT, 1001)
    server = Server(store, Settings(roster_page=5000))  # a receiver configured too generously
    status, page = answer(server, "GET", "/v1/roster?since=0")
    assert status == 200
    check("RosterReply", page)
    assert len(page["upsert"]) == 1000 and page["next"] == "E001000"


def test_no_ninth_card_or_eleventh_finger(store, capsys):
    cards = [bytes([9, 0, 0, 0, 0, 0, 0, i]) for i in range(8)]
    store.add_employee(TENANT, "E1", "山田", cards=cards, fingers=list(range(10)))
    status, err = cli(url_of(store), capsys, "card", "assign", TENANT, "E1", "0900000000000009")
    assert status == 1 and "has 8 cards" in err
    server = Server(store)
    for m, cred in ((1, "0900000000000009"), (2, "0063")):
        status, reply = answer(server, "POST", "/v1/enrol", {"code": "E1", "m": m, "cred": cred})
        assert (status, reply["code"], reply["field"]) == (400, 1, "cred")
        check("Error", reply)
    status, page = answer(server, "GET", "/v1/roster?since=0")
    check("RosterReply", page)
    assert len(page["upsert"][0]["cards"]) == 8 and len(page["upsert"][0]["fingers"]) == 10


def test_employee_records_within_the_schema(store):
    from simulator.cloud.store import RegistryError

    for bad, message in [
        ({"code": "E" * 33}, "1-32 characters"),
        ({"name": "名" * 65}, "1-64 characters"),
        ({"lang": "klingon"}, "ja or en"),
        ({"lines": ["a"] * 5}, "at most 4 display lines"),
        ({"lines": ["a" * 65]}, "of 64 characters"),
        ({"cards": ["%016x" % i for i in range(9)]}, "at most 8 cards"),
        ({"fingers": list(range(11))}, "10 finger templates"),
    ]:
        employee = dict({"code": "E1", "name": "山田"}, **bad)
        with pytest.raises(RegistryError, match=message):
            store.add_employees(TENANT, [employee])
    assert store.employees(TENANT) == []


def test_command_line_numbers_and_versions(store, capsys):
    from simulator.cloud.store import RegistryError

    db = url_of(store)
    big = str(2**31)
    for argv, message in [
        (["terminal", "command", TENANT, TERMINAL, "resend", "1", big], "at most 2147483647"),
        (["terminal", "command", TENANT, TERMINAL, "upload_log", big], "at most 2147483647"),
        (["terminal", "config", TENANT, TERMINAL, big, "{}"], "version: 0..2147483647"),
        (["maintenance", "schedule", str(EPOCH), str(2**32)], "32-bit seconds"),
    ]:
        status, err = cli(db, capsys, *argv)
        assert status == 1 and message in err, (argv, err)
    assert store.command_log(TENANT, TERMINAL) == [] and store.maintenance_windows() == []
    with pytest.raises(RegistryError, match="at most 32 characters"):
        store.set_min_offline_fw("1." * 17)
