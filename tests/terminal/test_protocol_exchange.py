"""Client and server wired together in memory: every exchange of PRT-CLI and PRT-SRV."""

from protocol_support import (
    EPOCH,
    SECRET,
    TENANT,
    TERMINAL,
    UNKNOWN_CARD,
    PickyServer,
    Wire,
    signed_answer,
)

from protocol import client as C
from protocol import codes, sign
from protocol.client import Client, Identity, Send, Settings
from protocol.http import encode_response

# The WASI interpreter corrupts small heaps under GC pressure
# (tests/tools/test_interpreter_issues.py).
MICROPYTHON_HEAPSIZE = "512K"


def held(w):
    return w.store.held(TENANT, TERMINAL)


def test_normal_upload_delivers_every_punch_once():
    """PRT-PUNCH-2, PRT-PUNCH-4, PRT-PUNCH-7, PRT-CLI-1"""
    w = Wire()
    w.source.add(5)
    assert w.run()
    hello, batch = w.outcomes
    assert hello.ok and hello.kind == C.HELLO and hello.mode == C.MODE_ONLINE
    assert batch.ok and batch.delivered == [1, 2, 3, 4, 5]
    assert batch.results == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
    assert batch.held == 5
    assert sorted(held(w)) == [1, 2, 3, 4, 5]
    assert w.sent[1].seqs == (1, 2, 3, 4, 5)


def test_lost_acknowledgement_is_resent_and_answered_like_the_original():
    """PRT-PUNCH-6, PRT-CLI-2"""
    w = Wire()
    w.source.add(2)
    w.source.add(1, card=UNKNOWN_CARD)
    w.step()  # hello
    dropped = []  # type: list[bytes]

    def lose_first_ack(request, answer):
        if b"/v1/punches" in request and not dropped:
            dropped.append(answer)
            return None  # the service stored the punches, the answer never arrived
        return answer

    w.fault = lose_first_ack
    first = w.step()
    assert not first.ok and first.error == C.TIMEOUT and first.delivered == ()
    assert sorted(held(w)) == [1, 2, 3]  # stored by the service, not yet known to the terminal
    assert w.source.unsent_count() == 3
    assert w.run()
    last = w.outcomes[-1]
    assert last.delivered == [1, 2, 3]
    assert last.results == {1: 0, 2: 0, 3: codes.NOT_REGISTERED}  # as the lost answer said
    assert b'{"seq":3,"code":7}' in dropped[0]  # the original answer
    assert sorted(held(w)) == [1, 2, 3]  # stored once
    assert len(w.store.conflicts) == 0


def test_maintenance_503_holds_uploads_until_the_end_then_resends():
    """PRT-MNT-2, PRT-CLI-6, PRT-ERR-2"""
    w = Wire()
    w.step()  # hello before maintenance
    start = w.server_time()
    w.store.windows.append({"start": start, "end": start + 3600, "notice": "upgrade"})
    w.source.add(3)
    out = w.step()
    assert out.status == 503 and out.code == codes.MAINTENANCE and out.error == C.SERVER_CODE
    assert out.mode == C.MODE_MAINTENANCE and out.maintenance["end"] == start + 3600
    assert out.delivered == ()
    assert out.retry_at >= w.now + 3600 * 1000  # Retry-After (and the end) honoured
    requests = len(w.sent)
    action = w.client.next_action(w.now + 3599 * 1000, w.source)
    assert isinstance(action, C.Wait) and len(w.sent) == requests
    assert w.run()
    assert w.now >= 3600 * 1000
    assert sorted(held(w)) == [1, 2, 3]
    assert w.outcomes[-1].mode == C.MODE_ONLINE


def test_hello_announces_windows_and_maintenance_now():
    """PRT-MNT-1, PRT-HELLO-4"""
    w = Wire()
    soon = EPOCH + 14 * 86400
    w.store.windows.append({"start": soon, "end": soon + 7200, "notice": "planned upgrade"})
    out = w.step()
    window = {"start": soon, "end": soon + 7200, "notice": "planned upgrade"}
    assert out.ok and out.windows == [window]
    assert out.maintenance is None and out.mode == C.MODE_ONLINE


