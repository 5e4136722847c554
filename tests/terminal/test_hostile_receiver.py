"""The terminal against a hostile path or receiver (issue 15, items 11-15): what a signed or
unsigned answer may not do to it. Through the desktop rig (simulator/door.py) on both runtimes."""

from firmware import eventlog
from firmware.bootcount import BootCounter
from firmware.clock import LATEST_VALID
from firmware.config import Config
from protocol import messages
from protocol.client import BAD_REPLY, Client, Identity
from protocol.commandgate import BURST, REFILL_MS, CommandGate
from protocol.http import encode_response
from protocol.memstore import MemoryStore
from simulator.door import SECRET, TENANT, TERMINAL, Rig, card_of
from simulator.norflash import PowerCut, SimulatedNorFlash

MICROPYTHON_HEAPSIZE = "32M"  # the rig's four partitions (see test_terminal.py)


def rig(**kw):
    kw.setdefault("sector_size", 1024)
    r = Rig(**kw)
    r.settle()  # hello, roster
    return r


def events(r, code):
    return [e for e in r.log.events(0, 1000) if e["code"] == code]


# ------------------------------------------------------------ item 11: what the secret is


def _refused(secret):
    try:
        Identity(TENANT, "T0001", secret)
    except ValueError as e:
        return str(e)
    raise AssertionError("secret %r accepted" % (secret,))


def test_a_secret_is_bytes_or_the_receivers_hex_and_anything_else_is_a_clear_error():
    """PRT-AUTH-1: the hex text is decoded (the key is the bytes); bad secrets are refused at
    start-up with a message naming the secret, not as a 401 from the receiver later."""
    printed = "000102030405060708090a0b0c0d0e0f"
    assert Identity(TENANT, "T0001", printed).secret == bytes(range(16))
    assert Identity(TENANT, "T0001", " " + printed + "\n").secret == bytes(range(16))
    assert Identity(TENANT, "T0001", bytes(range(16))).secret == bytes(range(16))
    assert "hex" in _refused("zz" * 16)
    assert "hex" in _refused(printed[:-1])  # odd length
    assert "hex" in _refused("")
    assert "16 bytes" in _refused(printed[:30])
    assert "16 bytes" in _refused(b"short")


# --------------------------------------------------- item 12: nonces never repeat, ever


def _nonce(request):
    return request.split(b"Dakoku-Nonce: ")[1].split(b"\r\n")[0]


def test_a_recorded_answer_replayed_after_the_boot_id_repeats_is_refused():
    """PRT-AUTH-4, PRT-AUTH-5, PRT-SAFE-1: an on-path attacker records the hello answer of one
    boot and replays it an hour later to the first request of a boot with the same boot ID
    (and no board entropy at all). The nonces differ (the boot counter), so the answer's
    signature does not hold: no clock set back, not online."""
    r = Rig(sector_size=1024)  # boot ID 1, like every boot of this rig
    server = r.server
    recorded = []

    def record(data, t):
        answer = server.handle(data, t)
        recorded.append((data, answer))
        return answer

    r.service = record
    r.settle()
    hello_request, hello_answer = recorded[0]
    assert b"/v1/hello" in hello_request and r.terminal.mode == "online"
    r.now += 3600 * 1000
    r.power_on()  # the same boot ID, an hour later (the RTC kept time)
    seen = []

    def replay(data, t):
        seen.append(data)
        return hello_answer  # whatever the terminal asks

    r.service = replay
    r.exchange()
    assert b"/v1/hello" in seen[0] and _nonce(seen[0]) != _nonce(hello_request)
    streak = r.uplink._streak  # [request kind, failures, failure kinds logged, last ms]
    assert r.terminal.mode == "offline" and streak is not None and streak[2][-1][0] == BAD_REPLY
    assert abs(r.clock.now(r.now) - (r.epoch0 + 3600)) < 5  # not set back an hour
    jumps = [e for e in events(r, eventlog.CLOCK_JUMP) if e["up"] >= 3600]
    assert jumps == []


