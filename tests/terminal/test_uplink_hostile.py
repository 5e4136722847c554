"""The terminal (firmware/uplink.py over the real roster, journal and event log) against
receivers that do something legal but unusual (issue 15), through the desktop rig."""

from firmware import eventlog
from simulator.door import TENANT, TERMINAL, Rig, card_of

MICROPYTHON_HEAPSIZE = "32M"  # the rig's four simulated partitions, as in test_terminal.py


def rig(employees=10):
    r = Rig(employees=employees, sector_size=1024)
    r.settle()  # hello, roster
    return r


def test_a_card_added_during_a_roster_fetch_is_known_once_the_fetch_ends():
    """PRT-ROSTER-4: the page that shows the move is dropped and the fetch starts again."""
    r = rig(employees=2)
    for i in range(10, 22):
        r.store.add_employee(TENANT, "E%04d" % i, "社員%d" % i, cards=[card_of(i)])
    r.now += 300 * 1000  # the heartbeat tells of the new version; the first page comes next
    while not r.roster.busy:
        assert r.exchange(), "no roster page was fetched"
    # After page 1 (E0010…E0014), an employee whose code sorts before the cursor.
    r.store.add_employee(TENANT, "E0003", "新人", cards=[card_of(3)])
    r.settle()
    assert r.roster.version == r.store.roster_version[TENANT] == 15
    assert r.roster.lookup_card(card_of(3)).name == "新人"
    assert r.roster.lookup_card(card_of(21)).name == "社員21"


def test_a_resend_over_a_set_aside_punch_logs_it_once_more_and_ends():
    """PRT-CMD-3, PRT-CLI-7: a resend over a poison punch, with the real journal and log."""
    from protocol_support import PickyServer

    r = rig()
    r.service = PickyServer(r.store, 2).handle
    for i in range(3):
        r.tap(i)
        r.run_until(r.now + 20 * 1000)
    assert r.journal.unsent_count == 0 and r.held() == [1, 3]
    r.store.pending[(TENANT, TERMINAL)] = [{"id": "r", "op": "resend", "from": 1, "to": 3}]
    r.run_until(r.now + 400 * 1000)
    results = [x[2] for x in r.store.results if x[2]["id"] == "r"]
    assert len(results) == 1 and results[0]["status"] == "failed"
    aside = [e for e in r.log.events(0, 200) if e["code"] == eventlog.PUNCH_SET_ASIDE]
    # Each set-aside is a reason record, then the punch's JSON whole (issue 13, item 14).
    reasons = [e for e in aside if not e["text"].startswith("{")]
    bodies = [e for e in aside if e["text"].startswith("{")]
    assert len(reasons) == 2 and all(e["text"].startswith("seq 2 set aside") for e in reasons)
    assert len(bodies) == 2 and all('"seq":2' in e["text"] for e in bodies)
