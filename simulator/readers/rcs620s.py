"""A simulated Sony RC-S620S (MicroPython-compatible): the RC-S956 command family on UART.

On top of ``Pn53xChip``: GetFirmwareVersion ``D5 03 33 01 30 07``; ResetMode ``18 01`` answers
``D5 19`` (the host then ACKs); InListPassiveTarget takes one target; the Diagnose line test
echoes its data without the test byte (what nfcpy's rcs956 driver checks); WriteRegister
answers one 00 status per register; no SAMConfiguration (syntax-error frame). It does not
sleep.
"""

from simulator.readers.pn53x_chip import Pn53xChip


class RCS620SChip(Pn53xChip):
    name = "RC-S620S"
    firmware = b"\x33\x01\x30\x07"
    max_targets = 1
    diagnose_echoes_test_byte = False

    def power_cycle(self):
        Pn53xChip.power_cycle(self)
        self.mode_resets = 0

    def command(self, code, data):
        if code == 0x18:
            self.mode_resets += 1
            self.rf_on = False
            return b""
        if code == 0x14:
            return False
        return Pn53xChip.command(self, code, data)
