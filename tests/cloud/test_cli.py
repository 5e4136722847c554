"""``dakoku cloud``: administration from the command line, CSV in and out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from cloud_support import CARD, EPOCH, TENANT
from dakoku.cli import main

from firmware.punch import KIND_UNSPECIFIED
from protocol import messages
from simulator.cloud.csvio import export_punches
from simulator.cloud.store import SqlStore


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "admin.db")


def run(db, capsys, *argv):
    status = main(["cloud", "--db", db, *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_tenant_terminal_employee_card_round(db, capsys):
    assert run(db, capsys, "tenant", "add", TENANT, "--name", "Acme")[0] == 0
    status, out, _ = run(db, capsys, "terminal", "add", TENANT, "T0001", "--label", "door")
    assert status == 0
    secret = out.strip().splitlines()[-1]
    assert len(bytes.fromhex(secret)) == 16  # shown once, here
    status, out, _ = run(db, capsys, "terminal", "list", TENANT)
    assert "T0001" in out and secret not in out  # and never again
    assert run(db, capsys, "employee", "add", TENANT, "E1", "山田 太郎", "--card", CARD.hex(),
               "--finger", "12", "--line", "残業残り 10 h")[0] == 0  # fmt: skip
    status, _, err = run(db, capsys, "employee", "add", TENANT, "E1", "二重")
    assert status == 1 and "E1 already exists" in err and "LNK-01" in err
    assert run(db, capsys, "card", "assign", TENANT, "E1", "0a0b0c0d0e0f1011")[0] == 0
    status, _, err = run(db, capsys, "card", "assign", TENANT, "E9", "0a0b0c0d0e0f1012")
    assert status == 1 and "no employee E9" in err
    status, out, _ = run(db, capsys, "employee", "list", TENANT)
    assert "012e4cd2a3b4c5d6 0a0b0c0d0e0f1011" in out and "12" in out
    store = SqlStore.open(db)
    try:
        assert store.terminal(TENANT, "T0001")["secret"].hex() == secret
    finally:
        store.close()


def test_errors_are_one_clear_line(db, capsys):
    status, _, err = run(db, capsys, "--create", "terminal", "add", "NOPE", "T1")
    assert status == 1 and err == "dakoku cloud: no tenant NOPE\n"
    status, _, err = run(db, capsys, "employee", "import", "NOPE", "/nonexistent.csv")
    assert status == 1 and "cannot read /nonexistent.csv" in err


def test_csv_import_all_or_nothing_with_line_numbers(db, capsys, tmp_path):
    run(db, capsys, "tenant", "add", TENANT)
    good = tmp_path / "good.csv"
    good.write_text(
        "code,name,cards,fingers,lang,lines\n"
        "E1,山田 太郎,012e4cd2a3b4c5d6,1,ja,残業残り 12 h\n"
        "E2,Jane Doe,0102030405060708;0102030405060709,2 3,en,\n"
        "\n",
        encoding="utf-8-sig",
    )
    status, out, _ = run(db, capsys, "employee", "import", TENANT, str(good))
    assert (status, out) == (0, "2 employees imported\n")
    dup = tmp_path / "dup.csv"
    dup.write_text("code,name\nE3,a\nE1,b\n", encoding="utf-8")
    status, _, err = run(db, capsys, "employee", "import", TENANT, str(dup))
    assert status == 1 and "line 3 (record 3): employee code E1 already exists" in err
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes("code,name\nE4,佐藤 花子\n".encode("cp932"))
    assert run(db, capsys, "employee", "import", TENANT, str(sjis))[0] == 0
    for text, message in [
        ("name\nx\n", "line 1 (record 1): the header must name the columns code and name"),
        ("code,name,shoe\nE5,x,9\n", "unknown column shoe"),
        ("code,name\nE5,x,extra\n", "line 2 (record 2): more cells"),
        ("code,name,cards\nE5,x,12345\n", "line 2 (record 2): card"),
        ("code,name,fingers\nE5,x,abc\n", "line 2 (record 2): finger template IDs are numbers"),
        ("code,name\nE 5,x\n", "line 2 (record 2): employee code"),
        ("code,name\n", "no employees in the file"),
        ("", "the file is empty"),
    ]:
        bad = tmp_path / "bad.csv"
        bad.write_text(text, encoding="utf-8")
        status, _, err = run(db, capsys, "employee", "import", TENANT, str(bad))
        assert status == 1 and message in err, (text, err)
    bad.write_bytes(b"code,name\n\x82\xff\n")
    status, _, err = run(db, capsys, "employee", "import", TENANT, str(bad))
    assert "neither UTF-8 nor Shift_JIS" in err
    status, out, _ = run(db, capsys, "employee", "list", TENANT)
    assert [line.split()[0] for line in out.splitlines()] == ["E1", "E2", "E4"]
    assert "E3" not in out  # the refused file stored nothing


def test_maintenance_commands(db, capsys):
    out = run(db, capsys, "--create", "maintenance", "schedule", "2031-01-02T22:00",
              "2031-01-02T23:30", "--notice", "upgrade")[1]  # fmt: skip
    assert out.startswith("maintenance 2031-01-02T22:00+09:00")
    assert "emergency maintenance until" in run(db, capsys, "maintenance", "now")[1]
    out = run(db, capsys, "maintenance", "list")[1]
    assert "announced upgrade" in out and "now" in out and "(emergency)" in out
    assert run(db, capsys, "maintenance", "end")[1] == "maintenance ended\n"
    assert run(db, capsys, "maintenance", "end")[1] == "no maintenance in progress\n"
    status, _, err = run(db, capsys, "maintenance", "schedule", "tomorrow", "x")
    assert status == 1 and "'tomorrow' is neither ISO 8601 nor UTC seconds" in err


def test_export_csv_fcs05_with_derived_kinds_and_placed_times(db, capsys, tmp_path):
    store = SqlStore.open(db)
    store.add_tenant(TENANT, day_start_hour=5)
    store.add_terminal(TENANT, "T0001", bytes(16))
    store.add_employee(TENANT, "E1", "山田", cards=[CARD])
    # Three unspecified punches of one working day (the last after midnight, before 05:00),
    # and one taken with an invalid clock whose boot a later hello tied to real time.
    jst8 = int(datetime(2026, 11, 20, 8, 0, tzinfo=timezone(timedelta(hours=9))).timestamp())
    items = [
        {"seq": 1, "t": jst8, "tz": 540, "k": KIND_UNSPECIFIED, "m": 1, "cred": CARD.hex()},
        {"seq": 2, "t": jst8 + 4 * 3600, "tz": 540, "k": 0, "m": 1, "cred": CARD.hex()},
        {"seq": 3, "t": jst8 + 18 * 3600, "tz": 540, "k": 0, "m": 1, "cred": CARD.hex()},
        {"seq": 4, "up": 100, "boot": 3, "k": 1, "m": 1, "cred": CARD.hex()},
        {"seq": 5, "up": 100, "boot": 4, "k": 1, "m": 1, "cred": CARD.hex()},
    ]
    ps = messages.decode_batch(messages.dumps({"punches": items}), 10)
    store.store_punches(TENANT, "T0001", [(p, 0 if p.clock_synced else 21) for p in ps], EPOCH)
    store.record_state(TENANT, "T0001", "hello",
                       {"clock": {"synced": True, "time": jst8 + 1000, "boot": 3, "up": 1000}},
                       EPOCH)  # fmt: skip
    text = export_punches(store, TENANT)
    store.close()
    rows = [line.split(",") for line in text.splitlines()]
    header = rows[0]
    col = {name: header.index(name) for name in header}
    body = rows[1:]
    assert [r[col["work_date"]] for r in body] == ["2026-11-20"] * 4 + [""]
    assert [r[col["kind_derived"]] for r in body] == [
        "clock_in", "", "clock_out", "clock_in", "clock_in"
    ]  # fmt: skip
    assert body[2][col["local_time"]] == "2026-11-21T02:00:00+09:00"
    assert (body[3][col["placed"]], body[3][col["local_time"]]) == (
        "boot",
        "2026-11-20T08:01:40+09:00",
    )
    assert (body[4][col["placed"]], body[4][col["local_time"]]) == ("unplaced", "")
    assert body[4][col["result"]] == "clock not synchronised"
    out_file = tmp_path / "out.csv"
    assert run(db, capsys, "export", TENANT, "-o", str(out_file))[0] == 0
    assert out_file.read_text(encoding="utf-8") == text
    _status, out, _ = run(db, capsys, "flagged", TENANT)
    assert out.count("code 21 (clock not synchronised)") == 2


def test_terminal_commands_and_configuration(db, capsys):
    run(db, capsys, "tenant", "add", TENANT)
    run(db, capsys, "terminal", "add", TENANT, "T0001")
    status, out, _ = run(db, capsys, "terminal", "command", TENANT, "T0001", "resend", "5", "9")
    assert status == 0 and out.startswith("queued resend as c")
    assert run(db, capsys, "terminal", "command", TENANT, "T0001", "upload_now")[0] == 0
    for bad, message in [
        (["resend", "9"], "resend takes 2 number(s)"),
        (["resend", "9", "5"], "1 <= FROM <= TO"),
        (["upload_now", "1"], "upload_now takes 0 number(s)"),
    ]:
        status, _, err = run(db, capsys, "terminal", "command", TENANT, "T0001", *bad)
        assert status == 1 and message in err
    status, _, err = run(db, capsys, "terminal", "command", TENANT, "T9", "reboot")
    assert status == 1 and "no terminal T9" in err
    assert run(db, capsys, "terminal", "config", TENANT, "T0001", "3",
               '{"double_punch_s": 90, "language": "en"}')[0] == 0  # fmt: skip
    for values, message in [
        ('{"double_punch_s": -1}', "double_punch_s"),
        ('{"no_such_key": 1}', "no_such_key: unknown key"),
        ("[1]", "a JSON object"),
        ("{", "not JSON"),
    ]:
        status, _, err = run(db, capsys, "terminal", "config", TENANT, "T0001", "4", values)
        assert status == 1 and message in err, err
    store = SqlStore.open(db)
    try:
        assert store.terminal_settings(TENANT, "T0001")["config"] == {
            "version": 3,
            "values": {"double_punch_s": 90, "language": "en"},
        }
        sent = store.commands(TENANT, "T0001", [], EPOCH)
        assert [c["op"] for c in sent] == ["resend", "upload_now", "set_config"]
        assert sent[2]["config"] == {"version": 3, "values": {"double_punch_s": 90,
                                                              "language": "en"}}  # fmt: skip
        assert sent[0]["from"] == 5 and sent[0]["to"] == 9
        store.commands(TENANT, "T0001", [{"id": sent[0]["id"], "status": "failed",
                                          "detail": "3 no longer held"}], EPOCH)  # fmt: skip
    finally:
        store.close()
    out = run(db, capsys, "terminal", "results", TENANT, "T0001")[1]
    assert "resend" in out and "failed 3 no longer held" in out and "upload_now" in out
