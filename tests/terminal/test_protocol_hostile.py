"""The client against receivers that do something legal but unusual (issue 15, PRT-CLI-*).

Each test is a case that once left a terminal stuck, looping or wrong; client and server are
wired in memory (protocol_support.Wire), the receiver's oddity played by a fault or a store.
"""

from protocol_support import (
    EPOCH,
    SECRET,
    TENANT,
    TERMINAL,
    PickyServer,
    Source,
    Wire,
)

from protocol import client as C
from protocol import codes, sign
from protocol.client import Client, Identity, Send, Settings
from protocol.http import encode_response
from protocol.memstore import MemoryStore
from protocol.server import Settings as ServerSettings

# The WASI interpreter corrupts small heaps under GC pressure
# (tests/tools/test_interpreter_issues.py).
MICROPYTHON_HEAPSIZE = "512K"

NEW_CARD = bytes([1, 46, 76, 210, 9, 9, 9, 9])


def held(w):
    return sorted(w.store.held(TENANT, TERMINAL))


def answer(request, status, body, headers=(), signed=True):
    """An answer to ``request``: signed as the receiver signs (or not), extra headers."""
    headers = list(headers)
    if signed:
        nonce = request.split(b"Dakoku-Nonce: ")[1].split(b"\r\n")[0].decode()
        headers.append(
            ("Dakoku-Signature", sign.sign(SECRET, sign.response_string(status, nonce, body)))
        )
    return encode_response(status, headers, body)


def punch_requests(w):
    return [s for s in w.sent if s.kind == C.PUNCHES]


# --------------------------------------------------------------------- 1. resend and set-aside


def test_a_resend_over_a_set_aside_punch_ends_and_newer_punches_go():
    """PRT-CLI-7, PRT-CMD-2, PRT-CMD-3, PRT-CLI-3"""
    w = Wire()
    w.server = PickyServer(w.store, 2)
    w.source.add(3)
    assert w.run()
    w.settle()  # the roster
    assert held(w) == [1, 3]
    w.store.pending[(TENANT, TERMINAL)] = [
        {"id": "r", "op": "resend", "from": 1, "to": 3},
        {"id": "b", "op": "reboot"},
    ]
    w.now += 300 * 1000
    out = w.step()
    assert out.kind == C.HEARTBEAT and [c["op"] for c in out.commands] == ["reboot"]
    w.client.report("b", "ok", "")
    w.source.add(2)  # newer punches wait behind the resend
    w.now += 10 * 1000  # a heartbeat with results follows the last by 10 s (PRT-SAFE-3)
    assert w.step().kind == C.HEARTBEAT  # the reboot's result goes first (PRT-CLI-3)
    before = len(w.sent)
    assert w.run(max_steps=12, until=lambda: len(w.store.results) >= 2 and held(w)[-1] == 5)
    results = {r[2]["id"]: r[2] for r in w.store.results}
    assert results["b"]["status"] == "ok"
    assert results["r"]["status"] == "failed" and "1 set aside" in results["r"]["detail"]
    assert held(w) == [1, 3, 4, 5]
    again = [s for s in w.sent[before:] if 2 in s.seqs]
    assert len(again) == 3  # in the batch, then alone twice: set aside, and the resend goes on


# ------------------------------------------------------------------ 2. three clock steps


def test_a_receiver_clock_that_steps_three_times_does_not_lock_the_terminal_out():
    """PRT-CLI-8, PRT-AUTH-3"""
    w = Wire()
    w.step()
    stepped = [0]
    w.server_time = lambda: EPOCH + w.now // 1000 + 1000 * stepped[0]  # type: ignore[method-assign]
    w.source.add(1)
    for _ in range(3):
        stepped[0] += 1  # the receiver's clock steps before each request
        out = w.step()
        assert out.code == codes.STALE_TIME and out.server_time == w.server_time()
    assert out.retry_at > w.now  # the third in a row waits a back-off
    assert w.run(max_steps=6)
    assert held(w) == [1]


# ------------------------------------------------------------------------- 5. Retry-After


def test_retry_after_holds_through_link_up_and_enrol():
    """PRT-CLI-5"""
    w = Wire()
    w.step()
    w.store.throttle_s = 600
    w.source.add(1)
    out = w.step()
    assert out.status == 429 and out.retry_at >= w.now + 600 * 1000
    w.store.throttle_s = 0
    refused = w.now
    w.now += 1000
    w.client.link_up(w.now)
    w.client.enrol(w.now, "E001", 1, NEW_CARD)
    w.client.upload_now(w.now)
    action = w.client.next_action(w.now, w.source)
    assert isinstance(action, C.Wait) and action.until_ms >= refused + 600 * 1000
    w.step()
    assert w.now >= refused + 600 * 1000 and w.sent[-1].kind == C.HELLO


