"""hardware/reader.py with the PN532 (HSU and I2C) and RC-S620S drivers against the simulated
chips, cards and a faulty line: reads, and every bad input of issue 18 (both runtimes)."""

from reader_support import Bench, only_card

from hardware import pn53x
from simulator.readers.field import EXAMPLE_IDM, FelicaCard, phone

MICROPYTHON_HEAPSIZE = "4M"  # the terminal's Card comes with firmware.terminal (see test_main)
KINDS = ("pn532", "pn532-i2c", "rcs620s", "rcs380")


def test_selftest_names_chip_and_version():
    assert Bench("pn532").reader.version == "PN532 v1.6"
    assert Bench("pn532-i2c").reader.version == "PN532 v1.6"
    b = Bench("rcs620s")
    assert b.selftest_result is None and b.reader.version == "RC-S620S v1.30"
    # its init: ResetMode, then the host's ACK, GetFirmwareVersion, three RFConfigurations
    assert b.chip.commands[:5] == [0x18, 0x02, 0x32, 0x32, 0x32], b.chip.commands


def test_a_tap_is_read_once_on_every_chip():
    for kind in KINDS:
        b = Bench(kind)
        card = only_card(b.tap(FelicaCard(), ms=1000))
        assert card.idm == EXAMPLE_IDM and card.count == 1, kind
        assert card.stable and card.readable, kind
        assert only_card(b.tap()).idm == EXAMPLE_IDM  # the next tap is read again


def test_rcs620s_turns_rf_off_after_each_poll_cycle():
    b = Bench("rcs620s")
    b.run(1000)
    polls = b.chip.commands.count(0x4A)
    assert polls >= 9, b.chip.commands
    assert b.chip.config[0x01] == b"\x00" and not b.chip.rf_on
    assert b.chip.commands.count(0x32) == polls + 3


def test_424_kbps_and_system_code():
    b = Bench("pn532", rate_kbps=424, system_code=0x0003)
    assert only_card(b.tap()).idm == EXAMPLE_IDM
    assert b.cards(200) == []
    only212 = FelicaCard(rates=(212,))
    assert b.tap(only212) == []  # it does not answer at 424
    other = Bench("rcs620s", system_code=0xFE00)
    assert other.tap(FelicaCard(system_code=0x0003)) == []  # another system: silent
    assert only_card(other.tap(FelicaCard(system_code=0xFE00))).stable


def test_random_id_card_and_phone_are_not_stable():
    for kind in KINDS:
        b = Bench(kind)
        card = only_card(b.tap(FelicaCard(random_id=True)))
        assert not card.stable and card.readable, kind
        assert not only_card(b.tap(phone())).stable, kind


def test_several_cards():
    b = Bench("pn532")
    b.field.place(FelicaCard())
    b.field.place(FelicaCard(bytes(range(1, 9))))
    card = only_card(b.run(400))
    assert card.count == 2
    # The RC-S620S takes one target: two cards win the slots in turn, so the two reads differ.
    b = Bench("rcs620s")
    b.field.place(FelicaCard())
    b.field.place(FelicaCard(bytes(range(1, 9))))
    assert not only_card(b.run(400)).stable


def test_card_pulled_away_between_the_reads():
    for kind in KINDS:
        b = Bench(kind)
        card = only_card(b.tap(FelicaCard(leaves_after=1)))
        assert not card.readable, kind
        assert only_card(b.tap()).readable  # the next tap is read


def _read_after(kind, spoil, expect_error=None):
    """Spoil the chip's next answer, then check: no fault, and the card is read by the first
    poll that follows (resync in one poll)."""
    b = Bench(kind)
    b.run(200)
    b.field.place(FelicaCard())
    spoil(b)
    events = b.run(600)
    assert all(not isinstance(e, tuple) for e in events), events
    card = only_card(events)
    assert card.idm == EXAMPLE_IDM and card.readable and card.stable
    if expect_error is not None:
        assert b.reader.failures >= 1 and expect_error in b.reader.last_error, b.reader.last_error
    return b


def _flip_at(position):
    def spoil(b):  # one bit of the response (the chip's second output, after its ACK)
        b.line.start = position
        b.line.flip(1, skip=1)

    return spoil


