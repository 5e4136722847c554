"""The door day of ``simulator.door`` against the real receiver, over real HTTP on 127.0.0.1.

The terminal (firmware core on simulated flash, under virtual time) talks through
:class:`simulator.cloud.wire.HttpLink` to a :class:`simulator.cloud.service.Receiver` on its own
thread, whose clock is the rig's virtual clock and whose store is SQLite in a fresh file. The
maintenance window goes into the receiver's table; the outage cuts the rig's network. At the end
the punches the receiver holds are compared with the terminal's journal, and the receiver's CSV
export (FCS-05) is returned.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

from simulator.cloud.csvio import export_punches
from simulator.cloud.service import RunningReceiver
from simulator.cloud.store import SqlStore
from simulator.cloud.wire import HttpLink
from simulator.door import EPOCH as DOOR_EPOCH
from simulator.door import SECRET, TENANT, TERMINAL, Rig, add_employees, day
from simulator.readers.desk import SimulatedReader


class CloudDay:
    """Outcome of :func:`cloud_day`."""

    def __init__(self, ok: bool, lines: list[str], rig: Rig, csv_text: str, requests: int):
        self.ok = ok
        self.lines = lines
        self.rig = rig
        self.csv = csv_text
        self.requests = requests


def cloud_day(
    people: int = 50, printer: Callable[[str], None] = print, db_path: str | None = None
) -> CloudDay:
    workdir = None
    if db_path is None:
        workdir = tempfile.TemporaryDirectory(prefix="dakoku-cloud-")
        db_path = os.path.join(workdir.name, "receiver.db")
    # Registered when the rig's day starts (its virtual clock), not at the wall clock's now:
    # else every punch of the day would be flagged as taken before the registration (23).
    store = SqlStore.open(db_path, clock=lambda: DOOR_EPOCH)
    try:
        store.add_tenant(TENANT, "Acme (simulated)", day_start_hour=5)
        store.add_terminal(TENANT, TERMINAL, SECRET, label="front door")
        add_employees(store, people)
        rig: Rig | None = None

        def clock() -> int:
            return rig.service_time() if rig is not None else 0

        with RunningReceiver(store, clock=clock) as running:
            host, port = running.receiver.address
            link = HttpLink(host, port)
            reader = SimulatedReader("pn532")  # taps through the real driver, bytes and all
            rig = Rig(
                employees=people,
                journal_sectors=16,
                service=lambda data, _now: link.exchange(data),
                receiver=store,
                reader=reader,
            )
            ok, lines, rig = day(people, printer, rig)
            printer(
                "reader: %s on a simulated HSU line, %d polls, %d bytes on the wire, %d faults"
                % (
                    reader.reader.version,
                    reader.reader.polls,
                    reader.wire_bytes(),
                    reader.reader.failures,
                )
            )
            link.close()
        held = store.held(TENANT, TERMINAL)
        recorded = rig.journal.next_seq - 1
        # Every punch the terminal recorded is held exactly once (the key makes twice impossible;
        # this checks none is missing and none is extra).
        ok = ok and sorted(held) == list(range(1, recorded + 1))
        return CloudDay(ok, lines, rig, export_punches(store, TENANT), link.requests)
    finally:
        store.close()
        if workdir is not None:
            workdir.cleanup()
