"""The board's parts on their simulated counterparts (both runtimes): RTC (DS3231, PCF8563),
key matrix, buzzer, RGB LED, battery, network link; each bad input with its message."""

from hardware.buzzer import Buzzer
from hardware.keys import Debouncer, KeyMatrix
from hardware.led import RgbLed
from hardware.net import NetLink, sntp_epoch
from hardware.power import Battery, percent_of
from hardware.rtc import DS3231, PCF8563
from protocol.client import NO_LINK, NO_ROUTE, TIMEOUT
from simulator.parts.i2c import DS3231Chip, PCF8563Chip, SimI2CBus
from simulator.parts.network import NetworkModule, SimNetwork, SocketModule, SslModule
from simulator.parts.pins import SimADC, SimKeyMatrix, SimPWM

MICROPYTHON_HEAPSIZE = "1M"  # net.py brings protocol.client (its error classes)
EPOCH = 1795039200  # 2026-11-19 07:00 JST = 2026-11-18 22:00 UTC


def raises(kind, call):
    try:
        call()
    except kind as e:
        return str(e)
    raise AssertionError("no %s" % kind.__name__)


# ---------------------------------------------------------------------------------- RTC


def rtc_on_bus(driver, chip_type, epoch=EPOCH):
    bus = SimI2CBus()
    chip = bus.attach(chip_type(epoch))
    return bus, chip, driver(bus)


def test_both_rtcs_keep_time_and_are_set():
    for driver, chip_type in ((DS3231, DS3231Chip), (PCF8563, PCF8563Chip)):
        bus, chip, rtc = rtc_on_bus(driver, chip_type)
        assert rtc.epoch() == EPOCH and rtc.selftest() is None
        bus.now = 61_500  # the chip counts on
        assert rtc.epoch() == EPOCH + 61
        assert rtc.set_epoch(1798761599)  # 2026-12-31 23:59:59 UTC
        assert chip.epoch() == 1798761599 and rtc.epoch() == 1798761599
        bus.now += 1000
        assert rtc.epoch() == 1798761600  # over the year's end
        assert rtc.set_epoch(951782400)  # 2000-02-29, a leap day
        assert rtc.epoch() == 951782400


def test_a_stopped_oscillator_makes_the_clock_invalid_until_set():
    for driver, chip_type in ((DS3231, DS3231Chip), (PCF8563, PCF8563Chip)):
        bus, chip, rtc = rtc_on_bus(driver, chip_type)
        chip.battery_dead()  # a power cut with a flat backup cell
        assert rtc.epoch() is None
        assert rtc.problem == "oscillator stopped: time lost (backup battery dead?)"
        assert rtc.selftest() == "%s: %s" % (rtc.name, rtc.problem)
        assert rtc.set_epoch(EPOCH)  # NTP or the service set it: the flag is cleared
        assert rtc.epoch() == EPOCH and rtc.problem == ""
        fresh = driver(bus)
        chip2 = chip_type(None)  # straight from the factory: flag set
        bus.attach(chip2)
        assert fresh.epoch() is None and "oscillator stopped" in fresh.problem


def test_an_rtc_that_does_not_answer_or_talks_nonsense():
    bus, chip, rtc = rtc_on_bus(DS3231, DS3231Chip)
    chip.present = False
    assert rtc.epoch() is None and rtc.problem.startswith("no answer at 0x68")
    assert not rtc.set_epoch(EPOCH) and rtc.problem.startswith("no answer at 0x68")
    assert rtc.selftest().startswith("DS3231: no answer at 0x68")
    chip.present = True
    chip.garbage = True  # 5E in the time registers: not BCD
    assert rtc.epoch() is None and rtc.problem.startswith("nonsense time")
    chip.garbage = False
    assert rtc.epoch() == EPOCH
    bus.dead = True
    assert PCF8563(bus).selftest().startswith("PCF8563: no answer at 0x51")


def test_an_rtc_refuses_a_time_it_cannot_hold():
    _bus, _chip, rtc = rtc_on_bus(DS3231, DS3231Chip)
    assert not rtc.set_epoch(4102444800)  # 2100-01-01: the DS3231 counts 2000-2099
    assert "cannot hold" in rtc.problem
    assert rtc.epoch() == EPOCH  # and the chip keeps its time


# --------------------------------------------------------------------------------- keys

KEYMAP = (("in", "out"), ("service", None))


class Clock:
    def __init__(self):
        self.now = 0

    def __call__(self):
        return self.now


def keypad(bounce_ms=5):
    clock = Clock()
    sim = SimKeyMatrix((1, 2), (3, 4), KEYMAP, clock, bounce_ms)
    keys = KeyMatrix(sim.rows, sim.cols, KEYMAP, debounce_ms=30)
    return clock, sim, keys


