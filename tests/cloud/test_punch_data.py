"""Every tenant's data right (issue 16, items 16-19): suspect punch times stored and flagged with
their own codes, punches exported as they were attributed when received, CSV cells neutralised
against formula injection, import errors that name the editor's line and the record."""

from __future__ import annotations

import csv
import io

from cloud_support import CARD, EPOCH, SECRET, TENANT, TERMINAL, punch, request, send
from dakoku.cli import main
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from protocol import messages
from protocol.codes import (
    ACCEPTED,
    TIME_BACKWARDS,
    TIME_BEFORE_REGISTRATION,
    TIME_IN_FUTURE,
)
from protocol.memstore import MemoryStore
from protocol.server import Server
from simulator.cloud import csvio
from simulator.cloud.metrics import Metrics
from simulator.cloud.service import RunningReceiver
from simulator.cloud.store import RegistryError, SqlStore

NOW = EPOCH + 7200  # the receiver's clock; the terminal was registered at EPOCH
TEN_01 = EPOCH + 3600  # "10:01"


def upload(server, *items, now=NOW):
    answer = server.handle(request("POST", "/v1/punches", {"punches": list(items)}, t=now), now)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer[:300]
    return [r["code"] for r in messages.loads(body)["results"]]


def export_rows(text):
    return list(csv.DictReader(io.StringIO(text, newline="")))


# ---------------------------------------------------------------- 16: suspect times


def test_suspect_times_are_stored_and_flagged_with_their_own_codes(store, engine_url, capsys):
    store.add_employee(TENANT, "E1", "山田", cards=[CARD])
    metrics = store.metrics = Metrics()
    server = Server(store)
    codes = upload(
        server,
        punch(1, t=TEN_01),
        punch(2, t=TEN_01 - 48 * 60),  # the clock was set back: "09:13" after "10:01"
        punch(3, t=TEN_01 + 60),
        punch(4, t=NOW + 86400),  # far in the future
        punch(5, t=EPOCH - 86400),  # a day before the terminal was registered
        punch(6, t=TEN_01 + 120),  # the future punch did not move the clock on
    )
    assert codes == [ACCEPTED, TIME_BACKWARDS, ACCEPTED, TIME_IN_FUTURE,
                     TIME_BEFORE_REGISTRATION, ACCEPTED]  # fmt: skip
    # A later request: still judged against the earlier sequence numbers already held.
    codes = upload(
        server,
        punch(7, t=TEN_01 - 1000),
        punch(8, t=TEN_01 + 120 - 250),  # within the 300 s tolerance
        punch(9, t=TEN_01 + 900),
    )
    assert codes == [TIME_BACKWARDS, ACCEPTED, ACCEPTED]
    assert store.held(TENANT, TERMINAL) == {1: 0, 2: 24, 3: 0, 4: 20, 5: 23, 6: 0, 7: 24,
                                            8: 0, 9: 0}  # fmt: skip
    assert metrics.flagged == {TIME_BACKWARDS: 2, TIME_IN_FUTURE: 1, TIME_BEFORE_REGISTRATION: 1}
    assert 'dakoku_punches_flagged_total{code="24"} 2' in metrics.text()
    flagged, _ = store.flagged(TENANT)
    assert sorted((r[1], r[2]) for r in flagged) == [(2, 24), (4, 20), (5, 23), (7, 24)]
    rows = export_rows(csvio.export_punches(store, TENANT))
    assert [(r["seq"], r["code"]) for r in rows if r["code"] != "0"] == [
        ("2", "24"), ("4", "20"), ("5", "23"), ("7", "24")
    ]  # fmt: skip
    assert rows[1]["result"] == "time earlier than an earlier punch of the terminal"
    assert rows[4]["result"] == "time before the terminal was registered"
    store.close()
    main(["cloud", "--db", engine_url, "flagged", TENANT])
    out = capsys.readouterr().out
    assert out.count("code 24 (time earlier than an earlier punch of the terminal)") == 2
    assert out.count("code 23 (time before the terminal was registered)") == 1


def test_the_reference_memory_store_flags_the_same_way():
    mem = MemoryStore()
    mem.add_tenant(TENANT)
    mem.add_terminal(TENANT, TERMINAL, SECRET, registered=EPOCH)
    mem.add_employee(TENANT, "E1", "a", cards=[CARD])
    server = Server(mem)
    assert upload(server, punch(1, t=TEN_01), punch(2, t=TEN_01 - 2880)) == [0, 24]
    assert upload(server, punch(3, t=TEN_01 - 1000), punch(4, t=EPOCH - 3600)) == [24, 23]