def test_retry_after_on_a_server_error_or_a_proxy_error_is_honoured():
    """PRT-CLI-5, PRT-CLI-9: a signed 500 code 9, a proxy's 502 and 504."""
    error = b'{"code":9,"message":"server error"}'
    cases = [
        (500, error, True),
        (502, b"<html>bad gateway</html>", False),
        (504, b"", False),
    ]
    for status, body, signed in cases:
        w = Wire()
        w.step()
        w.source.add(1)

        def fault(request, reply, status=status, body=body, signed=signed):
            if b"/v1/punches" in request:
                return answer(request, status, body, [("Retry-After", "600")], signed)
            return reply

        w.fault = fault
        start = w.now
        out = w.step()
        assert out.status == status and out.delivered == ()
        assert out.retry_at >= start + 600 * 1000, (status, out.retry_at)
        w.fault = None
        w.client.link_up(w.now + 1000)
        w.step()
        assert w.now >= start + 600 * 1000, status
        assert w.run(max_steps=5) and held(w) == [1]


def test_a_retry_after_of_zero_or_one_on_every_answer_does_not_make_the_client_spin():
    """PRT-CLI-4, PRT-CLI-5 (found by the stateful test: 270 requests in 300 s)"""
    for retry in ("0", "1"):
        w = Wire()
        w.step()
        w.source.add(1)
        body = b'{"code":10,"message":"slow down","retry_after":%s}' % retry.encode()

        def busy(request, reply, retry=retry, body=body):
            return answer(request, 429, body, [("Retry-After", retry)])

        w.fault = busy
        start = w.now
        while w.now < start + 300 * 1000 and len(w.sent) < 100:
            w.step()
        assert len(w.sent) <= 10, (retry, len(w.sent))  # the back-off grows: 5, 10, 20, … s


# -------------------------------------------------------------- 6. batch limit after set-aside


def test_the_hello_batch_limit_holds_after_a_set_aside_and_a_suspect_goes_alone():
    """PRT-PUNCH-2, PRT-VER-1, PRT-CLI-7"""
    w = Wire(batch=10)
    w.server = PickyServer(w.store, 3, settings=ServerSettings(batch=10))
    w.source.add(40)
    assert w.run(max_steps=20)
    assert held(w) == [i for i in range(1, 41) if i != 3]
    sent = [s.seqs for s in punch_requests(w)]
    assert max(len(seqs) for seqs in sent) <= 10
    assert sent[:5] == [tuple(range(1, 11)), (1, 2), (3,), (3,), tuple(range(4, 14))]


def test_a_suspect_that_passes_alone_gives_the_limit_back():
    """PRT-CLI-7"""
    w = Wire(batch=10)
    w.server = PickyServer(w.store, 3, settings=ServerSettings(batch=10))
    w.source.add(20)
    w.step()  # hello
    w.step()  # 1..10 refused at index 2
    w.server.bad = 0  # the receiver changed its mind
    assert w.run(max_steps=10)
    sent = [s.seqs for s in punch_requests(w)]
    assert sent == [tuple(range(1, 11)), (1, 2), (3,), tuple(range(4, 14)), tuple(range(14, 21))]


# --------------------------------------------------------------------------- 7. 413


def test_an_unsigned_413_halves_the_batch_until_it_fits():
    """PRT-CLI-7, PRT-ERR-4: the receiver lowered its body limit after the hello."""
    w = Wire()
    w.step()  # hello: limits.body 16384
    w.server.settings.body = 2048
    w.source.add(100)
    assert w.run(max_steps=20)
    assert held(w) == list(range(1, 101))
    refused = [o for o in w.outcomes if o.status == 413]
    assert refused and all(o.set_aside == () for o in refused)
    assert len(w.sent) <= 20


def test_a_proxy_413_without_our_body_shrinks_the_batch_too():
    """PRT-CLI-7"""
    w = Wire()
    w.step()
    w.source.add(60)

    def proxy(request, reply):
        if len(request) > 3000:
            return encode_response(413, [], b"<html>too large</html>")
        return reply

    w.fault = proxy
    assert w.run(max_steps=20)
    assert held(w) == list(range(1, 61))
    assert max(len(s.data) for s in punch_requests(w)[-3:]) <= 3000


