"""The service console (firmware/console.py) on the real loop: every command, every bad input.

The board is tests/terminal/console_support.py's ``Desk``: firmware.main.Loop on a fake board
whose console stream is two buffers, with a receiver in memory. Both runtimes.
"""

from console_support import PIN, Desk, PowerCut, finals, is_final
from support import IS_MICROPYTHON

from firmware import eventlog
from firmware.terminal import Card
from simulator.door import TENANT, TERMINAL, card_of

MICROPYTHON_HEAPSIZE = "32M"  # no collection at all in the guest (console_support.Desk)

IDM = card_of(1).hex()
STRANGER = "0123456789abcdef"


def events(desk, code):
    return [e["text"] for e in desk.loop.log.events(0, 200) if e["code"] == code]


def fields(line):
    """``k=v k=v`` after an optional ``name: `` as a dict."""
    out = {}
    for word in line.split(": ", 1)[-1].split():
        k, _, v = word.partition("=")
        out[k] = v
    return out


def test_the_banner_help_version_and_an_empty_line():
    d = Desk()
    assert d.output() == []  # the first poll writes the banner
    d.turns(1)
    banner = d.output()
    assert banner == [
        "dakoku 0.1.0 desk T0001: console ready, 'help' lists the commands (test build: stimuli on)"
    ]
    out = d.ask("help")
    assert out[-1] == "ok" and len(out) == 20
    for name in ("status", "screen", "journal", "log", "config get", "config set", "roster",
                 "version", "reboot", "login", "logout", "card", "lift", "finger", "enrol",
                 "key", "net", "power cut"):  # fmt: skip
        assert any(line.startswith(name) for line in out), name
    assert d.ask("version") == [
        "firmware: 0.1.0",
        "protocol: 1",
        "board: desk",
        "formats: journal=1 roster=2 config=1 eventlog=1",
        "ok",
    ]
    assert d.ask("") == ["ok"]  # a way to sync
    assert d.ask("   ") == ["ok"]
    assert d.ask("VERSION")[-1] == "ok"  # the command word in any case


def test_status_says_state_mode_clock_journal_uplink_roster_and_faults():
    d = Desk()
    d.settle()
    d.board.faults = ["display: no answer"]
    d.ask("card %s" % IDM)
    d.turns(10)
    out = d.ask("status")
    assert [line.split(":", 1)[0] for line in out[:-1]] == [
        "state", "mode", "clock", "journal", "uplink", "uplink_error", "roster", "boot",
        "network", "faults"]  # fmt: skip
    assert out[0] == "state: feedback" and out[1] == "mode: online"
    clock = fields(out[2])
    assert (
        clock["valid"] == "yes" and clock["time"].startswith("2026-") and clock["time"][-1] == "Z"
    )
    assert fields(out[3]) == {
        "total": "1", "unsent": "0", "free": "239", "next_seq": "2", "capacity": "240"}  # fmt: skip
    uplink = fields(out[4])
    assert uplink["delivered"] == "1" and uplink["failure_streak"] == "0"
    assert int(uplink["last_delivery_s_ago"]) <= 1
    assert out[5] == "uplink_error: -"
    assert fields(out[6]) == {"version": "5", "count": "5"}
    assert fields(out[7])["id"] == "1"
    assert out[8] == "network: link up" and out[9] == "faults: display: no answer"
    assert out[10] == "ok"
    # Without the network: the failure streak and the last error.
    d.ask("net down")
    d.ask("card %s" % card_of(2).hex())
    d.loop.uplink.client._heartbeat_at = d.board.now
    d.turns(300)
    out = d.ask("status")
    uplink = fields(out[4])
    assert out[1] == "mode: offline" and int(uplink["failure_streak"]) >= 1
    assert fields(out[3])["unsent"] == "1"
    error = fields(out[5])
    assert error["error"] == "no_link" and error["code"] == "-" and error["http"] == "-"
    assert error["request"] in ("punches", "heartbeat", "hello")
    assert out[8] == "network: no link"


