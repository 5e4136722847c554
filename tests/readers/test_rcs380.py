"""The RC-S380 on the desktop: the driver over pyusb-shaped code against the simulated chip,
the messages for no reader / no permission / busy, and nfcpy's rcs380 driver reading the
simulated card through the fake USB transport it accepts."""

from __future__ import annotations

import errno

import pytest
import usb.core
from dakoku import pasori

from simulator.readers.field import EXAMPLE_IDM, FelicaCard, Field
from simulator.readers.rcs380 import RCS380Chip
from simulator.readers.usb import FakeUsbDevice, NfcpyTransport

IDM = bytes.fromhex("012e4cd200090001")


def _finder(device):
    def find(idVendor, idProduct):
        assert idVendor == 0x054C
        return device if device is not None and idProduct == device.idProduct else None

    return find


def _poll_until_card(reader, limit=100):
    for turn in range(limit):
        event = reader.poll(turn * 20)
        if event is not None and not isinstance(event, tuple):
            return event
    raise AssertionError("no card")


def test_the_driver_reads_the_simulated_rcs380_over_usb():
    field = Field()
    chip = RCS380Chip(field)
    device = FakeUsbDevice(chip, product=0x06C1)
    reader = pasori.open_pasori(_finder(device))
    assert reader.version == "RC-S380 v1.11" and device.configured
    field.place(FelicaCard(IDM))
    card = _poll_until_card(reader)
    assert card.idm == IDM and card.stable and card.readable
    assert chip.commands[:5] == [0x2A, 0x20, 0x22, 0x06, 0x00]


def test_a_write_of_a_whole_packet_ends_with_a_zero_length_packet():
    device = FakeUsbDevice(RCS380Chip())
    transport = pasori.UsbTransport(device)
    transport.send(bytes(64))
    transport.send(bytes(63))
    assert device.zlps == 1


def test_no_reader_is_said_plainly():
    with pytest.raises(pasori.PasoriError, match=r"no RC-S380 found .*054c:06c1"):
        pasori.open_pasori(_finder(None))


def test_no_backend_names_libusb():
    def find(**_kw):
        raise usb.core.NoBackendError("No backend available")

    with pytest.raises(pasori.PasoriError, match="libusb is not installed"):
        pasori.open_pasori(find)


def test_no_permission_gives_the_udev_rule():
    device = FakeUsbDevice(RCS380Chip())
    device.fail_with = usb.core.USBError("Access denied", -3, errno.EACCES)
    with pytest.raises(pasori.PasoriError) as e:
        pasori.open_pasori(_finder(device))
    assert "no permission" in str(e.value) and 'ATTRS{idVendor}=="054c"' in str(e.value)


def test_a_reader_held_by_another_program_is_busy():
    device = FakeUsbDevice(RCS380Chip())
    device.fail_with = usb.core.USBError("Resource busy", -6, errno.EBUSY)
    with pytest.raises(pasori.PasoriError, match="in use by another program"):
        pasori.open_pasori(_finder(device))


def test_a_reader_that_does_not_answer_fails_its_selftest():
    class Mute(RCS380Chip):
        def receive(self, data):
            return []

    with pytest.raises(pasori.PasoriError, match="self-test: RC-S380: SetCommandType: no ACK"):
        pasori.open_pasori(_finder(FakeUsbDevice(Mute())))


def test_nfcpy_rcs380_driver_reads_the_simulated_card(nfc):
    field = Field()
    field.place(FelicaCard(IDM))
    chip = RCS380Chip(field)
    device = nfc.clf.rcs380.init(NfcpyTransport(chip))
    device._path = "usb:simulated"
    assert "NFC Port-100 v1.11" in str(device)
    target = device.sense_ttf(nfc.clf.RemoteTarget("212F"))
    assert bytes(target.sensf_res)[1:9] == IDM
    field.remove()
    field.place(FelicaCard())
    assert bytes(device.sense_ttf(nfc.clf.RemoteTarget("424F")).sensf_res)[1:9] == EXAMPLE_IDM
    field.remove()
    assert device.sense_ttf(nfc.clf.RemoteTarget("212F")) is None
    device.close()
    assert chip.commands[-1] == 0x06 and not chip.rf_on


def test_dakoku_reader_pasori_prints_the_reason_and_fails(monkeypatch, capsys):
    from dakoku import cli

    def no_reader():
        raise pasori.PasoriError("no RC-S380 found (USB 054c:06c1 or 054c:06c3)")

    monkeypatch.setattr(pasori, "open_pasori", no_reader)
    assert cli.main(["reader", "pasori"]) == 1
    assert "dakoku reader: no RC-S380 found" in capsys.readouterr().err


def test_taps_from_a_pasori_reach_a_terminal_on_the_desktop_rig():
    field = Field()
    field.place(FelicaCard(IDM))
    reader = pasori.open_pasori(_finder(FakeUsbDevice(RCS380Chip(field))))
    lines: list[str] = []
    taps = pasori.watch(reader, lines.append, seconds=0.6, door=True)
    assert taps == 1, lines
    assert lines[0] == f"tap IDm {IDM.hex()} cards 1 stable True readable True: ok"
    assert lines[1].startswith("  screen: ") and len(lines) == 2, lines  # the terminal answered
