"""hardware/device.py's env on stand-ins for MicroPython's modules (both runtimes): what it asks
of machine, network, esp32 and the filesystem for each profile, the boot ID it keeps, and the
settings and partitions it refuses."""

from test_block_device_flash import ExtendedBlockDevice

from hardware.board import Board
from hardware.device import DeviceEnv
from hardware.profiles import BT, PIT
from simulator.norflash import SimulatedNorFlash
from simulator.parts.standins import ScriptedFinger, TextDisplay

MICROPYTHON_HEAPSIZE = "2M"

SETTINGS = {
    "tenant": "ACME01",
    "terminal": "T0001",
    "secret": "00112233",
    "receiver_host": "receiver.example",
    "receiver_port": "443",
    "ssid": "office",
    "wifi_key": "k3y",
}


class Calls:
    def __init__(self):
        self.made = []


CALLS = Calls()


class Pin:
    OUT = 1
    IN = 0
    PULL_UP = 2

    def __init__(self, n, mode=None, pull=None, value=None):
        self.n = n
        self.level = 1 if value is None else value
        CALLS.made.append(("Pin", n, mode, pull))

    def value(self, v=None):
        if v is None:
            return 1
        self.level = v
        return None


class Part:
    def __init__(self, kind, args, kw):
        self.kind = kind
        self.args = args
        self.kw = kw
        CALLS.made.append((kind, args, kw))

    def duty_u16(self, v=None):
        return 0

    def freq(self, hz=None):
        return 0

    def any(self):
        return 0

    def write(self, data):
        return len(data)

    def readinto(self, buf):
        return None

    def readfrom_mem_into(self, addr, reg, buf):
        raise OSError(19)

    def writeto_mem(self, addr, reg, data):
        raise OSError(19)

    def read_uv(self):
        return 1_950_000


def maker(kind):
    def make(*args, **kw):
        return Part(kind, args, kw)

    return make


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.part = Part("ADC", (pin.n,), {"atten": atten})

    def read_uv(self):
        return 1_950_000


class Machine:
    Pin = Pin
    ADC = ADC
    UART = staticmethod(maker("UART"))
    I2C = staticmethod(maker("I2C"))
    SPI = staticmethod(maker("SPI"))
    PWM = staticmethod(maker("PWM"))

    def __init__(self):
        self.resets = 0

    def reset(self):
        self.resets += 1


class Iface:
    def __init__(self, kind, kw):
        self.kind = kind
        self.kw = kw
        self.actions = []

    def active(self, on=None):
        self.actions.append(("active", on))

    def connect(self, ssid, key):
        self.actions.append(("connect", ssid, key))

    def isconnected(self):
        return False

    def status(self):
        return 1001


class Network:
    STA_IF = 0
    PHY_W5500 = 102
    STAT_CONNECTING = 1001

    def WLAN(self, n):
        return Iface("WLAN", {"interface": n})

    def LAN(self, **kw):
        return Iface("LAN", kw)


class Partition:
    TYPE_DATA = 1
    tables = {}  # type: dict  # noqa: RUF012 (the partition table of one test)

    @staticmethod
    def find(kind, label=None):
        found = Partition.tables.get(label)
        return [found] if found is not None else []


class Esp32:
    Partition = Partition


class Time:
    def __init__(self):
        self.now = 5

    def ticks_ms(self):
        return self.now

    def sleep_ms(self, ms):
        self.now += ms


class Os:
    def urandom(self, n):
        return bytes(range(n))


class Storage:
    def __init__(self):
        self.files = {}

    def read(self, name):
        return self.files.get(name)

    def write(self, name, data):
        self.files[name] = bytes(data)


def modules():
    Partition.tables = {
        name: ExtendedBlockDevice(SimulatedNorFlash(4096, 4))
        for name in ("journal", "roster", "config", "log")
    }
    Partition.tables["bootcount"] = ExtendedBlockDevice(SimulatedNorFlash(4096, 2))
    return {"machine": Machine(), "network": Network(), "socket": object(), "ssl": object(),
            "esp32": Esp32(), "time": Time(), "os": Os()}  # fmt: skip


def made(kind):
    return [c for c in CALLS.made if c[0] == kind]


def test_the_pit_board_asks_the_device_for_its_profiles_buses_pins_and_wifi():
    CALLS.made = []
    env = DeviceEnv(PIT, SETTINGS, modules(), Storage())
    board = Board(PIT, env, {"display": TextDisplay()})
    net = board.network
    assert net is not None
    assert made("UART") == [("UART", (1,), {"baudrate": 115200, "tx": 17, "rx": 18, "timeout": 0})]
    assert made("I2C")[0][2]["freq"] == 400000
    assert sorted(c[1][0].n for c in made("PWM")) == [21, 38, 39, 40]
    assert net.iface.actions == [("active", True), ("connect", "office", "k3y")]
    assert net.host == "receiver.example" and net.port == 443
    assert net.tls  # the board has ssl
    assert board.battery_level() == (3900, 69, "ok")
    assert board.parts_selftest() == [
        "rtc: PCF8563: no answer at 0x51 (19)",
        "network: Wi-Fi: still connecting",
    ]
    assert [f.size for f in env.partitions()] == [16384] * 4 + [8192]  # the boot counter's 5th
    assert env.identity() == ("ACME01", "T0001", b"\x00\x11\x22\x33")
    board.reboot()
    assert env.machine.resets == 1


