"""The outside check of the simulated R503: pyfingerprint 1.5 (a pyserial driver nobody here
wrote, which verifies every checksum) enrols and searches a finger over a pty. Under CI a
missing pyfingerprint fails, never skips.

Why not Adafruit's ``adafruit-circuitpython-fingerprint``: it imports ``busio`` and needs
Adafruit-Blinka, which installs a top-level ``micropython`` module that would shadow the
project's own (``tools/micropython``) on CPython; pyfingerprint needs only pyserial and Pillow.
"""

from __future__ import annotations

import os

import pytest

from simulator.fingers.r503 import R503, score_of
from simulator.readers.pty import PtyChip


def _driver():
    try:
        from pyfingerprint.pyfingerprint import PyFingerprint
    except ImportError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"pyfingerprint not installed: {e}")
    return PyFingerprint


@pytest.fixture
def module():
    PyFingerprint = _driver()
    r503 = R503()
    r503.delay_scale = 0.02  # the pty runs in real time: 200 ms images become 4 ms
    with PtyChip(r503) as pty:
        sensor = PyFingerprint(pty.path, 57600, 0xFFFFFFFF, 0x00000000)
        yield r503, sensor
        del sensor


def test_pyfingerprint_enrols_then_searches_on_the_simulated_r503(module):
    r503, f = module
    assert f.verifyPassword() is True
    assert f.getStorageCapacity() == 200 and f.getSecurityLevel() == 3
    assert f.getMaxPacketSize() == 128 and f.getBaudRate() == 57600
    r503.enrol(0, "bob-thumb")
    assert f.getTemplateCount() == 1
    # enrolment as pyfingerprint's own example does it: two images, a model, the first free page
    assert f.readImage() is False  # nobody there yet
    r503.place("alice-index")
    assert f.readImage() is True
    f.convertImage(0x01)
    r503.lift()
    assert f.readImage() is False
    r503.place("alice-index")
    assert f.readImage() is True
    f.convertImage(0x02)
    assert f.compareCharacteristics() == score_of("alice-index")
    f.createTemplate()
    assert f.storeTemplate() == 1  # page 0 is bob's
    assert r503.library[1] == "alice-index" and f.getTemplateCount() == 2
    assert f.getTemplateIndex(0)[:3] == [True, True, False]
    # a search finds her, a wrong finger is not found
    assert f.readImage() is True
    f.convertImage(0x01)
    assert f.searchTemplate() == (1, score_of("alice-index"))
    r503.place("carol-index")
    assert f.readImage() is True
    f.convertImage(0x01)
    assert f.searchTemplate() == (-1, -1)
    assert f.deleteTemplate(1) is True and f.getTemplateCount() == 1
    # what the module sent was checked by pyfingerprint: a spoilt checksum is refused
    r503.bad_sum = 1
    with pytest.raises(Exception, match="checksum is wrong"):
        f.getTemplateCount()


def test_the_terminals_driver_identifies_over_pyserial_on_the_pty():
    """hardware/fingerprint.py through pyserial, as on a PC with a USB-serial adapter."""
    import time

    import serial
    from dakoku.serialreader import PyserialUart

    from hardware.fingerprint import FingerPrint

    r503 = R503()
    r503.delay_scale = 0.02
    r503.enrol(12, "alice-index")
    with PtyChip(r503) as pty, serial.Serial(pty.path, 57600, timeout=0) as port:
        start = time.monotonic()

        def ticks():
            return int((time.monotonic() - start) * 1000)

        driver = FingerPrint(
            PyserialUart(port), ticks_ms=ticks, wait_ms=lambda ms: time.sleep(ms / 1000)
        )
        assert driver.selftest() is None and driver.templates == 1
        r503.place("alice-index")
        event = None
        while event is None and ticks() < 5000:
            event = driver.poll(ticks())
            time.sleep(0.005)
        assert event is not None and (event.result, event.template) == ("match", 12), event
