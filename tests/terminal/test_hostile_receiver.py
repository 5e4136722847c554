"""The terminal against a hostile path or receiver (issue 15, items 11-15): what a signed or
unsigned answer may not do to it. Through the desktop rig (simulator/door.py) on both runtimes."""

from firmware import eventlog
from firmware.clock import LATEST_VALID
from simulator.door import Rig

MICROPYTHON_HEAPSIZE = "32M"  # the rig's four partitions (see test_terminal.py)


def rig(**kw):
    kw.setdefault("sector_size", 1024)
    r = Rig(**kw)
    r.settle()  # hello, roster
    return r


def events(r, code):
    return [e for e in r.log.events(0, 1000) if e["code"] == code]


# ----------------------------------------------------------- item 13: times out of range


def test_a_signed_time_past_the_sane_range_is_refused_logged_and_taps_go_on():
    """PRT-HELLO-4, PRT-SAFE-2: the receiver's clock at 0xFFFFFFFD (signed, in the schema's
    range) never reaches the terminal's clock or RTC; taps are recorded; logged once."""
    r = rig()
    before = r.clock.now(r.now)
    server = r.server

    def far_future(data, _t):
        return server.handle(data, 0xFFFFFFFD)

    r.service = far_future
    r.uplink.client.link_up(r.now)  # hello again
    r.run_until(r.now + 30 * 1000)
    assert r.terminal.mode == "online"  # the receiver is reached; only its time is refused
    assert r.clock.valid and r.clock.now(r.now) - before < 60  # still our own time
    refused = events(r, eventlog.CLOCK_REFUSED)
    assert len(refused) == 1 and "4294967293" in refused[0]["text"]
    assert r.rtc_writes == []  # nothing went to the RTC
    r.run_until(r.now + 5000)
    r.tap(1)
    assert r.terminal.state == "feedback" and r.last_screen().style == "ok"
    assert r.journal.next_seq == 2


def test_set_time_out_of_range_is_rejected_and_the_clock_kept():
    """PRT-CMD-1, PRT-SAFE-2: a time the terminal cannot hold is rejected, not obeyed."""
    r = rig()
    before = r.clock.now(r.now)
    r.uplink._command(r.now, {"id": "c1", "op": "set_time", "time": LATEST_VALID + 10})
    assert r.clock.now(r.now) == before
    assert r.uplink.client._results[-1]["status"] == "rejected"
    assert "out of range" in r.uplink.client._results[-1]["detail"]
    assert len(events(r, eventlog.CLOCK_REFUSED)) == 1


def test_an_rtc_past_the_sane_range_at_boot_means_no_valid_clock_and_taps_still_work():
    """After a reboot with a bad time in the RTC (written by an older firmware): the clock is
    invalid (logged), punches are taken with seconds since boot."""
    r = rig(rtc=0xFFFFFFFD)
    assert not r.clock.valid or r.clock.now(r.now) < LATEST_VALID
    r.network = False
    r.power_on()
    assert not r.clock.valid and r.terminal.state == "clock_invalid"
    assert len(events(r, eventlog.CLOCK_REFUSED)) >= 1
    r.run_until(r.now + 6000)
    r.tap(1)
    assert r.last_screen().style == "offline"
    punch = next(iter(r.journal.unsent()))
    assert not punch.clock_synced


class _Exploding:
    def __init__(self, what):
        self.what = what

    def lookup_card(self, idm):
        raise self.what


def test_no_exception_escapes_a_tap():
    """Whatever goes wrong inside a tap is logged and answered with an error screen; the board's
    loop never sees it, and the next tap works."""
    r = rig()
    roster = r.terminal.roster
    r.terminal.roster = _Exploding(ValueError("time out of range"))
    actions = r.tap(1)
    assert r.last_screen().style == "error" and any(
        getattr(a, "pattern", "") == "error" for a in actions
    )
    failed = events(r, eventlog.TAP_FAILED)
    assert len(failed) == 1 and "time out of range" in failed[0]["text"]
    r.terminal.roster = roster
    r.run_until(r.now + 3000)
    assert r.terminal.state == "ready"
    r.tap(2)
    assert r.last_screen().style == "ok" and r.journal.next_seq == 2


def test_a_punch_that_cannot_be_stored_is_refused_not_raised():
    """The journal refuses a punch whose time it cannot hold (ValueError): the tap says so."""
    r = rig()
    r.clock._base = 0x100000000  # as if the clock had run past what the journal stores
    r.tap(1)
    assert r.last_screen().style == "error"
    assert r.journal.next_seq == 1
    assert r.terminal.state == "feedback"