# ---------------------------------------------------------------------- 8. deadline on close


def test_an_answer_completed_by_the_close_after_the_deadline_is_a_timeout():
    """PRT-CLI-2, PRT-TR-1"""
    w = Wire()
    w.step()
    w.source.add(1)
    action = w.client.next_action(w.now, w.source)
    reply = w.server.handle(action.data, w.server_time())
    head, body = reply.split(b"\r\n\r\n", 1)
    lines = [x for x in head.split(b"\r\n") if not x.lower().startswith(b"content-length")]
    assert w.client.receive(w.now + 1000, b"\r\n".join(lines) + b"\r\n\r\n" + body) is None
    out = w.client.closed(action.deadline_ms + 1)
    assert out.error == C.TIMEOUT and out.delivered == ()


# ----------------------------------------------------------------- 9. log high that stalls


def test_an_event_log_upload_whose_high_stalls_backs_off_and_heartbeats_go_on():
    """PRT-LOG-1, PRT-HB-1"""
    w = Wire()
    w.source.events = [{"n": i, "code": 40, "up": i, "boot": 7, "text": "ev"} for i in range(1, 8)]
    w.step()
    w.store.store_log = lambda tenant, terminal, events, now: 0  # holds nothing, ever
    w.store.pending[(TENANT, TERMINAL)] = [{"id": "L", "op": "upload_log", "since": 0}]
    w.now += 300 * 1000
    for _ in range(40):
        w.step()
        if w.now > 1000 * 1000:
            break
    kinds = [s.kind for s in w.sent]
    assert w.now > 1000 * 1000
    assert kinds.count(C.LOG) <= 3 and kinds.count(C.HEARTBEAT) >= 3
    result = [r[2] for r in w.store.results if r[2]["id"] == "L"]
    assert result and result[0]["status"] == "failed" and "0" in result[0]["detail"]


def test_two_upload_log_commands_while_one_runs_are_both_answered():
    """PRT-CMD-2, PRT-LOG-1 (found by the stateful test: the first was never answered)"""
    w = Wire()
    w.source.events = [{"n": i, "code": 40, "up": i, "boot": 7, "text": "ev"} for i in range(1, 8)]
    w.settle()
    w.store.pending[(TENANT, TERMINAL)] = [
        {"id": "L1", "op": "upload_log", "since": 4},
        {"id": "L2", "op": "upload_log", "since": 2},
    ]
    w.now += 300 * 1000
    w.run(max_steps=8, until=lambda: len(w.store.results) >= 2)
    assert sorted(w.store.logs[(TENANT, TERMINAL)]) == [3, 4, 5, 6, 7]
    assert sorted((r[2]["id"], r[2]["status"]) for r in w.store.results) == [
        ("L1", "ok"),
        ("L2", "ok"),
    ]


# ------------------------------------------------------------------------------ 3, 4. roster


class CountingStore(MemoryStore):
    """A receiver whose roster cursor is the number of employees already sent: "5", "10", …"""

    def roster(self, tenant, since, after, limit):
        page = MemoryStore.roster(self, tenant, since, None, 10000)
        start = int(after) if after else 0
        everyone = page["upsert"]
        page["upsert"] = everyone[start : start + limit]
        page["next"] = str(start + limit) if start + limit < len(everyone) else None
        return page


def roster_wire(store, page):
    store.add_tenant(TENANT)
    store.add_terminal(TENANT, TERMINAL, SECRET)
    w = Wire(store=store, settings=Settings(roster_page=page))
    w.apply_roster = False
    return w


def fetch(w, pages, max_steps=40, hook=None):
    """Step, confirming every roster page as the firmware would; collect the pages."""
    for _ in range(max_steps):
        out = w.step()
        if out is None:
            break
        if out.roster is not None:
            pages.append(out.roster)
            last = out.roster["next"] is None
            w.client.roster_applied(out.roster["version"] if last else w.client.roster_version)
            if hook is not None:
                hook(len(pages))
        if w.client.roster_version == w.store.roster_version[TENANT] and not w.client.busy:
            if w.client.server_roster == w.client.roster_version and out.kind == C.ROSTER:
                break
    return pages


def test_an_opaque_roster_cursor_is_never_compared_as_a_string():
    """PRT-ROSTER-1"""
    w = roster_wire(CountingStore(), 5)
    for i in range(22):
        w.store.add_employee(TENANT, "E%03d" % i, "N")
    pages = fetch(w, [])
    codes_seen = [e["code"] for p in pages for e in p["upsert"]]
    assert codes_seen == ["E%03d" % i for i in range(22)]
    assert w.client.roster_version == 22


