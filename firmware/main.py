"""The terminal's main loop: the only place that touches real I/O and real time (MicroPython).

Everything else in ``firmware/`` is sans-IO; this loop reads the board's clock, reader, keys and
network, feeds the terminal core and the uplink, and performs their actions. The board object
(``hardware/`` board profiles, or a fake in tests) provides::

    name                        the board's name (sent in hello)
    ticks_ms()                  monotonic milliseconds (never wrapping: widen ticks_ms())
    rtc_epoch()                 UTC seconds from the RTC, or None; set_rtc(epoch)
    boot_id()                   a number that changes at every boot (persisted by the board)
    partitions()                (journal, roster, config, log[, boot counter]) flash objects;
                                the boot counter (two sectors, firmware.bootcount) keeps
                                nonces from repeating across boots (PRT-SAFE-1)
    identity()                  (tenant code, terminal ID, secret: bytes, or the hex text the
                                receiver printed at registration, PRT-AUTH-1)
    entropy()                   a few random bytes (os.urandom) for the uplink's jitter, or b""
    reader_selftest()           None when the reader answers at boot, else what failed (text)
    parts_selftest()            (optional) what the other parts' boot self-tests found, as
                                texts "slot: ..." (logged as SELF_TEST events)
    reader_poll(now_ms)         a Card or Finger (firmware.terminal), ("fault", text), ("ok",),
                                ("notice", text), None (hardware.reader.Reader for a PN532,
                                RC-S620S or RC-S380; hardware.btreader.CardAndFinger for a
                                BT-style card + finger reader: docs/HARDWARE.md)
    reader_follow(state)        (optional) the terminal's state, every turn: a BT reader starts a
                                finger enrolment in service mode (hardware.btreader)
    key_poll(now_ms)            a key name or None
    show(lines, style); beep(pattern); led(pattern); reboot()
    net_send(data) -> None, or an error class of protocol.client (NO_LINK, NO_ROUTE, TIMEOUT)
    net_detail() -> (optional) what the link layer said at the last failed send
    net_abort()  (optional) drop the connection of a request that timed out (its late answer
                 must not be read as the next request's)
    net_poll() -> bytes received, b"" when the peer closed, None when nothing yet;
                  raises OSError for a broken connection
    ntp() -> UTC seconds or None
    idle(ms)                    sleep or light-sleep until the next turn
    console_read()              (optional) bytes the service console received since the last
                                call, b"" when none, None when the peer hung up; a board that
                                has it gets the service console (firmware/console.py,
                                docs/HARDWARE.md "Service console"), polled every turn
    console_write(data)         (with console_read) write the console's reply bytes
    stimuli                     (optional, test builds only) what the console's test commands
                                call (card, lift, finger, enrol, key, network, power_cut);
                                None or absent on a real device
"""

from firmware.bootcount import count_boot
from firmware.clock import Clock
from firmware.config import Config
from firmware.eventlog import COMMAND, CONFIG_FALLBACK, EventLog
from firmware.journal import Journal
from firmware.roster import Roster
from firmware.terminal import Beep, Card, Finger, Led, Reboot, SetRtc, Show, SyncClock, Terminal
from firmware.uplink import Uplink
from protocol.client import NO_ROUTE, Send

TURN_MS = 20
# A reboot the service asked for waits until the terminal idles and the command results (the
# reboot's own, and those of commands beside it) have been delivered (PRT-CMD-2); without the
# service, at most this long.
REBOOT_WAIT_MS = 300000
_REBOOT_STATES = ("ready", "clock_invalid", "journal_full")


