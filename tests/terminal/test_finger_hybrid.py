"""hardware/xgvein.py, hardware/hybrid.py and hardware/btreader.py: the vein module's packets,
the print + vein decision, and a BT-style reader (card + finger) under firmware/main.py's loop,
with the vein module's bad input and a dead finger module while cards keep punching (both
runtimes)."""

from test_main import FakeBoard, server

from firmware import eventlog
from firmware.config import Config
from firmware.main import run
from firmware.punch import METHOD_FELICA, METHOD_FINGER
from firmware.terminal import Card, Finger
from hardware import xgvein
from hardware.hybrid import fuse
from simulator.door import card_of
from simulator.fingers.desk import SimulatedBT, SimulatedHybrid
from simulator.readers.field import FelicaCard

MICROPYTHON_HEAPSIZE = "4M"

OK, FAILED, NO_VEIN = xgvein.OK, xgvein.VERIFY_FAILED, xgvein.NO_VEIN


def test_vein_packets_are_24_bytes_with_a_little_endian_sum():
    connect = xgvein.encode(xgvein.CONNECT, b"00000000")
    # BB AA, address 0, command 01, encode 0, 8 bytes of data; sum of bytes 0..21 = 0x02EE
    assert connect == bytes.fromhex("BBAA0001000830303030303030300000000000000000EE02")
    d = xgvein.Decoder()
    got = [d.push(b) for b in b"\x00\xbb" + connect]
    assert got[-1] == 1 and got.count(1) == 1 and d.skipped == 2
    bad = bytearray(connect)
    bad[10] ^= 0x04
    assert [d.push(b) for b in bad][-1] == 2


def test_fuse_both_and_either():
    def result(rule, p, v, p_score=180, v_id=5, p_template=4):
        return fuse(rule, 100, p, p_template, p_score, v, v_id)[:2]

    # both: only the same template from both is a match
    assert result("both", "match", OK) == ("match", 4)
    assert result("both", "match", OK, v_id=8) == ("disagree", 0)  # vein says someone else
    assert result("both", "match", FAILED) == ("disagree", 0)
    assert result("both", "no_match", OK) == ("disagree", 0)
    assert result("both", "match", NO_VEIN) == ("no_vein", 0)
    assert result("both", "match", xgvein.TIME_OUT) == ("no_vein", 0)
    assert result("both", "no_match", FAILED) == ("no_match", 0)
    assert result("both", "poor", FAILED) == ("poor", 0)
    # either: a print above the score, or the vein, alone suffices
    assert result("either", "match", FAILED) == ("match", 4)
    assert result("either", "match", FAILED, p_score=99) == ("no_match", 0)
    assert result("either", "no_match", OK) == ("match", 4)
    assert result("either", "poor", OK, v_id=9) == ("match", 8)
    assert result("either", "match", OK, v_id=8) == ("disagree", 0)  # two people
    assert result("either", "poor", NO_VEIN) == ("no_vein", 0)
    detail = fuse("both", 100, "match", 4, 180, OK, 5)[3]
    assert detail == "print match 4 score 180, vein 4"


def test_hybrid_on_the_simulated_modules():
    h = SimulatedHybrid()
    assert (
        h.selftest_result is None and h.driver.version == "R503 (200 templates, level 3) + XG vein"
    )
    h.enrol(4, "alice-index")
    f = h.touch("alice-index")
    assert isinstance(f, Finger) and (f.result, f.template) == ("match", 4)
    assert h.vein.commands == [xgvein.CONNECT, xgvein.VERIFY]
    assert h.touch("bob-index").result == "no_match"
    assert h.touch("alice-index", vein_quality="flat_off").result == "no_vein"
    h.module.enrol(7, "carol-index")  # a print with no vein enrolled
    assert h.touch("carol-index").result == "disagree"
    either = SimulatedHybrid(rule="either")
    either.module.enrol(7, "carol-index")
    assert either.touch("carol-index").template == 7  # the print alone, above 100


