"""The terminal at the door (firmware/terminal.py) through the desktop rig (simulator/door.py)."""

from firmware import eventlog
from firmware.punch import (
    FLAG_OFFLINE,
    FLAG_UNKNOWN_CREDENTIAL,
    KIND_BREAK_START,
    KIND_CLOCK_IN,
    KIND_CLOCK_OUT,
    KIND_UNSPECIFIED,
    METHOD_CARD_AND_FINGER,
    METHOD_FINGER,
)
from firmware.terminal import Card
from simulator.door import EPOCH, TENANT, TERMINAL, Rig, card_of
from simulator.norflash import PowerCut

# The rig holds four simulated partitions. At 4M the four-hour schedule test trapped once the
# collector ran (the WASI build's defect, tests/tools/test_interpreter_issues.py); 32M gives
# these tests room, so the collector seldom runs.
MICROPYTHON_HEAPSIZE = "32M"


def rig(**kw):
    kw.setdefault("sector_size", 1024)
    r = Rig(**kw)
    r.settle()  # hello, roster
    return r


def screen(r):
    return r.last_screen()


def stored(r):
    return [p for p in r.journal.unsent()] + [
        r.journal.read(s) for s in range(1, r.journal.next_seq) if r.journal.is_delivered(s)
    ]


def codes(r):
    return [e["code"] for e in r.log.events(0, 500)]


def test_boot_without_the_service_then_a_known_card_is_recorded_offline():
    """MNT-06: the terminal boots and punches with no service at all."""
    r = rig()  # the roster was fetched once, some day before
    r.network = False
    r.power_on()
    r.settle()
    assert r.terminal.state == "ready" and r.terminal.mode == "offline"
    r.tap(1)
    assert r.terminal.state == "feedback"
    s = screen(r)
    assert s.style == "offline" and s.lines == ("社員1", "出勤 07:00", "オフライン保存")
    assert r.journal.unsent_count == 1
    punch = next(iter(r.journal.unsent()))
    assert punch.flags & FLAG_OFFLINE and punch.credential == card_of(1)


def test_online_tap_shows_name_kind_time_and_overtime_line_then_uploads():
    r = rig()
    r.run_until(3600 * 1000)  # 08:00
    actions = r.tap(2)
    s = screen(r)
    assert s.style == "ok" and s.lines[0] == "社員2"
    assert s.lines[1] == "出勤 08:00" and s.lines[2] == "残業残り 38 h"
    assert [a.pattern for a in actions if hasattr(a, "pattern")][:1] == ["ok"]
    r.settle()
    assert r.journal.unsent_count == 0
    assert sorted(r.store.held(TENANT, TERMINAL)) == [1]
    r.run_until(r.now + 3000)
    assert r.terminal.state == "ready"


def test_ok_comes_only_after_the_journal_append():
    r = rig()
    before = r.journal_flash.programs
    r.tap(1)
    assert r.journal_flash.programs - before >= 1  # the record is on flash before OK is shown
    assert r.journal_flash.programs - before <= 2
    assert r.terminal.last_seq == 1


def test_the_same_person_again_within_the_window_gets_already_recorded():
    r = rig()
    r.tap(1)
    r.now += 30 * 1000
    r.tap(1)
    assert screen(r).lines[1] == "打刻済みです" and r.journal.next_seq == 2
    r.now += 31 * 1000
    r.tap(1)
    assert r.journal.next_seq == 3


def test_a_busy_minute_is_remembered_whole_and_the_memory_stays_small():
    """Everyone inside the double-punch window is remembered, however many; people outside it
    are forgotten, so the terminal's RAM does not grow with the day's headcount."""
    r = rig(employees=30)
    for i in range(1, 21):  # 20 people within 40 s
        r.tap(i)
        r.now += 2000
    r.tap(1)  # the first of them, 40 s later: still inside the 60 s window
    assert screen(r).lines[1] == "打刻済みです" and r.journal.next_seq == 21
    r.now += 61000
    for i in range(21, 31):  # ten more, a minute later
        r.tap(i)
        r.now += 5000
    assert len(r.terminal._recent) <= 12  # the earlier twenty were forgotten
    r.tap(25)  # still remembered: 25 s ago
    assert screen(r).lines[1] == "打刻済みです" and r.journal.next_seq == 31


