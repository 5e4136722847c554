"""The receiver role against bad requests: each gets its status and code, nothing partial is
stored (PRT-SRV, PRT-ERR)."""

import json

from protocol_support import EPOCH, SECRET, TENANT, TERMINAL, make_store

from protocol import codes, sign
from protocol.http import ResponseParser, encode_request
from protocol.server import Server

MICROPYTHON_HEAPSIZE = "512K"  # see test_protocol_http.py

PUNCH = '{"seq":%d,"t":1795000000,"tz":540,"k":1,"m":1,"cred":"012e4cd2a3b4c5d6"}'
counter = [0]


def request(
    body,
    target="/v1/punches",
    method="POST",
    secret=SECRET,
    time=EPOCH,
    nonce=None,
    tenant=TENANT,
    terminal=TERMINAL,
    drop=(),
    content_type="application/json",
):
    if nonce is None:
        counter[0] += 1
        nonce = "n%d" % counter[0]
    if isinstance(body, str):
        body = body.encode()
    text = sign.request_string(method, target, tenant, terminal, time, nonce, body)
    headers = [
        ("Content-Type", content_type),
        ("Dakoku-Tenant", tenant),
        ("Dakoku-Terminal", terminal),
        ("Dakoku-Time", str(time)),
        ("Dakoku-Nonce", nonce),
        ("Dakoku-Signature", sign.sign(secret, text)),
    ]
    headers = [h for h in headers if h[0] not in drop]
    return encode_request(method, target, "x", headers, body), nonce


def answer(server, data, nonce=""):
    reply = ResponseParser().feed(server.handle(data, EPOCH))
    body = json.loads(reply.body)
    signature = reply.header("dakoku-signature")
    signed = signature is not None and sign.verify(
        SECRET, sign.response_string(reply.status, nonce, reply.body), signature
    )
    return reply.status, body, signed


def fresh():
    store = make_store()
    return store, Server(store)


def check(data_nonce, status, code, field=None, signed=None):
    store, server = fresh()
    data, nonce = data_nonce
    got_status, body, got_signed = answer(server, data, nonce)
    assert (got_status, body["code"]) == (status, code), body
    assert body["message"]
    if field is not None:
        assert body["field"] == field, body
    if signed is not None:
        assert got_signed == signed
    assert store.held(TENANT, TERMINAL) == {}  # nothing partial stored
    return body


def test_a_good_batch_is_stored_and_answered_signed():
    store, server = fresh()
    data, nonce = request('{"punches":[%s,%s]}' % (PUNCH % 1, PUNCH % 2))
    status, body, signed = answer(server, data, nonce)
    assert status == 200 and signed
    assert body["results"] == [{"seq": 1, "code": 0}, {"seq": 2, "code": 0}]
    assert body["high"] == 2 and body["dup"] == 0 and body["time"] == EPOCH
    assert sorted(store.held(TENANT, TERMINAL)) == [1, 2]


def test_malformed_json_and_wrong_types_name_the_field():
    check(request("{not json"), 400, codes.MALFORMED, "body", signed=True)
    check(request("\xff"), 400, codes.MALFORMED, "body")
    bad = '{"punches":[%s,%s]}' % (PUNCH % 1, (PUNCH % 2).replace('"k":1', '"k":"in"'))
    check(request(bad), 400, codes.MALFORMED, "punches[1].k", signed=True)


def test_missing_or_bad_headers():
    for name in ("Dakoku-Tenant", "Dakoku-Terminal", "Dakoku-Time", "Dakoku-Nonce"):
        body = check(request("{}", drop=(name,)), 400, codes.MALFORMED, signed=False)
        assert body["field"] == "header " + name.lower()
    check(request("{}", drop=("Dakoku-Signature",)), 400, codes.MALFORMED)
    check(request("{}", nonce="x" * 65), 400, codes.MALFORMED, "header dakoku-nonce")
    check(request("{}", content_type="text/plain"), 415, codes.UNSUPPORTED_MEDIA)


def test_signature_tenant_terminal_time_and_replay():
    check(request("{}", secret=b"wrong"), 401, codes.BAD_SIGNATURE, signed=False)
    check(request("{}", tenant="NOPE"), 403, codes.TENANT_UNUSABLE, signed=False)
    check(request("{}", terminal="T9999"), 403, codes.TERMINAL_UNUSABLE, signed=False)
    body = check(request("{}", time=EPOCH - 301), 401, codes.STALE_TIME, signed=True)
    assert body["time"] == EPOCH
    check(request("{}", time=EPOCH + 301), 401, codes.STALE_TIME)
    store, server = fresh()
    store.tenants[TENANT]["enabled"] = False
    assert answer(server, request("{}")[0])[1]["code"] == codes.TENANT_UNUSABLE
    store, server = fresh()
    data, nonce = request('{"punches":[%s]}' % (PUNCH % 1))
    assert answer(server, data, nonce)[0] == 200
    status, body, signed = answer(server, data, nonce)
    assert (status, body["code"], signed) == (401, codes.REPLAYED, True)
    assert sorted(store.held(TENANT, TERMINAL)) == [1]


