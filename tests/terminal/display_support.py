"""A simulated ST7789 with the driver and the built font, for the display tests (both runtimes)."""

from support import IS_MICROPYTHON

from hardware.font import FileFlash, Font
from hardware.st7789 import ST7789
from simulator.display import SimPin, SimSpi, ST7789Chip

FONT_FILE = "build/font/unifont_jp16.dkf"
NO_FONT = "no display font %s: apt-get install unifont, then make setup (tools/dakoku/fontbuild.py)"


def font_path():
    if IS_MICROPYTHON:
        return "/repo/" + FONT_FILE  # the repository, mounted read-only
    import hardware

    return hardware.__file__.replace("\\", "/").rsplit("/", 2)[0] + "/" + FONT_FILE


def open_font():
    path = font_path()
    try:
        flash = FileFlash(path)
    except OSError:
        raise AssertionError(NO_FONT % path)  # a failure, never a skip
    return Font(flash)


class Rig:
    """A display on a simulated SPI bus: ``chip``, ``spi``, ``font``, ``display``."""

    def __init__(self, selftest=True, **kwargs):
        self.chip = ST7789Chip(**kwargs)
        self.spi = SimSpi(self.chip)
        self.font = open_font()
        self.display = ST7789(
            self.spi, SimPin(self.chip, "dc"), SimPin(self.chip, "cs"), self.font,
            rst=SimPin(self.chip, "rst"),
        )  # fmt: skip
        if selftest:
            assert self.display.selftest() is None
            assert self.chip.errors == [], self.chip.errors

    def record(self):
        self.chip.log = []
        return self.chip.log
