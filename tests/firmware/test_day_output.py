"""The door day's timeline explains itself: a note where it shows a sample, the double tap behind
"taps 202, recorded 201", event codes with their names, English beside the Japanese display."""

import re
from pathlib import Path

from firmware import eventlog, texts
from simulator.door import day, english, event_names


def test_the_timeline_explains_itself():
    lines = []
    ok, _out, rig = day(printer=lines.append)
    text = "\n".join(line[7:] for line in lines)  # without the HH:MM
    assert ok
    assert "taps shown: a sample" in text
    recorded = rig.journal.next_seq - 1
    assert f"taps 202, recorded {recorded}" in text and recorded == 201
    assert "202 taps = 50 people x 4 punches" in text
    assert "1 double tap: within 60 s of the same person's punch, answered 打刻済みです" in text
    # every event code counted is given its name, from firmware/eventlog.py
    legend = text.split("event log, as code name ×count", 1)[1]
    counted = re.findall(r"(\d+) ([a-z ]+) ×(\d+)", legend)
    names = event_names()
    assert counted and all(names[int(code)] == name for code, name, _n in counted)
    logged = {e["code"] for e in rig.log.events(0, 1000)}
    assert {int(code) for code, _name, _n in counted} == logged
    # each tap line in Japanese has its English beside it, with no Japanese left in it
    taps = [line for line in text.splitlines() if line.startswith("tap: ")]
    assert taps
    for line in taps:
        shown, translated = re.fullmatch(r"tap: (.*)   \((.*)\)", line).groups()
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", shown), line
        assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", translated), line


def test_english_knows_every_message_and_kind_of_the_catalogue():
    for key, (ja, en) in texts.CATALOGUE.items():
        assert english([ja.replace("%s", "12:45").replace("%d", "3")]) == [
            en.replace("%s", "12:45").replace("%d", "3")
        ], key
    for i, ja in enumerate(texts.KINDS["ja"]):
        assert english([ja + " 08:00"]) == [texts.KINDS["en"][i] + " 08:00"]
    assert english(["山田 太郎"]) == ["山田 太郎"]  # a name is left as it is


def test_every_event_code_has_its_name_and_nothing_else_does():
    source = Path(eventlog.__file__).read_text("utf-8").split("# Event codes", 1)[1]
    declared = {
        int(code): name.lower().replace("_", " ")
        for name, code in re.findall(r"^([A-Z_]+) = const\((\d+)\)", source, re.M)
    }
    assert declared and event_names() == declared


def test_the_protocol_demonstration_names_the_answer_codes_it_shows(capsys):
    from dakoku.sim import demo_protocol

    assert demo_protocol() == 0
    out = capsys.readouterr().out
    assert "[res=8] planned upgrade" in out
    assert "([res=8]: the receiver answered code 8, service under maintenance" in out