def test_paths_methods_and_sizes():
    check(request("{}", target="/v2/punches"), 404, codes.NOT_FOUND)
    check(request("{}", target="/v1/punches", method="PUT"), 405, codes.METHOD_NOT_ALLOWED)
    big = '{"punches":[%s]}' % ",".join([PUNCH % (i + 1) for i in range(101)])
    check(request(big), 400, codes.MALFORMED, "punches")
    huge = '{"punches":[],"pad":"%s"}' % ("x" * 20000)
    check(request(huge), 413, codes.TOO_LARGE)
    check((b"POST /v1/punches HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", ""), 400, codes.MALFORMED)
    check((b"\x16\x03\x01 TLS hello", ""), 400, codes.MALFORMED, "http")


def test_maintenance_answers_503_with_retry_after_and_end():
    store, server = fresh()
    store.windows.append({"start": EPOCH - 60, "end": EPOCH + 600, "notice": "upgrade"})
    data, _nonce = request('{"punches":[%s]}' % (PUNCH % 1))
    raw = server.handle(data, EPOCH)
    reply = ResponseParser().feed(raw)
    body = json.loads(reply.body)
    assert reply.status == 503 and body["code"] == codes.MAINTENANCE
    assert body["end"] == EPOCH + 600 and body["message"] == "upgrade"
    retry = int(reply.header("retry-after"))
    assert 600 <= retry < 600 + 120 and body["retry_after"] == retry
    assert store.held(TENANT, TERMINAL) == {}


def test_flags_unregistered_future_and_unsynced_but_stores_all():
    store, server = fresh()
    unknown = (PUNCH % 1).replace("012e4cd2a3b4c5d6", "0101010101010101")
    future = (PUNCH % 2).replace("1795000000", "1795090000")
    unsynced = (PUNCH % 3).replace('"t":1795000000,"tz":540', '"up":77,"boot":4')
    flagged = (PUNCH % 4)[:-1] + ',"f":2}'
    data, nonce = request('{"punches":[%s,%s,%s,%s]}' % (unknown, future, unsynced, flagged))
    status, body, _ = answer(server, data, nonce)
    assert status == 200
    assert [r["code"] for r in body["results"]] == [
        codes.NOT_REGISTERED,
        codes.TIME_IN_FUTURE,
        codes.CLOCK_UNSYNCED,
        codes.NOT_REGISTERED,
    ]
    assert sorted(store.held(TENANT, TERMINAL)) == [1, 2, 3, 4]


def test_a_different_punch_under_a_held_number_is_kept_as_a_conflict():
    store, server = fresh()
    answer(server, request('{"punches":[%s]}' % (PUNCH % 1))[0])
    other = (PUNCH % 1).replace('"k":1', '"k":2')
    status, body, _ = answer(server, request('{"punches":[%s]}' % other)[0])
    assert status == 200 and body["results"] == [{"seq": 1, "code": codes.CONFLICT}]
    assert body["dup"] == 1 and len(store.conflicts) == 1
    assert store.held(TENANT, TERMINAL)[1][0][2] == 1  # the original stays


def test_store_failure_is_a_signed_500_and_stores_nothing():
    store, server = fresh()
    store.fail = OSError("disk full")
    data, nonce = request('{"punches":[%s]}' % (PUNCH % 1))
    status, body, signed = answer(server, data, nonce)
    assert (status, body["code"], signed) == (500, codes.SERVER_ERROR, True)
    assert "OSError" in body["message"] and store.held(TENANT, TERMINAL) == {}


def test_roster_query_validation():
    _store, server = fresh()
    data, nonce = request(b"", target="/v1/roster?since=abc", method="GET")
    status, body, _ = answer(server, data, nonce)
    assert (status, body["code"], body["field"]) == (400, codes.MALFORMED, "since")
    data, nonce = request(b"", target="/v1/roster?since=0&after=E%30%301", method="GET")
    status, body, _ = answer(server, data, nonce)
    assert status == 200 and body["upsert"] == [] and body["full"] is True
    data, nonce = request(b"", target="/v1/roster?since=0&limit=0", method="GET")
    status, body, _ = answer(server, data, nonce)
    assert (status, body["field"]) == (400, "limit")