def test_english_by_configuration_and_per_employee():
    r = rig(values={"language": "en"})
    r.tap(1)
    assert screen(r).lines[1] == "Clock in 07:00"
    r2 = rig()
    r2.tap(9)  # employee 9 has lang "en" on the roster
    assert screen(r2).lines == ("社員9", "Clock in 07:00", "残業残り 31 h")
    r2.now += 61000
    r2.tap(1)
    assert screen(r2).lines[1] == "出勤 07:01"


def test_unknown_card_recorded_for_the_admin_or_refused_by_configuration():
    r = rig()
    r.tap(card=Card(bytes(8)))
    assert screen(r).lines[0] == "未登録カード(記録)"
    p = next(iter(r.journal.unsent())) if r.journal.unsent_count else r.journal.read(1)
    assert p.flags & FLAG_UNKNOWN_CREDENTIAL
    r.settle()
    assert r.store.held(TENANT, TERMINAL)[1][1] == 7  # the receiver flags it, res=7
    r = rig(values={"unknown_card": "refuse"})
    r.tap(card=Card(bytes(8)))
    assert screen(r).style == "error" and screen(r).lines[0] == "未登録のカードです"
    assert r.journal.next_seq == 1 and eventlog.UNKNOWN_CARD in codes(r)


def test_bad_reads_each_have_their_own_message_and_nothing_is_recorded():
    r = rig()
    for card, message in (
        (Card(card_of(1), count=2), "カードは1枚ずつ"),
        (Card(card_of(1), stable=False), "このカードは使えません"),
        (Card(b"", readable=False), "もう一度タッチ"),
    ):
        r.tap(card=card)
        assert screen(r).style == "error" and screen(r).lines[0] == message
        r.run_until(r.now + 2500)
        assert r.terminal.state == "ready"  # never stuck
    assert r.journal.next_seq == 1


def test_always_online_refuses_when_the_service_cannot_be_reached():
    """MNT-07"""
    r = rig(values={"offline_punching": False})
    r.network = False
    r.store.windows.append({"start": 0, "end": 1 << 31, "notice": ""})
    r.run_until(400 * 1000)  # the heartbeat fails: offline
    assert r.terminal.mode == "offline"
    r.tap(1)
    assert screen(r).lines[0] == "サーバーに接続できません" and r.journal.next_seq == 1


def test_old_firmware_may_not_punch_offline():
    """MNT-08"""
    r = rig()
    r.store.min_offline_fw = "9.0"
    r.uplink.client.link_up(r.now)
    r.run_until(r.now + 10000)
    r.network = False
    r.run_until(r.now + 400 * 1000)
    r.tap(1)
    assert screen(r).lines[0] == "更新が必要です" and r.journal.next_seq == 1
    r.network = True
    r.run_until(r.now + 400 * 1000)
    assert r.terminal.mode == "online"
    r.tap(1)
    assert r.journal.next_seq == 2  # online it punches


def test_maintenance_keeps_punching_and_shows_the_notice_and_end():
    """MNT-04, MNT-05"""
    r = rig()
    start = r.service_time()
    r.store.windows.append({"start": start, "end": start + 1800, "notice": "upgrade"})
    r.run_until(r.now + 301 * 1000)
    assert r.terminal.mode == "maintenance"
    r.run_until(r.now + 3000)
    assert "メンテナンス中" in screen(r).lines[2] and "終了予定" in screen(r).lines[2]
    r.tap(1)
    assert screen(r).style == "offline" and r.journal.unsent_count == 1
    admin = card_of(99)
    r.config.apply(2, {"admin_cards": [admin.hex()]})
    r.tap(card=Card(admin))
    assert r.terminal.state == "service"
    r.tap(card=Card(card_of(5)))
    assert screen(r).lines[0] == "登録はオンライン時のみ"
    r.run_until(r.now + 1900 * 1000)
    assert r.terminal.mode == "online" and r.journal.unsent_count == 0
    assert eventlog.MAINTENANCE_START in codes(r) and eventlog.MAINTENANCE_END in codes(r)