def test_the_pit_board_makes_its_st7789_from_the_profile_and_the_font_file():
    from simulator.parts.board import font_file

    CALLS.made = []
    profile = dict(PIT)
    profile["parts"] = dict(PIT["parts"])
    profile["parts"]["display"] = dict(PIT["parts"]["display"], font=font_file())
    env = DeviceEnv(profile, SETTINGS, modules(), Storage())
    board = Board(profile, env)  # the display's maker, no stand-in
    display = board.display
    assert board.problems == [] and display is not None and display.font.count > 7000
    spi = made("SPI")[0]
    assert spi[1] == (2,) and spi[2]["baudrate"] == 40_000_000 and spi[2]["miso"].n == 16
    assert display.spi_hz == 40_000_000
    outs = {c[1] for c in made("Pin") if c[2] == Pin.OUT}
    assert {10, 13, 14, 15} <= outs  # cs, dc, reset, backlight
    # The stand-in SPI reads zeros: the display's ID is not an ST7789's, said at boot.
    assert "display: ST7789: no answer (display ID 000000)" in board.parts_selftest()


def test_the_bt_board_starts_a_w5500_on_its_spi_bus_and_the_key_rows():
    CALLS.made = []
    env = DeviceEnv(BT, SETTINGS, modules(), Storage())
    board = Board(BT, env, {"display": TextDisplay(), "finger": ScriptedFinger()})
    assert board.network is not None
    lan = board.network.iface
    assert lan.kind == "LAN" and lan.kw["phy_type"] == 102 and lan.kw["phy_addr"] == 0
    assert lan.kw["cs"].n == 10 and lan.kw["int"].n == 14
    assert made("SPI")[0][2]["baudrate"] == 20000000
    rows = [c for c in made("Pin") if c[2] == Pin.OUT]
    cols = [c for c in made("Pin") if c[3] == Pin.PULL_UP]
    assert [c[1] for c in rows] == [1, 2, 3, 4] and [c[1] for c in cols] == [5, 6, 7, 38, 39]


def test_the_boot_id_counts_on_over_boots_and_survives_a_torn_file():
    storage = Storage()
    first = DeviceEnv(BT, SETTINGS, modules(), storage)
    assert first.boot_id() == 1 and first.boot_id() == 1  # one value for a whole boot
    assert DeviceEnv(BT, SETTINGS, modules(), storage).boot_id() == 2
    storage.files["boot_id"] = b"\xff\x00"
    assert DeviceEnv(BT, SETTINGS, modules(), storage).boot_id() == 1


def test_missing_settings_and_partitions_are_said():
    partial = dict(SETTINGS)
    del partial["wifi_key"]
    del partial["secret"]
    try:
        DeviceEnv(PIT, partial, modules(), Storage())
        raise AssertionError("accepted")
    except ValueError as e:
        assert str(e) == "settings lack secret, wifi_key"
    env = DeviceEnv(BT, SETTINGS, modules(), Storage())
    del Partition.tables["bootcount"]  # an older table: four, the loop logs the missing counter
    assert len(env.partitions()) == 4
    del Partition.tables["roster"]
    try:
        env.partitions()
        raise AssertionError("accepted")
    except OSError as e:
        assert str(e) == "no data partition 'roster' in the partition table"
    with_ca = dict(SETTINGS)
    with_ca["cadata_file"] = "ca.der"
    try:
        DeviceEnv(PIT, with_ca, modules(), Storage())
        raise AssertionError("accepted")
    except ValueError as e:
        assert str(e) == "no CA file 'ca.der'"


class Stream:
    """sys.stdin / sys.stdout of the REPL: bytes through ``buffer``."""

    def __init__(self, data=b""):
        self.buffer = self
        self.pending = bytearray(data)
        self.written = bytearray()

    def read(self, n):
        got = bytes(self.pending[:n])
        self.pending = self.pending[n:]
        return got

    def write(self, data):
        self.written += data
        return len(data)


class Poller:
    def __init__(self):
        self.registered = []

    def register(self, stream, events):
        self.registered.append((stream, events))

    def ipoll(self, timeout):
        assert timeout == 0  # never blocks the loop
        stream = self.registered[0][0]
        return iter([(stream, 1)] if stream.pending else [])


class Select:
    POLLIN = 1

    def poll(self):
        return Poller()


class Sys:
    def __init__(self, data):
        self.stdin = Stream(data)
        self.stdout = Stream()


class MicroPythonModule:
    def __init__(self):
        self.kbd = []

    def kbd_intr(self, c):
        self.kbd.append(c)


def test_the_service_console_is_on_the_repl_stream_only_where_the_device_has_one():
    mods = modules()
    mods["sys"] = Sys(b"status\r\n" + b"x" * 100)
    mods["select"] = Select()
    mods["micropython"] = MicroPythonModule()
    env = DeviceEnv(PIT, SETTINGS, mods, Storage())
    board = Board(PIT, env, {"display": TextDisplay()})
    assert hasattr(board, "console_read") and board.stimuli is None  # never a test build
    assert mods["micropython"].kbd == [-1]  # a 0x03 on the line does not stop the door
    assert board.console_read() == b"status\r\n" + b"x" * 56  # 64 bytes a read at most
    assert board.console_read() == b"x" * 44 and board.console_read() == b""
    board.console_write(b"ok\r\n")
    assert bytes(mods["sys"].stdout.written) == b"ok\r\n"
    # No console without sys and select, or with "console": false: the board has none either.
    plain = Board(PIT, DeviceEnv(PIT, SETTINGS, modules(), Storage()), {"display": TextDisplay()})
    assert not hasattr(plain, "console_read") and not hasattr(plain, "console_write")
    off = dict(SETTINGS, console=False)
    mods["sys"] = Sys(b"")
    quiet = Board(PIT, DeviceEnv(PIT, off, mods, Storage()), {"display": TextDisplay()})
    assert not hasattr(quiet, "console_read")