def test_hybrid_enrols_print_then_vein():
    h = SimulatedHybrid()
    h.driver.start_enrol(10)
    h.module.place("dave-index")
    h.vein.place("dave-index")
    got = h.run(1500)
    h.module.lift()
    got += h.run(800)
    h.module.place("dave-index")
    got += h.run(6000)
    assert [(f.result, f.template) for f in got] == [("enrolled", 10)], got
    assert h.module.library[10] == "dave-index" and h.vein.library[11] == "dave-index"
    assert h.veins.prompts == 5  # lift, place, lift, place, lift
    assert h.driver.delete(10) is None
    assert 10 not in h.module.library and 11 not in h.vein.library


def test_vein_time_out_bad_checksum_and_unknown_status_are_named_and_recovered():
    h = SimulatedHybrid()
    h.enrol(4, "alice-index")
    h.vein.bad_sum = 1
    f = h.touch("alice-index")
    assert (f.result, f.detail) == ("poor", "XG vein: Verify: bad checksum")
    h.vein.unknown_status = 0x42
    f = h.touch("alice-index")
    assert (f.result, f.detail) == ("poor", "XG vein: Verify: unknown status 0x42")
    assert h.touch("alice-index").result == "match"  # a good answer clears the strikes
    h.vein_line.dead = True
    got = [h.touch("alice-index") for _ in range(3)]
    assert [e.result for e in got[:2]] == ["poor", "poor"]
    assert got[2] == ("fault", "XG vein: Verify: no answer"), got
    assert h.run(3000) == []  # Connect retried every second, no answer
    h.vein_line.dead = False
    assert h.run(2000) == [("ok",)]
    assert h.touch("alice-index").result == "match"


def test_bt_reader_card_then_finger_compares_only_that_employees_templates():
    class Roster:
        def lookup_card(self, idm):
            from firmware.roster import Employee

            return Employee("E1", "社員1", fingers=[1, 2]) if idm == card_of(1) else None

    bt = SimulatedBT("card_then_finger", Roster())
    assert bt.selftest_result is None
    bt.fingers.module.enrol(1, "e1-index")
    bt.fingers.module.enrol(9, "e9-index")
    card = bt.desk.field.place(FelicaCard(card_of(1)))
    got = bt.run(300)
    bt.desk.field.remove(card)
    assert [type(e) for e in got] == [Card]
    bt.fingers.module.place("e9-index")  # enrolled, but not this employee's finger
    got = bt.run(2500)
    assert [(e.result, e.template) for e in got] == [("no_match", 0)]
    assert 0x03 in bt.fingers.module.commands and 0x04 not in bt.fingers.module.commands[3:]


def test_bt_reader_enrols_when_the_terminal_enters_service():
    bt = SimulatedBT("card_or_finger")
    bt.reader.follow("ready")
    bt.reader.follow("service")
    assert bt.fingers.driver.enrolling()
    bt.reader.follow("ready")
    assert not bt.fingers.driver.enrolling()


class BTBoard(FakeBoard):
    """firmware/main.py's board with the BT-style reader on simulated modules."""

    def __init__(self, srv, bt):
        FakeBoard.__init__(self, srv, {})
        self.bt = bt

    def reader_selftest(self):
        return self.bt.reader.selftest(self.ticks_ms, self.idle)

    def ticks_ms(self):
        return self.bt.now

    def idle(self, ms):
        self.bt.at(self.bt.now + ms)
        self.now = self.bt.now

    def reader_poll(self, now):
        self.bt.at(now)
        return self.bt.reader.poll(now)


def _bt_board(method, dead_finger=False):
    _store, srv = server()
    bt = SimulatedBT(method, selftest=False)
    for i in range(5):
        bt.fingers.module.enrol(i, "person-%d" % i)  # the roster's finger of E000i is i
    bt.fingers.line.dead = dead_finger
    board = BTBoard(srv, bt)
    config = Config(board.flashes[2])
    config.load()
    config.apply(1, {"identify_mode": method})
    return board