def test_screen_is_what_the_display_shows():
    d = Desk()
    d.settle()
    out = d.ask("screen")
    assert out[0] == "style: ready" and out[2] == "line: カードをタッチ" and out[-1] == "ok"
    d.ask("card %s" % IDM)
    d.turns(2)
    out = d.ask("screen")
    assert out[0] == "style: ok" and out[-1] == "ok"
    assert out[1:-1] == ["line: " + text for text in d.board.shown[0]]
    assert out[1] == "line: 社員1"  # the name on the OK screen
    del d.board.shown  # a board that does not keep it
    assert d.ask("screen") == ["error: this board does not say what its display shows"]


def test_journal_lists_the_last_punches_sent_and_unsent():
    d = Desk()
    d.settle()
    assert d.ask("journal") == ["ok: 0 punches"]
    d.ask("card %s" % IDM)
    d.turns(60)  # delivered
    d.ask("net down")
    d.ask("card %s" % STRANGER)
    d.turns(60)
    out = d.ask("journal")
    assert out[-1] == "ok: 2 punches" and len(out) == 3
    first, second = fields(out[0]), fields(out[1])
    assert first["seq"] == "1" and first["cred"] == IDM and first["who"] == "E0001"
    assert first["sent"] == "yes" and first["method"] == "felica" and first["flags"] == "-"
    assert first["kind"] in ("unspecified", "clock_in", "clock_out", "break_start", "break_end")
    assert first["time"].startswith("2026-") and first["time"].endswith("Z")
    assert second["seq"] == "2" and second["who"] == "-" and second["sent"] == "no"
    assert second["flags"] == "unknown"  # taken while online: its upload then failed
    d.ask("card %s" % card_of(3).hex())  # now offline
    d.turns(5)
    assert fields(d.ask("journal 1")[0])["flags"] == "offline"
    assert d.ask("journal 2")[0].startswith("seq=2 ")
    assert d.ask("journal 100")[-1] == "ok: 3 punches"
    for bad in ("journal 0", "journal 101", "journal x", "journal 1 2", "journal -1"):
        assert d.ask(bad) == ["error: usage: journal [N]  (N 1..100)"], bad


def test_log_exports_events_one_line_each_a_long_answer_a_few_lines_a_turn():
    d = Desk()
    d.settle()
    for i in range(12):
        d.loop.log.append(eventlog.COMMAND, "test event %d" % i, None, 7, 1)
    out = d.ask("log 3")
    assert out[-1] == "ok: 3 events" and len(out) == 4
    last = fields(out[2].split(" text=")[0])
    assert out[2].endswith(" text=test event 11") and last["code"] == "70"
    assert last["time"] == "-" and last["up"] == "7" and last["boot"] == "1"
    assert out[0].startswith("n=%d " % (d.loop.log.next_n - 3))
    everything = d.ask("log all", turns=3)
    assert everything[0].startswith("n=1 ") and "text=boot 1 fw 0.1.0 desk" in everything[0]
    assert everything[-1] == "ok: %d events" % (len(everything) - 1)
    ns = [int(fields(line.split(" text=")[0])["n"]) for line in everything[:-1]]
    assert ns == list(range(1, len(everything)))
    # Paging: an answer longer than 16 lines spreads over turns, and the line after it waits.
    for i in range(12):
        d.loop.log.append(eventlog.COMMAND, "more %d" % i, None, 8, 1)
    d.output()
    d.send("log all\nversion\n")
    d.turns(1)
    one = d.output()
    assert len(one) == 16 and finals(one) == 0
    d.turns(4)
    two = d.output()
    assert finals(two) == 2 and two[-1] == "ok" and two[-5] == "firmware: 0.1.0"
    assert d.ask("log 0") == ["error: usage: log [N|all]  (N 1..10000)"]
    assert d.ask("log some")[0].startswith("error: usage: log")


