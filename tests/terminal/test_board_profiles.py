"""firmware/main.py on a Board built from each profile, every part simulated (both runtimes):
taps, keys, fingers, beeps, LED, the network and its faults, the RTC and its faults, the boot
self-test of every part as event 5, and profiles that are wrong."""

from firmware import eventlog
from firmware.main import Loop
from firmware.punch import METHOD_FINGER
from hardware.board import Board
from hardware.profiles import BT, PIT, check
from protocol.memstore import MemoryStore
from protocol.server import Server
from simulator.door import EPOCH, SECRET, TENANT, TERMINAL, add_employees, card_of
from simulator.parts.board import SimEnv, build
from simulator.readers.field import FelicaCard

MICROPYTHON_HEAPSIZE = "8M"  # the whole terminal, the reader and every part (see test_main)


def rig(profile, values=None, **kw):
    store = MemoryStore()
    store.add_tenant(TENANT)
    store.add_terminal(TENANT, TERMINAL, SECRET)
    add_employees(store, 5)
    if values is not None:  # the terminal's configuration, as its service gives it
        store.config[(TENANT, TERMINAL)] = {"version": 1, "values": values}
    board, env = build(profile, Server(store).handle, EPOCH, **kw)
    return store, board, env


def turns(loop, board, n):
    for _ in range(n):
        loop.turn()
        board.idle(20)


def tap(loop, board, env, who):
    card = env.field.place(FelicaCard(card_of(who)))
    turns(loop, board, 15)
    env.field.remove(card)
    turns(loop, board, 10)


def events(loop, code):
    return [e["text"] for e in loop.log.events(0, 200) if e["code"] == code]


def test_each_profile_boots_clean_taps_beeps_lights_and_uploads():
    for profile in (PIT, BT):
        store, board, env = rig(profile)
        loop = Loop(board)
        assert events(loop, eventlog.SELF_TEST) == [], profile["name"]
        assert events(loop, eventlog.BOOT)[0].endswith(profile["name"])
        turns(loop, board, 100)
        tap(loop, board, env, 1)
        assert board.display.style == "ok" and "社員1" in board.display.lines[0]
        buzzer = env.pwms[profile["parts"]["buzzer"]["pin"]]
        assert [(hz, ms) for _t, hz, ms in buzzer.tones()] == [(2700, 80)]
        assert board.led_part.pattern == "green"
        turns(loop, board, 200)
        assert sorted(store.held(TENANT, TERMINAL)) == [1], profile["name"]
        assert board.network.tls and board.network.connects == 1
        assert board.faults == []


def test_bt_keys_choose_the_kind_and_a_finger_punches():
    # a BT terminal takes a card or a finger once its service says so (the default is "card")
    store, board, env = rig(BT, {"identify_mode": "card_or_finger"})
    loop = Loop(board)
    turns(loop, board, 100)
    env.keypad.press("out")
    turns(loop, board, 5)
    env.keypad.release("out")
    tap(loop, board, env, 2)
    assert loop.journal.read(1).kind == 2  # clock out, chosen with the key
    turns(loop, board, 150)  # the feedback screen times out
    # the real R503 driver over the simulated R503: employee 3's finger ID is 3, the page
    # their finger is enrolled on
    env.finger_sensor.enrol(3, "E0003-right-index")
    env.finger_sensor.place("E0003-right-index")
    turns(loop, board, 60)  # image 200 ms, features 500 ms, a 1:N search
    env.finger_sensor.lift()
    assert board.display.style == "ok" and "社員3" in board.display.lines[0]
    assert loop.journal.read(2).method == METHOD_FINGER
    assert loop.journal.next_seq == 3  # one punch for one finger held a second
    turns(loop, board, 200)
    assert sorted(store.held(TENANT, TERMINAL)) == [1, 2]


def test_a_dead_rtc_battery_boots_clock_invalid_punches_and_ntp_sets_the_rtc():
    store, board, env = rig(PIT)
    env.rtc_chip.battery_dead()
    loop = Loop(board)
    assert events(loop, eventlog.SELF_TEST) == [
        "rtc: PCF8563: oscillator stopped: time lost (backup battery dead?)"
    ]
    assert events(loop, eventlog.CLOCK_INVALID) == ["no valid RTC at boot"]
    assert loop.terminal.state == "clock_invalid"
    tap(loop, board, env, 1)
    assert loop.journal.next_seq == 2  # punched without a clock (monotonic time, boot ID)
    turns(loop, board, 300)  # NTP over the simulated network sets the clock and the RTC
    assert loop.terminal.clock.valid
    assert env.rtc_chip.epoch() - EPOCH < 60 and board.rtc.epoch() is not None
    assert sorted(store.held(TENANT, TERMINAL)) == [1]


