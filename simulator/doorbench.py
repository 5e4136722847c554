"""Workloads of ``dakoku bench firmware``, run inside the real MicroPython (and on CPython).

The flash partitions are files prepared by the host (``flash_dir``), so the guest's heap holds
the terminal, not the flash. ``tap`` is one tap from the credential event to the OK actions.
The day's heap is measured by the guest script in tools/dakoku/bench_firmware.py.
"""

from firmware.terminal import Card
from simulator.door import Rig, card_of


def _no_service(request, now):
    raise OSError("no service in this benchmark")


def open_rig(flash_dir, journal_sectors, roster_sectors, service=_no_service):
    return Rig(
        employees=0,
        journal_sectors=journal_sectors,
        roster_sectors=roster_sectors,
        flash_dir=flash_dir,
        service=service,
    )


def tap(flash_dir, journal_sectors, roster_sectors, who, measure):
    """Mount, boot, background work; then (``measure``) one tap of employee ``who``."""
    rig = open_rig(flash_dir, journal_sectors, roster_sectors)
    rig.network = False
    rig.terminal.tick(rig.now)  # background: the journal's next sector is pre-erased
    rig.now += 61000
    if measure:
        actions = rig.terminal.card(rig.now, Card(card_of(who)))
        return actions
    return []