def test_config_get_set_need_a_login_are_checked_logged_applied_and_kept_across_a_reboot():
    d = Desk()
    d.settle()
    assert d.ask("config get double_punch_s") == ["double_punch_s=60", "ok"]
    assert d.ask("config get service_pin") == ['service_pin="(set)"', "ok"]  # never shown
    assert d.ask("config get nope") == ["error: unknown key 'nope' ('config get' lists them)"]
    out = d.ask("config get")
    assert out[-1] == "ok" and len(out) == 18 and 'language="ja"' in out
    assert d.ask("config set language en") == ["error: log in first: login PIN"]
    assert d.loop.config["language"] == "ja"
    assert d.ask("login %s" % PIN)[0].startswith("ok: logged in")
    refused = [
        ("config set double_punch_s 9000", "error: double_punch_s: must be within 0..3600"),
        ("config set double_punch_s many", "error: double_punch_s: must be a whole number"),
        ("config set keys_present 1", "error: keys_present: must be true or false"),
        ("config set language fr", "error: language: must be one of ja, en"),
        (
            "config set service_pin 12",
            "error: service_pin: must be 4 to 8 digits, or empty (no PIN entry)",
        ),
        (
            "config set kind_schedule [[25,0,1]]",
            "error: kind_schedule: hour 0-23, minute 0-59, kind 0-4",
        ),
        ("config set nope 1", "error: unknown key 'nope' ('config get' lists them)"),
    ]
    generation = d.loop.config.generation
    for line, reply in refused:
        assert d.ask(line) == [reply], line
    assert d.loop.config.generation == generation and d.loop.config["language"] == "ja"
    assert "console: double_punch_s: must be within 0..3600" in events(d, eventlog.CONFIG_REJECTED)
    for bad in ("config", "config set", "config set language", "config get a b", "config x"):
        assert d.ask(bad) == ["error: usage: config get [KEY] | config set KEY VALUE"], bad
    flash = d.loop.config.flash
    erase = flash.erase

    def worn_out(sector):
        raise OSError(5, "erase failed")

    flash.erase = worn_out  # a flash fault during the save: refused, nothing changed
    reply = d.ask("config set language en")
    assert len(reply) == 1 and reply[0].startswith("error: flash: ")
    assert d.loop.config["language"] == "ja"
    flash.erase = erase
    assert d.ask("config set language en") == ['ok: language="en"']
    assert d.ask("config set language en") == ["ok: unchanged"]
    assert d.ask("config set kind_schedule [[6, 0, 1], [18, 30, 2]]")[0].startswith("ok: ")
    assert d.ask("config set feedback_ms 5000") == ["ok: feedback_ms=5000"]
    assert d.ask("config set service_pin 97531") == ['ok: service_pin="(set)"']
    assert 'console: language="en" (version 0)' in events(d, eventlog.CONFIG_CHANGED)
    assert "97531" not in " ".join(events(d, eventlog.CONFIG_CHANGED))
    # Passed on to the terminal as after a service change: the idle screen is English now.
    d.turns(2)
    assert d.board.shown[0][1] == "Touch your card"
    # On flash: after a reboot it holds, and the old PIN does not log in.
    d.boot()
    d.settle()
    assert d.loop.config["language"] == "en" and d.loop.config["feedback_ms"] == 5000
    assert d.loop.config["kind_schedule"] == [[6, 0, 1], [18, 30, 2]]
    assert d.ask("login %s" % PIN)[0].startswith("error: wrong PIN")
    assert d.ask("login 97531")[0].startswith("ok: logged in")


