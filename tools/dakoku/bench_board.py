"""``dakoku bench board``: the board's figures (hardware/board.py on its profiles).

- the display: tools/dakoku/bench_display.py (``display_feedback_ms``, ``glyph_flash_reads``,
  ``font_ram_bytes_micropython``, …; each figure is described there).
- the finger modules: tools/dakoku/bench_finger.py (``finger_identify_ms``, …; each figure is
  described there).

- ``tap_to_ok_ms`` (:func:`tap_to_ok`): modelled time from a card in the RC-S620S's field to
  the OK beep on the PiT profile, the sum of

  - ``tap_reader_ms``: the two FeliCa polls of a tap (the driver reads a new card twice) on the
    wire at 115200 baud plus their time on air, from ``dakoku bench readers``' model;
  - ``tap_lookup_ms``: the roster's flash reads during the card's lookup, counted on the
    simulated PiT board in a real tap, at the flash's read speed (``_FLASH_READ_*``);
  - ``tap_journal_ms``: the journal's page programs during the append, counted in the same
    tap, at the W25Q128JV datasheet's worst page-program time (tPP max 3 ms; typical 0.4 ms
    in ``tap_journal_typ_ms``); erases on the tap path are counted too (the journal erases
    ahead, in idle time: ``tap_journal_erases`` should be 0);
  - ``tap_display_ms``: the display's draw of the OK screen in that same tap, the ST7789
    driver's own model (``last_draw_ms``: the bytes it sent for that screen, 8 bits each at
    the PiT's 40 MHz SPI clock, no gaps), on the simulated chip; ``tap_display_bytes`` the
    bytes.

  The loop's own computing time on the MCU and the wait for the next poll (the reader polls
  every 100 ms: on average 50 ms more from card to first poll) are not in the figure.
  ``tap_to_ok_budget_ms`` is the issue's 100 ms.
- ``selftest_events``: SELF_TEST events at a clean boot of each profile (0 expected).
- the virtual board: tools/dakoku/bench_vboard.py (``virtual_board_boot_s_*``,
  ``virtual_board_tap_ms_*``; each figure is described there).
"""

from __future__ import annotations

# SPI NOR (W25Q128JV, datasheet rev. L): page program tPP typ 0.4 ms, max 3 ms; sector erase
# tSE typ 45 ms, max 400 ms.
W25Q_PAGE_PROGRAM_MAX_MS = 3.0
W25Q_PAGE_PROGRAM_TYP_MS = 0.4
W25Q_SECTOR_ERASE_MAX_MS = 400.0
# Reads through the ESP32-S3's flash API: a call's fixed cost (cache off and on, the command)
# and the bytes at quad I/O 80 MHz (40 MB/s), taken at half for the command overheads.
_FLASH_READ_CALL_MS = 0.02
_FLASH_READ_MB_S = 20.0


class _CountingFlash:
    """A flash partition that counts the bytes read (the simulated flash counts calls)."""

    def __init__(self, flash):
        self._flash = flash
        self.bytes_read = 0

    def readinto(self, addr, buf):
        self.bytes_read += len(buf)
        self._flash.readinto(addr, buf)

    def __getattr__(self, name):
        return getattr(self._flash, name)


def _one_tap() -> dict:
    """Flash work of one OK tap on the simulated PiT board, after boot and the first upload."""
    from firmware.main import Loop
    from hardware.profiles import PIT
    from protocol.memstore import MemoryStore
    from protocol.server import Server
    from simulator.door import EPOCH, SECRET, TENANT, TERMINAL, add_employees, card_of
    from simulator.parts.board import build
    from simulator.readers.field import FelicaCard

    store = MemoryStore()
    store.add_tenant(TENANT)
    store.add_terminal(TENANT, TERMINAL, SECRET)
    add_employees(store, 1000)
    board, env = build(PIT, Server(store).handle, EPOCH, flash_sectors=(16, 64, 2, 4))
    journal_flash, roster_flash, config_flash, log_flash = env.flashes
    counted = _CountingFlash(roster_flash)
    env.flashes = (journal_flash, counted, config_flash, log_flash)
    loop = Loop(board)
    for _ in range(3000):  # boot, hello, the roster's pages
        loop.turn()
        board.idle(20)
    if loop.roster.count < 1000:
        raise RuntimeError(f"the roster did not arrive ({loop.roster.count})")
    journal_flash.reset_counters()
    roster_flash.reset_counters()
    counted.bytes_read = 0
    before = board.shown  # the ready screen the OK screen replaces
    env.field.place(FelicaCard(card_of(777)))
    for _ in range(50):
        seq = loop.journal.next_seq
        loop.turn()
        if loop.journal.next_seq != seq:  # the turn that recorded the punch
            break
        board.idle(20)
    if board.shown[1] != "ok":
        raise RuntimeError(f"the tap was not answered OK: {board.shown!r}")
    display = board.display  # the ST7789 driver: its last show() was this OK screen
    return {
        "display_ms": display.last_draw_ms,
        "display_bytes": display.last_bytes,
        "screens": (before, board.shown),
        "roster_reads": roster_flash.reads,
        "roster_bytes": counted.bytes_read,
        "journal_programs": journal_flash.programs,
        "journal_erases": journal_flash.erases,
    }


def tap_to_ok() -> dict:
    from dakoku.bench_readers import _wire

    reader_ms = 2 * _wire("rcs620s")["poll_wire_ms_rcs620s"]
    tap = _one_tap()
    lookup_ms = tap["roster_reads"] * _FLASH_READ_CALL_MS + tap["roster_bytes"] / (
        _FLASH_READ_MB_S * 1000
    )
    journal_ms = tap["journal_programs"] * W25Q_PAGE_PROGRAM_MAX_MS
    journal_ms += tap["journal_erases"] * W25Q_SECTOR_ERASE_MAX_MS
    display_ms = tap["display_ms"]
    total = reader_ms + lookup_ms + journal_ms + display_ms
    return {
        "tap_to_ok_ms": round(total, 2),
        "tap_to_ok_budget_ms": 100,
        "tap_reader_ms": round(reader_ms, 2),
        "tap_lookup_ms": round(lookup_ms, 3),
        "tap_lookup_flash_reads": tap["roster_reads"],
        "tap_lookup_flash_bytes": tap["roster_bytes"],
        "tap_journal_ms": round(journal_ms, 2),
        "tap_journal_typ_ms": round(tap["journal_programs"] * W25Q_PAGE_PROGRAM_TYP_MS, 2),
        "tap_journal_programs": tap["journal_programs"],
        "tap_journal_erases": tap["journal_erases"],
        "tap_display_ms": round(display_ms, 2),
        "tap_display_bytes": tap["display_bytes"],
    }


def selftest_events() -> dict:
    from firmware import eventlog
    from firmware.main import Loop
    from hardware.profiles import BT, PIT
    from simulator.door import EPOCH
    from simulator.parts.board import build

    out = {}
    for profile in (PIT, BT):
        board, _env = build(profile, lambda data, now: b"", EPOCH)
        loop = Loop(board)
        found = [e for e in loop.log.events(0, 100) if e["code"] == eventlog.SELF_TEST]
        out[f"selftest_events_{profile['name']}"] = len(found)
    return out


def bench_board() -> dict:
    from dakoku.bench_display import bench_display

    out: dict = {}
    out.update(bench_display())
    from dakoku.bench_finger import bench_finger

    out.update(bench_finger())
    out.update(tap_to_ok())
    out.update(selftest_events())
    from dakoku.bench_vboard import bench_vboard

    out.update(bench_vboard())
    return out
