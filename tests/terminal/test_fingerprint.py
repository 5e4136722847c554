"""hardware/r30x.py and hardware/fingerprint.py against the simulated R503 on a faulty serial
line: identification, card then finger, enrolment, delete, and issue 19's bad input of a finger
module (time-out, bad checksum, unknown code), each with its message (both runtimes)."""

from firmware.terminal import Finger
from hardware import r30x
from simulator.fingers.desk import SimulatedFinger

MICROPYTHON_HEAPSIZE = "4M"


def test_packets_are_the_datasheet_bytes():
    assert r30x.command(r30x.GEN_IMG) == bytes.fromhex("EF01FFFFFFFF010003010005")
    assert r30x.encode(r30x.PID_ACK, b"\x00") == bytes.fromhex("EF01FFFFFFFF07000300000A")
    assert r30x.encode(r30x.PID_ACK, b"\x02") == bytes.fromhex("EF01FFFFFFFF07000302000C")
    hit = r30x.encode(r30x.PID_ACK, bytes.fromhex("0000050064"))
    assert hit == bytes.fromhex("EF01FFFFFFFF0700070000050064 0077".replace(" ", ""))


def test_decoder_skips_noise_and_refuses_a_bad_checksum():
    d = r30x.Decoder()
    good = r30x.encode(r30x.PID_ACK, bytes.fromhex("0000050064"))
    got = [d.push(b) for b in b"\x00\xef\x55" + good]
    assert got.count(r30x.PACKET) == 1 and got[-1] == r30x.PACKET
    assert d.skipped == 3 and d.pid == r30x.PID_ACK and bytes(d.body[0:5]) == good[9:14]
    bad = bytearray(good)
    bad[12] ^= 0x10
    assert [d.push(b) for b in bad][-1] == r30x.BAD_SUM
    other = r30x.encode(r30x.PID_ACK, b"\x00", b"\x00\x00\x00\x01")
    assert [d.push(b) for b in other][-1] == r30x.WRONG_ADDRESS
    huge = b"\xef\x01\xff\xff\xff\xff\x07\x01\x00"
    assert [d.push(b) for b in huge][-1] == r30x.TOO_LONG


def test_selftest_reads_the_library():
    b = SimulatedFinger()
    assert b.selftest_result is None
    assert b.driver.version == "R503 (200 templates, level 3)"
    assert b.module.commands == [r30x.VFY_PWD, r30x.READ_SYS_PARA, r30x.TEMPLATE_NUM]
    wrong = SimulatedFinger(selftest=False, password=0x1234)
    assert wrong.driver.selftest() == "R503: VfyPwd: unexpected code 0x13 (wrong password)"


def test_one_to_n_match_wrong_finger_poor_image_and_a_resting_finger():
    b = SimulatedFinger()
    b.module.enrol(5, "alice-index")
    b.module.enrol(9, "bob-thumb")
    f = b.touch("bob-thumb")
    assert isinstance(f, Finger) and (f.result, f.template) == ("match", 9)
    assert f.score > 0
    assert b.touch("carol-index").result == "no_match"  # a wrong finger
    for quality in ("smudged", "disordered", "few"):
        assert b.touch("alice-index", quality).result == "poor", quality
    # a finger left on the sensor is reported once
    b.module.place("alice-index")
    got = b.run(5000)
    assert len(got) == 1 and got[0].template == 5, got
    b.module.lift()
    assert b.run(1000) == []
    assert b.touch("alice-index").template == 5  # lifted and placed again: a new report
    search = r30x.command(r30x.SEARCH, b"\x01\x00\x00\x00\xc8")  # over the whole library
    assert b.driver._search == search


def test_card_then_finger_compares_only_the_cards_templates():
    b = SimulatedFinger()
    b.module.enrol(5, "alice-index")
    b.module.enrol(6, "alice-middle")
    b.module.enrol(9, "bob-thumb")
    b.driver.expect((5, 6), b.now)
    assert b.touch("bob-thumb").result == "no_match"  # enrolled, but not this card's
    b.driver.expect((5, 6, 150), b.now)
    f = b.touch("alice-middle")
    assert (f.result, f.template) == ("match", 6)
    assert r30x.SEARCH not in b.module.commands[3:]  # 1:1 only
    assert b.module.commands.count(r30x.MATCH) == 4  # 5, 6 for bob; 5, 6 for alice
    b.driver.expect((150,), b.now)  # an empty page: a template read error, no match
    assert b.touch("alice-index").result == "no_match"
    assert b.touch("bob-thumb").template == 9  # the expectation is used once: 1:N again


