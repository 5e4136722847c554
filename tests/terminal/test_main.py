"""firmware/main.py: the board loop on a fake board (reader, keys, display, network, RTC)."""

from firmware import eventlog
from firmware.main import run
from firmware.terminal import Card
from protocol.client import NO_LINK
from simulator.door import EPOCH, SECRET, TENANT, TERMINAL, add_employees, card_of
from simulator.norflash import SimulatedNorFlash

MICROPYTHON_HEAPSIZE = "4M"  # see test_journal.py


class FakeBoard:
    name = "fake"

    def __init__(self, server, script):
        self.now = 0
        self.server = server
        self.script = script  # {time_ms: event}
        self.flashes = (
            SimulatedNorFlash(1024, 8),
            SimulatedNorFlash(1024, 16),
            SimulatedNorFlash(1024, 2),
            SimulatedNorFlash(1024, 4),
            SimulatedNorFlash(1024, 2),  # the boot counter (PRT-SAFE-1)
        )
        self.shown = []
        self.beeps = []
        self.rtc = EPOCH
        self.network = True
        self.pending = None
        self.rebooted = False
        self.selftest = None  # what the reader's self-test at boot finds

    def reader_selftest(self):
        return self.selftest

    def ticks_ms(self):
        return self.now

    def rtc_epoch(self):
        return self.rtc

    def set_rtc(self, epoch):
        self.rtc = epoch

    def boot_id(self):
        return 5

    def partitions(self):
        return self.flashes

    def identity(self):
        return TENANT, TERMINAL, SECRET

    def entropy(self):
        return b"\x01\x02"

    def reader_poll(self, now):
        return self.script.pop(now, None) if not isinstance(self.script.get(now), str) else None

    def key_poll(self, now):
        value = self.script.get(now)
        if isinstance(value, str):
            del self.script[now]
            return value
        return None

    def show(self, lines, style):
        self.shown.append((self.now, style, lines))

    def beep(self, pattern):
        self.beeps.append(pattern)

    def led(self, pattern):
        pass

    def reboot(self):
        self.rebooted = True

    def net_send(self, data):
        if not self.network:
            return NO_LINK
        self.pending = self.server.handle(data, EPOCH + self.now // 1000)
        return None

    def net_poll(self):
        data, self.pending = self.pending, None
        if data is None:
            return b""
        return data

    def ntp(self):
        return EPOCH + self.now // 1000 if self.network else None

    def idle(self, ms):
        self.now += ms


def server():
    from protocol.memstore import MemoryStore
    from protocol.server import Server

    store = MemoryStore()
    store.add_tenant(TENANT)
    store.add_terminal(TENANT, TERMINAL, SECRET)
    add_employees(store, 5)
    return store, Server(store)


def test_the_loop_boots_syncs_taps_and_uploads():
    store, srv = server()
    board = FakeBoard(srv, {2000: Card(card_of(1)), 4000: "out", 4020: Card(card_of(2))})
    loop = run(board, turns=400)
    styles = [s[1] for s in board.shown]
    assert "ok" in styles and board.beeps.count("ok") == 2
    assert sorted(store.held(TENANT, TERMINAL)) == [1, 2]
    assert loop.journal.unsent_count == 0
    kinds = [loop.journal.read(s).kind for s in (1, 2)]
    assert kinds[1] == 2  # "out" was pressed before the second tap


def test_the_loop_keeps_punching_without_a_network_and_resends():
    store, srv = server()
    board = FakeBoard(srv, {1000: Card(card_of(3))})
    board.network = False
    loop = run(board, turns=100)
    assert loop.journal.unsent_count == 1
    assert next(s for s in board.shown if s[1] == "offline")[2][2] == "オフライン保存"
    board.network = True
    loop.uplink.link(board.now, True)
    for _ in range(1500):
        loop.turn()
        board.idle(20)
    assert sorted(store.held(TENANT, TERMINAL)) == [1] and loop.journal.unsent_count == 0


def test_reader_faults_reach_the_display_and_a_reboot_command_waits_for_idle():
    store, srv = server()
    board = FakeBoard(srv, {200: ("fault", "no answer"), 400: ("ok",)})
    store.pending[(TENANT, TERMINAL)] = [{"id": "r1", "op": "reboot"}]
    loop = run(board, turns=30)
    assert any(s[2][0] == "リーダー異常" for s in board.shown)
    # The heartbeat (300 s) brings the reboot command; its result goes at least 10 s after that
    # heartbeat (PRT-SAFE-3), and the reboot waits for it (issue 13).
    for _ in range(320 * 50):
        loop.turn()
        board.idle(20)
        if board.rebooted:
            break
    assert board.rebooted and loop.terminal.state == "ready"


def test_a_reader_that_fails_its_self_test_starts_the_terminal_in_reader_fault():
    _store, srv = server()
    board = FakeBoard(srv, {600: ("ok",), 800: Card(card_of(1))})
    board.selftest = "RC-S620S: no ACK"
    loop = run(board, turns=20)  # 400 ms
    assert loop.terminal.state == "reader_fault"
    assert board.shown[-1][2][0] == "リーダー異常"
    texts = [e["text"] for e in loop.log.events(0, 50) if e["code"] == eventlog.SELF_TEST]
    assert texts == ["reader: RC-S620S: no ACK"]
    for _ in range(30):
        loop.turn()
        board.idle(20)
    assert loop.terminal.state in ("ready", "feedback") and board.beeps.count("ok") == 1


def test_a_reboot_command_waits_until_its_results_and_those_beside_it_are_delivered():
    """PRT-CMD-2: the loop rebooted in the turn that applied the heartbeat answer, so the
    results of ``reboot`` and of ``set_time`` beside it were never reported."""
    store, srv = server()
    board = FakeBoard(srv, {})
    store.pending[(TENANT, TERMINAL)] = [
        {"id": "t1", "op": "set_time", "time": EPOCH + 7},
        {"id": "r1", "op": "reboot"},
    ]
    loop = run(board, turns=30)
    loop.uplink.client._heartbeat_at = board.now  # the heartbeat is due now
    for _ in range(15 * 50):  # results go at least 10 s after that heartbeat (PRT-SAFE-3)
        loop.turn()
        board.idle(20)
        if board.rebooted:
            break
    assert board.rebooted
    assert sorted((r[2]["id"], r[2]["status"]) for r in store.results) == [
        ("r1", "ok"),
        ("t1", "ok"),
    ]


def test_without_the_service_a_reboot_command_still_happens_and_says_why():
    store, srv = server()
    board = FakeBoard(srv, {})
    store.pending[(TENANT, TERMINAL)] = [{"id": "r2", "op": "reboot"}]
    loop = run(board, turns=30)
    loop.uplink.client._heartbeat_at = board.now
    while not loop.uplink.client.reporting:
        loop.turn()
        board.idle(20)
    board.network = False  # the answer came; the results cannot go out
    for _ in range(400):
        loop.turn()
        board.idle(1000)
        if board.rebooted:
            break
    assert board.rebooted and board.now >= 300 * 1000
    texts = [e["text"] for e in loop.log.events(0, 100) if e["code"] == eventlog.COMMAND]
    assert "reboot: results not delivered" in texts