def test_an_rtc_and_a_display_that_do_not_answer_are_logged_and_the_door_still_punches():
    store, board, env = rig(BT)
    env.rtc_chip.present = False
    board.display.present = False
    loop = Loop(board)
    assert events(loop, eventlog.SELF_TEST) == [
        "display: no answer",
        "rtc: DS3231: no answer at 0x68 (19)",
    ]
    turns(loop, board, 100)  # online (NTP gave the time the RTC could not)
    tap(loop, board, env, 4)
    assert loop.journal.next_seq == 2
    buzzer = env.pwms[BT["parts"]["buzzer"]["pin"]]
    assert buzzer.tones()[-1][1:] == (2700, 80)  # the OK beep tells what the screen cannot
    assert "rtc: not set: no answer at 0x68 (19)" in board.faults  # NTP's time, not kept
    assert board.faults[-1].startswith("display: OSError(19")
    assert sorted(store.held(TENANT, TERMINAL)) == [1]


def test_a_wrong_wifi_password_is_no_link_with_its_reason_and_punches_wait():
    store, board, env = rig(PIT)
    env.net.link = "wrong_password"
    loop = Loop(board)
    assert events(loop, eventlog.SELF_TEST) == ["network: Wi-Fi: wrong password"]
    turns(loop, board, 50)
    tap(loop, board, env, 2)
    assert board.display.style == "offline"
    errors = events(loop, eventlog.NET_ERROR)
    assert errors and "Wi-Fi: wrong password" in errors[0], errors
    env.net.link = "up"
    loop.uplink.link(board.ticks_ms(), True)
    turns(loop, board, 1500)
    assert sorted(store.held(TENANT, TERMINAL)) == [1] and loop.journal.unsent_count == 0


def test_wrong_profiles_are_refused_with_what_is_wrong():
    bad = {"name": "x", "buses": {"u": {"type": "uart", "tx": 1, "rx": 1}}, "parts": {}}
    assert check(bad) == [
        "bus u: GPIO 1 is already bus u's",
        "no reader and no finger module: nothing identifies anyone",
    ]
    bad = {
        "name": "y",
        "buses": {},
        "parts": {"reader": {"part": "pn532", "bus": "uart9"}, "toaster": {"part": "t"}},
    }
    assert check(bad) == [
        "reader: bus 'uart9' is not in the profile's buses",
        "slot 'toaster': not one of reader, finger, display, keys, buzzer, led, rtc, "
        "network, battery",
    ]
    env = SimEnv(PIT, lambda data, now: b"", EPOCH)
    try:
        Board(PIT, env)  # no display driver here yet: said, not guessed
        raise AssertionError("a display with no maker was accepted")
    except ValueError as e:
        assert str(e).startswith("profile 'pit-s3': no driver for the display part 'st7789'")


def test_ticks_are_widened_over_the_wrap_of_ticks_ms():
    _store, board, env = rig(PIT)
    env.now = (1 << 30) - 50
    start = board.ticks_ms()
    env.now += 120  # MicroPython's ticks_ms() wrapped to 70
    assert env.ticks_ms() == 70 and board.ticks_ms() == start + 120


def test_a_bus_that_fails_at_boot_leaves_its_slot_empty_and_says_so():
    class FailingI2C(SimEnv):
        def i2c(self, spec):
            raise OSError(5)

    env = FailingI2C(PIT, lambda data, now: b"", EPOCH)
    from simulator.parts.standins import TextDisplay

    board = Board(PIT, env, {"display": TextDisplay()})
    assert board.rtc is None and board.rtc_epoch() is None
    assert board.parts_selftest() == ["rtc: pcf8563 did not start (5)"]


def test_a_late_answer_to_a_timed_out_request_is_not_read_as_the_next_ones():
    store, board, env = rig(BT)
    loop = Loop(board)
    turns(loop, board, 300)
    env.net.latency_ms = 30000  # longer than the uplink waits (15 s)
    tap(loop, board, env, 1)
    while loop.log.events(0, 100)[-1]["code"] != eventlog.NET_ERROR:
        turns(loop, board, 1)
    env.net.latency_ms = 10000  # the retry's answer comes after the late one
    turns(loop, board, 4000)
    assert events(loop, eventlog.NET_ERROR) == ["punches failed: no complete reply in 15 s"]
    assert sorted(store.held(TENANT, TERMINAL)) == [1] and loop.journal.unsent_count == 0


def test_a_bt_finger_module_that_does_not_answer_is_logged_and_cards_still_punch():
    _store, board, env = rig(BT, {"identify_mode": "card_or_finger"})
    env.finger_sensor.silent = True  # the R503 on uart2 answers nothing from power-on
    loop = Loop(board)
    turns(loop, board, 100)
    faults = events(loop, eventlog.READER_FAULT)
    assert len(faults) == 1 and "R503" in faults[0], faults
    assert loop.terminal.state != "reader_fault"
    tap(loop, board, env, 1)
    assert loop.journal.next_seq == 2 and loop.journal.read(1).method != METHOD_FINGER
    env.finger_sensor.silent = False  # it answers again: said once, fingers punch again
    turns(loop, board, 150)
    env.finger_sensor.enrol(2, "E0002-right-index")
    env.finger_sensor.place("E0002-right-index")
    turns(loop, board, 60)
    env.finger_sensor.lift()
    assert loop.journal.next_seq == 3 and loop.journal.read(2).method == METHOD_FINGER
