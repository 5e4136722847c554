"""The terminal under unusual but real sequences (issue 13): one test per numbered defect, each
written as the sequence an employee, an administrator or the world produced."""

from test_terminal import codes, rig, screen, stored

from firmware import eventlog
from firmware.punch import (
    KIND_BREAK_START,
    KIND_CLOCK_IN,
    KIND_UNSPECIFIED,
    METHOD_CARD_AND_FINGER,
    METHOD_FELICA,
    Punch,
)
from firmware.terminal import Card
from protocol import messages
from simulator.door import TENANT, TERMINAL, card_of

MICROPYTHON_HEAPSIZE = "32M"  # see test_terminal.py


def _admin(r):
    admin = card_of(99)
    r.config.apply(2, {"admin_cards": [admin.hex()], "service_pin": "4321"})
    return Card(admin)


def _pin(r, pin):
    r.key("service")
    for k in pin:
        r.key(k)
    r.key("ok")


def _fill(r):
    """Append punches straight to the journal until it is full (faster than taps)."""
    n = 0
    while r.journal.free_slots() > 0:
        r.journal.append(Punch(1795039200 + n, KIND_CLOCK_IN, METHOD_FELICA, card_of(n % 10)))
        n += 1
    return n


def test_1_without_a_valid_clock_the_kind_is_a_keys_or_unspecified_never_from_uptime():
    """LNK-03. Minutes since boot are no time of day: at boot they read 00:00, which the
    schedule (the day starting at 05:00) took for late evening: clock-out."""
    r = rig(rtc=None)
    r.network = False
    r.power_on()  # the RTC battery is dead and the service cannot be reached
    r.settle()
    assert r.terminal.state == "clock_invalid"
    assert screen(r).lines[0] == "時刻未設定 打刻"
    r.tap(1)
    assert screen(r).lines[1] == "打刻 --:--"  # no invented time of day
    r.run_until(r.now + 3000)
    r.key("in")
    assert screen(r).lines[0] == "時刻未設定 出勤"
    r.tap(2)
    kinds = [p.kind for p in sorted(stored(r), key=lambda p: p.seq)]
    assert kinds == [KIND_UNSPECIFIED, KIND_CLOCK_IN]
    assert not [p for p in stored(r) if p.clock_synced]


def test_2_the_minimum_offline_firmware_is_kept_on_flash_and_holds_after_a_reboot():
    """MNT-08: rebooted while offline, a terminal the service said is too old to punch offline
    still refuses offline punches."""
    r = rig()
    r.store.min_offline_fw = "9.0"
    r.uplink.client.link_up(r.now)
    r.run_until(r.now + 10000)
    assert r.terminal.min_offline_fw == "9.0"
    r.network = False
    r.power_on()
    r.settle()
    assert r.terminal.mode != "online" and r.terminal.min_offline_fw == "9.0"
    r.tap(1)
    assert screen(r).lines[0] == "更新が必要です" and r.journal.next_seq == 1
    before = r.config_flash.erases
    r.network = True
    r.uplink.client.link_up(r.now)
    r.run_until(r.now + 10000)  # hello says the same again: nothing is written again
    assert r.terminal.mode == "online" and r.config_flash.erases == before


def _unsigned_punch_answers(service):
    def handle(request, now):
        answer = service(request, now)
        if request.startswith(b"POST /v1/punches"):
            answer = answer.replace(b"Dakoku-Signature:", b"Dakoku-Unsigned:")
        return answer

    return handle


def test_3_a_request_that_keeps_failing_is_logged_once_and_the_boot_event_survives():
    """Each retry cycle's good hello ended the "once per streak" memory: the event log filled
    with the same network error and "network back" until the boot event was pushed out."""
    r = rig()
    r.service = _unsigned_punch_answers(r.service)
    r.tap(1)
    r.run_until(r.now + 30 * 60 * 1000, step_ms=5000)  # 526 events in 30 minutes, before
    events = r.log.events(0, 500)
    assert [e["code"] for e in events].count(eventlog.NET_ERROR) == 1
    assert eventlog.NET_RESTORED not in [e["code"] for e in events]
    assert eventlog.BOOT in [e["code"] for e in events]
    assert r.journal.unsent_count == 1  # the punch is kept, never marked on a bad answer
    r.service = r.server.handle  # the receiver is fixed: the streak ends, with its count
    r.run_until(r.now + 10 * 60 * 1000, step_ms=2000)
    back = [e["text"] for e in r.log.events(0, 500) if e["code"] == eventlog.NET_RESTORED]
    assert len(back) == 1 and "after" in back[0] and r.journal.unsent_count == 0


def test_4_always_online_in_maintenance_says_maintenance_and_its_end():
    """MNT-07 with MNT-04: the service is reachable and said maintenance."""
    r = rig(values={"offline_punching": False})
    start = r.service_time()
    r.store.windows.append({"start": start, "end": start + 1800, "notice": "upgrade"})
    r.run_until(r.now + 301 * 1000)
    assert r.terminal.mode == "maintenance"
    r.tap(1)
    line = screen(r).lines[0]
    assert line.startswith("メンテナンス中") and "終了予定 07:30" in line
    assert r.journal.next_seq == 1


