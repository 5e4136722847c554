"""PRT-ROSTER-4 against the reference receiver's SQL store (SQLite and PostgreSQL): the
terminal's client fetches the roster in pages while it changes, and ends holding it whole.

The store reads a page's version first, in the page's transaction, so a page is never of an
older version than its content; the client drops the page that shows the move and starts the
fetch again (issue 15, item 4)."""

from __future__ import annotations

import os
import sys

from cloud_support import TENANT

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "terminal"))
from protocol_support import Wire

from protocol.client import Settings

NEW_CARD = bytes([1, 46, 76, 210, 9, 9, 9, 9])


def card(i):
    return bytes([2, i, 0, 0, 0, 0, 0, 1])


def test_a_roster_changed_between_pages_is_fetched_again_whole(store):
    for i in range(1, 7):
        store.add_employee(TENANT, "E%03d" % i, "社員%d" % i, cards=[card(i)])
    w = Wire(store=store, settings=Settings(roster_page=2))
    w.apply_roster = False
    held: dict[str, list[str]] = {}
    building: dict[str, list[str]] = {}
    pages = 0
    for _ in range(20):
        out = w.step()
        if out is None or out.roster is None:
            continue
        page = out.roster
        pages += 1
        if pages == 1:  # after the first page, a card under a code before the cursor
            store.add_employee(TENANT, "E000", "新人", cards=[NEW_CARD])
        assert page["full"]
        if page["first"]:
            building = {}
        building.update({e["code"]: [c.hex() for c in e["cards"]] for e in page["upsert"]})
        last = page["next"] is None
        if last:
            held = building
        w.client.roster_applied(page["version"] if last else w.client.roster_version)
        if last:
            break
    assert w.client.roster_version == 7
    assert held["E000"] == [NEW_CARD.hex()]
    assert sorted(held) == ["E000", "E001", "E002", "E003", "E004", "E005", "E006"]