def run_keys(clock, keys, ms, step=2):
    got = []
    end = clock.now + ms
    while clock.now < end:
        k = keys.poll(clock.now)
        if k is not None:
            got.append((clock.now, k))
        clock.now += step
    return got


def test_a_bouncing_key_is_reported_once_after_the_debounce_time():
    clock, sim, keys = keypad(bounce_ms=8)
    assert keys.selftest() is None
    sim.press("out")
    got = run_keys(clock, keys, 200)
    assert [k for _t, k in got] == ["out"]
    assert 30 <= got[0][0] <= 50  # after the chatter and the 30 ms, not before
    sim.release("out")
    assert run_keys(clock, keys, 100) == []  # a release and its bounce report nothing
    sim.press("service")
    assert [k for _t, k in run_keys(clock, keys, 100)] == ["service"]


def test_two_keys_together_report_nothing_and_a_stuck_key_is_a_self_test_problem():
    clock, sim, keys = keypad()
    sim.press("in")
    sim.press("out")
    assert run_keys(clock, keys, 200) == []  # two down together: ambiguous (ghosting)
    sim.release("out")
    assert run_keys(clock, keys, 200) == []  # "in" was already down: not a new press
    sim.release("in")
    run_keys(clock, keys, 100)
    clock2, sim2, keys2 = keypad()
    sim2.press("service")
    clock2.now += 1000  # held since before the boot (no chatter left)
    assert keys2.selftest() == "keys: 'service' down at boot (stuck?)"
    assert run_keys(clock2, keys2, 200) == []  # ignored while it stays down
    sim2.release("service")
    run_keys(clock2, keys2, 100)
    sim2.press("service")
    assert [k for _t, k in run_keys(clock2, keys2, 100)] == ["service"]


def test_a_keymap_that_does_not_fit_the_matrix_is_refused():
    _clock, sim, _keys = keypad()
    text = raises(ValueError, lambda: KeyMatrix(sim.rows, sim.cols, (("in",),)))
    assert text == "keymap is 2 rows of 2 keys"
    d = Debouncer(30)
    assert d.feed(0, 1) == -1 and d.feed(29, 1) == -1 and d.feed(30, 1) == 0


# ------------------------------------------------------------------------ buzzer and LED


def test_beep_patterns_are_what_the_terminal_asks_for():
    clock = Clock()
    pwm = SimPWM(21, clock)
    buzzer = Buzzer(pwm)
    assert buzzer.selftest() is None
    heard = {}
    for pattern in ("ok", "offline", "error"):
        start = len(pwm.tones())
        buzzer.play(pattern, clock.now)
        while buzzer.busy():
            clock.now += 10
            buzzer.poll(clock.now)
        heard[pattern] = [(hz, ms) for _t, hz, ms in pwm.tones()[start:]]
        clock.now += 100
    assert heard == {
        "ok": [(2700, 80)],  # one short
        "offline": [(2700, 60), (2700, 60)],  # two short
        "error": [(1000, 400)],  # one long, lower
    }
    assert pwm.duty_u16() == 0  # silent after the last
    text = raises(ValueError, lambda: buzzer.play("okk", clock.now))
    assert text == "unknown beep pattern 'okk' (known: error, offline, ok)"
    pwm.broken = True
    assert buzzer.selftest().startswith("buzzer: PWM refused")


def test_the_led_shows_the_terminal_colours_common_anode_inverted():
    clock = Clock()
    r, g, b = SimPWM(1, clock), SimPWM(2, clock), SimPWM(3, clock)
    led = RgbLed(r, g, b)
    led.set("amber")
    assert (r.duty_u16(), g.duty_u16(), b.duty_u16()) == (65535, 110 * 257, 0)
    anode = RgbLed(r, g, b, common_anode=True)
    anode.set("green")
    assert (r.duty_u16(), g.duty_u16(), b.duty_u16()) == (65535, 0, 65535)
    text = raises(ValueError, lambda: led.set("purple"))
    assert text == "unknown LED pattern 'purple' (known: amber, green, off, red)"
    assert led.pattern == "amber"  # the LED keeps what it showed


# ------------------------------------------------------------------------------ battery


def test_battery_level_states_and_an_absent_cell():
    adc = SimADC(4, volts=4.2)
    battery = Battery(adc, divider=2.0, interval_ms=1000)
    assert battery.selftest() is None and battery.level() == (4200, 100, "ok")
    adc.volts = 3.62
    for t in range(0, 9000, 1000):
        battery.poll(t)  # the ring of 8 forgets the 4.2 V sample
    assert battery.level() == (3620, 12, "low")
    assert percent_of(3800) == 50 and percent_of(3000) == 0 and percent_of(3725) == 32
    adc.volts = 3.35
    assert Battery(adc).selftest() == "battery: critical, 3.35 V (1 %)"
    adc.volts = 0.12
    assert Battery(adc).selftest() == "battery: absent (0.12 V at the cell)"
    adc.volts = None
    assert Battery(adc).selftest() == "battery: ADC refused (5)"