def test_roster_says_its_version_and_whose_card_an_idm_is():
    d = Desk()
    d.settle()
    assert d.ask("roster") == ["roster: version=5 count=5", "ok"]
    out = d.ask("roster %s" % IDM.upper())
    assert out[-1] == "ok" and out[0].startswith("employee: code=E0001 lang=")
    assert d.ask("roster %s" % STRANGER) == ["ok: not in the roster"]
    assert d.ask("roster 0123") == ["error: IDm must be 16 hex digits"]
    assert d.ask("roster 0123456789abcdeg") == ["error: IDm must be 16 hex digits"]
    assert d.ask("roster a b") == ["error: usage: roster [IDM]"]


def test_reboot_needs_a_login_and_reboots_as_after_a_service_reboot():
    d = Desk()
    d.settle()
    assert d.ask("reboot") == ["error: log in first: login PIN"]
    assert d.loop.reboot_asked is None
    d.ask("login %s" % PIN)
    assert d.ask("reboot now") == ["error: usage: reboot"]
    assert not d.board.rebooted
    assert d.ask("reboot", turns=1) == ["ok: rebooting"]
    assert d.board.rebooted  # idle, no result to report: in the same turn
    assert "reboot asked on the console" in events(d, eventlog.COMMAND)


def test_a_wrong_pin_counts_toward_the_keypads_lock_and_back_and_survives_a_reboot():
    d = Desk()
    d.settle()
    assert d.ask("login 1111") == ["error: wrong PIN (2 tries left before a lock)"]
    # The keypad: one more wrong PIN is the third in a row, and locks both ways in.
    for k in ("service", "9", "9", "9", "9", "ok"):
        d.board.keys.append(k)
        d.turns(1)
    assert d.ask("login 2222") == ["error: wrong PIN; PIN entry locked for 30 s"]
    assert d.ask("login %s" % PIN) == ["error: PIN entry locked, 30 s left"]  # even the right one
    assert events(d, eventlog.SERVICE_MODE) == [
        "wrong PIN 1 in a row (console)",
        "wrong PIN 2 in a row",
        "wrong PIN 3 in a row; locked 30 s (console)",
    ]
    d.board.keys.append("service")  # the keypad is locked too
    d.turns(2)
    assert d.board.shown[0] == ("しばらくお待ちください", "30 s")
    d.turns(150)  # 3 s
    assert d.ask("config set language en") == ["error: log in first: login PIN"]
    # A reboot does not buy more guesses: the lock starts anew from the boot.
    d.boot()
    d.settle(10)
    assert d.ask("login %s" % PIN)[0].startswith("error: PIN entry locked, ")
    d.board.keys.append("service")
    d.turns(2)
    assert d.board.shown[1] == "error" and d.board.shown[0][0] == "しばらくお待ちください"
    d.wait(31 * 1000)  # the lock ran out; the next wrong PIN locks at once, for 60 s
    assert d.ask("login 3333") == ["error: wrong PIN; PIN entry locked for 60 s"]
    d.wait(61 * 1000)
    assert d.ask("login %s" % PIN)[0].startswith("ok: logged in")
    # A right PIN resets the count for the keypad too, also after a reboot.
    d.boot()
    d.settle(10)
    assert d.ask("login 1111") == ["error: wrong PIN (2 tries left before a lock)"]
    assert "console login" in events(d, eventlog.SERVICE_MODE)


def test_a_logout_after_wrong_pins_does_not_hide_them_from_the_next_boot():
    d = Desk()
    d.settle()
    d.ask("login %s" % PIN)
    for _ in range(2):  # two wrong PINs on the keypad while the console is logged in
        for k in ("service", "9", "9", "9", "9", "ok"):
            d.board.keys.append(k)
            d.turns(1)
        d.wait(3000)
    assert d.ask("logout") == ["ok: logged out"]  # logged after the wrong PINs
    d.boot()
    d.settle(10)
    assert d.ask("login 1111") == ["error: wrong PIN; PIN entry locked for 30 s"]  # the third