def test_bad_lcs_and_bad_dcs_are_asked_again():
    for kind in ("pn532", "rcs620s"):
        b = _read_after(kind, _flip_at(4))  # the response's LCS
        assert b.link.retries >= 1 and b.reader.failures == 0  # the NACK got the answer again
        b = _read_after(kind, _flip_at(12))  # a data byte (the IDm): the DCS fails
        assert b.link.retries >= 1 and b.reader.failures == 0


def test_twice_bad_checksum_fails_the_cycle_and_the_next_poll_reads():
    def spoil(b):
        old = b.chip.receive
        b.broken = 0

        def receive(data):  # the next response and its repeat after the NACK arrive broken
            out = []
            for delay, frame in old(data):
                if len(frame) > 12 and b.broken < 2:
                    b.broken += 1
                    frame = frame[:12] + bytes((frame[12] ^ 1,)) + frame[13:]
                out.append((delay, frame))
            return out

        b.chip.receive = receive

    b = _read_after("pn532", spoil, "PN532: InListPassiveTarget: bad data checksum")
    assert b.broken == 2 and b.link.retries == 1


def test_wrong_tfi_unexpected_code_error_frame_and_nack():
    wrong_tfi = bytes(pn53x.encode(b"\xd4\x4b\x00"))
    wrong_code = bytes(pn53x.encode(b"\xd5\x33"))
    for kind in ("pn532", "rcs620s", "pn532-i2c"):
        if kind == "pn532-i2c":
            continue  # the I2C bus has no line to spoil (see test_i2c_faults)
        _read_after(kind, lambda b: b.line.insert(wrong_tfi), "wrong frame identifier (D4)")
        # a late answer to another command, before this one's: dropped, the read goes on
        b = _read_after(kind, lambda b: b.line.insert(wrong_code))
        assert b.link.stale == 1 and b.reader.failures == 0
        _read_after(kind, _answer_with(wrong_code), "unexpected response code (33)")
        _read_after(kind, lambda b: b.line.insert(pn53x.ERROR_FRAME), "error frame")
        b = _read_after(kind, lambda b: b.line.insert(pn53x.NACK_FRAME))
        assert b.link.retries >= 1  # the command was sent again


def _answer_with(frame):
    def spoil(b):  # the next poll's response replaced by ``frame``: its own never comes
        old = b.chip.receive
        b.replaced = False

        def receive(data):
            out = []
            for delay, answer in old(data):
                if not b.replaced and answer[5:7] == b"\xd5\x4b":
                    b.replaced = True
                    answer = frame
                out.append((delay, answer))
            return out

        b.chip.receive = receive

    return spoil


def test_truncated_answer_and_garbage_between_frames():
    for kind in ("pn532", "rcs620s"):
        # the ACK cut short: the response that follows is taken without it (as nfcpy does)
        b = _read_after(kind, lambda b: b.line.truncate(4))
        assert b.reader.failures == 0
        _read_after(kind, lambda b: b.line.truncate(9, 1), "no response")  # the response
        b = _read_after(kind, lambda b: b.line.insert(b"\x55\x13garbage\x00\x01\xfe"))
        assert b.link.decoder.skipped >= 10 and b.reader.failures == 0 and b.link.retries == 0
        # garbage with false start codes in it: read all the same
        _read_after(kind, lambda b: b.line.insert(b"\x00\xff\x55\x13\x00\x00\xffgarbage"))


def test_no_answer_becomes_one_fault_and_recovers_by_itself():
    for kind in KINDS:
        b = Bench(kind)
        b.run(200)
        b.cut()  # a dead line, an I2C address nobody acknowledges, an unplugged USB device
        events = b.run(5000)
        faults = [e for e in events if isinstance(e, tuple) and e[0] == "fault"]
        assert len(faults) == 1, events
        assert kind[:5].upper().replace("-", "") in faults[0][1].upper().replace("-", "")
        b.cut(False)
        events = b.run(1500)
        assert ("ok",) in events, events
        assert only_card(b.tap()).readable


def test_chip_reset_mid_session_is_recovered():
    for kind in KINDS:
        b = Bench(kind)
        b.run(300)
        b.chip.power_cycle()  # asleep (PN532), retries back to FF: an empty poll hangs
        b.run(600)
        if kind == "rcs380":
            assert b.chip.command_type == 1  # the driver chose the command set again
        else:
            assert b.chip.retries == 0, kind  # the driver configured it again
        assert only_card(b.tap()).idm == EXAMPLE_IDM
        assert not [e for t, e in b.events if isinstance(e, tuple)], b.events