# ---------------------------------------------------------------- 17: attribution as received


def test_export_keeps_the_attribution_a_punch_was_received_with(store):
    new_card = bytes.fromhex("0a0b0c0d0e0f1011")
    store.add_employee(TENANT, "E1", "山田 太郎", cards=[CARD])
    store.add_employee(TENANT, "E2", "鈴木 一郎", cards=[bytes(range(8))])
    server = Server(store)
    upload(server, punch(1, t=TEN_01), punch(2, card=bytes(range(8)), t=TEN_01 + 5))
    store.remove_employee(TENANT, "E2")  # left the company
    store.remove_employee(TENANT, "E1")
    store.add_employee(TENANT, "E1", "佐藤 花子", cards=[new_card])  # the code reused
    upload(server, punch(3, card=new_card, t=TEN_01 + 60))
    rows = export_rows(csvio.export_punches(store, TENANT))
    assert [(r["seq"], r["employee"], r["name"]) for r in rows] == [
        ("1", "E1", "山田 太郎"),
        ("2", "E2", "鈴木 一郎"),
        ("3", "E1", "佐藤 花子"),
    ]


def test_an_older_database_gets_the_new_columns_and_keeps_its_names(engine_url, clock):
    store = SqlStore.open(engine_url, clock=clock)
    store.add_tenant(TENANT)
    store.add_terminal(TENANT, TERMINAL, SECRET)
    store.add_employee(TENANT, "E1", "山田", cards=[CARD])
    upload(Server(store), punch(1, t=TEN_01), punch(2, t=TEN_01 + 60))
    with store.db.transaction() as tx:  # as a database of the release before looked
        tx.execute("ALTER TABLE punches DROP COLUMN employee_name")
        tx.execute("ALTER TABLE punches DROP COLUMN t_high")
    store.close()
    store = SqlStore.open(engine_url, clock=clock)
    try:
        rows = export_rows(csvio.export_punches(store, TENANT))
        assert [(r["seq"], r["name"]) for r in rows] == [("1", "山田"), ("2", "山田")]
        # Rows without t_high still count with their own time.
        assert upload(Server(store), punch(3, t=TEN_01 - 1000)) == [TIME_BACKWARDS]
    finally:
        store.close()


# ---------------------------------------------------------------- 18: CSV formula injection


# Names are stripped when registered, so a leading tab or CR cannot reach a name (csv_cell
# handles them all the same: see the test after these).
DANGEROUS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "=1\t+\r2"]


def _dangerous_employees(store):
    cards = []
    for i, name in enumerate(DANGEROUS):
        card = bytes([9, 9, 9, 9, 9, 9, 9, i])
        store.add_employee(TENANT, "-E%d" % i, name, cards=[card])
        cards.append(card)
    upload(Server(store), *[punch(i + 1, card=c, t=TEN_01 + i) for i, c in enumerate(cards)])


def _check_neutralised(text):
    rows = export_rows(text)
    assert len(rows) == len(DANGEROUS)
    for row, name in zip(rows, DANGEROUS, strict=True):
        assert row["name"] == "'" + name.replace("\t", "\\x09").replace("\r", "\\x0d"), row
        assert row["employee"].startswith("'-E"), row
    for cell in (c for r in rows for c in r.values()):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_csv_cells_are_neutralised_in_every_export(store, engine_url, tmp_path, capsys):
    _dangerous_employees(store)
    _check_neutralised(csvio.export_punches(store, TENANT))
    store.close()
    out_file = tmp_path / "out.csv"
    assert main(["cloud", "--db", engine_url, "export", TENANT, "-o", str(out_file)]) == 0
    _check_neutralised(out_file.read_text(encoding="utf-8"))


def test_csv_cells_are_neutralised_over_http(sqlite_store, clock):
    _dangerous_employees(sqlite_store)
    with RunningReceiver(sqlite_store, clock=clock, admin_token="op") as running:
        path = "/admin/v1/tenants/%s/punches.csv" % TENANT
        answer = send(
            running.receiver.address,
            b"GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer op\r\n\r\n" % path.encode(),
            "GET",
        )
    assert answer.status == 200
    _check_neutralised(answer.body.decode())