def test_5_taps_are_taken_again_as_soon_as_a_slot_is_free():
    """After "journal full", a slot freed while the journal is still nearly full takes taps."""
    r = rig(journal_sectors=2, values={"nearly_full_percent": 50})
    r.network = False
    capacity = _fill(r)
    r.tap(1)
    assert r.terminal.state == "journal_full"
    r.journal.mark_delivered_up_to(capacity // 2)  # one sector uploaded
    assert r.journal.state() == "nearly_full" and r.journal.free_slots() > 0
    r.tick()
    assert r.terminal.state == "ready"
    r.tap(1)
    assert screen(r).style in ("ok", "offline") and r.journal.next_seq == capacity + 2


def test_6_a_refusal_leaves_nobody_behind_for_the_next_tap():
    """Card then finger: A's card, then two refused cards, then B: nothing of A is used."""
    r = rig(values={"identify_mode": "card_then_finger", "finger_retry_limit": 3})
    r.tap(1)  # A
    r.finger("poor")
    r.finger("poor")  # two of A's three attempts used
    assert r.terminal.state == "identifying"
    r.tap(card=Card(card_of(2), count=2))  # refused: two cards
    r.tap(card=Card(card_of(2), stable=False))  # refused: a random ID
    r.finger("match", 2)  # B's finger alone: not stored under A's card
    assert screen(r).lines[0] == "先にカードをタッチ" and r.journal.next_seq == 1
    r.tap(2)  # B, properly
    r.finger("poor")  # B's first poor read is B's first, not A's third
    assert r.terminal.state == "identifying" and eventlog.READER_FAULT not in codes(r)
    r.finger("match", 2)
    (punch,) = stored(r)
    assert punch.credential == card_of(2) and punch.method == METHOD_CARD_AND_FINGER
    assert screen(r).lines[0] == "社員2"


def test_6_a_finger_refusal_in_one_to_n_does_not_count_against_the_next_person():
    r = rig(values={"identify_mode": "card_or_finger", "finger_retry_limit": 3})
    r.finger("poor")
    r.finger("poor")
    r.tap(card=Card(b"", readable=False))  # someone's card that did not read
    r.finger("poor")  # the next person's first poor read
    assert r.terminal.state == "identifying" and screen(r).lines[0] == "指を置き直してください"
    assert eventlog.READER_FAULT not in codes(r)


def test_7_the_configured_identification_method_is_enforced():
    r = rig(values={"identify_mode": "card_then_finger"})
    r.finger("match", 3)  # a finger alone at the idle screen
    assert screen(r).lines[0] == "先にカードをタッチ" and r.journal.next_seq == 1
    r = rig(values={"identify_mode": "card"})
    r.finger("match", 3)
    assert screen(r).lines[0] == "カードでタッチしてください" and r.journal.next_seq == 1
    r = rig(values={"identify_mode": "finger"})
    r.tap(3)
    assert screen(r).lines[0] == "指で打刻してください" and r.journal.next_seq == 1
    admin = _admin(r)
    r.tap(card=admin)  # the admin card still opens service mode
    assert r.terminal.state == "service"


def test_8_a_kind_key_between_card_and_finger_counts():
    r = rig(values={"identify_mode": "card_then_finger"})
    r.tap(2)
    r.key("break_start")
    assert screen(r).lines == ("社員2", "指を置いてください", "休憩開始")
    assert r.terminal.state == "identifying"
    r.now += 9000
    r.finger("match", 2)
    assert [p.kind for p in stored(r)] == [KIND_BREAK_START]
    assert screen(r).lines[1].startswith("休憩開始")


def test_9_the_idle_screen_shows_the_kind_a_tap_takes_and_the_current_minute():
    r = rig()
    r.key("out")
    assert screen(r).lines[0] == "07:00 退勤"
    r.run_until(r.now + 40 * 1000)  # the key's hold is over: the schedule's kind again
    assert screen(r).lines[0] == "07:00 出勤"
    start = r.service_time()
    r.store.windows.append({"start": start, "end": start + 3600, "notice": ""})
    r.now += 300 * 1000
    r.settle()  # the heartbeat learns of the window: no exchange until it ends
    assert r.terminal.mode == "maintenance"
    r.run_until(r.now + 23 * 60 * 1000, step_ms=5000)
    assert screen(r).lines[0] == "07:28 出勤"


def test_10_service_mode_is_reachable_when_the_journal_is_full():
    r = rig(journal_sectors=2)
    admin = _admin(r)
    r.network = False
    _fill(r)
    r.tap(1)
    assert r.terminal.state == "journal_full"
    r.tap(card=admin)
    assert r.terminal.state == "service"
    r.key("cancel")
    assert r.terminal.state == "journal_full" and screen(r).lines[0] == "未送信データが満杯"
    _pin(r, "4321")
    assert r.terminal.state == "service"
    r.run_until(r.now + 61 * 1000)  # service mode times out: back to "full", not "ready"
    assert r.terminal.state == "journal_full"


def test_11_the_double_punch_window_holds_across_a_reboot():
    r = rig()
    r.tap(1)
    r.now += 5000
    r.power_on()  # rebooted 5 s later (a power blip)
    r.settle()
    r.tap(1)
    assert screen(r).lines[1] == "打刻済みです" and r.journal.next_seq == 2
    r.now += 60 * 1000
    r.tap(1)  # outside the window: recorded
    assert r.journal.next_seq == 3
    r.settle()
    assert sorted(r.store.held(TENANT, TERMINAL)) == [1, 2]


def _wrong_pins(r):
    return [e["text"] for e in r.log.events(0, 500) if e["text"].startswith("wrong PIN")]


def test_12_wrong_pins_are_logged_and_lock_service_entry_for_a_growing_time():
    r = rig()
    _admin(r)
    for pin in ("0000", "1111", "2222"):
        _pin(r, pin)
        assert screen(r).lines[0] == "暗証番号が違います"
        r.run_until(r.now + 3000)
    wrong = _wrong_pins(r)
    assert len(wrong) == 3 and wrong[-1].endswith("locked 30 s")
    _pin(r, "4321")  # the right PIN, but locked
    assert r.terminal.state != "service" and screen(r).lines[0] == "しばらくお待ちください"
    r.run_until(r.now + 30 * 1000)
    _pin(r, "5555")  # one more wrong: locked twice as long
    assert _wrong_pins(r)[-1] == "wrong PIN 4 in a row; locked 60 s"
    r.run_until(r.now + 59 * 1000)
    _pin(r, "4321")
    assert r.terminal.state != "service"
    r.run_until(r.now + 60 * 1000)
    _pin(r, "4321")
    assert r.terminal.state == "service"
    assert r.tap(card=_admin(r)) and r.terminal.state in ("ready", "clock_invalid")


def test_14_a_set_aside_punch_is_kept_whole_in_the_event_log():
    """PRT-CLI-7, PRT-CLI-11: the log is where a poison punch's content lives on. The reason went
    first and cut the JSON at 106 bytes; now the reason has a record, the punch its own."""
    from protocol_support import PickyServer

    r = rig(rtc=None)
    r.service = PickyServer(r.store, 1).handle
    r.network = False
    r.power_on()
    r.tap(card=Card(bytes(range(1, 13))))
    whole = messages.encode_punch(r.journal.read(1))
    r.network = True
    r.uplink.client.link_up(r.now)
    r.run_until(r.now + 60000)
    assert r.journal.unsent_count == 0
    aside = [e["text"] for e in r.log.events(0, 100) if e["code"] == eventlog.PUNCH_SET_ASIDE]
    assert aside[0] == "seq 1 set aside: [res=1] punches[0].cred: refused"
    assert "".join(aside[1:]) == whole


def test_5_a_slot_freed_by_the_upload_just_before_a_tap_takes_that_tap():
    """The board's loop runs input first, then timers, then the network: a slot the upload
    freed at the end of one turn must take the tap that starts the next, before any tick."""
    r = rig(journal_sectors=2)
    r.network = False
    _fill(r)
    r.tap(1)
    assert r.terminal.state == "journal_full"
    r.network = True
    r.uplink.client.link_up(r.now)
    r.now += 5000
    r.settle()  # uploads free slots; no tick after them
    assert r.journal.free_slots() > 0 and r.terminal.state == "journal_full"
    r.tap(2)
    assert screen(r).lines[0] == "社員2" and r.terminal.state == "feedback"


def test_12_a_reboot_does_not_reset_the_wrong_pin_count():
    r = rig()
    _admin(r)
    for pin in ("0000", "1111", "2222", "3333"):
        _pin(r, pin)
        r.run_until(r.now + 61 * 1000)
    r.power_on()  # the attacker power-cycles the terminal
    r.settle()
    _pin(r, "4321")
    assert r.terminal.state != "service" and screen(r).lines[0] == "しばらくお待ちください"
    assert screen(r).lines[1] == "60 s"  # four in a row: a new lock of 60 s from boot
    _pin(r, "9999")
    assert _wrong_pins(r)[-1] == "wrong PIN 4 in a row; locked 60 s"  # locked: not even tried
    r.run_until(r.now + 61 * 1000)
    _pin(r, "4321")
    assert r.terminal.state == "service"


def test_11_booted_without_a_clock_the_window_holds_once_the_service_sets_it():
    r = rig()
    r.tap(1)
    r.now += 5000
    r.rtc = None  # rebooted with a dead RTC battery: the age of punch 1 is unknown at boot
    r.power_on()
    assert r.terminal.state == "clock_invalid"
    r.settle()  # hello sets the clock: punch 1 was 5 s ago
    assert r.clock.valid
    r.tap(1)
    assert screen(r).lines[1] == "打刻済みです" and r.journal.next_seq == 2
