"""The ``env`` of a real board (MicroPython on an ESP32-S3): what hardware/board.py builds the
parts from, over ``machine``, ``network``, ``socket``, ``ssl``, ``esp32`` and ``time``.

Every module is passed in (``DeviceEnv(profile, settings, modules, storage)``), so the class
is tested on the desktop with stand-ins; on a device, :func:`start` passes the real ones::

    # main.py on the device's filesystem
    from hardware import device, profiles
    device.start(profiles.PIT)

``settings`` (a JSON file, ``/settings.json``, written at provisioning) holds: ``tenant``,
``terminal``, ``secret`` (hex), ``receiver_host``, ``receiver_port``, and for Wi-Fi ``ssid`` and
``wifi_key``; optionally ``cadata_file`` (the receiver's CA certificate, DER, pinned).

- Buses and pins come from the profile (``machine.UART(id, baudrate, tx, rx, timeout=0)``,
  ``machine.I2C(id, scl, sda, freq)``, ``machine.SPI(id, baudrate, sck, mosi, miso)``). A UART
  with ``timeout=0`` never blocks a read: the drivers poll.
- The network interface is started and, for Wi-Fi, asked to connect (``WLAN.connect`` returns
  at once; the link comes up in the background and ``NetLink`` reads its state). A W5500 is
  ``network.LAN(spi=…, cs=…, int=…, phy_type=PHY_W5500, phy_addr=0)`` (the ESP32 port's SPI
  Ethernet).
- The partitions are ``esp32.Partition.find(TYPE_DATA, label=name)`` for "journal", "roster",
  "config", "log" and "bootcount" (the boot counter, firmware/bootcount.py: two sectors),
  through ``hardware.flash.BlockDeviceFlash``. A table without "bootcount" (an older build)
  gives four: the firmware boots and logs the missing counter as a self-test problem. Any
  other missing one raises ``OSError("no data partition 'journal' in the partition table")``:
  that is a build defect, said at boot.
- The boot ID is a counter in ``storage`` ("boot_id"), one more at every boot.
- The service console (firmware/console.py, docs/HARDWARE.md "Service console") is on the
  USB/UART REPL stream when ``modules`` has ``sys`` and ``select`` (``start`` passes them) and
  the settings do not say ``"console": false``: :class:`ReplConsole`, ``sys.stdin`` polled
  with ``select.poll`` (never blocking), replies by ``sys.stdout``. Ctrl-C stops interrupting
  (``micropython.kbd_intr(-1)``): a 0x03 on the line must not stop the door; the REPL comes
  back after a reboot into safe mode or with ``"console": false``. A USB or UART stream says
  nothing when the peer goes, so this console never reports a hang-up (``console_read`` never
  returns None): a login ends at ``logout`` or after 5 minutes without a command. No stimuli:
  a device is never a test build.

Not run on a device yet: the desktop tests check what it asks of each module (the console's
stand-ins for ``sys`` and ``select`` cannot show how a real USB-CDC or UART REPL behaves).
"""

import binascii

from hardware.flash import BlockDeviceFlash

# firmware/main.py's order: journal, roster, config, log, then the boot counter
# (firmware/bootcount.py), which a board may lack (said at boot as event 5).
PARTITIONS = ("journal", "roster", "config", "log")
BOOT_COUNTER = "bootcount"
_REQUIRED = ("tenant", "terminal", "secret", "receiver_host", "receiver_port")
_CONSOLE_READ = 64  # bytes taken from the REPL stream per read at most


class ReplConsole:
    """The service console's byte stream on the REPL's ``sys.stdin`` / ``sys.stdout``."""

    def __init__(self, sys_module, select_module, micropython_module=None):
        stdin = sys_module.stdin
        self._in = getattr(stdin, "buffer", stdin)  # bytes, not text
        out = sys_module.stdout
        self._out = getattr(out, "buffer", out)
        self._poll = select_module.poll()
        self._poll.register(stdin, select_module.POLLIN)
        # ipoll() yields without allocating (MicroPython); poll() makes a list each time.
        self._ipoll = getattr(self._poll, "ipoll", None)
        self._buf = bytearray(_CONSOLE_READ)
        if micropython_module is not None:
            micropython_module.kbd_intr(-1)  # a 0x03 on the line is a byte, not Ctrl-C

    def _ready(self):
        if self._ipoll is not None:
            for _ in self._ipoll(0):
                return True
            return False
        return bool(self._poll.poll(0))

    def read(self):
        """Bytes waiting on the stream (at most 64), b"" when none; never blocks."""
        n = 0
        buf = self._buf
        while n < _CONSOLE_READ and self._ready():
            got = self._in.read(1)
            if not got:
                break
            buf[n] = got[0]
            n += 1
        return bytes(buf[:n]) if n else b""

    def write(self, data):
        self._out.write(data)


