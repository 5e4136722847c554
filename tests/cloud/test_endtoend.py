"""The firmware's door day against the receiver over real HTTP (what ``make sim`` shows)."""

import csv
import io

from simulator.cloud.endtoend import cloud_day


def test_a_day_over_http_every_punch_once_and_the_csv(tmp_path):
    result = cloud_day(people=20, printer=lambda line: None, db_path=str(tmp_path / "day.db"))
    assert result.ok
    recorded = result.rig.journal.next_seq - 1
    lines = result.csv.splitlines()
    assert len(lines) == 1 + recorded  # one CSV line per punch held
    assert result.rig.journal.unsent_count == 0
    offline = [line for line in lines[1:] if ",yes," in line]
    assert offline, "the maintenance window and outage left no offline punch"
    assert any(",person not registered," in line for line in lines)  # the unknown card
    # No time is suspect: the terminal was registered when the day began (not flagged 23/24).
    codes = {row["code"] for row in csv.DictReader(io.StringIO(result.csv))}
    assert codes == {"0", "7"}, codes
    assert result.requests > 20  # it really went over the wire