def test_a_roster_that_changes_during_a_fetch_is_fetched_again():
    """PRT-ROSTER-4"""
    w = roster_wire(MemoryStore(), 2)
    for i in range(1, 7):
        w.store.add_employee(TENANT, "E%03d" % i, "N")

    def change(n):
        if n == 1:  # after the first page, a card for a code before the cursor
            w.store.add_employee(TENANT, "E000", "新人", cards=[NEW_CARD])

    pages = fetch(w, [], hook=change)
    assert w.client.roster_version == 7
    final = [p for p in pages if p["first"]][-1:]  # the fetch that completed
    start = pages.index(final[0])
    codes_held = [e["code"] for p in pages[start:] for e in p["upsert"]]
    assert codes_held == ["E000", "E001", "E002", "E003", "E004", "E005", "E006"]
    assert all(p["version"] == 7 for p in pages[start:])


def test_a_roster_that_changes_on_every_page_still_arrives():
    """PRT-ROSTER-4: after two restarts the fetch finishes, holds its first version and
    fetches the changes since it."""
    w = roster_wire(MemoryStore(), 2)
    for i in range(1, 9):
        w.store.add_employee(TENANT, "E%03d" % i, "N")
    added = []

    def change(n):
        if n <= 8:
            added.append("D%03d" % n)
            w.store.add_employee(TENANT, added[-1], "N")

    pages = fetch(w, [], hook=change, max_steps=80)
    assert w.client.roster_version == w.store.roster_version[TENANT] == 16
    seen = set(e["code"] for p in pages for e in p["upsert"])
    assert set(added) <= seen


# ---------------------------------------------------------------- 10. modes and strictness


def test_a_proxy_error_or_a_server_error_shows_offline_and_protocol_refusals_refused():
    """PRT-CLI-10"""
    cases = [
        (encode_response(502, [], b"bad gateway"), C.HTTP_STATUS, C.MODE_OFFLINE),
        (None, C.SERVER_CODE, C.MODE_OFFLINE),  # a signed 500 code 9
        (encode_response(404, [], b'{"code":12,"message":"not found"}'), C.SERVER_CODE,
         C.MODE_REFUSED),
        (encode_response(415, [], b'{"code":14,"message":"json"}'), C.SERVER_CODE,
         C.MODE_REFUSED),
    ]  # fmt: skip
    for reply, error, mode in cases:
        w = Wire()
        w.step()
        assert w.client.mode == C.MODE_ONLINE
        w.source.add(1)
        if reply is None:
            w.store.fail = RuntimeError("database down")
        else:
            w.fault = lambda request, answer, reply=reply: reply
        out = w.step()
        assert (out.error, out.mode, w.client.mode) == (error, mode, mode), out


def test_an_odd_command_or_window_does_not_lose_the_rest_of_the_heartbeat():
    """PRT-CMD-1, PRT-MNT-1"""
    w = Wire()
    w.settle()
    body = (
        b'{"time":%d,"maintenance":{"now":null,"windows":[{"start":9,"end":3}]},'
        b'"commands":[{"id":"x","op":"resend","from":5,"to":2},{"id":"y","op":"reboot"}]}'
    ) % (w.server_time() + 300)

    def odd(request, reply):
        if b"/v1/heartbeat" in request:
            return answer(request, 200, body)
        return reply

    w.fault = odd
    w.now += 300 * 1000
    out = w.step()
    assert out.ok and [c["id"] for c in out.commands] == ["y"] and out.windows == []
    w.fault = None
    w.client.report("y", "ok", "")
    w.step()
    results = {r[2]["id"]: r[2]["status"] for r in w.store.results}
    assert results == {"x": "rejected", "y": "ok"}


def test_retry_after_jitter_is_at_most_ten_percent():
    """PRT-CLI-5"""
    body = b'{"code":10,"message":"slow down","retry_after":10}'
    waits = []
    for n in range(20):
        client = Client(Identity(TENANT, "T%04d" % n, SECRET), Settings(), boot_id=1)
        client.start(0, EPOCH)
        assert isinstance(client.next_action(0, Source()), Send)
        out = client.receive(0, encode_response(429, [("Retry-After", "10")], body))
        waits.append(out.retry_at)
    assert min(waits) >= 10000 and max(waits) <= 11000
    assert len(set(waits)) >= 15  # spread, not one burst