# ------------------------------------------------------------------------------ network

REQUEST = b"POST /v1/punches HTTP/1.1\r\nHost: r\r\nContent-Length: 4\r\n\r\nabcd"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def net_link(kind="Wi-Fi", tls=True):
    clock = Clock()
    net = SimNetwork(lambda data, now: ANSWER, clock)
    module = NetworkModule(net)
    iface = module.WLAN(module.STA_IF) if kind == "Wi-Fi" else module.LAN()
    ssl = SslModule(net) if tls else None
    link = NetLink(iface, module, SocketModule(net), net.host, 443, ssl, tls, kind)
    return clock, net, link


def exchange(link):
    error = link.send(REQUEST)
    if error is not None:
        return error
    got = b""
    for _ in range(5):
        data = link.poll()
        if data:
            got += data
    return got


def test_a_request_and_its_answer_over_tls_on_one_kept_alive_connection():
    clock, net, link = net_link()
    assert link.selftest() is None
    assert exchange(link) == ANSWER and exchange(link) == ANSWER
    assert net.requests == 2 and net.connections == 1
    assert link.poll() is None  # nothing more: None, not b""
    clock.now += 6000  # the server's keep-alive ran out: it closed the connection
    assert exchange(link) == ANSWER  # noticed before the request, opened again
    assert net.connections == 2


def test_link_layer_failures_become_mng04_error_classes_with_what_happened():
    cases = (
        ("Wi-Fi", "link", "wrong_password", NO_LINK, "Wi-Fi: wrong password"),
        ("Wi-Fi", "link", "no_ap", NO_LINK, "Wi-Fi: no access point found"),
        ("LAN", "link", "unplugged", NO_LINK, "LAN: cable unplugged"),
        ("LAN", "dns_fails", True, NO_ROUTE, "DNS: cannot resolve receiver.example (-2)"),
        ("LAN", "connect", "refused", NO_ROUTE, "TCP: receiver.example:443 connection refused"),
        ("LAN", "connect", "unreachable", NO_ROUTE, "TCP: receiver.example:443 host unreachable"),
        ("LAN", "connect", "timeout", TIMEOUT, "TCP: connect timed out after 5 s (timed out"),
        ("LAN", "tls_names", ("other.example",), NO_ROUTE, "TLS: certificate verify failed"),
    )
    for kind, attribute, value, error_class, detail in cases:
        _clock, net, link = net_link(kind)
        setattr(net, attribute, value)
        assert link.send(REQUEST) == error_class, (attribute, value)
        assert link.detail.startswith(detail), (link.detail, detail)
        assert net.requests == 0  # nothing went out
        setattr(net, attribute, "up" if attribute == "link" else False)
    _clock, net, link = net_link("Wi-Fi")
    net.link = "wrong_password"
    assert link.selftest() == "network: Wi-Fi: wrong password"
    assert link.ntp() is None


def test_a_connection_reset_or_closed_mid_answer_is_said():
    _clock, net, link = net_link(tls=False)
    net.answer = "reset"
    assert link.send(REQUEST) is None
    try:
        link.poll()
        raise AssertionError("no OSError")
    except OSError as e:
        assert e.args[0] == 104  # ECONNRESET, raised to the loop (which says NO_ROUTE)
    net.answer = "close"
    assert link.send(REQUEST) is None
    assert link.poll() == b""  # the peer closed without an answer
    net.answer = "ok"
    assert exchange(link) == ANSWER


def test_tls_without_an_ssl_module_is_refused_at_build():
    clock = Clock()
    net = SimNetwork(lambda data, now: ANSWER, clock)
    module = NetworkModule(net)
    text = raises(
        ValueError, lambda: NetLink(module.LAN(), module, SocketModule(net), "h", 443, None, True)
    )
    assert text == "TLS asked for, but this board has no ssl module"


def test_sntp_answers_are_checked():
    _clock, net, link = net_link()
    net.epoch0 = EPOCH
    assert link.ntp() == EPOCH
    net.ntp_works = False
    assert link.ntp() is None
    answer = bytearray(48)
    answer[0], answer[1], answer[43] = 0x24, 0, 1  # stratum 0: a kiss-o'-death
    assert sntp_epoch(answer, 48) is None
    answer[1] = 2
    assert sntp_epoch(answer, 48) == 1 - 2208988800
    assert sntp_epoch(answer, 47) is None  # short
    answer[0] = 0x23  # a client's packet, not a server's
    assert sntp_epoch(answer, 48) is None
