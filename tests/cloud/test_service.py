"""The receiver over real HTTP on 127.0.0.1: answers, bad requests, maintenance, administration,
health, metrics, pacing and TLS. Each bad request gets its status and code and stores nothing."""

from __future__ import annotations

import json
import socket
import ssl
import time

import pytest
from cloud_support import CARD, EPOCH, SECRET, TENANT, TERMINAL, punch, request, send

from protocol import sign
from simulator.cloud.pacing import Pacer
from simulator.cloud.service import RunningReceiver


@pytest.fixture
def rx(sqlite_store, clock):
    sqlite_store.add_employee(TENANT, "E1", "山田", cards=[CARD])
    with RunningReceiver(sqlite_store, clock=clock, admin_token="tok-123") as running:
        running.store = sqlite_store
        running.clock = clock
        running.address = running.receiver.address
        yield running


def post_punches(rx, *seqs, **kw):
    body = {"punches": [punch(s, t=EPOCH + s) for s in seqs]}
    return send(rx.address, request("POST", "/v1/punches", body, **kw))


def verified(answer, nonce_request):
    """The answer's signature checks out for the request's nonce (PRT-AUTH-4)."""
    nonce = nonce_request.split(b"Dakoku-Nonce: ")[1].split(b"\r\n")[0].decode()
    text = sign.response_string(answer.status, nonce, answer.body)
    return sign.verify(SECRET, text, answer.header("dakoku-signature"))


def test_punches_stored_and_resend_answered_as_duplicates(rx):
    req = request("POST", "/v1/punches", {"punches": [punch(1), punch(2, card=bytes(8))]})
    answer = send(rx.address, req)
    assert answer.status == 200 and verified(answer, req)
    body = answer.json()
    assert body["results"] == [{"seq": 1, "code": 0}, {"seq": 2, "code": 7}]
    assert (body["high"], body["dup"]) == (2, 0)
    resend = {"punches": [punch(1), punch(2, card=bytes(8)), punch(3)]}
    again = send(rx.address, request("POST", "/v1/punches", resend))
    assert again.json()["results"] == [
        {"seq": 1, "code": 0},
        {"seq": 2, "code": 7},
        {"seq": 3, "code": 0},
    ]
    assert again.json()["dup"] == 2
    assert rx.store.held(TENANT, TERMINAL) == {1: 0, 2: 7, 3: 0}


def test_hello_announces_maintenance_and_roster(rx):
    rx.store.add_maintenance(EPOCH + 3600, EPOCH + 5400, "定期メンテナンス")
    hello = {
        "fw": "0.1.0",
        "board": "pit",
        "cfg": 0,
        "roster": 0,
        "journal": {"next": 1, "unsent": 0, "cap": 100},
        "clock": {"synced": True, "time": EPOCH, "boot": 1, "up": 5},
    }
    req = request("POST", "/v1/hello", hello)
    answer = send(rx.address, req)
    assert answer.status == 200 and verified(answer, req)
    body = answer.json()
    assert body["roster"] == 1 and body["time"] == EPOCH
    assert body["maintenance"]["windows"] == [
        {"start": EPOCH + 3600, "end": EPOCH + 5400, "notice": "定期メンテナンス"}
    ]
    assert rx.store.terminals(TENANT)[0]["last_kind"] == "hello"


def nothing_stored(rx):
    return rx.store.held(TENANT, TERMINAL) == {}


@pytest.mark.parametrize(
    "body, field",
    [
        (b'{"punches": [', "body"),
        (b"\xff\xfe", "body"),
        (b"[]", "body"),
        (json.dumps({"punches": [dict(punch(1), seq="1")]}).encode(), "punches[0].seq"),
        (json.dumps({"punches": [punch(1), punch(2, k=9)]}).encode(), "punches[1].k"),
        (json.dumps({"punches": [punch(2), punch(1)]}).encode(), "punches[1].seq"),
        (json.dumps({"punches": []}).encode(), "punches"),
        (json.dumps({"punches": [punch(1, cred="zz")]}).encode(), "punches[0].cred"),
        (json.dumps({"punches": [punch(i) for i in range(1, 102)]}).encode(), "punches"),
    ],
)
def test_malformed_bodies_are_400_naming_the_field(rx, body, field):
    answer = send(rx.address, request("POST", "/v1/punches", body))
    assert answer.status == 400
    assert answer.json()["code"] == 1 and answer.json()["field"] == field
    assert nothing_stored(rx)