def _enrol(b, first, second, gap_ms=800):
    b.module.place(first)
    got = b.run(1500)
    b.module.lift()
    got += b.run(gap_ms)
    b.module.place(second)
    got += b.run(2500)
    b.module.lift()
    got += b.run(500)
    return got


def test_enrolment_stores_under_the_first_free_page():
    b = SimulatedFinger()
    b.module.enrol(0, "alice-index")
    b.module.enrol(1, "bob-thumb")
    b.driver.start_enrol()
    got = _enrol(b, "carol-index", "carol-index")
    assert [(f.result, f.template) for f in got] == [("enrolled", 2)]
    assert b.module.library[2] == "carol-index" and not b.driver.enrolling()
    assert b.touch("carol-index").template == 2
    # two different fingers: RegModel refuses, the enrolment fails with a reason
    b.driver.start_enrol(7)
    got = _enrol(b, "dave-index", "dave-thumb")
    assert [(f.result, f.detail) for f in got] == [("enrol_failed", "the two images differ")]
    assert 7 not in b.module.library
    # nobody comes: a time-out
    b.driver.start_enrol(7)
    got = b.run(21000)
    assert [(f.result, f.detail) for f in got] == [("enrol_failed", "time-out")]
    assert b.driver.delete(2) is None and 2 not in b.module.library
    assert b.driver.template_count() == 2
    assert b.driver.delete(199, 5) == "R503: DeleteChar: unexpected code 0x10 (delete failed)"


def test_a_module_that_times_out_is_one_fault_and_recovers():
    b = SimulatedFinger()
    b.module.enrol(3, "alice-index")
    b.line.dead = True
    got = b.run(5000)
    assert got == [("fault", "R503: VfyPwd: no answer")], got
    b.line.dead = False
    assert b.run(2000) == [("ok",)]
    assert b.touch("alice-index").template == 3


def test_a_bad_checksum_is_asked_again_then_a_fault():
    b = SimulatedFinger()
    b.module.enrol(3, "alice-index")
    b.module.bad_sum = 1  # one spoilt answer: the command is sent again
    assert b.touch("alice-index").template == 3
    assert b.driver.exchange.resends == 1
    b.line.flip(1, 0)  # a bit flipped on the line: the same
    assert b.touch("alice-index").template == 3
    b.module.bad_sum = 1000  # every answer spoilt
    got = [e for e in b.run(3000) if isinstance(e, tuple)]
    # two failed GenImg in a row, then the init (VfyPwd) fails too: the third strike
    assert got == [("fault", "R503: VfyPwd: bad checksum twice")], got
    b.module.bad_sum = 0
    assert b.run(3000) == [("ok",)]


def test_an_unknown_code_is_named_and_a_spoilt_command_is_a_packet_error():
    b = SimulatedFinger()
    b.module.enrol(3, "alice-index")
    b.module.unknown_code = 0x42
    f = b.touch("alice-index")  # one strange answer is retried
    assert f.template == 3 and b.driver.last_error == "R503: GenImg: unknown code 0x42"

    got = []
    for _ in range(40):
        b.module.unknown_code = 0x42
        e = b.turn()
        if e is not None:
            got.append(e)
    faults = [e for e in got if isinstance(e, tuple)]
    assert faults == [("fault", "R503: VfyPwd: unknown code 0x42")], got
    b.module.unknown_code = None
    assert b.run(2000) == [("ok",)]
    # a command spoilt on the way: the module answers code 01, the driver sends it again
    spoiler = _Spoiler(b.line)
    b.driver.exchange.uart = spoiler
    spoiler.spoil = 1
    before = b.driver.exchange.resends
    assert b.touch("alice-index").template == 3
    assert b.driver.exchange.resends == before + 1 and spoiler.spoilt == 1
    spoiler.spoil = 1000  # every command spoilt: a fault that names the module's code
    faults = [e for e in b.run(3000) if isinstance(e, tuple)]
    assert faults == [("fault", "R503: VfyPwd: unexpected code 0x01 (packet error)")], faults


class _Spoiler:
    """A UART that flips a bit of the next ``spoil`` commands on the way to the module."""

    def __init__(self, line):
        self.line = line
        self.spoil = 0
        self.spoilt = 0

    def write(self, data):
        b = bytearray(data)
        if self.spoil:
            self.spoil -= 1
            self.spoilt += 1
            b[-1] ^= 0x01
        return self.line.write(b)

    def any(self):
        return self.line.any()

    def readinto(self, buf):
        return self.line.readinto(buf)


def test_poll_never_raises():
    b = SimulatedFinger()

    class Broken:
        def any(self):
            raise ValueError("driver bug")

    b.driver.exchange.uart = Broken()
    got = b.run(3000)
    assert got and got[0][0] == "fault" and "driver defect" in got[0][1], got