def test_a_cell_starting_with_tab_or_cr_is_neutralised_too():
    from simulator.cloud.textsafe import csv_cell

    assert csv_cell("\tx") == "'\\x09x" and csv_cell("\r=1") == "'\\x0d=1"
    assert csv_cell("a-b") == "a-b" and csv_cell(-5) == -5  # numbers stay numbers


# ---------------------------------------------------------------- 19: import errors


def test_import_errors_name_the_editor_line_and_the_record(store):
    text = (
        "code,name,lines\n"
        'E1,山田,"first line|second\nstill the second cell"\n'  # one record, two lines
        "\n"
        "E2,,\n"  # record 4 (the blank line is record 3), on line 5
    )
    try:
        csvio.import_employees(store, TENANT, text.encode())
    except RegistryError as e:
        message = str(e)
    else:
        raise AssertionError("the import was accepted")
    assert message.startswith("line 5 (record 4): name must be"), message
    broken = 'code,name\nE1,"unterminated\nE2,b\n'
    try:
        csvio.read_employees(broken.encode())
    except RegistryError as e:
        assert str(e).startswith("line 2 (record 2):"), str(e)
    assert store.employees(TENANT) == []  # nothing stored


# ---------------------------------------------------------------- 16: a state machine


class SuspectTimes(RuleBasedStateMachine):
    """A terminal's clock jumps about (back, far ahead, before its registration) while its
    punches go up in batches of any size, some of them resent: every punch's code is the one
    the definition gives, whatever the batching, on the SQL store and the reference memory
    store alike. The definition, over the punches in sequence order: 20 beyond the future skew,
    23 before registration minus the tolerance, 24 earlier than the latest trusted time (synced,
    not 20 or 23) of the lower sequence numbers minus the tolerance."""

    def __init__(self):
        super().__init__()
        self.sql = SqlStore.open(":memory:", clock=lambda: EPOCH)
        self.mem = MemoryStore()
        self.sql.add_tenant(TENANT)
        self.sql.add_terminal(TENANT, TERMINAL, SECRET)
        self.mem.add_tenant(TENANT)
        self.mem.add_terminal(TENANT, TERMINAL, SECRET, registered=EPOCH)
        for s in (self.sql, self.mem):
            s.add_employee(TENANT, "E1", "a", cards=[CARD])
        self.servers = (Server(self.sql), Server(self.mem))
        self.clock_t = TEN_01
        self.taken: list[dict] = []  # punches the terminal holds, in seq order
        self.sent = 0  # how many of them went up (in order)

    def teardown(self):
        self.sql.close()

    @rule(step=st.sampled_from([30, 60, 600, -200, -400, -3600, 86400 * 2, -86400 * 3]))
    def punch_taken(self, step):
        """The clock moves (a jump back or ahead is the clock set wrong), one punch is taken."""
        self.clock_t += step
        seq = len(self.taken) + 1
        self.taken.append(punch(seq, t=min(self.clock_t, NOW + 86400 * 30)))

    @rule(count=st.integers(1, 6), resend=st.integers(0, 3))
    def upload(self, count, resend):
        first = max(0, self.sent - resend)
        batch = self.taken[first : self.sent + count]
        if not batch:
            return
        for server in self.servers:
            upload(server, *batch)
        self.sent = max(self.sent, first + len(batch))

    @invariant()
    def codes_follow_the_definition(self):
        expected = _definition(self.taken[: self.sent])
        assert self.sql.held(TENANT, TERMINAL) == expected
        assert {s: c for s, (_k, c) in self.mem.held(TENANT, TERMINAL).items()} == expected


def _definition(punches):
    codes = {}
    high = None
    for p in punches:
        t = p["t"]
        if t > NOW + 600:
            code = TIME_IN_FUTURE
        elif t < EPOCH - 300:
            code = TIME_BEFORE_REGISTRATION
        elif high is not None and t < high - 300:
            code = TIME_BACKWARDS
        else:
            code = ACCEPTED
        if code not in (TIME_IN_FUTURE, TIME_BEFORE_REGISTRATION):
            high = t if high is None else max(high, t)
        codes[p["seq"]] = code
    return codes


SuspectTimes.TestCase.settings = settings(max_examples=30, stateful_step_count=20, deadline=None)
test_suspect_times_state_machine = SuspectTimes.TestCase
