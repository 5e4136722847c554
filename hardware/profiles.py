"""Board profiles as data: the MCU, its buses and pins, and the part in each slot (MicroPython).

A profile is a plain dict, so a board variant is a new dict (or a JSON file on the device's
filesystem read into one), never new code. ``hardware.board.Board(profile, env)`` builds the
board firmware/main.py runs on. Keys:

- ``name``: the board's name (sent in hello, logged at boot); ``style``: "PiT" or "BT";
  ``mcu``: the microcontroller;
- ``buses``: name -> ``{"type": "uart" | "i2c" | "spi", "id": n, pins…, speed}``;
- ``parts``: slot -> ``{"part": driver name, "bus": bus name, pins…, options}``. Slots:
  ``reader``, ``finger``, ``display``, ``keys``, ``buzzer``, ``led``, ``rtc``, ``network``,
  ``battery`` (hardware/board.py, ``SLOTS``). A slot left out is a part the board does not
  have (a PiT-style terminal has no keys; a BT-style one runs on mains, no battery).

``check(profile)`` lists what is wrong with a profile (unknown slot, a bus that is not
declared, a pin given to two things); ``Board`` refuses a profile with problems.

Pins are GPIO numbers. The two profiles below are worked examples, not a specific product's
schematic: PiT — an ESP32-S3 portable terminal with a Sony RC-S620S, a 320 × 240 ST7789 TFT, a
piezo, an RGB LED, a PCF8563, Wi-Fi and a Li-ion cell; BT — an ESP32-S3 with a PN532, an R503
finger module, the same ST7789 TFT (an SSD1306's 128 × 64 holds 8 characters a line: too few
for a name and a status bar; docs/HARDWARE.md), a 4×5 key matrix, a DS3231 and wired Ethernet
through a W5500, the display and the W5500 on one SPI bus with a chip select each.
"""

PIT = {  # type: dict
    "name": "pit-s3",
    "style": "PiT",
    "mcu": "ESP32-S3",
    "buses": {
        "uart1": {"type": "uart", "id": 1, "baudrate": 115200, "tx": 17, "rx": 18},
        "i2c0": {"type": "i2c", "id": 0, "scl": 9, "sda": 8, "freq": 400000},
        "spi2": {"type": "spi", "id": 2, "baudrate": 40000000, "sck": 12, "mosi": 11, "miso": 16},
    },
    "parts": {
        "reader": {"part": "rcs620s", "bus": "uart1"},
        "display": {  # MISO wired: the self-test reads the display's ID (RDDID)
            "part": "st7789",
            "bus": "spi2",
            "cs": 10,
            "dc": 13,
            "reset": 14,
            "backlight": 15,
            "width": 320,
            "height": 240,
        },
        "buzzer": {"part": "buzzer", "pin": 21},
        "led": {"part": "rgb-led", "pins": (38, 39, 40), "common_anode": False},
        "rtc": {"part": "pcf8563", "bus": "i2c0"},
        "network": {"part": "wlan", "tls": True},
        "battery": {"part": "battery", "pin": 4, "divider": 2.0},
    },
}

BT = {  # type: dict
    "name": "bt-eth",
    "style": "BT",
    "mcu": "ESP32-S3",
    "buses": {
        "uart1": {"type": "uart", "id": 1, "baudrate": 115200, "tx": 17, "rx": 18},
        "uart2": {"type": "uart", "id": 2, "baudrate": 57600, "tx": 15, "rx": 16},
        "i2c0": {"type": "i2c", "id": 0, "scl": 9, "sda": 8, "freq": 400000},
        "spi2": {"type": "spi", "id": 2, "baudrate": 20000000, "sck": 12, "mosi": 11, "miso": 13},
    },
    "parts": {
        "reader": {"part": "pn532", "bus": "uart1"},
        "finger": {"part": "r503", "bus": "uart2", "wakeup": 48},
        # The W5500's bus, another chip select (GPIO 35-37: a module without octal PSRAM).
        "display": {
            "part": "st7789",
            "bus": "spi2",
            "cs": 35,
            "dc": 36,
            "backlight": 37,
            "width": 320,
            "height": 240,
        },
        "keys": {
            "part": "key-matrix",
            "rows": (1, 2, 3, 4),
            "cols": (5, 6, 7, 38, 39),
            "keymap": (
                ("in", "1", "2", "3", "service"),
                ("out", "4", "5", "6", "cancel"),
                ("break_start", "7", "8", "9", "ok"),
                ("break_end", None, "0", None, None),
            ),
        },
        "buzzer": {"part": "buzzer", "pin": 47},
        "led": {"part": "rgb-led", "pins": (40, 41, 42), "common_anode": True},
        "rtc": {"part": "ds3231", "bus": "i2c0"},
        # A WIZnet W5500 on SPI: MicroPython's network.LAN(phy_type=PHY_W5500, spi=…, cs=…, int=…)
        "network": {"part": "lan", "phy": "W5500", "bus": "spi2", "cs": 10, "int": 14, "reset": 21},
    },
}

PROFILES = {PIT["name"]: PIT, BT["name"]: BT}

_PIN_KEYS = (
    "pin",
    "tx",
    "rx",
    "scl",
    "sda",
    "sck",
    "mosi",
    "miso",
    "cs",
    "dc",
    "reset",
    "backlight",
    "wakeup",
    "int",
)
_PIN_LISTS = ("pins", "rows", "cols")


def _pins_of(where, spec, used, problems):
    for key in _PIN_KEYS:
        if key in spec:
            _use(where, spec[key], used, problems)
    for key in _PIN_LISTS:
        for pin in spec.get(key, ()):
            _use(where, pin, used, problems)


def _use(where, pin, used, problems):
    if not isinstance(pin, int) or pin < 0:
        problems.append("%s: pin %r is not a GPIO number" % (where, pin))
        return
    if pin in used:
        problems.append("%s: GPIO %d is already %s's" % (where, pin, used[pin]))
        return
    used[pin] = where


def check(profile):
    """What is wrong with ``profile`` (a list of texts, empty when nothing is)."""
    from hardware.board import SLOTS

    problems = []
    for key in ("name", "buses", "parts"):
        if key not in profile:
            problems.append("no %r" % key)
    if problems:
        return problems
    used = {}  # type: dict[int, str]
    for name, bus in profile["buses"].items():
        if bus.get("type") not in ("uart", "i2c", "spi"):
            problems.append("bus %s: type %r (uart, i2c or spi)" % (name, bus.get("type")))
        _pins_of("bus " + name, bus, used, problems)
    parts = profile["parts"]
    for slot, spec in parts.items():
        if slot not in SLOTS:
            problems.append("slot %r: not one of %s" % (slot, ", ".join(SLOTS)))
            continue
        if "part" not in spec:
            problems.append("%s: no 'part'" % slot)
        bus = spec.get("bus")
        if bus is not None and bus not in profile["buses"]:
            problems.append("%s: bus %r is not in the profile's buses" % (slot, bus))
        _pins_of(slot, spec, used, problems)
    if "reader" not in parts and "finger" not in parts:
        problems.append("no reader and no finger module: nothing identifies anyone")
    return problems
