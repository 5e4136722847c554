"""A board profile with every part simulated (MicroPython-compatible): the ``env`` that
hardware/board.py builds a ``Board`` from, under virtual time.

``SimEnv(profile, service, epoch)`` holds the world the profile's parts are wired to: a field of
cards before the reader's chip on its serial line (``field``), the simulated R503 on the finger
slot's serial line (``finger_sensor``: ``enrol(page, finger)``, ``place(finger)``, ``lift()``;
simulator/fingers/r503.py), the I2C bus with the profile's
RTC chip (``rtc_chip``), the key matrix (``keypad``), PWM channels and ADCs by pin (``pwms``,
``adcs``), the network (``net``, answering with ``service``: request bytes and service time ->
answer bytes), the display's ST7789 chip on the profile's SPI bus (``display_chip``, its bus
``display_spi``; simulator/display.py) with the font built by ``make setup`` (``FONT_FILE``),
five flash partitions (journal, roster, config, log, boot counter: firmware/main.py), and the
clock (``now``, virtual milliseconds; ``sleep_ms`` moves it). ``build(profile, service, epoch)``
gives ``(board, env)``: the real drivers of hardware/ on those simulated parts. An R503 finger
slot gets the real driver (``hardware.btreader.finger_module``) over the simulated module at
57600 baud, composed with the card reader as docs/HARDWARE.md says:
``hardware.btreader.CardAndFinger(cards, finger, identify_mode)`` answers the board's
``reader_selftest`` and ``reader_poll`` (``board.bt``; the finger's self-test is then the
reader's, not a part's). ``identify_mode`` (``build``'s keyword, "card_or_finger" by default) is
the method of the part composition; the terminal still applies the configured one.
"""

import sys

from hardware.board import Board
from hardware.font import FileFlash
from simulator.display import SimPin as DisplayPin
from simulator.display import SimSpi, ST7789Chip
from simulator.fingers.r503 import R503
from simulator.norflash import SimulatedNorFlash
from simulator.parts.i2c import DS3231Chip, PCF8563Chip, SimI2CBus
from simulator.parts.network import NetworkModule, SimNetwork, SocketModule, SslModule
from simulator.parts.pins import SimADC, SimKeyMatrix, SimPin, SimPWM
from simulator.readers.field import Field
from simulator.readers.line import SerialLine
from simulator.readers.pn532 import PN532Chip
from simulator.readers.rcs620s import RCS620SChip

TICKS_PERIOD = 1 << 30
_RTC_CHIPS = {"ds3231": DS3231Chip, "pcf8563": PCF8563Chip}
_READER_CHIPS = {"pn532": PN532Chip, "rcs620s": RCS620SChip}
FONT_FILE = "build/font/unifont_jp16.dkf"  # made by make setup from Debian's unifont
_DISPLAY_LINES = (("cs", "cs"), ("dc", "dc"), ("reset", "rst"))


def font_file():
    """The built font's path: the repository's, mounted at /repo for the MicroPython tests."""
    if sys.implementation.name == "micropython":
        return "/repo/" + FONT_FILE
    import hardware

    return hardware.__file__.replace("\\", "/").rsplit("/", 2)[0] + "/" + FONT_FILE


