"""Workloads of ``dakoku bench firmware``, run inside the real MicroPython (and on CPython).

The flash partitions are files prepared by the host (``flash_dir``), so the guest's heap holds
the terminal, not the flash. ``tap`` is one tap from the credential event to the OK actions.
The day's heap is measured by the guest script in tools/dakoku/bench_firmware.py.
"""

from firmware.terminal import Card, Show
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


def taps(rig, count, measure):
    """``count`` turns of: time passes, background work, and (``measure``) a tap by a different
    employee. Returns how many taps were answered OK (or "offline, saved")."""
    shown = 0
    for i in range(count):
        rig.now += 61000
        rig.terminal.tick(rig.now)  # background: the journal's next sector is pre-erased
        if measure:
            for action in rig.terminal.card(rig.now, Card(card_of(3 + i))):
                if isinstance(action, Show) and action.style in ("ok", "offline"):
                    shown += 1
    return shown