def test_oversized_body_is_413(rx):
    big = json.dumps({"punches": [punch(1)], "pad": "x" * 20000}).encode()
    answer = send(rx.address, request("POST", "/v1/punches", big))
    assert (answer.status, answer.json()["code"]) == (413, 11)
    assert nothing_stored(rx)


@pytest.mark.parametrize(
    "kw, status, code",
    [
        ({"secret": b"x" * 32}, 401, 2),
        ({"tenant": "NOPE01"}, 403, 5),
        ({"terminal": "T9999"}, 403, 6),
        ({"t": EPOCH - 301}, 401, 3),
        ({"t": EPOCH + 301}, 401, 3),
        ({"content_type": "text/plain"}, 415, 14),
    ],
)
def test_refused_requests_get_their_status_and_code(rx, kw, status, code):
    answer = post_punches(rx, 1, **kw)
    assert (answer.status, answer.json()["code"]) == (status, code)
    assert nothing_stored(rx)


def test_stale_time_answer_is_signed_and_carries_the_time(rx):
    req = request("POST", "/v1/punches", {"punches": [punch(1)]}, t=EPOCH - 4000)
    answer = send(rx.address, req)
    assert answer.json()["time"] == EPOCH and verified(answer, req)


def test_disabled_terminal_and_tenant_are_refused(rx):
    rx.store.set_terminal_enabled(TENANT, TERMINAL, False)
    assert post_punches(rx, 1).json()["code"] == 6
    rx.store.set_terminal_enabled(TENANT, TERMINAL, True)
    rx.store.set_tenant_enabled(TENANT, False)
    assert post_punches(rx, 1).json()["code"] == 5
    assert nothing_stored(rx)


def test_replayed_request_is_refused(rx):
    req = request("POST", "/v1/punches", {"punches": [punch(1)]})
    assert send(rx.address, req).status == 200
    answer = send(rx.address, req)
    assert (answer.status, answer.json()["code"]) == (401, 4)
    assert rx.store.held(TENANT, TERMINAL) == {1: 0}


def test_a_punch_with_another_tenants_card_is_stored_flagged_7(rx):
    rx.store.add_tenant("OTHER")
    other_card = bytes([9] * 8)
    rx.store.add_employee("OTHER", "X1", "他社", cards=[other_card])
    body = {"punches": [punch(1, card=other_card)]}
    answer = send(rx.address, request("POST", "/v1/punches", body))
    assert answer.json()["results"] == [{"seq": 1, "code": 7}]
    assert rx.store.punch_rows(TENANT)[0][11] is None  # not attributed to X1


def test_path_method_and_http_errors(rx):
    assert send(rx.address, request("GET", "/v2/punches"), "GET").json()["code"] == 12
    answer = send(rx.address, request("GET", "/v1/punches"), "GET")
    assert (answer.status, answer.json()["code"], answer.header("allow")) == (405, 13, "POST")
    bad = send(rx.address, b"GARBAGE\r\n\r\n")
    assert (bad.status, bad.json()["code"], bad.json()["field"]) == (400, 1, "http")
    assert bad.header("connection") == "close"
    huge_head = b"POST /v1/punches HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n"
    assert send(rx.address, huge_head).status in (413, 400)
    assert nothing_stored(rx)


def test_chunked_body_and_keep_alive(rx):
    body = json.dumps({"punches": [punch(1)]}).encode()
    req = request("POST", "/v1/punches", body)
    head, _, _ = req.partition(b"\r\n\r\n")
    head = b"\r\n".join(
        line for line in head.split(b"\r\n") if not line.startswith(b"Content-Length")
    )
    chunked = head + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    second = request("POST", "/v1/punches", {"punches": [punch(2)]})
    with socket.create_connection(rx.address, 5) as sock:
        sock.sendall(chunked + second)  # pipelined on one connection
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"HTTP/1.1 200") < 2 and time.monotonic() < deadline:
            data += sock.recv(65536)
    assert data.count(b"HTTP/1.1 200") == 2
    assert rx.store.held(TENANT, TERMINAL) == {1: 0, 2: 0}