def test_a_lock_from_the_console_holds_for_a_pin_being_typed_on_the_keypad():
    d = Desk()
    d.settle()
    for k in ("service", "2", "4"):
        d.board.keys.append(k)
        d.turns(1)
    assert d.loop.terminal.state == "service_pin"
    for _ in range(3):
        d.ask("login 0000")
    for k in ("6", "8", "ok"):  # the right PIN, finished during the lock
        d.board.keys.append(k)
        d.turns(1)
    assert d.loop.terminal.state == "feedback"
    assert d.board.shown[0][0] == "しばらくお待ちください"


def test_no_service_pin_means_no_login_as_with_the_service_key():
    d = Desk(pin=None)
    d.settle()
    reply = [
        "error: no service_pin is set: there is no login (as there is no PIN entry by the key)"
    ]
    assert d.ask("login 0000") == reply
    assert d.ask("login  ") == ["error: usage: login PIN"]
    assert events(d, eventlog.SERVICE_MODE) == []  # nothing counted
    assert d.ask("config set language en") == ["error: log in first: login PIN"]


def test_a_login_ends_at_logout_after_five_idle_minutes_and_at_a_hang_up():
    d = Desk()
    d.settle()
    assert d.ask("logout") == ["ok: not logged in"]
    d.ask("login %s" % PIN)
    assert d.ask("logout") == ["ok: logged out"]
    assert d.ask("reboot") == ["error: log in first: login PIN"]
    # Commands keep a login alive; five minutes without one end it.
    d.ask("login %s" % PIN)
    d.wait(4 * 60 * 1000)
    d.ask("status")
    d.wait(4 * 60 * 1000)
    assert d.ask("config set ntp false") == ["ok: ntp=false"]
    d.wait(5 * 60 * 1000 + 1000)
    expired = "error: log in first: login PIN (the login ended after 5 minutes without a command)"
    assert d.ask("config set ntp true") == [expired]
    assert "console logout: 5 minutes without a command" in events(d, eventlog.SERVICE_MODE)
    # A hang-up ends it too.
    d.ask("login %s" % PIN)
    d.board.inbox.append(None)
    d.turns(2)
    assert d.ask("config set ntp true") == ["error: log in first: login PIN"]
    assert "console logout: hang-up" in events(d, eventlog.SERVICE_MODE)
    # A wrong login ends a login under way.
    d.ask("login %s" % PIN)
    d.ask("login 1")
    assert d.ask("reboot") == ["error: log in first: login PIN"]


def test_a_hang_up_mid_line_drops_the_half_line():
    d = Desk()
    d.settle()
    d.output()
    d.send("config get langu")
    d.turns(2)
    d.board.inbox.append(None)
    d.turns(2)
    assert d.output() == []
    d.send("age\r\n")  # the new peer's line is its own, not the end of the old one
    d.turns(2)
    assert d.output() == ["error: unknown command 'age' ('help' lists them)"]


def test_lines_end_with_lf_crlf_or_cr_and_may_come_in_pieces():
    d = Desk()
    d.settle()
    d.output()
    for piece in (b"ver", b"sion\r", b"\nroster\rroster\n", b"\r\n", b"logout"):
        d.send(piece)
        d.turns(1)
    out = d.output()
    assert finals(out) == 4 and out[4] == "ok" and out[-1] == "ok"  # version, 2 rosters, ""
    d.send(b"\n")
    d.turns(1)
    assert d.output() == ["ok: not logged in"]