def test_journal_full_refuses_with_its_message_and_recovers_after_upload():
    r = rig(journal_sectors=2)  # 2 x 29 slots
    r.network = False
    n = 0
    while r.terminal.state != "journal_full" and n < 100:
        r.now += 61 * 1000
        r.tap(n % 10)
        r.run_until(r.now + 2500)
        n += 1
    assert r.terminal.state == "journal_full" and screen(r).lines[0] == "未送信データが満杯"
    r.now += 61 * 1000
    r.tap(3)
    assert screen(r).lines[0] == "未送信データが満杯"
    assert eventlog.JOURNAL_NEARLY_FULL in codes(r) and eventlog.JOURNAL_FULL in codes(r)
    ready = [s.lines[2] for _, s in r.screens if s.style == "ready"]
    assert any("未送信データ残りわずか" in line for line in ready)
    r.network = True
    r.uplink.client.link_up(r.now)
    r.run_until(r.now + 600 * 1000)
    assert r.terminal.state == "ready" and r.journal.unsent_count == 0


def test_reader_fault_and_recovery():
    r = rig()
    r._out(r.terminal.reader_fault(r.now, "no answer to GetFirmwareVersion"))
    assert r.terminal.state == "reader_fault" and screen(r).lines[0] == "リーダー異常"
    r.tap(1)  # a tap while the reader is faulty changes nothing
    assert r.terminal.state == "reader_fault" and r.journal.next_seq == 1
    r._out(r.terminal.reader_ok(r.now))
    assert r.terminal.state == "ready"
    assert eventlog.READER_FAULT in codes(r) and eventlog.READER_RECOVERED in codes(r)


def test_invalid_clock_punches_unsynced_until_the_service_sets_it():
    r = rig(rtc=None)  # the roster was fetched once; then a reboot with a dead RTC battery
    r.network = False
    r.power_on()
    r.settle()
    assert r.terminal.state == "clock_invalid" and eventlog.CLOCK_INVALID in codes(r)
    r.tap(1)
    p = next(iter(r.journal.unsent()))
    assert not p.clock_synced and p.boot_id == r.boot_id
    r.run_until(r.now + 3000)
    r.network = True
    r.uplink.client.link_up(r.now)
    r.run_until(r.now + 20000)
    assert r.clock.valid and r.terminal.state == "ready"
    assert r.store.held(TENANT, TERMINAL)[1][1] == 21  # stored, placed later
    assert eventlog.CLOCK_SET in codes(r)


def test_kind_from_keys_or_the_schedule_or_unspecified():
    r = rig()
    r.run_until(3600 * 1000)  # 08:00: clock-in by schedule
    r.tap(1)
    r.run_until(r.now + 3000)
    r.key("out")
    r.tap(2)
    r.run_until((11 * 3600 - 7 * 3600 + 60) * 1000)  # 11:01: break start by schedule
    r.tap(3)
    kinds = [p.kind for p in stored(r)]
    assert sorted(kinds) == sorted([KIND_CLOCK_IN, KIND_CLOCK_OUT, KIND_BREAK_START])
    r2 = rig(values={"keys_present": False})
    r2.tap(1)
    assert stored(r2)[0].kind == KIND_UNSPECIFIED