def test_nonces_differ_across_boots_with_the_same_boot_id_and_no_entropy():
    """PRT-AUTH-5: the boot counter is the nonce's first part, so two boots with the same boot
    ID and no entropy send different nonces from their first request on."""
    from protocol_support import EPOCH, Source

    identity = Identity(TENANT, TERMINAL, SECRET)
    nonces = []
    for boot_count in (41, 42):
        client = Client(identity, boot_id=7, boot_count=boot_count)
        client.start(0, EPOCH)
        now = 0
        for _ in range(3):
            action = client.next_action(now, Source())
            nonce = _nonce(action.data).decode()
            assert len(nonce) == 24 and nonce.startswith("%08x" % boot_count)
            nonces.append(nonce)
            now = client.failed(now, "no_link").retry_at
    assert len(set(nonces)) == 6


def _boots(flash, n):
    values = []
    for _ in range(n):
        values.append(BootCounter.mount(flash).advance())
    return values


def test_the_boot_counter_grows_across_boots_and_sector_changes():
    """firmware.bootcount: 1, 2, 3 … across mounts, through the ring of two sectors (64
    records each at 1 KiB), with an erase only when a sector is full."""
    flash = SimulatedNorFlash(1024, 2)
    assert _boots(flash, 150) == list(range(1, 151))
    assert flash.erases == 2  # entering sector 1 at 65, back to sector 0 at 129
    assert BootCounter.mount(flash).value == 150


def test_a_power_cut_while_counting_never_lets_a_used_value_come_back():
    """A cut at any flash step of a boot's advance (program, or the erase at a sector change):
    every value returned before stays below every value returned after."""
    for cut in (1, 2):
        for before in (3, 64, 128):  # a program; the erase at a sector change; the wrap
            flash = SimulatedNorFlash(1024, 2)
            used = _boots(flash, before)
            flash.cut_at(cut)
            try:
                BootCounter.mount(flash).advance()
            except PowerCut:
                pass
            flash.disarm()
            flash.power_on()
            after = _boots(flash, 3)
            assert after[0] > used[-1], (cut, before, used[-1], after)
            assert after == sorted(set(after))


def test_a_board_without_a_boot_counter_logs_it_and_still_runs():
    """Nonces then rest on the boot ID and the board's entropy: the self-test says so."""
    from firmware.bootcount import count_boot

    r = rig()
    assert count_boot(None, r.log, r.now, 1) is None
    assert "no boot counter region" in events(r, eventlog.SELF_TEST)[-1]["text"]


# ----------------------------------------------------------- item 13: times out of range


def test_a_signed_time_past_the_sane_range_is_refused_logged_and_taps_go_on():
    """PRT-HELLO-4, PRT-SAFE-2: the receiver's clock at 0xFFFFFFFD (signed, in the schema's
    range) never reaches the terminal's clock or RTC; taps are recorded; logged once."""
    r = rig()
    before = r.clock.now(r.now)
    server = r.server

    def far_future(data, _t):
        return server.handle(data, 0xFFFFFFFD)

    r.service = far_future
    r.uplink.client.link_up(r.now)  # hello again
    r.run_until(r.now + 30 * 1000)
    assert r.terminal.mode == "online"  # the receiver is reached; only its time is refused
    assert r.clock.valid and r.clock.now(r.now) - before < 60  # still our own time
    refused = events(r, eventlog.CLOCK_REFUSED)
    assert len(refused) == 1 and "4294967293" in refused[0]["text"]
    assert r.rtc_writes == []  # nothing went to the RTC
    r.run_until(r.now + 5000)
    r.tap(1)
    assert r.terminal.state == "feedback" and r.last_screen().style == "ok"
    assert r.journal.next_seq == 2


