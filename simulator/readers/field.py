"""FeliCa cards in a reader's RF field (MicroPython-compatible).

``FelicaCard`` answers a Polling (``00 SChi SClo RC TSN``) with ``01 IDm PMm [RD]`` when it
holds the system code asked for (FFFF matches any; FF in either byte is a wildcard for it);
``random_id`` makes a new IDm for every answer (random-ID cards, driving licences), keeping
the manufacturer bytes; ``leaves_after`` takes the card out of the field after that many
answers (a card swept past too fast: it answers once and is gone for the second read);
``rates`` are the bit rates it answers at. ``phone()`` is an NFC-DEP device: NFCID2 ``01 FE``
and a new one per answer. ``Field`` holds the cards; with more cards than the chip takes
targets, the order in which they win the time slots turns with each poll.
"""

EXAMPLE_IDM = bytes((0x01, 0x01, 0x07, 0x01, 0x26, 0x0C, 0xCA, 0x02))  # nfcpy's test card
EXAMPLE_PMM = bytes((0x0F, 0x0D, 0x23, 0x04, 0x2F, 0x77, 0x83, 0xFF))
SUICA_SYSTEM = 0x0003
COMMON_SYSTEM = 0xFE00


class FelicaCard:
    def __init__(
        self,
        idm=EXAMPLE_IDM,
        pmm=EXAMPLE_PMM,
        system_code=SUICA_SYSTEM,
        random_id=False,
        rates=(212, 424),
        leaves_after=0,
        seed=12345,
    ):
        if len(idm) != 8 or len(pmm) != 8:
            raise ValueError("IDm and PMm are 8 bytes")
        self.idm = bytes(idm)
        self.pmm = bytes(pmm)
        self.system_code = system_code
        self.random_id = random_id
        self.rates = rates
        self.leaves_after = leaves_after
        self.answers = 0
        self._seed = seed

    def _next_random(self):
        self._seed = (self._seed * 1103515245 + 12345) & 0x7FFFFFFF
        return self._seed

    def answer(self, system_code, request_code, rate):
        """The Polling response (from the response code on), or None when silent."""
        if rate not in self.rates or not self._matches(system_code):
            return None
        if self.random_id:
            r = self._next_random()
            s = self._next_random()
            self.idm = (
                self.idm[:2]
                + bytes(
                    ((r >> 16) & 0xFF, (r >> 8) & 0xFF, r & 0xFF, (s >> 16) & 0xFF, (s >> 8) & 0xFF)
                )
                + bytes(((s & 0xFF) | 1,))
            )
        self.answers += 1
        out = b"\x01" + self.idm + self.pmm
        if request_code == 1:
            out += bytes((self.system_code >> 8, self.system_code & 0xFF))
        elif request_code == 2:
            out += b"\x00\x83"  # communication performance: 212 and 424 kbps
        return out

    def _matches(self, sc):
        hi, lo = sc >> 8, sc & 0xFF
        mine_hi, mine_lo = self.system_code >> 8, self.system_code & 0xFF
        return (hi == 0xFF or hi == mine_hi) and (lo == 0xFF or lo == mine_lo)


def phone(seed=777):
    """An NFC-DEP device (a phone in peer-to-peer mode): NFCID2 01 FE, new per answer."""
    return FelicaCard(
        bytes((0x01, 0xFE, 0, 0, 0, 0, 0, 1)),
        bytes((0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7)),
        SUICA_SYSTEM,
        random_id=True,
        seed=seed,
    )


class Field:
    def __init__(self):
        self.cards = []
        self._turn = 0

    def place(self, card):
        self.cards.append(card)
        return card

    def remove(self, card=None):
        if card is None:
            self.cards = []
        elif card in self.cards:
            self.cards.remove(card)

    def poll(self, system_code, request_code, rate, max_targets):
        """The answers of up to ``max_targets`` cards to one Polling."""
        cards = self.cards
        n = len(cards)
        if n == 0:
            return []
        self._turn += 1
        out = []  # type: list
        for k in range(n):
            card = cards[(k + self._turn) % n]
            a = card.answer(system_code, request_code, rate)
            if a is not None and len(out) < max_targets:
                out.append(a)
        for card in list(cards):
            if card.leaves_after and card.answers >= card.leaves_after:
                cards.remove(card)
        return out