def _turns(loop, board, ms):
    end = board.bt.now + ms
    while board.bt.now < end:
        loop.turn()
        board.idle(20)


def test_a_dead_finger_module_is_logged_and_cards_still_punch():
    board = _bt_board("card_or_finger", dead_finger=True)
    loop = run(board, turns=50)  # the self-test found the finger module silent: a notice
    assert loop.terminal.state == "ready"
    notes = [e["text"] for e in loop.log.events(0, 50) if e["code"] == eventlog.READER_FAULT]
    assert notes == ["R503: VfyPwd: no answer"], notes
    card = board.bt.desk.field.place(FelicaCard(card_of(2)))
    _turns(loop, board, 400)
    board.bt.desk.field.remove(card)
    assert board.beeps.count("ok") == 1 and loop.journal.read(1).method == METHOD_FELICA
    board.bt.fingers.line.dead = False  # the module answers again; a finger punches
    _turns(loop, board, 2000)
    board.bt.fingers.module.place("person-3")
    _turns(loop, board, 1500)
    assert board.beeps.count("ok") == 2 and loop.journal.read(2).method == METHOD_FINGER
    notes = [e["text"] for e in loop.log.events(0, 50) if e["code"] == eventlog.READER_FAULT]
    assert notes[-1] == "finger module answers again", notes


def test_a_finger_only_terminal_faults_when_the_module_stops_and_recovers():
    board = _bt_board("finger")
    loop = run(board, turns=20)
    assert loop.terminal.state == "ready"
    board.bt.fingers.line.dead = True
    _turns(loop, board, 3000)
    assert loop.terminal.state == "reader_fault"
    faults = [e["text"] for e in loop.log.events(0, 50) if e["code"] == eventlog.READER_FAULT]
    assert faults == ["R503: VfyPwd: no answer"], faults
    board.bt.fingers.line.dead = False
    _turns(loop, board, 2000)
    assert loop.terminal.state == "ready"
    board.bt.fingers.module.place("person-1")
    _turns(loop, board, 1500)
    assert board.beeps.count("ok") == 1


def test_a_hybrid_decision_has_its_own_message_and_a_retry():
    from simulator.door import Rig

    r = Rig(values={"identify_mode": "finger"}, sector_size=1024)
    r.settle()
    r.finger("disagree")
    assert r.terminal.state == "identifying"
    assert r.last_screen().lines[0] == "指紋と静脈が不一致"
    r.finger("no_vein")
    assert r.last_screen().lines[0] == "指を奥まで置いてください"
    r.run_until(r.now + 12000)
    r.finger("match", 3)
    assert r.last_screen().lines[0] == "社員3"


def test_a_vein_enrolment_that_fails_removes_the_print_again():
    h = SimulatedHybrid()
    h.driver.start_enrol(10)
    h.module.place("dave-index")  # on the print sensor only: the vein module waits, then 0B
    got = h.run(1500)
    h.module.lift()
    got += h.run(800)
    h.module.place("dave-index")
    got += h.run(9000)
    assert [(f.result, f.detail) for f in got] == [("enrol_failed", "vein: time-out")], got
    assert 10 not in h.module.library and 11 not in h.vein.library


def test_the_finger_part_is_made_from_the_boards_uarts():
    from hardware.btreader import finger_module
    from hardware.fingerprint import FingerPrint
    from hardware.hybrid import HybridFinger

    h = SimulatedHybrid(selftest=False)
    alone = finger_module(h.line, ticks_ms=h.ticks, wait_ms=h.wait)
    assert isinstance(alone, FingerPrint) and alone.selftest() is None
    both = finger_module(h.line, h.vein_line, "either", 120, h.ticks, h.wait)
    assert isinstance(both, HybridFinger) and both.rule == "either" and both.min_score == 120
    assert both.selftest() is None