def test_bad_input_gets_one_clear_error_and_loses_nothing():
    d = Desk()
    d.settle()
    too_long = "error: line too long (max 200)"
    assert d.ask("x" * 200) == ["error: unknown command '%s' ('help' lists them)" % ("x" * 24)]
    assert d.ask("x" * 201) == [too_long]
    # A long line is cut off at once and dropped to its end; the next line is taken.
    d.output()
    d.send("y" * 3000)
    d.turns(8)
    assert d.output() == [too_long]
    d.send("y" * 1000 + "\nversion\n")
    d.turns(8)
    out = d.output()
    assert out[0] == "firmware: 0.1.0" and out[-1] == "ok" and finals(out) == 1
    # Binary garbage, text that is not UTF-8, control bytes.
    for garbage in (b"\x00\x01\x02\xff\xfe", b"status \xc3\x28", b"\x1b[A", b"sta\x7ftus",
                    b"\xe6\x97"):  # fmt: skip
        d.send(garbage + b"\n")
        d.turns(2)
        assert d.output() == ["error: not text"], garbage
    assert d.ask("日本語") == ["error: unknown command '日本語' ('help' lists them)"]
    assert d.ask("statu") == ["error: unknown command 'statu' ('help' lists them)"]
    assert d.ask("status\tnow") == ["error: usage: status"]  # a tab separates words
    usage = {
        "help me": "help",
        "screen 1": "screen",
        "version 2": "version",
        "logout now": "logout",
        "login": "login PIN",
        "login 1 2": "login PIN",
        "roster a b": "roster [IDM]",
        "card": "card IDM [HOLD_MS]  (IDM 16 hex digits, HOLD_MS 1..60000)",
        "lift up": "lift",
        "finger": "finger NAME [good|smudged|disordered|few] [HOLD_MS]",
        "enrol 1": "enrol PAGE NAME",
        "key": "key NAME",
        "key a b": "key NAME",
        "net": "net down|up",
        "net sideways": "net down|up",
        "power": "power cut [after WRITES]  (WRITES 1..1000)",
        "power on": "power cut [after WRITES]  (WRITES 1..1000)",
        "power cut after": "power cut [after WRITES]  (WRITES 1..1000)",
        "power cut after 0": "power cut [after WRITES]  (WRITES 1..1000)",
        "power cut after 1001": "power cut [after WRITES]  (WRITES 1..1000)",
        "power cut after x": "power cut [after WRITES]  (WRITES 1..1000)",
        "power cut later 3": "power cut [after WRITES]  (WRITES 1..1000)",
    }
    for line, text in usage.items():
        assert d.ask(line) == ["error: usage: " + text], line
    # Nothing lost: the terminal still punches.
    d.ask("card %s" % IDM)
    d.turns(2)
    assert d.board.shown[1] == "ok" and d.loop.journal.next_seq == 2


def test_a_flood_is_taken_a_few_lines_a_turn_and_a_tap_between_still_punches():
    d = Desk()
    d.settle()
    d.output()
    d.send("roster\n" * 50)
    d.board.events.append(Card(card_of(2)))
    d.turns(1)
    first = d.output()
    assert finals(first) == 4  # LINES_PER_POLL
    assert d.board.shown[1] == "ok" and d.board.beeps[-1] == "ok"  # in the same turn
    reads = d.board.reads
    d.turns(3)
    assert d.board.reads == reads  # nothing more read while lines wait
    d.turns(12)
    assert finals(d.output()) == 46
    d.send("z" * 20000)  # a flood without line ends: at most 512 bytes a turn, one error
    d.turns(10)
    assert d.output() == ["error: line too long (max 200)"]
    assert d.loop.journal.next_seq == 2


