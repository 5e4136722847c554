"""nfcpy 1.0.4 (not written here) reads the simulated cards through each simulated chip:
its pn532 driver and its rcs956 driver over a pseudo-terminal, its rcs380 driver over a fake
USB transport. What it reads must be what the card holds, byte for byte."""

from __future__ import annotations

from simulator.readers.field import EXAMPLE_IDM, EXAMPLE_PMM, FelicaCard, Field
from simulator.readers.pn532 import PN532Chip
from simulator.readers.pty import PtyChip
from simulator.readers.rcs620s import RCS620SChip

IDM = bytes.fromhex("012e4cd200070001")


def _sense(nfc, device, brty="212F"):
    target = device.sense_ttf(nfc.clf.RemoteTarget(brty))
    return None if target is None else bytes(target.sensf_res)


def test_nfcpy_pn532_driver_over_a_pty(nfc):
    field = Field()
    chip = PN532Chip(field)
    with PtyChip(chip) as pty:
        device = nfc.clf.pn532.init(nfc.clf.transport.TTY(pty.path))
        device._path = pty.path
        try:
            assert "PN532v1.6" in str(device)
            # nfcpy asked for 921600 baud (SetSerialBaudrate 07). Whether the chip saw the host's
            # ACK that completes the switch is a race: nfcpy reopens the port at once, and
            # closing a pty slave flushes what the master has not read yet. The pty does not
            # emulate the rate, so either way the exchange goes on.
            assert chip.commands[:3] == [0x02, 0x14, 0x10]
            assert _sense(nfc, device) is None  # empty field
            field.place(FelicaCard(IDM))
            res = _sense(nfc, device)
            assert res[0] == 0x01 and res[1:9] == IDM and res[9:17] == EXAMPLE_PMM
            assert res[17:] == b"\x00\x03"  # nfcpy asks for the system code
            field.remove()
            field.place(FelicaCard(rates=(212, 424)))
            assert _sense(nfc, device, "424F")[1:9] == EXAMPLE_IDM
        finally:
            device.close()
    assert 0x16 in chip.commands and chip.asleep  # closed with PowerDown
    # nfcpy's wake-up (ten zeros) came first: the chip lost three of them waking up
    assert bytes(pty.received[:10]) == bytes(10)


def test_nfcpy_rcs956_driver_reads_the_simulated_rcs620s(nfc):
    field = Field()
    field.place(FelicaCard(IDM))
    chip = RCS620SChip(field)
    with PtyChip(chip) as pty:
        device = nfc.clf.rcs956.init(nfc.clf.transport.TTY(pty.path))
        device._path = pty.path
        try:
            assert "RCS956v1.30" in str(device)
            assert _sense(nfc, device)[1:9] == IDM
        finally:
            device.close()
    assert chip.mode_resets >= 3  # init, device set-up and close each reset the mode


def test_nfcpy_pn532_driver_through_a_line_that_drops_a_frame_fails_cleanly(nfc):
    """A chip whose answers are broken on the line is refused by nfcpy too (it is the same
    rule both sides apply): no IDm comes through a bad checksum."""
    field = Field()
    field.place(FelicaCard(IDM))

    def flip(data: bytes) -> bytes:
        return data[:-2] + bytes([data[-2] ^ 1]) + data[-1:] if len(data) > 8 else data

    with PtyChip(PN532Chip(field), faults=flip) as pty:
        try:
            nfc.clf.pn532.init(nfc.clf.transport.TTY(pty.path))
        except OSError:
            return
    raise AssertionError("nfcpy accepted frames with bad checksums")


def test_without_nfcpy_ci_fails_and_a_desk_skips(monkeypatch):
    import sys

    import pytest
    from nfcpy_support import require_nfcpy

    monkeypatch.setitem(sys.modules, "nfc", None)  # import nfc raises ImportError
    monkeypatch.setenv("CI", "true")
    with pytest.raises(ImportError):
        require_nfcpy()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_nfcpy()
