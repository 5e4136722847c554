"""The receiver's store, the same tests on SQLite and on PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from cloud_support import CARD, EPOCH, SECRET, TENANT, TERMINAL, punch

from protocol import messages
from protocol.codes import ACCEPTED, CONFLICT, NOT_REGISTERED
from protocol.server import Server
from simulator.cloud.store import RegistryError, SqlStore


def punches(*seqs, card=CARD, t=EPOCH):
    body = messages.dumps({"punches": [punch(s, card, t + s) for s in seqs]})
    return messages.decode_batch(body, 100)


def rows(ps, code=ACCEPTED):
    return [(p, code) for p in ps]


def test_batch_is_stored_and_a_resend_gets_the_original_codes(store):
    first = store.store_punches(TENANT, TERMINAL, rows(punches(1, 2, 3), NOT_REGISTERED), EPOCH)
    assert first == [(1, 7, False), (2, 7, False), (3, 7, False)]
    again = store.store_punches(TENANT, TERMINAL, rows(punches(2, 3, 4)), EPOCH + 60)
    # 2 and 3 keep their original code (7), though the resend was judged 0 this time.
    assert again == [(2, 7, True), (3, 7, True), (4, 0, False)]
    assert store.held(TENANT, TERMINAL) == {1: 7, 2: 7, 3: 7, 4: 0}
    assert store.high_seq(TENANT, TERMINAL) == 4


def test_a_different_punch_under_a_held_number_is_kept_aside(store):
    store.store_punches(TENANT, TERMINAL, rows(punches(5)), EPOCH)
    other = punches(5, t=EPOCH + 999)
    assert store.store_punches(TENANT, TERMINAL, rows(other), EPOCH) == [(5, CONFLICT, True)]
    flagged, conflicts = store.flagged(TENANT)
    assert flagged == []
    assert [(c[0], c[1], json.loads(c[2])["t"]) for c in conflicts] == [(TERMINAL, 5, EPOCH + 1004)]
    assert store.held(TENANT, TERMINAL) == {5: 0}  # the original stands


def test_sequence_numbers_are_per_terminal(store):
    store.add_terminal(TENANT, "T0002", SECRET)
    store.store_punches(TENANT, TERMINAL, rows(punches(1)), EPOCH)
    assert store.store_punches(TENANT, "T0002", rows(punches(1)), EPOCH) == [(1, 0, False)]


def test_a_failing_batch_stores_nothing(store, monkeypatch):
    """The punches are inserted, then the transaction fails: none of them is kept."""
    real = store.db.transaction

    @contextmanager
    def failing():
        with real() as tx:
            insert = tx.many

            def many(sql, seq):
                insert(sql, seq)
                if "INTO conflicts" in sql:
                    assert store_count(tx) == 3  # the batch is in, uncommitted
                    raise RuntimeError("disk full")

            tx.many = many
            yield tx

    def store_count(tx):
        return tx.one("SELECT COUNT(*) FROM punches")[0]

    monkeypatch.setattr(store.db, "transaction", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        store.store_punches(TENANT, TERMINAL, rows(punches(1, 2, 3)), EPOCH)
    monkeypatch.undo()
    assert store.held(TENANT, TERMINAL) == {}


def test_data_survives_closing_and_reopening(engine_url, store):
    store.store_punches(TENANT, TERMINAL, rows(punches(1, 2)), EPOCH)
    again = SqlStore.open(engine_url)
    try:
        assert again.held(TENANT, TERMINAL) == {1: 0, 2: 0}
        assert again.terminal(TENANT, TERMINAL) == {"secret": SECRET, "enabled": True}
    finally:
        again.close()


def test_nonces_are_single_use_within_the_window(store):
    assert store.use_nonce(TENANT, TERMINAL, "n1", EPOCH, 600)
    assert not store.use_nonce(TENANT, TERMINAL, "n1", EPOCH + 600, 600)
    assert store.use_nonce(TENANT, "T0002", "n1", EPOCH, 600)  # another terminal's
    assert store.use_nonce(TENANT, TERMINAL, "n1", EPOCH + 601, 600)  # long after


def test_tenants_and_terminals(store):
    assert store.tenant(TENANT) == {"enabled": True}
    assert store.tenant("NOPE") is None
    store.set_terminal_enabled(TENANT, TERMINAL, False)
    assert store.terminal(TENANT, TERMINAL)["enabled"] is False
    assert store.terminal(TENANT, "T9") is None
    with pytest.raises(RegistryError, match="already exists"):
        store.add_terminal(TENANT, TERMINAL)
    with pytest.raises(RegistryError, match="no tenant"):
        store.add_terminal("NOPE", "T1")
    secret = store.add_terminal(TENANT, "T0003")
    assert len(secret) == 16 and store.terminal(TENANT, "T0003")["secret"] == secret
    with pytest.raises(RegistryError, match="at least 16"):
        store.add_terminal(TENANT, "T0004", b"short")
    with pytest.raises(RegistryError, match="letters, digits"):
        store.add_terminal(TENANT, "T 5")


def test_duplicate_employee_codes_are_refused_lnk01(store):
    store.add_employee(TENANT, "E1", "山田", cards=[CARD])
    with pytest.raises(RegistryError, match=r"E1 already exists.*LNK-01"):
        store.add_employee(TENANT, "E1", "別人")
    with pytest.raises(RegistryError, match="line 3: employee code E2 is already used by line 2"):
        store.add_employees(
            TENANT,
            [{"code": "E2", "name": "a"}, {"code": "E2", "name": "b"}],
            ["line 2", "line 3"],
        )
    with pytest.raises(RegistryError, match="already belongs to employee E1"):
        store.add_employee(TENANT, "E3", "c", cards=[CARD])
    # Nothing of the refused imports was stored.
    assert [e["code"] for e in store.employees(TENANT)] == ["E1"]


def test_an_import_is_all_or_nothing(store):
    with pytest.raises(RegistryError, match="employee 2: card"):
        store.add_employees(TENANT, [{"code": "E1", "name": "a"}, {"code": "E2", "name": "b",
                                                                   "cards": ["zz"]}])  # fmt: skip
    assert store.employees(TENANT) == []
    assert store.roster(TENANT, 0, None, 10)["version"] == 0


def test_known_credentials_card_finger_and_card_then_finger(store):
    store.add_employee(TENANT, "E1", "a", cards=[CARD], fingers=[300])
    store.add_tenant("OTHER")
    other_card = bytes(8)
    store.add_employee("OTHER", "X1", "x", cards=[other_card])
    pairs = [(1, CARD), (2, (300).to_bytes(2, "big")), (3, CARD), (1, other_card), (2, b"\x00\x01")]
    assert store.known_credentials(TENANT, pairs) == {
        (1, CARD),
        (2, b"\x01\x2c"),
        (3, CARD),
    }


def test_a_punch_is_attributed_to_its_employee_of_that_tenant_only(store):
    store.add_employee(TENANT, "E1", "a", cards=[CARD])
    store.add_tenant("OTHER")
    store.add_terminal("OTHER", TERMINAL, SECRET)
    store.store_punches("OTHER", TERMINAL, rows(punches(1), NOT_REGISTERED), EPOCH)
    store.store_punches(TENANT, TERMINAL, rows(punches(1)), EPOCH)
    by_tenant = {t: store.punch_rows(t)[0][11] for t in (TENANT, "OTHER")}
    assert by_tenant == {TENANT: "E1", "OTHER": None}


def test_roster_full_paged_then_delta_with_deletions(store):
    for i in range(5):
        card = bytes([1, 2, 3, 4, 5, 6, 7, i])
        lang = "en" if i == 1 else ""
        store.add_employee(TENANT, "E%d" % i, "n%d" % i, cards=[card], fingers=[i],
                           lines=["残り %d h" % i], lang=lang)  # fmt: skip
    page = store.roster(TENANT, 0, None, 2)
    assert page["full"] and page["version"] == 5 and page["next"] == "E1"
    assert page["upsert"][1] == {
        "code": "E1",
        "name": "n1",
        "lang": "en",
        "cards": ["0102030405060701"],
        "fingers": [1],
        "lines": ["残り 1 h"],
    }
    codes = []
    after = None
    while True:
        page = store.roster(TENANT, 0, after, 2)
        codes += [e["code"] for e in page["upsert"]]
        after = page["next"]
        if after is None:
            break
    assert codes == ["E0", "E1", "E2", "E3", "E4"]
    store.remove_employee(TENANT, "E2")
    store.assign_card(TENANT, "E3", "0a0b0c0d0e0f1011")
    delta = store.roster(TENANT, 5, None, 10)
    assert not delta["full"] and delta["version"] == 7
    assert [e["code"] for e in delta["upsert"]] == ["E3"]
    assert delta["upsert"][0]["cards"] == ["0102030405060703", "0a0b0c0d0e0f1011"]
    assert delta["delete"] == ["E2"]
    assert store.roster(TENANT, 99, None, 10)["full"]  # a version from the future: all again
    # The card of a removed employee is nobody's now.
    assert store.known_credentials(TENANT, [(1, bytes([1, 2, 3, 4, 5, 6, 7, 2]))]) == set()


def test_roster_pages_are_valid_for_the_terminal(store):
    store.add_employee(TENANT, "E1", "山田 太郎", cards=[CARD], fingers=[7], lines=["x"])
    body = messages.dumps(store.roster(TENANT, 0, None, 10) | {"time": EPOCH})
    decoded = messages.decode_roster_reply(body)
    assert decoded["upsert"][0]["cards"] == [CARD]


def test_card_assignment_rules(store):
    store.add_employee(TENANT, "E1", "a")
    store.add_employee(TENANT, "E2", "b")
    store.assign_card(TENANT, "E1", CARD.hex())
    store.assign_card(TENANT, "E1", CARD.hex())  # again: nothing to do
    with pytest.raises(RegistryError, match="already belongs to employee E1"):
        store.assign_card(TENANT, "E2", CARD)
    with pytest.raises(RegistryError, match="8 bytes"):
        store.assign_card(TENANT, "E2", "0102")
    with pytest.raises(RegistryError, match="no employee"):
        store.assign_card(TENANT, "E9", bytes(8))


def test_maintenance_windows_announced_current_emergency_and_ended(store):
    store.add_maintenance(EPOCH + 3600, EPOCH + 7200, "upgrade")
    store.add_maintenance(EPOCH + 40 * 86400, EPOCH + 40 * 86400 + 60, "far")
    current, upcoming = store.maintenance(EPOCH)
    assert current is None
    assert upcoming == [{"start": EPOCH + 3600, "end": EPOCH + 7200, "notice": "upgrade"}]
    assert store.maintenance(EPOCH + 3600)[0]["notice"] == "upgrade"
    assert store.maintenance(EPOCH + 7200)[0] is None
    store.start_emergency(EPOCH + 100, 30, "DB failure")
    assert store.maintenance(EPOCH + 100)[0] == {
        "start": EPOCH + 100,
        "end": EPOCH + 100 + 1800,
        "notice": "DB failure",
    }
    assert store.end_maintenance(EPOCH + 200) == 1
    assert store.maintenance(EPOCH + 200)[0] is None
    with pytest.raises(RegistryError, match="ends after it starts"):
        store.add_maintenance(EPOCH, EPOCH)


def test_commands_are_sent_until_their_result_and_their_results_kept(store):
    cid = store.queue_command(TENANT, TERMINAL, {"op": "upload_now"})
    assert store.commands(TENANT, TERMINAL, [], EPOCH) == [{"op": "upload_now", "id": cid}]
    assert store.commands(TENANT, TERMINAL, [], EPOCH) == [{"op": "upload_now", "id": cid}]
    assert (
        store.commands(TENANT, TERMINAL, [{"id": cid, "status": "ok", "detail": ""}], EPOCH) == []
    )
    with store.db.transaction() as tx:
        assert tx.one("SELECT status FROM commands") == ("ok",)


def test_config_and_min_firmware_in_terminal_settings(store):
    assert store.terminal_settings(TENANT, TERMINAL) == {
        "config": None,
        "roster": 0,
        "min_offline_fw": "",
    }
    store.set_config(TENANT, TERMINAL, 3, {"double_punch_s": 90})
    store.set_min_offline_fw("0.2.0")
    settings = store.terminal_settings(TENANT, TERMINAL)
    assert settings["config"] == {"version": 3, "values": {"double_punch_s": 90}}
    assert settings["min_offline_fw"] == "0.2.0"


def test_event_log_is_idempotent_by_number(store):
    event = {"n": 1, "code": 20, "t": EPOCH, "up": 5, "boot": 1, "text": "maintenance"}
    assert store.store_log(TENANT, TERMINAL, [event, dict(event, n=2)], EPOCH) == 2
    assert store.store_log(TENANT, TERMINAL, [dict(event, text="changed")], EPOCH) == 2
    with store.db.transaction() as tx:
        assert tx.rows("SELECT n, text FROM events ORDER BY n") == [
            (1, "maintenance"),
            (2, "maintenance"),
        ]


def test_boot_anchor_from_a_synced_hello(store):
    info = {"clock": {"synced": True, "time": EPOCH + 500, "boot": 9, "up": 100}}
    store.record_state(TENANT, TERMINAL, "hello", info, EPOCH)
    unsynced = messages.decode_batch(
        messages.dumps({"punches": [{"seq": 1, "up": 40, "boot": 9, "k": 1, "m": 1,
                                     "cred": CARD.hex()}]}), 10)  # fmt: skip
    store.store_punches(TENANT, TERMINAL, rows(unsynced, 21), EPOCH)
    row = store.punch_rows(TENANT)[0]
    assert row[13] + row[3] == EPOCH + 440  # anchor (time - up) + the punch's up


def test_the_protocol_server_runs_on_this_store(store):
    """Server + store without HTTP: a hello and a batch, as the protocol tests do in memory."""
    from cloud_support import request

    store.add_employee(TENANT, "E1", "a", cards=[CARD])
    server = Server(store)
    answer = server.handle(request("POST", "/v1/punches", {"punches": [punch(1)]}), EPOCH)
    assert b" 200 " in answer.split(b"\r\n", 1)[0]
    assert store.held(TENANT, TERMINAL) == {1: 0}


def test_enrolment_from_a_terminal(store):
    """PRT-ENROL-2, PRT-ENROL-3 on the database."""
    from protocol.codes import CREDENTIAL_TAKEN, UNKNOWN_EMPLOYEE, ProtocolError

    store.add_employee(TENANT, "E1", "山田")
    store.add_employee(TENANT, "E2", "佐藤", cards=[CARD])
    done = store.enrol(TENANT, "E1", 1, bytes(range(8)), EPOCH)
    assert done == {"code": "E1", "name": "山田", "roster": 3}
    assert store.enrol(TENANT, "E1", 1, bytes(range(8)), EPOCH)["roster"] == 3  # no change
    assert store.enrol(TENANT, "E1", 2, b"\x00\x07", EPOCH)["roster"] == 4
    delta = store.roster(TENANT, 2, None, 10)
    assert delta["upsert"][0]["cards"] == [bytes(range(8)).hex()]
    assert delta["upsert"][0]["fingers"] == [7]
    with pytest.raises(ProtocolError) as e:
        store.enrol(TENANT, "E9", 1, bytes(8), EPOCH)
    assert e.value.code == UNKNOWN_EMPLOYEE
    with pytest.raises(ProtocolError) as e:
        store.enrol(TENANT, "E1", 1, CARD, EPOCH)
    assert e.value.code == CREDENTIAL_TAKEN
    assert store.roster(TENANT, 0, None, 10)["version"] == 4  # the refusals changed nothing