def test_stimuli_reach_the_board_and_their_errors_are_said():
    d = Desk()
    d.settle()
    calls = d.stimuli.calls
    assert d.ask("card %s" % IDM.upper()) == ["ok"]
    assert calls[-1] == ("card", card_of(1), 800)
    d.turns(2)
    assert d.board.shown[1] == "ok"
    assert d.ask("card %s 1500" % STRANGER) == ["ok"] and calls[-1][2] == 1500
    assert d.ask("card 0123") == ["error: IDm must be 16 hex digits"]
    assert d.ask("card %s 0" % IDM) == ["error: HOLD_MS must be a whole number 1..60000"]
    assert d.ask("card %s 60001" % IDM) == ["error: HOLD_MS must be a whole number 1..60000"]
    assert d.ask("lift") == ["ok"] and calls[-1] == ("lift",)
    assert d.ask("finger alice") == ["ok"] and calls[-1] == ("finger", "alice", "good", 800)
    assert d.ask("finger bob smudged 300") == ["ok"]
    assert calls[-1] == ("finger", "bob", "smudged", 300)
    assert d.ask("finger bob greasy") == [
        "error: QUALITY must be one of good, smudged, disordered, few"]  # fmt: skip
    assert d.ask("finger nobody") == ["error: no finger 'nobody' in the simulated module"]
    assert d.ask("enrol 3 alice") == ["ok"] and calls[-1] == ("enrol", 3, "alice")
    assert d.ask("enrol x alice") == ["error: PAGE must be a whole number 0..65535"]
    assert d.ask("key out") == ["ok"] and calls[-1] == ("key", "out")
    assert d.ask("key toaster") == ["error: no key 'toaster' in the keymap"]
    assert d.ask("net down") == ["ok"] and d.board.network is False
    assert d.ask("net up") == ["ok"] and d.board.network is True
    # Stimuli need no login.
    assert events(d, eventlog.SERVICE_MODE) == []


def test_power_cut_replies_first_then_cuts_and_nothing_answered_is_lost():
    d = Desk()
    d.settle()
    d.ask("net down")
    d.ask("card %s" % IDM)
    d.turns(5)
    d.output()
    d.send("power cut\nversion\n")
    try:
        d.turns(1)
        raise AssertionError("the power stayed on")
    except PowerCut:
        pass
    assert d.stimuli.calls[-1] == ("power_cut", b"ok: power cut\r\n")  # before the cut
    d.boot()
    d.ask("net up")
    d.settle(200)
    assert sorted(d.store.held(TENANT, TERMINAL)) == [1]  # answered offline, kept, delivered


def test_a_power_cut_armed_for_a_later_flash_write_is_passed_on_and_the_board_goes_on():
    d = Desk()
    d.settle()
    d.output()
    assert d.ask("power cut after 3") == ["ok: power cut armed: before flash write 3 from now"]
    assert d.stimuli.calls[-1] == ("power_cut_armed", 3)
    d.ask("card %s" % IDM)
    d.turns(2)
    assert d.board.shown[1] == "ok"  # the stand-in cuts nothing: the board punches on


def test_without_stimuli_the_test_commands_say_not_a_test_build():
    d = Desk(test_build=False)
    d.turns(1)
    banner = d.output()
    assert banner == ["dakoku 0.1.0 desk T0001: console ready, 'help' lists the commands"]
    assert len(d.ask("help")) == 13  # the test commands are not listed
    for line in ("card %s" % IDM, "lift", "finger a", "enrol 1 a", "key ok", "net down",
                 "power cut"):  # fmt: skip
        assert d.ask(line) == ["error: not a test build"], line
    assert d.ask("status")[-1] == "ok"


def test_an_exception_inside_a_command_is_said_logged_and_the_board_goes_on_punching():
    d = Desk()
    d.settle()

    def broken():
        raise OSError(5, "flash read failed")

    d.loop.journal.status = broken
    out = d.ask("status")
    assert out[-1].startswith("error: internal: OSError(") and finals(out) == 1
    assert events(d, eventlog.CONSOLE_FAILED)[0].startswith("console: status: ")
    d.loop.journal.read = lambda seq: 1 / 0  # inside a long answer
    d.ask("card %s" % IDM)
    d.turns(2)
    out = d.ask("journal")
    assert len(out) == 1 and out[0].startswith("error: internal: ZeroDivisionError(")
    assert d.board.shown[1] == "ok" and d.loop.journal.next_seq == 2  # the tap went through
    d.ask("card %s" % card_of(2).hex())
    d.turns(2)
    assert d.board.shown[1] == "ok" and d.loop.journal.next_seq == 3