def test_set_time_out_of_range_is_rejected_and_the_clock_kept():
    """PRT-CMD-1, PRT-SAFE-2: a time the terminal cannot hold is rejected, not obeyed."""
    r = rig()
    before = r.clock.now(r.now)
    r.uplink._command(r.now, {"id": "c1", "op": "set_time", "time": LATEST_VALID + 10})
    assert r.clock.now(r.now) == before
    assert r.uplink.client._results[-1]["status"] == "rejected"
    assert "out of range" in r.uplink.client._results[-1]["detail"]
    assert len(events(r, eventlog.CLOCK_REFUSED)) == 1


def test_an_rtc_past_the_sane_range_at_boot_means_no_valid_clock_and_taps_still_work():
    """After a reboot with a bad time in the RTC (written by an older firmware): the clock is
    invalid (logged), punches are taken with seconds since boot."""
    r = rig(rtc=0xFFFFFFFD)
    assert not r.clock.valid or r.clock.now(r.now) < LATEST_VALID
    r.network = False
    r.power_on()
    assert not r.clock.valid and r.terminal.state == "clock_invalid"
    assert len(events(r, eventlog.CLOCK_REFUSED)) >= 1
    r.run_until(r.now + 6000)
    r.tap(1)
    assert r.last_screen().style == "offline"
    punch = next(iter(r.journal.unsent()))
    assert not punch.clock_synced


class _Exploding:
    def __init__(self, what):
        self.what = what

    def lookup_card(self, idm):
        raise self.what


def test_no_exception_escapes_a_tap():
    """Whatever goes wrong inside a tap is logged and answered with an error screen; the board's
    loop never sees it, and the next tap works."""
    r = rig()
    roster = r.terminal.roster
    r.terminal.roster = _Exploding(ValueError("time out of range"))
    actions = r.tap(1)
    assert r.last_screen().style == "error" and any(
        getattr(a, "pattern", "") == "error" for a in actions
    )
    failed = events(r, eventlog.TAP_FAILED)
    assert len(failed) == 1 and "time out of range" in failed[0]["text"]
    r.terminal.roster = roster
    r.run_until(r.now + 3000)
    assert r.terminal.state == "ready"
    r.tap(2)
    assert r.last_screen().style == "ok" and r.journal.next_seq == 2


def test_a_tap_that_fails_after_its_punch_is_stored_says_recorded():
    """The punch is on flash: the screen must not say "could not record" (the employee would
    tap again)."""
    r = rig()

    def broken(data):
        raise KeyError("lines")

    r.terminal.say_ok = broken
    r.tap(1)
    assert r.journal.next_seq == 2 and r.last_screen().style == "ok"
    assert r.last_screen().lines == ("記録しました",)
    assert len(events(r, eventlog.TAP_FAILED)) == 1


def test_a_punch_that_cannot_be_stored_is_refused_not_raised():
    """The journal refuses a punch whose time it cannot hold (ValueError): the tap says so."""
    r = rig()
    r.clock._base = 0x100000000  # as if the clock had run past what the journal stores
    r.tap(1)
    assert r.last_screen().style == "error"
    assert r.journal.next_seq == 1
    assert r.terminal.state == "feedback"


# --------------------------------------------------- item 15: text from the wire, roster pages


def _has_controls(text):
    for ch in text:
        if ord(ch) < 32 or 127 <= ord(ch) < 160 or 0x2028 <= ord(ch) <= 0x202E:
            return True
        if 0x2066 <= ord(ch) <= 0x2069:
            return True
    return False


def test_clean_replaces_every_control_character_and_keeps_the_rest():
    """PRT-SAFE-4"""
    plain = "山田 太郎: [res=8] メンテナンス 12:00-12:45"
    assert messages.clean(plain) is plain  # nothing to do: the same object, no allocation
    dirty = "a\r\nb\tc\x00d\x1b[2Je\x7ff\x85g\u2028h\u202ei\u2066j\u00e9\u30a2"
    assert messages.clean(dirty) == "a??b?c?d?[2Je?f?g?h?i?j\u00e9\u30a2"
    assert not _has_controls(messages.clean(dirty))


