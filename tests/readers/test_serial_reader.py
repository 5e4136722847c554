"""The terminal's own driver on the desktop, through pyserial, against a simulated chip on a
pseudo-terminal: any serial program can talk to the simulators, this one included."""

from __future__ import annotations

import time

import pytest
from dakoku import cli
from dakoku.serialreader import open_serial_reader

from simulator.readers.field import FelicaCard, Field
from simulator.readers.pn532 import PN532Chip
from simulator.readers.pty import PtyChip
from simulator.readers.rcs620s import RCS620SChip

IDM = bytes.fromhex("012e4cd2000b0001")


@pytest.mark.parametrize("chip_type, name", [(PN532Chip, "pn532"), (RCS620SChip, "rcs620s")])
def test_the_driver_reads_a_simulated_chip_over_a_pty(chip_type, name):
    field = Field()
    with PtyChip(chip_type(field)) as pty:
        reader = open_serial_reader(pty.path, name)
        assert reader.version.startswith(chip_type.name)
        field.place(FelicaCard(IDM))
        start = time.monotonic()
        card = None
        for _ in range(500):  # real time: at most 10 s on a loaded machine
            event = reader.poll(int((time.monotonic() - start) * 1000))
            if event is not None and not isinstance(event, tuple):
                card = event
                break
            time.sleep(0.02)
        assert card is not None and card.idm == IDM and card.stable


def test_a_port_that_does_not_answer_is_said(capsys):
    with PtyChip(RCS620SChip()) as pty:
        pty.chip.receive = lambda data: []  # a chip that never answers
        assert cli.main(["reader", "serial", pty.path, "--chip", "rcs620s"]) == 1
    err = capsys.readouterr().err
    assert "did not answer its self-test: RC-S620S: ResetMode: no ACK" in err, err
    assert cli.main(["reader", "serial", "/dev/nonexistent-port"]) == 1
    assert "cannot open /dev/nonexistent-port" in capsys.readouterr().err


def test_a_pty_host_at_the_wrong_baud_rate_gets_garbage():
    field = Field()
    field.place(FelicaCard(IDM))
    with PtyChip(PN532Chip(field), check_baud=True) as pty:
        with pytest.raises(OSError, match=r"did not answer its self-test: PN532: .*no ACK"):
            open_serial_reader(pty.path, "pn532", baud=9600)
        assert open_serial_reader(pty.path, "pn532").version == "PN532 v1.6"