def test_rate_limit_429_honours_retry_after():
    """PRT-CLI-5, PRT-ERR-2, PRT-SRV-4"""
    w = Wire()
    w.step()
    w.store.throttle_s = 30
    w.source.add(2)
    out = w.step()
    assert out.status == 429 and out.code == codes.RATE_LIMITED and out.delivered == ()
    assert out.retry_at >= w.now + 30000
    w.store.throttle_s = 0
    assert w.run()
    assert w.now >= 30000 and sorted(held(w)) == [1, 2]


def test_server_error_5xx_stores_nothing_and_backs_off():
    """PRT-PUNCH-8, PRT-CLI-4"""
    w = Wire()
    w.step()
    w.store.fail = RuntimeError("database down")
    w.source.add(2)
    out = w.step()
    assert out.status == 500 and out.code == codes.SERVER_ERROR and out.delivered == ()
    assert "[res=9]" in out.log
    assert held(w) == {}
    assert out.retry_at >= w.now + 5000
    w.store.fail = None
    assert w.run()
    assert sorted(held(w)) == [1, 2]


def hostile(answer_bytes):
    def fault(request, answer):
        return answer_bytes

    return fault


def check_refused(w, out, error):
    assert not out.ok and out.error == error, out
    assert out.delivered == () and w.source.unsent_count() == 2
    assert out.retry_at > w.now