class FileStorage:
    """Small files on the device's filesystem (``open``)."""

    def read(self, name):
        try:
            with open("/" + name, "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        with open("/" + name, "wb") as f:
            f.write(data)


class DeviceEnv:
    def __init__(self, profile, settings, modules, storage):
        missing = [k for k in _REQUIRED if k not in settings]
        if profile["parts"].get("network", {}).get("part") == "wlan":
            missing += [k for k in ("ssid", "wifi_key") if k not in settings]
        if missing:
            raise ValueError("settings lack %s" % ", ".join(missing))
        self.profile = profile
        self.settings = settings
        self.machine = modules["machine"]
        self.network = modules["network"]
        self.socket = modules["socket"]
        self.ssl = modules.get("ssl")
        self.esp32 = modules["esp32"]
        self.time = modules["time"]
        self.os = modules["os"]
        self.storage = storage
        self.cadata = None
        if settings.get("cadata_file"):
            self.cadata = storage.read(settings["cadata_file"])
            if self.cadata is None:
                raise ValueError("no CA file %r" % settings["cadata_file"])
        self._boot_id = 0
        if "sys" in modules and "select" in modules and settings.get("console", True):
            console = ReplConsole(modules["sys"], modules["select"], modules.get("micropython"))
            self.console_read = console.read  # only then: hardware/board.py passes them on
            self.console_write = console.write

    def ticks_ms(self):
        return self.time.ticks_ms()

    def sleep_ms(self, ms):
        self.time.sleep_ms(ms)

    def _pin(self, n):
        return self.machine.Pin(n)

    def uart(self, spec):
        return self.machine.UART(
            spec["id"], baudrate=spec["baudrate"], tx=spec["tx"], rx=spec["rx"], timeout=0
        )

    def i2c(self, spec):
        m = self.machine
        return m.I2C(spec["id"], scl=m.Pin(spec["scl"]), sda=m.Pin(spec["sda"]), freq=spec["freq"])

    def spi(self, spec):
        m = self.machine
        miso = m.Pin(spec["miso"]) if "miso" in spec else None
        return m.SPI(
            spec["id"], baudrate=spec["baudrate"], sck=m.Pin(spec["sck"]), mosi=m.Pin(spec["mosi"]),
            miso=miso,
        )  # fmt: skip

    def pin(self, number, mode):
        Pin = self.machine.Pin
        if mode == "out":
            return Pin(number, Pin.OUT, value=1)
        return Pin(number, Pin.IN, Pin.PULL_UP)

    def font_flash(self, path):
        from hardware.font import FileFlash

        return FileFlash(path)  # the font file on the board's filesystem

    def pwm(self, number):
        return self.machine.PWM(self.machine.Pin(number), freq=1000, duty_u16=0)

    def adc(self, number):
        ADC = self.machine.ADC
        return ADC(self.machine.Pin(number), atten=ADC.ATTN_11DB)  # up to about 3.1 V

    def interface(self, spec):
        net = self.network
        if spec["part"] == "wlan":
            wlan = net.WLAN(net.STA_IF)
            wlan.active(True)
            wlan.connect(self.settings["ssid"], self.settings["wifi_key"])
            return wlan
        bus = self.spi(self.profile["buses"][spec["bus"]])
        m = self.machine
        lan = net.LAN(
            spi=bus, cs=m.Pin(spec["cs"]), int=m.Pin(spec["int"]), phy_type=net.PHY_W5500,
            phy_addr=0,
        )  # fmt: skip
        lan.active(True)
        return lan

    def receiver(self):
        return self.settings["receiver_host"], int(self.settings["receiver_port"])

    def partitions(self):
        P = self.esp32.Partition
        out = []
        for name in PARTITIONS:
            found = P.find(P.TYPE_DATA, label=name)
            if not found:
                raise OSError("no data partition %r in the partition table" % name)
            out.append(BlockDeviceFlash(found[0]))
        found = P.find(P.TYPE_DATA, label=BOOT_COUNTER)
        if found:
            out.append(BlockDeviceFlash(found[0]))
        return tuple(out)

    def identity(self):
        s = self.settings
        return s["tenant"], s["terminal"], binascii.unhexlify(s["secret"])

    def boot_id(self):
        """One more than at the last boot (persisted); the same value for the whole boot."""
        if not self._boot_id:
            data = self.storage.read("boot_id")
            try:
                last = int(data) if data else 0
            except ValueError:
                last = 0  # a torn file: count on from 0 (the journal's boot IDs only need change)
            self._boot_id = (last % 65535) + 1
            self.storage.write("boot_id", str(self._boot_id).encode())
        return self._boot_id

    def urandom(self, n):
        return self.os.urandom(n)

    def reset(self):
        self.machine.reset()


def start(profile, settings_file="settings.json"):  # pragma: no cover - on a device only
    """Build the board of ``profile`` on this device and run the terminal for ever."""
    import json

    from firmware.main import run
    from hardware.board import Board

    modules = {}  # type: dict[str, object]
    for name in ("machine", "network", "socket", "esp32", "time", "os", "sys", "select",
                 "micropython"):  # fmt: skip
        modules[name] = __import__(name)
    try:
        modules["ssl"] = __import__("ssl")
    except ImportError:
        modules["ssl"] = None  # no TLS on this build: a profile asking for it is refused
    storage = FileStorage()
    raw = storage.read(settings_file)
    if raw is None:
        raise OSError("no /%s: provision the terminal first" % settings_file)
    env = DeviceEnv(profile, json.loads(raw), modules, storage)
    run(Board(profile, env))
