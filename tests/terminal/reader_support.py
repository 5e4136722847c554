"""Reader tests' helper (terminal code: runs on MicroPython too): a reader on a simulated chip
(simulator/readers/desk.py) and a check that one card came out."""

from simulator.readers.desk import SimulatedReader

Bench = SimulatedReader


def only_card(events):
    cards = [e for e in events if not isinstance(e, tuple)]
    assert len(cards) == 1, events
    return cards[0]
