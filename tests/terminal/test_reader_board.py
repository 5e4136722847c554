"""firmware/main.py's loop with the real reader driver on a simulated PN532: taps become
punches, a dead line becomes one reader fault for the terminal (state and event), and the
terminal recovers by itself (both runtimes)."""

from reader_support import Bench
from test_main import FakeBoard, server

from firmware import eventlog
from firmware.main import Loop
from simulator.door import card_of
from simulator.readers.field import FelicaCard

MICROPYTHON_HEAPSIZE = "8M"  # the whole terminal plus the reader (see test_main)


class ReaderBoard(FakeBoard):
    def __init__(self, srv, kind="pn532"):
        FakeBoard.__init__(self, srv, {})
        self.sim = Bench(kind, selftest=False)

    def ticks_ms(self):
        self.sim.bus.now = self.now
        return self.now

    def reader_selftest(self):
        return self.sim.reader.selftest(self.ticks_ms, self.idle)

    def reader_poll(self, now):
        self.sim.bus.now = now
        return self.sim.reader.poll(now)


def turns(loop, board, n):
    for _ in range(n):
        loop.turn()
        board.idle(20)


def codes(loop):
    return [e["code"] for e in loop.log.events(0, 100)]


def test_taps_through_the_driver_and_a_reader_fault_that_heals():
    store, srv = server()
    board = ReaderBoard(srv)
    loop = Loop(board)
    turns(loop, board, 50)
    assert loop.terminal.machine.state == "ready"
    card = board.sim.field.place(FelicaCard(card_of(1)))
    turns(loop, board, 20)
    board.sim.field.remove(card)
    assert loop.journal.next_seq == 2 and board.beeps.count("ok") == 1
    board.sim.line.dead = True  # the reader stops answering
    turns(loop, board, 150)
    assert loop.terminal.machine.state == "reader_fault"
    assert codes(loop).count(eventlog.READER_FAULT) == 1  # consecutive faults: one fault
    assert board.shown[-1][2][0] == "リーダー異常"
    board.sim.line.dead = False
    turns(loop, board, 100)
    assert codes(loop).count(eventlog.READER_RECOVERED) == 1
    assert loop.terminal.machine.state == "ready"
    board.sim.field.place(FelicaCard(card_of(2)))
    turns(loop, board, 20)
    assert loop.journal.next_seq == 3 and board.beeps.count("ok") == 2
    turns(loop, board, 300)
    assert sorted(store.held("ACME01", "T0001")) == [1, 2]


def test_a_reader_missing_at_boot_starts_in_reader_fault_and_recovers():
    _store, srv = server()
    board = ReaderBoard(srv, "rcs620s")
    board.sim.line.dead = True
    loop = Loop(board)
    assert loop.terminal.machine.state == "reader_fault"
    texts = [e["text"] for e in loop.log.events(0, 50) if e["code"] == eventlog.SELF_TEST]
    assert texts == ["reader: RC-S620S: ResetMode: no ACK"], texts
    board.sim.line.dead = False
    turns(loop, board, 100)
    assert loop.terminal.machine.state == "ready"
    board.sim.field.place(FelicaCard(card_of(3)))
    turns(loop, board, 20)
    assert board.beeps.count("ok") == 1
