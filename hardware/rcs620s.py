"""Sony RC-S620S over UART (115200 8N1, PN53x framing; the RC-S956 command family).

Init (also the recovery after faults): ResetMode ``18 01`` (answer ``D5 19``, then an ACK from
the host and 10 ms, as Sony's library and nfcpy's rcs956 driver do), GetFirmwareVersion (IC
0x33), RFConfiguration ``32 02 00 00 00`` (timings), ``32 05 00 00 00`` (one activation try)
and ``32 81 B7`` (additional wait). A poll is InListPassiveTarget for one target (the chip
takes no more) with a SENSF_REQ for the system code; after each poll cycle the RF field goes
off (``32 01 00``), and Sony asks for at least 100 ms before it comes on again, which the
reader's poll interval gives.
"""

from micropython import const

from hardware import chip, felica

IC_RCS620S = const(0x33)


class RCS620S(chip.Pn53xDriver):
    name = "RC-S620S"
    ic = IC_RCS620S

    def __init__(self, system_code=felica.SYSTEM_CODE_ANY, rate_kbps=212):
        self.init = (
            chip.step(chip.CMD_RESET_MODE, b"\x01", chip.RESET, 100, 10),
            chip.step(chip.CMD_GET_FIRMWARE_VERSION, kind=chip.VERSION),
            chip.step(chip.CMD_RF_CONFIGURATION, b"\x02\x00\x00\x00"),
            chip.step(chip.CMD_RF_CONFIGURATION, b"\x05\x00\x00\x00"),
            chip.step(chip.CMD_RF_CONFIGURATION, b"\x81\xb7"),
        )
        data = felica.poll_data(1, rate_kbps, system_code, 0, 0)
        self.poll = (chip.step(felica.CMD_IN_LIST_PASSIVE_TARGET, data, chip.POLL, 100),)
        self.after_poll = (chip.step(chip.CMD_RF_CONFIGURATION, b"\x01\x00"),)
        self.rate_kbps = rate_kbps