def test_finger_one_to_n_with_prompts_and_retry_limit():
    r = rig(values={"identify_mode": "finger"})
    r.finger("poor")
    assert r.terminal.state == "identifying" and screen(r).lines[0] == "指を置き直してください"
    r.finger("no_finger")
    assert screen(r).lines[0] == "指が検出されません"
    r.finger("no_match")
    assert r.terminal.state == "feedback" and screen(r).lines[0] == "認証できませんでした"
    r.run_until(r.now + 3000)
    r.finger("match", 4)
    assert screen(r).lines[0] == "社員4"
    p = stored(r)[0]
    assert p.method == METHOD_FINGER and p.credential == bytes([0, 4])


def test_card_then_finger_needs_the_same_person():
    r = rig(values={"identify_mode": "card_then_finger"})
    r.tap(2)
    assert r.terminal.state == "identifying" and screen(r).lines[1] == "指を置いてください"
    r.finger("match", 3)  # someone else's finger
    assert r.terminal.state == "identifying"
    r.finger("match", 2)
    assert screen(r).lines[0] == "社員2"
    p = stored(r)[0]
    assert p.method == METHOD_CARD_AND_FINGER and p.credential == card_of(2)
    r.tap(5)
    r.run_until(r.now + 11000)  # no finger: back to ready
    assert r.terminal.state == "ready"


def test_service_mode_with_pin():
    r = rig(values={"service_pin": "4321"})
    r.key("service")
    assert r.terminal.state == "service_pin"
    for k in "4322":
        r.key(k)
    r.key("ok")
    assert screen(r).lines[0] == "暗証番号が違います"
    r.run_until(r.now + 3000)
    r.key("service")
    for k in "4321":
        r.key(k)
    r.key("ok")
    assert r.terminal.state == "service" and screen(r).lines[0].startswith("管理モード")
    r.key("cancel")
    assert r.terminal.state == "ready"
    r2 = rig()
    r2.key("service")  # no PIN configured: the key does nothing
    assert r2.terminal.state == "ready"


def test_a_set_aside_punch_is_kept_in_the_event_log():
    from protocol_support import PickyServer

    r = rig()
    r.service = PickyServer(r.store, 2).handle
    r.network = False
    for i in range(3):
        r.tap(i)
    r.network = True
    r.uplink.client.link_up(r.now)
    r.run_until(r.now + 60000)
    assert r.journal.unsent_count == 0
    assert sorted(r.store.held(TENANT, TERMINAL)) == [1, 3]
    aside = [e for e in r.log.events(0, 100) if e["code"] == eventlog.PUNCH_SET_ASIDE]
    assert len(aside) == 2 and aside[0]["text"].startswith("seq 2 set aside: ")
    assert aside[1]["text"].startswith('{"seq":2,')  # the punch whole, in its own record


def test_configuration_from_the_service_is_checked_and_applied():
    r = rig()
    r.store.config[(TENANT, TERMINAL)] = {"version": 5, "values": {"double_punch_s": 5}}
    r.uplink.client.link_up(r.now)
    r.run_until(r.now + 10000)
    assert r.config.version == 5 and r.config["double_punch_s"] == 5
    r.store.config[(TENANT, TERMINAL)] = {"version": 6, "values": {"double_punch_s": -5}}
    r.uplink.client.link_up(r.now)
    r.run_until(r.now + 10000)
    assert r.config.version == 5 and eventlog.CONFIG_REJECTED in codes(r)


def test_a_configuration_change_reaches_the_clock_and_the_journal():
    r = rig()
    values = {"utc_offset_min": 0, "clock_jump_log_s": 7, "nearly_full_percent": 50}
    r.store.config[(TENANT, TERMINAL)] = {"version": 5, "values": values}
    r.uplink.client.link_up(r.now)
    r.run_until(r.now + 10000)
    assert r.config.version == 5
    assert r.clock.utc_offset_min == 0 and r.clock.jump_log_s == 7
    assert r.journal.nearly_full_percent == 50
    r.now += 61000
    r.tap(1)
    # 07:01 in Japan is 22:01 UTC, when the default schedule says clock-out
    assert screen(r).lines[1] == "退勤 22:01"