def test_garbage_truncated_oversized_and_forged_replies_deliver_nothing():
    """PRT-MSG-3, PRT-CLI-9"""
    cases = [
        (b"\x00\xffgarbage\r\n\r\n", C.BAD_REPLY),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n{"time":', C.BAD_REPLY),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", C.BAD_REPLY),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", C.BAD_REPLY),
        (b"", C.NO_ROUTE),  # connection closed without a byte
        (b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", C.HTTP_STATUS),
    ]
    for reply, error in cases:
        w = Wire()
        w.step()
        w.source.add(2)
        w.fault = hostile(reply)
        check_refused(w, w.step(), error)


def test_ack_without_or_with_a_wrong_signature_is_not_believed():
    """PRT-AUTH-4, PRT-CLI-11"""
    body = b'{"time":1795000000,"results":[{"seq":1,"code":0},{"seq":2,"code":0}],"high":2}'
    unsigned = encode_response(200, [("Content-Type", "application/json")], body)
    forged_sig = sign.sign(b"not the secret", sign.response_string(200, "x", body))
    forged = encode_response(200, [("Dakoku-Signature", forged_sig)], body)
    for reply in (unsigned, forged):
        w = Wire()
        w.step()
        w.source.add(2)
        w.fault = hostile(reply)
        out = w.step()
        check_refused(w, out, C.BAD_REPLY)
        assert "signature" in out.log


def test_an_old_signed_answer_replayed_to_the_terminal_is_not_believed():
    """PRT-AUTH-4"""
    w = Wire()
    w.step()
    w.source.add(2)
    captured = []

    def capture(request, answer):
        captured.append(answer)
        return None

    w.fault = capture
    w.step()  # the service stores and answers; the answer is captured, not delivered
    w.fault = hostile(captured[0])  # replayed for the next request (another nonce)
    out = w.step()
    check_refused(w, out, C.BAD_REPLY)


def test_a_signed_ack_that_leaves_out_a_punch_is_not_believed():
    """PRT-PUNCH-4"""
    w = Wire()
    w.step()
    w.source.add(2)

    def drop_result(request, answer):
        return signed_answer(
            request, b'{"time":1795000000,"results":[{"seq":1,"code":0}],"high":2}'
        )

    w.fault = drop_result
    out = w.step()
    check_refused(w, out, C.BAD_REPLY)
    assert "results" in out.log


def test_reply_arriving_too_slowly_times_out():
    """PRT-CLI-2"""
    w = Wire()
    w.step()
    w.source.add(2)
    action = w.client.next_action(w.now, w.source)
    answer = w.server.handle(action.data, w.server_time())
    out = None
    t = w.now
    for i in range(len(answer)):
        t += 500  # one byte every half second
        out = w.client.receive(t, answer[i : i + 1])
        if out is not None:
            break
    assert out is not None and out.error == C.TIMEOUT and out.delivered == ()
    assert t > action.deadline_ms


def test_deadline_without_any_byte_times_out():
    """PRT-CLI-2, PRT-CLI-9"""
    w = Wire()
    w.step()
    w.source.add(1)
    action = w.client.next_action(w.now, w.source)
    assert isinstance(action, Send)
    out = w.client.timed_out(action.deadline_ms)
    assert out.error == C.TIMEOUT and "no complete reply" in out.log and out.delivered == ()


def test_unsynced_clock_punches_are_stored_and_flagged():
    """PRT-PUNCH-1, PRT-PUNCH-5"""
    w = Wire()
    w.source.synced = False
    w.source.add(2, synced=False, time=42)
    assert w.run()
    last = w.outcomes[-1]
    assert last.results == {1: codes.CLOCK_UNSYNCED, 2: codes.CLOCK_UNSYNCED}
    assert b'"up":42,"boot":7' in w.sent[-1].data
    stored = held(w)[1][0]
    assert stored[5] is False and stored[7] == 7  # clock_synced, boot_id


def test_poison_record_is_isolated_set_aside_and_never_blocks_the_rest():
    """PRT-CLI-7, PRT-ERR-3"""
    w = Wire()
    w.server = PickyServer(w.store, 7)
    w.source.add(20)
    assert w.run(max_steps=40)
    aside = []
    for out in w.outcomes:
        aside.extend(out.set_aside)
    assert [seq for seq, _ in aside] == [7]
    assert "refused" in aside[0][1]
    assert sorted(held(w)) == [i for i in range(1, 21) if i != 7]
    assert len(w.sent) <= 8  # hello, 20 (refused), 6, the bad one twice, the rest


def test_poison_without_an_index_is_found_by_halving():
    """PRT-CLI-7"""

    w = Wire()
    w.server = PickyServer(w.store, 7, indexed=False)
    w.source.add(16)
    assert w.run(max_steps=40)
    assert sorted(held(w)) == [i for i in range(1, 17) if i != 7]
    assert len(w.sent) < 16


def test_an_unsigned_400_never_sets_a_punch_aside():
    """PRT-CLI-7, PRT-ERR-4"""
    w = Wire()
    w.step()
    w.source.add(1)
    body = b'{"code":1,"message":"bad","field":"punches[0].t"}'
    w.fault = hostile(encode_response(400, [], body))
    for _ in range(4):
        out = w.step()
        assert out is None or out.set_aside == ()
    assert w.source.unsent_count() == 1


def test_replayed_request_is_refused_and_stores_nothing_new():
    """PRT-AUTH-3"""
    w = Wire()
    w.step()
    w.source.add(1)
    w.step()
    request = w.sent[-1].data
    again = w.server.handle(request, w.server_time())
    assert again.startswith(b"HTTP/1.1 401 ")
    assert b'"code":4' in again
    assert sorted(held(w)) == [1]


def test_a_repeated_boot_id_gets_fresh_nonces_after_one_replay_answer():
    """PRT-AUTH-3, PRT-AUTH-5"""
    w = Wire()
    w.source.add(1)
    assert w.run()
    again = Wire(store=w.store)  # the same terminal after a reboot that reused its boot ID
    again.now = w.now
    again.source = w.source
    again.source.add(1)
    first = again.step()
    assert first.code == codes.REPLAYED and first.retry_at == again.now
    assert again.run(max_steps=5)
    assert sorted(held(again)) == [1, 2]


def test_wrong_secret_is_refused_with_res_2_and_nothing_stored():
    """PRT-AUTH-2, PRT-CLI-10"""
    w = Wire(secret=b"wrong secret, 16+ bytes")
    w.source.add(1)
    out = w.step()
    assert out.status == 401 and out.code == codes.BAD_SIGNATURE and "[res=2]" in out.log
    assert out.mode == C.MODE_REFUSED
    w.run(max_steps=5)
    assert held(w) == {} and w.source.unsent_count() == 1


def test_terminal_clock_a_year_wrong_is_corrected_by_a_signed_answer():
    """PRT-AUTH-3, PRT-CLI-8"""
    w = Wire(clock_epoch=EPOCH - 365 * 86400)
    w.source.add(1)
    first = w.step()
    assert first.code == codes.STALE_TIME and first.server_time == EPOCH
    assert first.retry_at == w.now  # retried at once, not after a back-off
    assert w.run()
    assert sorted(held(w)) == [1]


def test_terminal_without_any_clock_learns_the_time_too():
    """PRT-AUTH-3"""
    w = Wire(clock_epoch=None)
    w.source.add(1)
    assert w.run()
    assert sorted(held(w)) == [1]


def test_unknown_tenant_and_disabled_terminal_give_res_5_and_6():
    """PRT-ERR-1"""
    w = Wire()
    w.store.tenants.clear()
    out = w.step()
    assert out.code == codes.TENANT_UNUSABLE and "[res=5]" in out.log and out.status == 403
    w = Wire()
    w.store.terminals[(TENANT, TERMINAL)]["enabled"] = False
    out = w.step()
    assert out.code == codes.TERMINAL_UNUSABLE and "[res=6]" in out.log


def test_link_errors_are_classified_and_hello_follows_reconnection():
    """PRT-CLI-1, PRT-CLI-9"""
    w = Wire()
    w.step()
    w.source.add(1)
    action = w.client.next_action(w.now, w.source)
    assert isinstance(action, Send)
    out = w.client.link_down(w.now)
    assert out.error == C.NO_LINK and out.mode == C.MODE_OFFLINE and out.delivered == ()
    out = w.client.failed(w.now, C.NO_ROUTE, "name not resolved")
    assert out.error == C.NO_ROUTE and "name not resolved" in out.log
    w.client.link_up(w.now)
    assert w.run()
    kinds = [s.kind for s in w.sent]
    assert kinds[-2:] == [C.HELLO, C.PUNCHES]


def test_backoff_doubles_with_jitter_up_to_the_cap():
    """PRT-CLI-4"""
    settings = Settings(backoff_min_ms=1000, backoff_cap_ms=8000)
    w = Wire(settings=settings)
    waits = []
    for _ in range(7):
        before = w.now
        action = w.client.next_action(w.now, w.source)
        assert isinstance(action, Send)
        out = w.client.failed(w.now, C.NO_ROUTE)
        waits.append(out.retry_at - before)
        w.now = out.retry_at
    bases = [1000, 2000, 4000, 8000, 8000, 8000, 8000]
    for wait, base in zip(waits, bases):
        assert base <= wait < base * 3 // 2 + 1, (waits, bases)


def test_a_fleet_spreads_out_its_retries():
    """PRT-CLI-4"""
    retries = []
    for n in range(20):
        identity = Identity(TENANT, "T%04d" % n, SECRET)
        client = Client(identity, Settings(), boot_id=1)
        client.start(0, EPOCH)
        client.next_action(0, _Empty())
        retries.append(client.failed(0, C.TIMEOUT).retry_at)
    assert min(retries) >= 5000 and max(retries) < 7500
    assert len(set(retries)) >= 15  # not one burst


class _Empty:
    def unsent(self, limit=-1):
        return iter(())

    def journal_status(self):
        return {"next_seq": 1, "unsent": 0, "capacity": 10}

    def clock_state(self):
        return {"synced": False, "boot": 1, "up": 0}


def test_batches_respect_the_service_limits():
    """PRT-HELLO-4, PRT-PUNCH-2"""
    w = Wire(batch=10)
    w.source.add(25)
    assert w.run()
    sizes = [len(s.seqs) for s in w.sent if s.kind == C.PUNCHES]
    assert sizes == [10, 10, 5]


def test_heartbeat_carries_commands_and_their_results():
    """PRT-HB-1, PRT-CMD-1, PRT-CMD-2, PRT-CMD-3"""
    w = Wire()
    w.source.add(3)
    w.settle()
    assert w.source.unsent_count() == 0
    w.store.pending[(TENANT, TERMINAL)] = [
        {"id": "c1", "op": "resend", "from": 1, "to": 3},
        {"id": "c2", "op": "reboot"},
        {"id": "c3", "op": "self_destruct"},
        {"id": "c4", "op": "upload_now"},
    ]
    w.now += 300 * 1000
    out = w.step()
    assert out.kind == C.HEARTBEAT and [c["op"] for c in out.commands] == ["reboot"]
    w.client.report("c2", "ok", "")
    w.run(max_steps=4, until=lambda: len(w.store.results) >= 4)
    resend = [o for o in w.outcomes if o.kind == C.PUNCHES][-1]
    assert resend.delivered == [1, 2, 3] and resend.results == {1: 0, 2: 0, 3: 0}
    results = {r[2]["id"]: r[2]["status"] for r in w.store.results}
    assert results == {"c1": "ok", "c2": "ok", "c3": "rejected", "c4": "ok"}
    assert sorted(held(w)) == [1, 2, 3]


def test_resend_of_punches_no_longer_held_is_reported_failed():
    """PRT-CMD-3"""
    w = Wire()
    w.source.add(2)
    w.settle()
    w.store.pending[(TENANT, TERMINAL)] = [{"id": "r", "op": "resend", "from": 1, "to": 900000}]
    w.now += 300 * 1000
    w.step()
    w.run(max_steps=5, until=lambda: len(w.store.results) >= 1)
    result = w.store.results[0][2]
    assert result["id"] == "r" and result["status"] == "failed"
    assert "899998" in result["detail"]


def test_roster_is_fetched_in_pages_when_the_service_has_a_newer_version():
    """PRT-ROSTER-1, PRT-ROSTER-2"""
    w = Wire(roster_page=2)
    w.apply_roster = False  # this test confirms the pages itself
    for i in range(2, 7):
        card = bytes([2, i, 0, 0, 0, 0, 0, 0])
        w.store.add_employee(TENANT, "E%03d" % i, "社員 %d" % i, cards=[card])
    pages = []
    for _ in range(8):
        out = w.step()
        if out is not None and out.roster is not None:
            pages.append(out.roster)
            if len(pages) == 1:  # not applied yet: the client asks for no further page
                for _ in range(3):
                    later = w.step()
                    assert later is None or later.roster is None
            last = out.roster["next"] is None
            w.client.roster_applied(out.roster["version"] if last else w.client.roster_version)
    codes_seen = [e["code"] for p in pages for e in p["upsert"]]
    assert codes_seen == ["E001", "E002", "E003", "E004", "E005", "E006"]
    assert pages[0]["full"] is True and pages[0]["upsert"][0]["lines"] == ["残業残り 40 h"]
    assert w.client.roster_version == 6
    w.store.remove_employee(TENANT, "E002")
    w.now += 300 * 1000
    for _ in range(3):
        out = w.step()
        if out is not None and out.roster is not None:
            assert out.roster["delete"] == ["E002"] and out.roster["full"] is False


def test_event_log_upload_command():
    """PRT-LOG-1"""
    w = Wire()
    w.source.events = [{"n": i, "code": 40, "up": i, "boot": 7, "text": "ev"} for i in range(1, 8)]
    w.step()
    w.store.pending[(TENANT, TERMINAL)] = [{"id": "L", "op": "upload_log", "since": 2}]
    w.now += 300 * 1000
    w.run(max_steps=8, until=lambda: len(w.store.results) >= 1)
    assert sorted(w.store.logs[(TENANT, TERMINAL)]) == [3, 4, 5, 6, 7]
    assert w.store.results[0][2]["status"] == "ok"


def test_hello_passes_on_config_and_minimum_offline_firmware():
    """PRT-HELLO-4, PRT-MNT-3"""
    w = Wire()
    w.store.config[(TENANT, TERMINAL)] = {"version": 3, "values": {"double_punch_s": 90}}
    w.store.min_offline_fw = "1.3.0"
    out = w.step()
    assert out.config == {"version": 3, "values": {"double_punch_s": 90}}
    assert out.min_offline_fw == "1.3.0"
    assert not C.firmware_allowed("1.2.0", out.min_offline_fw)
    assert C.firmware_allowed("1.3.0", "1.3.0") and C.firmware_allowed("1.10", "1.9.9")
    assert C.firmware_allowed("1.3.0-rc1", "1.3") and not C.firmware_allowed("1.2.9x", "1.3")
    assert not C.firmware_allowed("dev", "0.1")  # no digits: version 0


def test_the_roster_cursor_is_percent_encoded():
    """PRT-ROSTER-1: the cursor goes back as the ``after`` query parameter."""
    assert C.quote("E0001") == "E0001"
    assert C.quote("A-1._~z") == "A-1._~z"
    assert C.quote("a b/&=") == "a%20b%2F%26%3D"
    assert C.quote("社員") == "%E7%A4%BE%E5%93%A1"
    assert C.quote("") == ""


def test_roster_fetch_ends_even_if_the_caller_never_confirms_or_the_cursor_stalls():
    """PRT-ROSTER-1"""
    w = Wire(roster_page=1)
    w.store.add_employee(TENANT, "E002", "B")
    w.apply_roster = False  # a caller that never confirms the roster
    for _ in range(6):
        w.settle()
    kinds = [s.kind for s in w.sent]
    assert kinds.count(C.ROSTER) == 1  # one page, then it waits for the caller: no loop
    w.client.roster_applied(w.client.roster_version)
    w.apply_roster = True
    w.settle()
    assert [s.kind for s in w.sent].count(C.ROSTER) == 2 and w.client.roster_version == 2
    stalled = b'{"time":1795000000,"version":9,"upsert":[],"delete":[],"next":"E001"}'

    def same_cursor(request, answer):
        if b"/v1/roster" not in request:
            return answer
        return signed_answer(request, stalled)

    w.fault = same_cursor
    w.store.add_employee(TENANT, "E003", "C")
    w.now += 300 * 1000
    stalls = []
    for _ in range(12):
        out = w.step()
        if out is not None and out.kind == C.ROSTER and not out.ok:
            assert out.error == C.BAD_REPLY and "cursor" in out.log
            stalls.append(w.now)
    assert w.client.roster_version == 2  # a fetch that never ended is not claimed (issue 15)
    gaps = [stalls[i + 1] - stalls[i] for i in range(len(stalls) - 1)]
    assert len(gaps) >= 2 and gaps[0] >= 5000 and gaps[-1] > gaps[0]  # backed off, growing


def test_roster_pages_never_exceed_what_the_terminal_asks_for():
    """PRT-ROSTER-1"""
    w = Wire(settings=Settings(roster_page=2))
    for i in range(2, 7):
        w.store.add_employee(TENANT, "E%03d" % i, "N", cards=[bytes([3, i, 0, 0, 0, 0, 0, 0])])
    w.settle()
    sizes = [len(o.roster["upsert"]) for o in w.outcomes if o.roster is not None]
    assert sizes == [2, 2, 2] and w.client.roster_version == 6


NEW_CARD = bytes([1, 46, 76, 210, 9, 9, 9, 9])


def test_enrolment_of_a_card_is_sent_after_hello_and_the_roster_follows():
    """PRT-ENROL-1, PRT-ENROL-2, PRT-ENROL-4"""
    w = Wire()
    w.step()  # hello
    version = w.client.server_roster
    w.source.add(1)  # a punch is waiting too: the enrolment goes first
    w.client.enrol(w.now, "E001", 1, NEW_CARD)
    out = w.step()
    assert out.kind == C.ENROL and out.ok and out.mode == C.MODE_ONLINE
    assert out.enrolment == {"ok": True, "code": "E001", "name": "山田 太郎",
                             "roster": version + 1}  # fmt: skip
    assert w.store.credential_known(TENANT, 1, NEW_CARD)
    assert not w.client.enrolling
    kinds = [w.step().kind for _ in range(2)]
    assert kinds == [C.PUNCHES, C.ROSTER]  # then the roster version that holds the card
    # The same card again changes nothing and is answered the same way.
    w.client.enrol(w.now, "E001", 1, NEW_CARD)
    assert w.step().enrolment["roster"] == version + 1


def test_enrolment_of_a_finger_template():
    """PRT-ENROL-1"""
    w = Wire()
    w.step()
    w.client.enrol(w.now, "E001", 2, (513).to_bytes(2, "big"))
    out = w.step()
    assert out.enrolment["ok"]
    assert w.store.employees[(TENANT, "E001")]["fingers"] == [513]


def test_enrolment_refusals_do_not_take_the_terminal_offline():
    """PRT-ENROL-3"""
    w = Wire()
    w.store.add_employee(TENANT, "E002", "佐藤", cards=[NEW_CARD])
    w.step()
    w.client.enrol(w.now, "E999", 1, bytes(8))
    out = w.step()
    assert (out.status, out.code, out.enrolment) == (
        404, codes.UNKNOWN_EMPLOYEE, {"ok": False, "code": 15, "error": C.SERVER_CODE}
    )  # fmt: skip
    assert out.mode == C.MODE_ONLINE and w.client.mode == C.MODE_ONLINE
    w.client.enrol(w.now, "E001", 1, NEW_CARD)  # E002's card
    out = w.step()
    assert (out.status, out.code) == (409, codes.CREDENTIAL_TAKEN)
    assert out.enrolment["ok"] is False and out.mode == C.MODE_ONLINE
    w.client.enrol(w.now, "E001", 1, b"\x01\x02")  # not an IDm
    out = w.step()
    assert (out.status, out.code, out.enrolment["ok"]) == (400, codes.MALFORMED, False)
    w.source.add(1)
    assert w.run()  # punching goes on as before
    assert not w.client.enrolling


def test_enrolment_is_never_kept_for_later():
    """PRT-ENROL-4, MNT-05: maintenance or no link ends it with the failure."""
    w = Wire()
    w.step()
    now = w.server_time()
    w.store.windows.append({"start": now, "end": now + 600, "notice": "upgrade"})
    w.client.enrol(w.now, "E001", 1, NEW_CARD)
    out = w.step()
    assert out.status == 503 and out.enrolment == {"ok": False, "code": 8, "error": C.SERVER_CODE}
    assert not w.client.enrolling and not w.store.credential_known(TENANT, 1, NEW_CARD)
    w.store.windows = []
    w.run(max_steps=5, until=lambda: w.client.mode == C.MODE_ONLINE)
    w.client.enrol(w.now, "E001", 1, NEW_CARD)
    action = w.client.next_action(w.now, w.source)
    out = w.client.failed(w.now, C.NO_ROUTE, "no route")
    assert action.kind == C.ENROL and out.enrolment == {"ok": False, "code": None,
                                                        "error": C.NO_ROUTE}  # fmt: skip
    assert not w.client.enrolling