def test_unsigned_error_text_is_cleaned_before_the_event_log_holds_it():
    """PRT-SAFE-4, PRT-ERR-4: a proxy's (or a forger's) 400 with line breaks and escape
    sequences in its message; the event log (uploaded later) gets it cleaned."""
    r = rig()
    body = b'{"code":1,"message":"bad\\r\\n07:00 [res=0] fine\\u001b[2J\\u0085\\u202e!"}'
    r.service = lambda data, t: encode_response(400, [], body)
    r.tap(1)
    r.settle()
    texts = [e["text"] for e in events(r, eventlog.NET_ERROR)]
    assert texts and "bad??07:00 [res=0] fine?[2J??!" in texts[-1]
    for e in r.log.events(0, 1000):
        assert not _has_controls(e["text"]), e


def test_names_and_lines_from_the_roster_are_cleaned_before_they_are_shown():
    """PRT-SAFE-4: the display shows what the roster says, without control characters."""
    r = Rig(sector_size=1024)
    r.store.add_employee(TENANT, "E9999", "悪意\x1b[2J\n社員", cards=[card_of(500)],
                         lines=["残業\r\n残り 1 h"])  # fmt: skip
    r.settle()
    r.tap(500)
    lines = r.last_screen().lines
    assert lines[0] == "悪意?[2J?社員" and lines[2] == "残業??残り 1 h"


def test_the_receiver_cleans_the_texts_a_terminal_uploads():
    """PRT-SAFE-4 on the receiver's side: event texts and command details are cleaned when
    decoded, before they are stored or shown."""
    log = messages.decode_log(b'{"events":[{"n":1,"code":20,"up":1,"text":"x\\ny"}]}', 10)
    assert log[0]["text"] == "x?y"
    beat = messages.decode_heartbeat(
        b'{"journal":{"next":1,"unsent":0,"cap":9},"clock":{"synced":false,"boot":1,"up":1},'
        b'"results":[{"id":"c1","status":"ok","detail":"d\\u001b"}]}'
    )
    assert beat["results"][0]["detail"] == "d?"


def test_a_roster_page_larger_than_asked_is_refused_and_nothing_applied():
    """PRT-ROSTER-1, PRT-SAFE-5: the terminal asked for 5 employees a page; a receiver that
    sends all 10 at once is not trusted with the terminal's RAM."""
    r = Rig(sector_size=1024)
    store = r.store

    def greedy(tenant, since, after, limit):
        return MemoryStore.roster(store, tenant, since, after, 1000)

    store.roster = greedy  # type: ignore[method-assign]
    r.settle()
    assert r.roster.count == 0 and r.roster.version == 0
    refused = [e["text"] for e in events(r, eventlog.NET_ERROR)]
    assert refused and "more than 5" in refused[0]
    assert r.uplink.client.mode == "offline"  # a bad reply (PRT-CLI-10), then back-off
    streak = r.uplink._streak  # [request kind, failures, failure kinds logged, last ms]
    assert streak is not None and streak[2][-1][0] == BAD_REPLY


# ------------------------------------------------------------------ item 14: command floods


def _flood(store, per_answer=20):
    """Every heartbeat answer carries ``per_answer`` identical set_config commands under new
    IDs; returns the list of results the receiver got back."""
    issued = [0]
    results = []

    def commands(tenant, terminal_id, reported, now):
        results.extend(reported)
        cmds = []
        for _ in range(per_answer):
            issued[0] += 1
            config = {"version": 5, "values": {"language": "en"}}
            cmds.append({"id": "c%d" % issued[0], "op": "set_config", "config": config})
        return cmds

    store.commands = commands
    return results