def test_corrupt_configuration_falls_back_to_defaults_and_says_so():
    r = rig(values={"double_punch_s": 5})
    r.config_flash.decay(40, 0, 2 * 1024)
    r.power_on()
    assert r.terminal.state in ("ready", "clock_invalid")
    assert eventlog.CONFIG_FALLBACK in codes(r)


def test_power_cut_after_ok_loses_nothing():
    r = rig()
    r.network = False
    for i in range(5):
        r.tap(i)
    r.power_on()  # power cut and reboot: everything answered OK is still there
    assert r.journal.unsent_count == 5
    r.network = True
    r.uplink.client.link_up(r.now)
    r.run_until(r.now + 30000)
    assert sorted(r.store.held(TENANT, TERMINAL)) == [1, 2, 3, 4, 5]


def test_ntp_retries_at_1_3_5_10_30_60_minutes_then_hourly():
    r = rig(rtc=None)
    r.network = False
    r.power_on()
    r.run_until(r.now + 5 * 3600 * 1000, step_ms=10000)
    gaps = [(b - a) // 60000 for a, b in zip(r.ntp_requests, r.ntp_requests[1:])]
    assert gaps[:9] == [1, 3, 5, 10, 30, 60, 60, 60, 60], gaps
    failures = [e for e in r.log.events(0, 500) if e["code"] == eventlog.CLOCK_SYNC_FAILED]
    assert len(failures) == len(r.ntp_requests)
    r.network = True
    r.run_until(r.now + 3600 * 1000, step_ms=10000)
    assert r.clock.valid and r.clock.source in ("ntp", "service")


def test_a_clock_jump_above_the_threshold_is_logged():
    r = rig()
    r.terminal.set_clock(r.now, r.service_time() + 600, "ntp")
    r.terminal.set_clock(r.now, r.service_time() + 630, "ntp")  # +30 s: below 120 s
    jumps = [e for e in r.log.events(0, 500) if e["code"] == eventlog.CLOCK_JUMP]
    assert len(jumps) == 1 and "+600 s by ntp" in jumps[0]["text"]


def test_a_roster_update_is_background_work_and_never_delays_a_tap():
    """PRT-ROSTER-1: a page is applied a few records per turn, only while the terminal idles."""
    r = rig(employees=10)
    for i in range(10, 40):
        r.store.add_employee(TENANT, "E%04d" % i, "新人%d" % i, cards=[card_of(i)])
    r.now += 300 * 1000  # the heartbeat tells of roster version 40; the page comes next
    while not r.roster.busy:
        assert r.exchange(), "no roster page was fetched"
    r.tap(2)
    assert r.terminal.machine.state == "feedback" and "社員2" in screen(r).lines[0]
    assert not r.uplink.background(r.now)  # no roster work while a tap is answered
    sent = []
    service = r.service

    def recording(request, now):
        sent.append(request.split(b" ")[1])
        return service(request, now)

    r.service = recording
    while r.exchange():  # the punch is uploaded, no next page before this one is applied
        pass
    assert r.roster.busy and sent and not [t for t in sent if t.startswith(b"/v1/roster")]
    r.now += 5000
    r.tick()  # feedback ends; background work resumes
    r.settle()
    assert not r.roster.busy and r.roster.version == 40
    assert r.roster.lookup_card(card_of(39)).name == "新人39"


def test_a_roster_damaged_in_flash_is_reported_by_the_boot_self_test_and_fetched_again():
    r = rig(employees=5)
    assert r.roster.count == 5
    r.roster_flash.decay(3, 0, 31)  # bits of the active bank's header fall
    r.power_on()
    texts = [e["text"] for e in r.log.events(0, 500) if e["code"] == eventlog.SELF_TEST]
    assert texts and texts[-1].startswith("roster: bank 0")
    assert r.terminal.machine.state == "ready" and r.roster.count == 0
    r.tap(1)  # unknown until the roster is back: recorded for the administrator
    r.now += 5000
    r.tick()
    r.settle()  # hello, then the roster again
    assert r.roster.count == 5
    r.now += 120 * 1000
    r.tap(1)
    assert "社員1" in screen(r).lines[0]


def test_the_schedule_is_read_in_the_working_day_from_the_day_start_hour():
    """CLK-03: with the day starting at 05:00, 03:00 belongs to the previous day."""
    r = rig(rtc=EPOCH - 4 * 3600)  # 03:00: late in the previous working day
    r.tap(1)
    r.run_until(r.now + 150 * 60 * 1000)  # 05:30: a new working day
    r.tap(2)
    kinds = [p.kind for p in sorted(stored(r), key=lambda p: p.seq)]
    assert kinds == [KIND_CLOCK_OUT, KIND_CLOCK_IN]
    schedule = [[0, 0, 1], [15, 0, 2]]
    midnight = rig(rtc=EPOCH - 4 * 3600, values={"day_start_hour": 0, "kind_schedule": schedule})
    midnight.tap(1)  # with the day starting at 00:00, 03:00 is early: the 00:00 entry
    assert [p.kind for p in stored(midnight)] == [KIND_CLOCK_IN]


def test_a_roster_too_big_for_the_region_is_logged_once_and_not_fetched_again_and_again():
    """PRT-ROSTER-1: a roster the terminal cannot hold keeps the old one, without a fetch loop."""
    r = rig(employees=300, roster_sectors=6)  # banks of 3 KiB: too small for 300 people
    assert not r.settle(300), "the terminal kept fetching a roster it cannot hold"
    failed = [e for e in r.log.events(0, 500) if e["text"].startswith("roster not applied")]
    assert len(failed) == 1 and "full" in failed[0]["text"] and r.roster.version == 0
    r.tap(1)  # still punches: an unknown card, recorded for the administrator
    assert r.journal.next_seq == 2
    r.store.remove_employee(TENANT, "E0299")  # a new roster version: one more try
    r.now += 300 * 1000
    r.tick()  # the feedback of the tap ends
    assert not r.settle(300)
    failed = [e for e in r.log.events(0, 500) if e["text"].startswith("roster not applied")]
    assert len(failed) == 2


def test_the_boot_self_test_reports_a_torn_append_in_the_journal():
    r = rig()
    # The first tap prepares sector 0 (erase, header), then programs the record: cut there.
    r.journal_flash.cut_at(3)
    try:
        r.tap(1)
    except PowerCut:
        pass
    else:
        raise AssertionError("the cut did not happen")
    r.journal_flash.power_on()
    r.power_on()
    texts = [e["text"] for e in r.log.events(0, 500) if e["code"] == eventlog.SELF_TEST]
    assert texts and texts[-1].startswith("journal: 1 problems at mount")
    assert "torn_append" in texts[-1] and r.terminal.machine.state == "ready"


def _service_mode(r):
    admin = card_of(99)
    r.config.apply(2, {"admin_cards": [admin.hex()]})
    r.tap(card=Card(admin))
    assert r.terminal.state == "service"


def _type(r, text):
    for k in text:
        r.key(k)


def test_a_new_card_is_enrolled_online_and_punches_at_once():
    """MNT-05, PRT-ENROL-1, PRT-ENROL-2"""
    r = rig()
    new = card_of(500)
    r.tap(card=Card(new))
    assert screen(r).lines[0] == "未登録カード(記録)"  # not anybody's yet
    r.run_until(r.now + 5000)
    _service_mode(r)
    r.tap(card=Card(new))
    assert r.terminal.state == "enrol_code" and screen(r).lines[2] == "card " + new.hex()
    _type(r, "e0004")
    r.key("del")
    r.key("3")
    assert screen(r).lines[1] == "E0003_"
    r.key("ok")
    assert r.terminal.state == "enrolling" and screen(r).lines[0] == "登録中"
    r.settle()  # the enrolment goes out, then the roster that holds the card
    assert r.terminal.state == "service"
    assert list(screen(r).lines[:3]) == ["登録しました", "社員3", "E0003"]
    assert r.store.credentials[(TENANT, 1, new)] == "E0003"
    assert eventlog.ENROLMENT in codes(r)
    r.key("cancel")
    r.run_until(r.now + 2000)  # background: the new roster page is applied
    assert r.roster.lookup_card(new).code == "E0003"
    r.run_until(r.now + 70000)
    r.tap(card=Card(new))
    assert screen(r).lines[0] == "社員3"


def test_enrolment_refusals_each_have_their_message():
    """PRT-ENROL-3: unknown code, someone else's card; the terminal stays online."""
    r = rig()
    _service_mode(r)
    r.tap(card=Card(card_of(600)))
    _type(r, "X9")
    r.key("ok")
    r.settle()
    assert screen(r).lines[0] == "社員コードがありません" and r.terminal.mode == "online"
    r.tap(card=Card(card_of(2)))  # E0002's card
    _type(r, "E0001")
    r.key("ok")
    r.settle()
    assert screen(r).lines[0] == "他の人に登録済み" and r.terminal.state == "service"
    assert r.store.credentials[(TENANT, 1, card_of(2))] == "E0002"


def test_enrolment_needs_the_service_and_a_good_card():
    """MNT-05: offline or in maintenance the tap is refused and nothing is queued."""
    r = rig()
    _service_mode(r)
    r.tap(card=Card(card_of(700), count=2))
    assert screen(r).lines[0] == "カードは1枚ずつ" and r.terminal.state == "service"
    r.tap(card=Card(card_of(700), stable=False))
    assert screen(r).lines[0] == "このカードは使えません"
    r.network = False
    r.terminal.mode = "offline"
    r.tap(card=Card(card_of(700)))
    assert screen(r).lines[0] == "登録はオンライン時のみ" and r.terminal.enrol_request is None
    # Online when the code was typed, gone when it is sent: the failure is shown, not kept.
    r.terminal.mode = "online"
    r.tap(card=Card(card_of(700)))
    _type(r, "E0001")
    r.key("ok")
    r.settle()
    assert screen(r).lines[0] == "登録はオンライン時のみ" and not r.uplink.client.enrolling
    assert (TENANT, 1, card_of(700)) not in r.store.credentials


def test_a_finger_stored_by_the_module_is_enrolled():
    """BT style: the module stores the finger and reports its template ID."""
    r = rig()
    _service_mode(r)
    r.finger("enrol_failed")
    assert screen(r).lines[0] == "指の登録に失敗"
    r.finger("enrolled", 777)
    assert screen(r).lines[2] == "finger 777"
    _type(r, "E0004")
    r.key("ok")
    r.settle()
    assert screen(r).lines[0] == "登録しました"
    assert r.store.employees[(TENANT, "E0004")]["fingers"] == [4, 777]


def test_an_enrolment_the_terminal_gave_up_on_is_never_sent_late():
    """PRT-ENROL-4: the receiver unreachable for longer than the terminal waits."""
    r = rig()
    _service_mode(r)
    r.uplink.client._next_try = r.now + 120000  # the client sits out a back-off...
    r.uplink.client.maintenance = {"end": 0}  # ...that an enrolment may not cut short
    r.tap(card=Card(card_of(800)))
    _type(r, "E0001")
    r.key("ok")
    r.uplink.next_action(r.now)  # the request is handed to the client
    assert r.uplink.client.enrolling
    r.now += 36000
    r.tick()  # the terminal's wait (35 s) is over
    assert screen(r).lines[0] == "登録できませんでした" and r.terminal.state == "service"
    r.uplink.next_action(r.now)
    assert not r.uplink.client.enrolling
    r.uplink.client.maintenance = None
    r.run_until(r.now + 200000)
    assert (TENANT, 1, card_of(800)) not in r.store.credentials