def test_a_console_stream_that_raises_is_a_hang_up_logged_once_and_the_door_punches():
    d = Desk()
    d.settle()
    d.ask("login %s" % PIN)
    board = d.board
    board.broken = "write"
    for _ in range(3):
        d.send("status\n")
        d.turns(2)
    board.broken = "read"
    d.turns(5)
    d.board.events.append(Card(card_of(1)))
    d.turns(1)
    assert board.shown[1] == "ok" and d.loop.journal.next_seq == 2
    assert len(events(d, eventlog.CONSOLE_FAILED)) == 1  # once, not once a turn
    assert events(d, eventlog.CONSOLE_FAILED)[0].startswith("console: write: OSError(5")
    assert "console logout: hang-up" in events(d, eventlog.SERVICE_MODE)
    board.broken = ""
    assert d.ask("version")[-1] == "ok"  # back: answered again
    assert d.ask("reboot") == ["error: log in first: login PIN"]  # the login ended


def test_a_console_that_nothing_reaches_allocates_nothing():
    d = Desk()
    d.settle()
    console = d.console
    if not IS_MICROPYTHON:
        console.poll(d.board.now)  # CPython: no heap figure to read; the path runs all the same
        return
    import gc  # collection is off (Desk): mem_alloc() counts every block allocated since

    before = gc.mem_alloc()
    for i in range(200):
        console.poll(i)
    after = gc.mem_alloc()
    assert after == before, after - before
    d.ask("login %s" % PIN)  # logged in: the idle check runs and still allocates nothing
    before = gc.mem_alloc()
    for i in range(200):
        console.poll(d.board.now + i)
    after = gc.mem_alloc()
    assert after == before, after - before
    d.board.inbox.append(b"")  # an empty read, as a board gives between bytes
    console.poll(d.board.now + 300)
    assert gc.mem_alloc() == before


def test_every_reply_ends_with_exactly_one_final_line():
    d = Desk()
    d.settle()
    d.output()
    lines = ["help", "status", "screen", "journal", "log all", "config get", "roster", "version",
             "login 1", "logout", "nope", "", "card %s" % IDM, "lift"]  # fmt: skip
    d.send("\n".join(lines) + "\n")
    d.turns(30)
    out = d.output()
    assert finals(out) == len(lines)
    assert not any(is_final(x) for x in out[:1])


def test_a_real_board_passes_its_envs_console_and_stimuli_to_the_loop():
    from firmware.main import Loop
    from hardware.board import Board
    from hardware.profiles import PIT
    from simulator.door import EPOCH
    from simulator.parts.board import SimEnv

    class ConsoleEnv(SimEnv):
        def __init__(self, *a):
            SimEnv.__init__(self, *a)
            self.inbox = [b"screen\n"]
            self.written = bytearray()
            self.stimuli = None  # a device-like env: no test build

        def console_read(self):
            return self.inbox.pop(0) if self.inbox else b""

        def console_write(self, data):
            self.written += data

    env = ConsoleEnv(PIT, lambda data, now: b"", EPOCH)
    board = Board(PIT, env)
    loop = Loop(board)
    for _ in range(3):
        loop.turn()
        board.idle(20)
    lines = bytes(env.written).decode().split("\r\n")
    assert lines[0].startswith("dakoku 0.1.0 pit-s3 T0001: console ready")
    assert lines[1] == "style: " + board.shown[1] and lines[-2] == "ok"
    assert lines[2:-2] == ["line: " + text for text in board.shown[0]]
    assert loop.console is not None and loop.console.stimuli is None
    # An env without a console: the board has none, and the loop makes none.
    bare = Board(PIT, SimEnv(PIT, lambda data, now: b"", EPOCH))
    assert not hasattr(bare, "console_read") and bare.stimuli is None
    assert Loop(bare).console is None