def test_a_command_flood_neither_wears_the_flash_nor_floods_the_link():
    """PRT-SAFE-3: 20 identical set_config commands in every heartbeat answer for a minute.
    Measured before the fix: 600 heartbeats (in 6 s of virtual time: the loop never
    waited), 12,000 configuration-sector erases, 774 event-log erases. Now: a heartbeat with
    results at most every 10 s, the configuration written once, the burst logged once."""
    r = rig()
    results = _flood(r.store)
    config_erases, log_erases = r.config_flash.erases, r.log_flash.erases
    beats = [0]
    service = r.service

    def count(data, t):
        if b"/v1/heartbeat" in data:
            beats[0] += 1
        return service(data, t)

    r.service = count
    r.uplink.client._heartbeat_at = r.now  # a heartbeat is due now
    end = r.now + 60000
    while r.now < end and beats[0] < 600:  # bounded: the code before never let time move
        r.tick()
        for _ in range(10):
            if not r.exchange():
                break
        r.now += 500
    assert beats[0] <= 7, beats[0]
    assert r.config_flash.erases - config_erases == 1  # version 5, once
    assert r.log_flash.erases - log_erases == 0
    assert r.config["language"] == "en" and r.config.version == 5
    logged = [e["text"] for e in events(r, eventlog.COMMAND)]
    assert len([t for t in logged if "refused" in t]) == 1
    assert len(logged) <= 2  # the one set_config that ran, and the burst
    statuses = {}  # type: dict[str, int]
    for result in results:
        statuses[result["status"]] = statuses.get(result["status"], 0) + 1
    assert statuses.get("ok", 0) >= 1 and statuses.get("rejected", 0) >= 19
    assert "same as c1" in next(x["detail"] for x in results if x["id"] == "c2")


def _gate_run(gate, now, commands):
    reports = []
    allowed = gate.admit(now, commands, lambda i, s, d: reports.append((i, s, d)))
    return [c["id"] for c in allowed], reports


def test_the_gate_runs_an_id_once_identical_commands_once_and_keeps_to_its_rate():
    """PRT-SAFE-3, PRT-CMD-2: every command gets a result, run or not."""
    gate = CommandGate()
    boot = {"id": "a", "op": "reboot"}
    ran, reports = _gate_run(gate, 0, [boot, {"id": "b", "op": "reboot"}])
    assert ran == ["a"] and reports == [("b", "rejected", "same as a")]
    ran, reports = _gate_run(gate, 1000, [boot])  # the receiver sent "a" again
    assert ran == [] and reports == []  # not run twice; its one result was given
    many = [{"id": "n%d" % i, "op": "set_time", "time": 1795000000 + i} for i in range(20)]
    ran, reports = _gate_run(gate, 2000, many)
    assert len(ran) == BURST - 1 and len(reports) == 20 - (BURST - 1)
    assert "rate limited" in reports[0][2]
    assert gate.take_refused() == 2 + len(reports) and gate.take_refused() == 0
    ran, reports = _gate_run(gate, REFILL_MS - 1, [{"id": "m1", "op": "upload_now"}])
    assert ran == [] and "rate limited" in reports[0][2]  # no token yet
    assert _gate_run(gate, REFILL_MS, [many[-1]]) == ([], [])  # refused once: its one result
    # A token a minute after the bucket was last full (at 0): a new ID runs.
    assert _gate_run(gate, REFILL_MS, [{"id": "m2", "op": "upload_now"}])[0] == ["m2"]


def test_a_configuration_already_held_is_not_written_again():
    """PRT-SAFE-3: no erase, no program for the same version and values."""
    flash = SimulatedNorFlash(1024, 2)
    config = Config(flash)
    config.load()
    assert config.apply(3, {"language": "en", "double_punch_s": 30}) is None
    erases, programs = flash.erases, flash.programs
    assert config.holds(3, {"language": "en"}) and not config.holds(4, {"language": "en"})
    assert config.apply(3, {"language": "en"}) is None
    assert (flash.erases, flash.programs) == (erases, programs)
    assert config.apply(4, {"language": "en"}) is None  # a new version is written
    assert flash.erases == erases + 1
    assert not config.holds(4, {"nonsense": 1}) and "unknown key" in config.apply(
        4, {"nonsense": 1}
    )