class Loop:
    def __init__(self, board):
        self.board = board
        parts = board.partitions()
        journal_flash, roster_flash, config_flash, log_flash = parts[:4]
        self.config = Config(config_flash)
        self.config.load()
        self.log = EventLog.mount(log_flash)
        self.journal = Journal.mount(journal_flash)
        self.roster = Roster.mount(roster_flash)
        boot_id = board.boot_id()
        now = board.ticks_ms()
        for problem in self.config.problems:
            self.log.append(CONFIG_FALLBACK, problem[:100], None, now // 1000, boot_id)
        self.terminal = Terminal(
            self.journal, self.roster, self.config, self.log, Clock(), boot_id, board.name
        )
        boot_count = count_boot(parts[4] if len(parts) > 4 else None, self.log, now, boot_id)
        tenant, terminal_id, secret = board.identity()
        self.uplink = Uplink(
            self.terminal, tenant, terminal_id, secret, None, board.entropy(), boot_count
        )
        self.in_flight = None  # the Send being answered
        reader_fault = board.reader_selftest()
        parts = board.parts_selftest() if hasattr(board, "parts_selftest") else ()
        self.perform(self.terminal.boot(now, board.rtc_epoch(), reader_fault, parts))
        self.uplink.start(now)
        self.reboot_asked = None  # ticks_ms when a Reboot came, until it is done
        self._follow = getattr(board, "reader_follow", None)  # optional: BT enrolment
        self.console = None
        if hasattr(board, "console_read"):  # optional: the service console
            from firmware.console import Console

            self.console = Console(self, getattr(board, "stimuli", None))

    def perform(self, actions):
        board = self.board
        for a in actions:
            if isinstance(a, Show):
                board.show(a.lines, a.style)
            elif isinstance(a, Beep):
                board.beep(a.pattern)
            elif isinstance(a, Led):
                board.led(a.pattern)
            elif isinstance(a, SetRtc):
                board.set_rtc(a.epoch)
            elif isinstance(a, SyncClock):
                now = board.ticks_ms()
                self.perform(self.terminal.ntp_result(now, board.ntp()))
            elif isinstance(a, Reboot) and self.reboot_asked is None:
                self.reboot_asked = board.ticks_ms()

    def turn(self):
        """One pass: input first (a tap must answer in a blink), then timers, then network."""
        board = self.board
        t = self.terminal
        now = board.ticks_ms()
        event = board.reader_poll(now)
        if isinstance(event, Card):
            self.perform(t.card(now, event))
            if t.machine.state == "feedback":
                self.uplink.punch_stored(now)
        elif isinstance(event, Finger):
            self.perform(t.finger(now, event))
        elif isinstance(event, tuple) and event:
            if event[0] == "fault":
                self.perform(t.reader_fault(now, event[1] if len(event) > 1 else ""))
            elif event[0] == "notice":  # a part failed, the others still identify
                self.perform(t.reader_notice(now, event[1]))
            else:
                self.perform(t.reader_ok(now))
        key = board.key_poll(now)
        if key is not None:
            self.perform(t.key(now, key))
        self.perform(t.tick(now))
        if self._follow is not None:
            self._follow(t.machine.state)  # a BT reader enrols a finger in service mode
        if self.console is not None:
            self.console.poll(now)  # a few lines a turn: never in the way of a tap
        self.uplink.background(now)  # roster pages, a few records per turn
        self._network(now)
        if self.reboot_asked is not None and t.machine.state in _REBOOT_STATES:
            self._reboot_when_reported(now)

    def _reboot_when_reported(self, now):
        up = self.uplink
        if self.in_flight is not None or up.client.reporting:
            if now - self.reboot_asked < REBOOT_WAIT_MS:
                return  # the results go with the next heartbeat, then the reboot
            self.log.append(
                COMMAND, "reboot: results not delivered", self.terminal.clock.now(now),
                now // 1000, self.terminal.boot_id)  # fmt: skip
        self.reboot_asked = None
        self.board.reboot()

    def _network(self, now):
        up = self.uplink
        board = self.board
        if self.in_flight is None:
            action = up.next_action(now)
            if not isinstance(action, Send):
                return
            error = board.net_send(action.data)
            if error is not None:
                detail = board.net_detail() if hasattr(board, "net_detail") else "send"
                self.perform(up.failed(now, error, detail))
                return
            self.in_flight = action
            return
        try:
            data = board.net_poll()
        except OSError as e:
            self.in_flight = None
            self.perform(up.failed(now, NO_ROUTE, "connection: %s" % e))
            return
        if data is None:
            if now >= self.in_flight.deadline_ms:
                self.in_flight = None
                if hasattr(board, "net_abort"):
                    board.net_abort()
                self.perform(up.timed_out(now))
            return
        if data == b"":
            self.in_flight = None
            self.perform(up.closed(now))
            return
        actions = up.receive(now, data)
        if not up.client.busy:  # the answer is complete (or was refused, or timed out)
            self.in_flight = None
        self.perform(actions)


def run(board, turns=-1):
    """Run the terminal on ``board`` (for ever, or ``turns`` passes in tests)."""
    loop = Loop(board)
    n = 0
    while turns < 0 or n < turns:
        loop.turn()
        board.idle(TURN_MS)
        n += 1
    return loop