def test_wrong_baud_rate_is_a_fault_until_fixed():
    b = Bench("pn532")
    b.line.host_baud = 9600
    events = b.run(4000)
    assert [e[0] for e in events] == ["fault"], events
    b.line.host_baud = 115200
    assert ("ok",) in b.run(1500)


def test_selftest_reports_what_failed():
    b = Bench("pn532", selftest=False)
    b.line.dead = True
    result = b.selftest()
    assert result is not None and "PN532" in result and "no ACK" in result, result
    b.line.dead = False
    assert ("ok",) in b.run(1500)  # the terminal starts in reader_fault: tell it
    wrong = Bench("pn532", selftest=False)
    wrong.chip.firmware = b"\x33\x01\x30\x07"  # an RC-S620S where a PN532 is configured
    assert "IC 33" in wrong.selftest()


def test_i2c_status_byte_polling():
    b = Bench("pn532-i2c")
    assert only_card(b.tap()).idm == EXAMPLE_IDM
    assert b.chip.commands.count(0x14) == 1  # SAMConfiguration once, no HSU wake-up


def test_poll_never_raises():
    b = Bench("pn532")

    def broken(data):
        raise ValueError("chip model defect")

    b.chip.receive = broken
    events = b.run(300)
    assert events and events[0][0] == "fault", events


def test_two_cards_report_the_first_ones_idm():
    # found by tests/readers/test_reader_statemachine.py: the IDm was all zeros
    b = Bench("pn532")
    b.field.place(FelicaCard())
    b.field.place(FelicaCard())
    card = only_card(b.run(400))
    assert card.count == 2 and card.idm == EXAMPLE_IDM


def test_a_lost_zero_byte_that_the_checksum_misses_is_not_reported():
    # found by the state machine: a 00 byte of the IDm lost on the line shifts the postamble
    # into the frame, the 8-bit DCS still adds up, and the first read's IDm is wrong
    b = Bench("pn532")
    b.run(200)
    b.line.start = 15  # IDm byte 4 (00) of the next response
    b.line.drop(1, skip=1)
    card = only_card(b.tap(FelicaCard(bytes((1, 46, 76, 210, 0, 0, 0, 1)))))
    assert card.idm == bytes((1, 46, 76, 210, 0, 0, 0, 1)) and card.stable and card.readable


def test_a_slow_line_is_waited_for_and_a_stalled_one_retried():
    b = Bench("pn532")
    b.line.delay_ms = 60  # within the 100 ms the driver waits for the ACK
    assert only_card(b.tap()).stable and b.reader.failures == 0
    b.line.delay_ms = 150  # past it: no ACK in time, the cycle fails, nothing is reported
    events = b.run(400)
    assert b.reader.failures >= 1 and "no ACK" in b.reader.last_error
    assert not [e for e in events if not isinstance(e, tuple)]
    b.line.delay_ms = 0
    b.run(2000)
    assert only_card(b.tap()).stable


def test_a_late_answer_after_an_i2c_bus_fault_is_not_taken_for_the_next_one():
    # found by tests/readers/test_reader_statemachine.py: the bus failed while the PN532's ACK
    # and answer to SAMConfiguration were waiting; they were read after the next command, every
    # answer came one command late ("SAMConfiguration: unexpected response code (03)", the
    # answer of GetFirmwareVersion), and the reader stayed faulted for ever
    b = Bench("pn532-i2c")
    b.chip.power_cycle()
    b.run(61)
    b.run(201)
    b.cut()
    b.run(20)
    b.cut(False)
    b.run(3000)
    assert not b.reader.faulted, b.reader.last_error
    assert only_card(b.tap()).stable
    # the same, made on purpose: the bus fails while an answer waits in the chip
    b = Bench("pn532-i2c")
    b.run(200)
    b.reader.poll(b.now)  # a poll cycle writes its command; the ACK and answer wait
    assert b.bus.in_flight() == 2
    b.cut()
    b.run(20)  # the read fails: a bus error, and the answer stays in the chip
    assert b.bus.in_flight() == 2
    b.cut(False)
    b.run(1500)
    card = only_card(b.tap())
    assert card.stable and card.readable and not b.reader.faulted, b.reader.last_error
    # and the exchanges are in step again: between two cycles the chip holds nothing unread
    # (before the fix every answer was read one command late, for ever)
    while b.reader.busy():
        b.turn()
    assert b.bus.in_flight() == 0