def test_a_slow_request_is_cut_off(rx):
    rx.receiver.request_timeout_s = 0.3
    with socket.create_connection(rx.address, 5) as sock:
        sock.sendall(b"POST /v1/punches HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(5)
        assert sock.recv(100) == b""  # closed by the receiver, no answer


def test_maintenance_is_503_spread_and_stores_nothing(rx, clock):
    rx.store.add_terminal(TENANT, "T0002", SECRET)
    rx.store.add_maintenance(EPOCH - 60, EPOCH + 600, "upgrade")
    waits = set()
    for terminal in (TERMINAL, "T0002"):
        answer = post_punches(rx, 1, terminal=terminal)
        assert (answer.status, answer.json()["code"]) == (503, 8)
        assert answer.json()["end"] == EPOCH + 600
        wait = int(answer.header("retry-after"))
        assert 600 <= wait < 600 + 120 and answer.json()["retry_after"] == wait
        waits.add(wait)
    assert len(waits) == 2  # spread per terminal
    assert nothing_stored(rx)
    clock.t = EPOCH + 600
    assert post_punches(rx, 1, t=EPOCH + 600).status == 200


def test_admin_http_needs_the_token_and_closes_in_maintenance(rx):
    path = "/admin/v1/tenants/%s/punches.csv" % TENANT
    plain = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode()
    assert send(rx.address, plain, "GET").status == 401
    authed = b"GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-123\r\n\r\n" % path.encode()
    post_punches(rx, 1)
    answer = send(rx.address, authed, "GET")
    assert answer.status == 200 and answer.header("content-type").startswith("text/csv")
    lines = answer.body.decode().splitlines()
    assert lines[0].startswith("terminal,seq,employee") and lines[1].startswith("T0001,1,E1,山田")
    flagged = authed.replace(b"punches.csv", b"flagged")
    assert send(rx.address, flagged, "GET").json() == {"punches": [], "conflicts": []}
    rx.store.start_emergency(EPOCH - 10, 5)
    closed = send(rx.address, authed, "GET")
    assert (closed.status, closed.json()["code"]) == (503, 8)
    assert int(closed.header("retry-after")) == 290


def test_admin_http_is_off_without_a_token(sqlite_store, clock):
    with RunningReceiver(sqlite_store, clock=clock) as running:
        req = b"GET /admin/v1/tenants/ACME01/flagged HTTP/1.1\r\nHost: x\r\n\r\n"
        assert send(running.receiver.address, req, "GET").status == 404


def test_health_and_metrics(rx):
    health = send(rx.address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
    assert health.status == 200 and health.json()["status"] == "ok"
    post_punches(rx, 1, 2)
    post_punches(rx, 2, 3)
    post_punches(rx, 4, secret=b"y" * 32)
    text = send(rx.address, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "GET").body.decode()
    assert "dakoku_punches_ingested_total 3" in text
    assert "dakoku_punches_duplicate_total 1" in text
    assert 'dakoku_rejects_total{code="2"} 1' in text
    assert 'dakoku_requests_total{route="/v1/punches",status="200"} 2' in text
    assert 'dakoku_request_seconds_bucket{le="+Inf"} 4' in text
    assert "dakoku_ingest_punches_per_second 0.3" in text


def test_health_reports_a_dead_database(rx):
    rx.store.db.close()
    answer = send(rx.address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
    assert (answer.status, answer.json()["status"]) == (503, "failing")
    # A punch upload against the dead database is a 500, code 9 (nothing acknowledged).
    answer = post_punches(rx, 1)
    assert (answer.status, answer.json()["code"]) == (500, 9)


def test_pacing_answers_429_with_spread_retry_after(sqlite_store, clock):
    now = [0.0]
    sqlite_store.pacer = Pacer(rate=100, burst_s=1.0, jitter_s=3, clock=lambda: now[0])
    with RunningReceiver(sqlite_store, clock=clock) as running:
        waits = []
        for i in range(6):
            terminal = "P%d" % i
            sqlite_store.add_terminal(TENANT, terminal, SECRET)
            body = {"punches": [punch(s) for s in range(1, 51)]}
            req = request("POST", "/v1/punches", body, terminal=terminal)
            answer = send(running.receiver.address, req)
            if answer.status == 429:
                assert answer.json()["code"] == 10
                waits.append(int(answer.header("retry-after")))
            else:
                assert answer.status == 200
        # 100 punches/s with 1 s of burst: the first two 50-punch batches pass, the next
        # four are given successive half-second slots (0.5 s ... 2 s) plus up to 3 s of jitter.
        assert len(waits) == 4
        assert all(1 <= w <= 5 for w in waits)


def test_tls(sqlite_store, clock, certificate):
    key, cert = certificate()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(str(cert), str(key))
    with RunningReceiver(sqlite_store, clock=clock, ssl_context=server_ctx) as running:
        assert running.url.startswith("https://127.0.0.1:")
        client_ctx = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(running.receiver.address, 5) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
                sock.sendall(request("POST", "/v1/punches", {"punches": [punch(1)]}))
                data = sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 200")
        # Plain HTTP to the TLS port gets no answer.
        with socket.create_connection(running.receiver.address, 5) as plain:
            plain.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            plain.settimeout(5)
            assert not plain.recv(100).startswith(b"HTTP/1.1 200")
    assert sqlite_store.held(TENANT, TERMINAL) == {1: 7}  # stored, no employee with CARD


def test_enrolment_over_http(rx):
    req = request("POST", "/v1/enrol", {"code": "E1", "m": 1, "cred": "0a0b0c0d0e0f1011"})
    answer = send(rx.address, req)
    assert answer.status == 200 and verified(answer, req)
    assert answer.json()["name"] == "山田" and answer.json()["roster"] == 2
    rx.store.add_employee(TENANT, "E2", "佐藤")
    req = request("POST", "/v1/enrol", {"code": "E2", "m": 1, "cred": CARD.hex()})  # E1's card
    taken = send(rx.address, req)
    assert (taken.status, taken.json()["code"]) == (409, 16) and verified(taken, req)
    req = request("POST", "/v1/enrol", {"code": "E9", "m": 2, "cred": "0001"})
    unknown = send(rx.address, req)
    assert (unknown.status, unknown.json()["code"]) == (404, 15) and verified(unknown, req)
    assert rx.store.roster(TENANT, 0, None, 10)["version"] == 3  # E2 added; refusals nothing


def _parsed(data):
    from protocol.http import RequestParser

    return RequestParser(max_body=16384).feed(data)


def test_group_commit_keeps_each_request_all_or_nothing(sqlite_store, clock, monkeypatch):
    """SQLite commits several requests at once; a request whose store work fails is rolled back
    alone (a savepoint) and answered 500, the others of its group are stored."""
    from simulator.cloud.service import Receiver

    for t in ("T2", "T3"):
        sqlite_store.add_terminal(TENANT, t, SECRET)
    receiver = Receiver(sqlite_store, clock=clock)
    from simulator.cloud import db

    real = db.Tx.many

    def many(self, sql, seq):
        real(self, sql, seq)  # the punches are written inside the request's savepoint...
        if "INTO punches" in sql and seq and seq[0][1] == "T2":
            raise OSError("disk trouble")  # ...then its transaction fails

    monkeypatch.setattr(db.Tx, "many", many)
    jobs = [
        (_parsed(request("POST", "/v1/punches", {"punches": [punch(1)]}, terminal=t)), None)
        for t in (TERMINAL, "T2", "T3")
    ]
    answers = receiver._protocol_group(jobs)
    assert [a.status for _, a in answers] == [200, 500, 200]
    assert receiver.groups == 1
    assert sqlite_store.held(TENANT, TERMINAL) == {1: 7}  # nobody's card here: 7
    assert sqlite_store.held(TENANT, "T2") == {}
    assert sqlite_store.held(TENANT, "T3") == {1: 7}
    receiver.executor.shutdown()


def test_a_failed_group_commit_answers_500_and_stores_nothing(rx, monkeypatch):
    from contextlib import contextmanager

    real = rx.store.db.group

    @contextmanager
    def failing_group():
        with real():
            yield
            raise OSError("commit failed")  # as if the final COMMIT had failed

    monkeypatch.setattr(rx.store.db, "group", failing_group)
    answer = post_punches(rx, 1, 2)
    assert (answer.status, answer.json()["code"]) == (500, 9)
    monkeypatch.undo()
    assert nothing_stored(rx)
    assert post_punches(rx, 1, 2).status == 200  # the receiver goes on


def test_expect_100_continue_is_answered_before_the_body(rx):
    """curl sends Expect: 100-continue for bodies over 1 KB and waits for the interim answer."""
    body = json.dumps({"punches": [punch(s, t=EPOCH + s) for s in range(1, 21)]}).encode()
    req = request("POST", "/v1/punches", body, headers=[("Expect", "100-continue")])
    head, _, rest = req.partition(b"\r\n\r\n")
    with socket.create_connection(rx.address, 5) as sock:
        sock.settimeout(5)
        sock.sendall(head + b"\r\n\r\n")
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(rest)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            data += sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200")
    assert len(rx.store.held(TENANT, TERMINAL)) == 20
