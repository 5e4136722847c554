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


def first_band_shows(env, text, style):
    """The board's simulated panel shows ``text`` in ``style`` in its first band, pixel for
    pixel as the driver draws it on a display of its own."""
    from hardware.font import FileFlash, Font
    from hardware.st7789 import BANDS, ST7789
    from simulator.display import SimPin, SimSpi, ST7789Chip
    from simulator.parts.board import font_file

    chip = ST7789Chip()
    own = ST7789(SimSpi(chip), SimPin(chip, "dc"), SimPin(chip, "cs"), Font(FileFlash(font_file())))
    assert own.selftest() is None
    assert own.show((text,), style) is None
    top, height, _big = BANDS[0]
    panel = env.display_chip
    assert panel.display_on and not panel.asleep and panel.errors == []
    return all(
        panel.pixel(x, y) == chip.pixel(x, y) for y in range(top, top + height) for x in range(320)
    )


def test_each_profile_boots_clean_taps_beeps_lights_and_uploads():
    for profile in (PIT, BT):
        store, board, env = rig(profile)
        loop = Loop(board)
        assert events(loop, eventlog.SELF_TEST) == [], profile["name"]
        assert events(loop, eventlog.BOOT)[0].endswith(profile["name"])
        turns(loop, board, 100)
        tap(loop, board, env, 1)
        lines, style = board.shown
        assert style == "ok" and "社員1" in lines[0], board.shown
        assert first_band_shows(env, lines[0], "ok"), profile["name"]
        assert board.display.last_draw_ms > 0  # the ST7789 driver's, on the simulated bus
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
    lines, style = board.shown
    assert style == "ok" and "社員3" in lines[0] and first_band_shows(env, lines[0], "ok")
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
    env.display_chip.present = False  # the ST7789 on the SPI bus does not answer: MISO idles
    loop = Loop(board)
    assert events(loop, eventlog.SELF_TEST) == [
        "display: ST7789: no answer (display ID ffffff)",
        "rtc: DS3231: no answer at 0x68 (19)",
    ]
    turns(loop, board, 100)  # online (NTP gave the time the RTC could not)
    tap(loop, board, env, 4)
    assert loop.journal.next_seq == 2
    buzzer = env.pwms[BT["parts"]["buzzer"]["pin"]]
    assert buzzer.tones()[-1][1:] == (2700, 80)  # the OK beep tells what the screen cannot
    assert "rtc: not set: no answer at 0x68 (19)" in board.faults  # NTP's time, not kept
    turns(loop, board, 150)  # the feedback screen times out
    env.display_spi.fail = OSError(5)  # now the SPI bus itself fails: a fault, said
    tap(loop, board, env, 3)
    assert loop.journal.next_seq == 3
    assert board.faults[-1] == "display: ST7789: OSError: 5", board.faults
    turns(loop, board, 300)
    assert sorted(store.held(TENANT, TERMINAL)) == [1, 2]


def test_a_wrong_wifi_password_is_no_link_with_its_reason_and_punches_wait():
    store, board, env = rig(PIT)
    env.net.link = "wrong_password"
    loop = Loop(board)
    assert events(loop, eventlog.SELF_TEST) == ["network: Wi-Fi: wrong password"]
    turns(loop, board, 50)
    tap(loop, board, env, 2)
    assert board.shown[1] == "offline"
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
    oled = dict(BT)
    oled["parts"] = dict(BT["parts"])
    oled["parts"]["display"] = {"part": "ssd1306", "bus": "i2c0", "width": 128, "height": 64}
    env = SimEnv(oled, lambda data, now: b"", EPOCH)
    try:
        from simulator.parts.standins import ScriptedFinger

        Board(oled, env, {"finger": ScriptedFinger()})  # no SSD1306 driver: said, not guessed
        raise AssertionError("a display with no maker was accepted")
    except ValueError as e:
        assert str(e).startswith("profile 'bt-eth': no driver for the display part 'ssd1306'")
    small = dict(PIT)
    small["parts"] = dict(PIT["parts"])
    small["parts"]["display"] = dict(PIT["parts"]["display"], width=240, height=135)
    try:
        Board(small, SimEnv(small, lambda data, now: b"", EPOCH))
        raise AssertionError("a panel size the driver does not draw was accepted")
    except ValueError as e:
        assert str(e) == "st7789: the driver draws 320 x 240, not 240 x 135"


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
    board = Board(PIT, env)
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


def test_bt_service_mode_starts_a_finger_enrolment_on_the_real_module():
    """firmware/main.py tells the board the terminal's state every turn (reader_follow): the BT
    reader made from the profile (hardware/board.py composes the R503 with the card reader)
    enrols a finger in service mode. Before, the loop never told it, so it never enrolled."""
    admin = card_of(99)
    values = {"identify_mode": "card_or_finger", "admin_cards": [admin.hex()]}
    _store, board, env = rig(BT, values)
    loop = Loop(board)
    turns(loop, board, 300)  # boot, hello, the configuration and the roster
    assert board.bt is not None and board.finger is None  # one reader for both parts
    finger = board.bt.finger
    assert not finger.enrolling()
    card = env.field.place(FelicaCard(admin))
    turns(loop, board, 15)
    env.field.remove(card)
    turns(loop, board, 5)
    assert loop.terminal.state == "service", loop.terminal.state
    assert finger.enrolling()  # (leaving service cancels it: tests/terminal/test_finger_hybrid.py)
