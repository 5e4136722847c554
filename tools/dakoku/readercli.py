"""``dakoku reader``: card readers on the desktop.

``dakoku reader pasori [--door]``       print each tap on a real Sony RC-S380 (pyusb); with
                                        --door, a terminal on the desktop rig answers it
``dakoku reader serial PATH [--chip C]`` the same for a PN532 or RC-S620S on a serial port
``dakoku reader pty CHIP [--idm HEX]``  serve a simulated PN532 or RC-S620S with a card on a
                                        pseudo-terminal until Ctrl-C (any serial program,
                                        nfcpy's tty driver, a board's driver on a PC)
"""

from __future__ import annotations

import argparse
import sys
import time

DESCRIPTION = """\
Card readers on the desktop: a real Sony RC-S380 (PaSoRi) over USB, a PN532 or RC-S620S on a
serial port, or a simulated PN532 or RC-S620S served on a pseudo-terminal (for any serial
program, nfcpy's tty driver, or a board's driver on a PC). docs/HARDWARE.md has the details."""


def _parser() -> argparse.ArgumentParser:
    from dakoku.clihelp import command, parser

    top = parser("dakoku reader", DESCRIPTION)
    sub = top.add_subparsers(dest="what", required=True, metavar="READER")
    seconds_help = "stop after this many seconds (default: 0, never: Ctrl-C stops)"
    door_help = "send each tap to a terminal on the desktop rig"
    p = command(sub, "pasori", "print each tap on a real RC-S380 (PaSoRi)")
    p.add_argument("--seconds", type=float, default=0, help=seconds_help)
    p.add_argument("--door", action="store_true", help=door_help)
    p = command(sub, "serial", "print each tap on a PN532 or RC-S620S on a serial port")
    p.add_argument("path", help="the port: /dev/ttyUSB0, COM3, or a simulated chip's pty")
    p.add_argument("--chip", choices=["pn532", "rcs620s"], default="pn532", help="the chip")
    p.add_argument("--seconds", type=float, default=0, help=seconds_help)
    p.add_argument("--door", action="store_true", help=door_help)
    p = command(sub, "pty", "serve a simulated chip with a card on a pseudo-terminal")
    p.add_argument("chip", choices=["pn532", "rcs620s"], help="the chip to simulate")
    p.add_argument("--idm", default="012e4cd200000001", help="the card's IDm, 16 hex digits")
    p.add_argument("--seconds", type=float, default=0, help=seconds_help)
    return top


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.what == "pasori":
        from dakoku.pasori import PasoriError, open_pasori, watch

        try:
            reader = open_pasori()
        except PasoriError as e:
            sys.stderr.write(f"dakoku reader: {e}\n")
            return 1
        print(f"{reader.version}: touch a card (Ctrl-C to stop)")
        try:
            watch(reader, seconds=args.seconds, door=args.door)
        except KeyboardInterrupt:
            pass
        return 0
    if args.what == "serial":
        from dakoku.pasori import watch
        from dakoku.serialreader import open_serial_reader

        try:
            reader = open_serial_reader(args.path, args.chip)
        except OSError as e:
            sys.stderr.write(f"dakoku reader: {e}\n")
            return 1
        print(f"{reader.version} on {args.path}: touch a card (Ctrl-C to stop)")
        try:
            watch(reader, seconds=args.seconds, door=args.door)
        except KeyboardInterrupt:
            pass
        return 0
    from simulator.readers.field import FelicaCard, Field
    from simulator.readers.pn532 import PN532Chip
    from simulator.readers.pty import PtyChip
    from simulator.readers.rcs620s import RCS620SChip

    try:
        idm = bytes.fromhex(args.idm)
        field = Field()
        field.place(FelicaCard(idm))
    except ValueError as e:
        sys.stderr.write(f"dakoku reader: --idm: {e}\n")
        return 2
    chip = PN532Chip(field) if args.chip == "pn532" else RCS620SChip(field)
    with PtyChip(chip) as pty:
        print(f"simulated {chip.name} with card {idm.hex()} on {pty.path} (Ctrl-C to stop)")
        sys.stdout.flush()
        start = time.monotonic()
        try:
            while not args.seconds or time.monotonic() - start < args.seconds:
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass
        print(f"{len(chip.commands)} commands served")
    return 0