class SimEnv:
    def __init__(
        self,
        profile,
        service,
        epoch,
        identity=("ACME01", "T0001", b"door-secret-0123456789abcdef01"),
        flash_sectors=(16, 16, 2, 4, 2),
        sector_size=4096,
        rtc_valid=True,
        config=None,
    ):
        self.profile = profile
        self.now = 0
        self.epoch0 = epoch
        self.field = Field()
        self.lines = {}  # bus name -> SerialLine
        self.i2c_buses = {}
        self.rtc_chip = None
        self.finger_sensor = None  # the simulated R503, once its line is made
        self.pwms = {}
        self.adcs = {}
        self.resets = 0
        self.boots = 1
        self._identity = identity
        self.flashes = tuple(SimulatedNorFlash(sector_size, n) for n in flash_sectors)
        if config:  # provisioned before the first boot, as an installer does
            from firmware.config import Config

            problem = Config(self.flashes[2]).apply(0, config)
            if problem:
                raise ValueError("config: " + problem)
        parts = profile["parts"]
        rtc = parts.get("rtc")
        if rtc is not None:
            self.rtc_chip = _RTC_CHIPS[rtc["part"]](epoch if rtc_valid else None)
        self.display_chip = None
        self.display_spi = None
        self._display_pins = {}
        display = parts.get("display")
        if display is not None and display["part"] == "st7789":
            self.display_chip = ST7789Chip()
            for key, line in _DISPLAY_LINES:
                if key in display:
                    self._display_pins[display[key]] = line
        self.font_path = font_file()
        keys = parts.get("keys")
        self.keypad = None
        if keys is not None:
            self.keypad = SimKeyMatrix(keys["rows"], keys["cols"], keys["keymap"], self.ticks)
        self.net = SimNetwork(lambda data, now_ms: service(data, self.service_time()), self.ticks)
        self.net.epoch0 = epoch
        self.network = NetworkModule(self.net)
        self.socket = SocketModule(self.net)
        self.ssl = SslModule(self.net)

    # ------------------------------------------------------------------- env interface

    def ticks(self):
        return self.now

    def service_time(self):
        return self.epoch0 + self.now // 1000

    def ticks_ms(self):
        return self.now % TICKS_PERIOD  # as MicroPython's ticks_ms(): wraps at 2**30

    def sleep_ms(self, ms):
        self.now += ms
        self._sync()

    def _sync(self):
        for line in self.lines.values():
            line.now = self.now
        for bus in self.i2c_buses.values():
            bus.now = self.now

    def _slot_on(self, bus_name):
        for slot, spec in self.profile["parts"].items():
            if spec.get("bus") == bus_name:
                return slot, spec
        return None, None

    def uart(self, spec):
        name = self._bus_name(spec)
        slot, part = self._slot_on(name)
        if slot == "finger" and part is not None and part["part"] == "r503":
            self.finger_sensor = R503()
            line = SerialLine(self.finger_sensor, R503.baud)
            line.now = self.now
            self.lines[name] = line
            return line
        if slot != "reader" or part is None or part["part"] not in _READER_CHIPS:
            raise OSError(19)  # nothing simulated on that line
        line = SerialLine(_READER_CHIPS[part["part"]](self.field))
        line.now = self.now
        self.lines[name] = line
        return line

    def i2c(self, spec):
        bus = SimI2CBus()
        bus.now = self.now
        if self.rtc_chip is not None:
            bus.attach(self.rtc_chip)
        self.i2c_buses[self._bus_name(spec)] = bus
        return bus

    def spi(self, spec):
        display = self.profile["parts"].get("display")
        if self.display_chip is None or display is None:
            return object()  # the W5500's: network.LAN drives it (simulator/parts/network.py)
        if display["bus"] != self._bus_name(spec):
            return object()
        self.display_spi = SimSpi(self.display_chip, spec["baudrate"])
        return self.display_spi

    def font_flash(self, path):
        return FileFlash(self.font_path)  # the device's path, the repository's built file

    def _bus_name(self, spec):
        for name, bus in self.profile["buses"].items():
            if bus is spec:
                return name
        raise ValueError("not a bus of this profile")

    def pin(self, number, mode):
        line = self._display_pins.get(number)
        if line is not None:
            return DisplayPin(self.display_chip, line)
        if self.keypad is not None:
            pin = self.keypad.pins().get(number)
            if pin is not None:
                return pin
        return SimPin(number)

    def pwm(self, number):
        p = SimPWM(number, self.ticks)
        self.pwms[number] = p
        return p

    def adc(self, number):
        a = SimADC(number)
        self.adcs[number] = a
        return a

    def interface(self, spec):
        if spec["part"] == "wlan":
            return self.network.WLAN(self.network.STA_IF)
        return self.network.LAN()

    def receiver(self):
        return self.net.host, self.net.port

    def partitions(self):
        return self.flashes

    def identity(self):
        return self._identity

    def boot_id(self):
        return self.boots

    def urandom(self, n):
        return bytes((i * 37 + self.boots) & 0xFF for i in range(n))

    def reset(self):
        self.resets += 1

    # -------------------------------------------------------------------- the world

    def reader_line(self):
        slot_bus = self.profile["parts"]["reader"]["bus"]
        return self.lines.get(slot_bus)


def build(profile, service, epoch, **kw):
    """(board, env): ``profile`` on simulated parts, every part the real driver of hardware/
    (an R503 finger slot composed with the card reader by hardware/board.py: ``board.bt``). A
    board with a finger module is provisioned to take a card or a finger (``identify_mode``:
    the terminal's default is the card alone) unless ``config`` says otherwise."""
    if "finger" in profile["parts"] and "config" not in kw:
        kw["config"] = {"identify_mode": "card_or_finger"}
    env = SimEnv(profile, service, epoch, **kw)
    return Board(profile, env), env
