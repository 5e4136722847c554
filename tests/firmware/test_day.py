"""The 50-person day of `make sim` (simulator/door.py): every punch delivered exactly once."""

from dakoku.bench_firmware import _flash_per_tap, _prepare, _tap_fuel

from simulator.door import day


def test_the_day_delivers_every_punch_once_and_shows_maintenance_and_outage():
    lines = []
    ok, out, rig = day(printer=lines.append)
    assert ok and out == lines
    text = "\n".join(lines)
    assert "mode online -> maintenance" in text and "mode maintenance -> online" in text
    assert "mode online -> offline" in text and "mode offline -> online" in text
    assert "打刻済みです" in text and "未登録カード(記録)" in text
    assert rig.journal.unsent_count == 0 and rig.held() == list(range(1, rig.journal.next_seq))


def test_firmware_bench_pieces_run_and_count(tmp_path):
    figures = _flash_per_tap()
    assert figures["taps_counted"] == 202 and figures["day_every_punch_delivered_cpython"]
    assert figures["flash_programs_per_tap"] > 0
    _prepare(tmp_path, employees=10, punches=0, journal_sectors=16)
    assert _tap_fuel(tmp_path, 16, 16, "1M") > 0
