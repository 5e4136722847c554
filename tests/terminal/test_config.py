"""Terminal configuration: checks, two flash copies, power cuts and corruption at every step."""

from firmware.config import KEYS, Config, ConfigError, check, defaults
from simulator.norflash import PowerCut, SimulatedNorFlash

MICROPYTHON_HEAPSIZE = "512K"  # see test_journal.py


def flash():
    return SimulatedNorFlash(sector_size=1024, sector_count=2, page_size=256)


def test_blank_flash_gives_the_documented_defaults():
    c = Config(flash())
    assert c.load() == "defaults" and c.values == defaults() and c.problems == []
    assert c["double_punch_s"] == 60 and c["language"] == "ja" and c["offline_punching"] is True


def test_apply_saves_and_a_reload_finds_it():
    f = flash()
    c = Config(f)
    c.load()
    assert c.apply(3, {"double_punch_s": 90, "language": "en"}) is None
    assert c.apply(4, {"unknown_card": "refuse"}) is None
    d = Config(f)
    d.load()
    assert d.version == 4 and d["double_punch_s"] == 90 and d["unknown_card"] == "refuse"
    assert d.generation == 2


def test_an_invalid_value_is_refused_naming_the_key_and_nothing_changes():
    c = Config(flash())
    c.load()
    before = dict(c.values)
    cases = [
        ({"double_punch_s": -1}, "double_punch_s"),
        ({"double_punch_s": "60"}, "double_punch_s"),
        ({"offline_punching": 1}, "offline_punching"),
        ({"language": "fr"}, "language"),
        ({"utc_offset_min": 545}, "utc_offset_min"),
        ({"service_pin": "12a4"}, "service_pin"),
        ({"kind_schedule": [[25, 0, 1]]}, "kind_schedule"),
        ({"kind_schedule": [[8, 0]]}, "kind_schedule"),
        ({"admin_cards": ["XYZ"]}, "admin_cards"),
        ({"no_such_key": 1}, "no_such_key"),
        ({"double_punch_s": 30, "feedback_ms": 5}, "feedback_ms"),  # all or nothing
    ]
    for values, key in cases:
        reason = c.apply(9, values)
        assert reason is not None and reason.startswith(key + ":"), (values, reason)
        assert c.values == before and c.version == 0
    assert c.generation == 0  # nothing was written


def test_every_default_passes_its_own_check():
    for key in KEYS:
        check(key, KEYS[key][1])
    try:
        check("feedback_ms", 10**6)
    except ConfigError as e:
        assert "300..10000" in str(e)
    else:
        raise AssertionError("out of range accepted")


def test_power_cut_at_every_step_of_a_save_keeps_the_old_or_the_new():
    step = 1
    while True:
        f = flash()
        c = Config(f)
        c.load()
        assert c.apply(1, {"double_punch_s": 10}) is None
        assert c.apply(2, {"double_punch_s": 20}) is None
        f.cut_at(step)
        try:
            c.apply(3, {"double_punch_s": 30})
            finished = True
        except PowerCut:
            finished = False
        f.disarm()
        f.power_on()
        d = Config(f)
        d.load()
        if finished:
            assert (d.version, d["double_punch_s"]) == (3, 30)
            break
        assert (d.version, d["double_punch_s"]) in ((2, 20), (3, 30)), step
        step += 1
    assert step > 3  # the save has several steps, each was cut


def test_a_corrupt_copy_falls_back_to_the_other():
    f = flash()
    c = Config(f)
    c.load()
    c.apply(1, {"double_punch_s": 10})
    c.apply(2, {"double_punch_s": 20})  # newest in copy B (sector 1)
    f.decay(3, 1024 + 16, 1024 + 40)  # flip bits in copy B's payload
    d = Config(f)
    assert d.load() == "A" and d.version == 1 and d["double_punch_s"] == 10
    assert d.problems and "copy B" in d.problems[0]
    assert d.apply(3, {"double_punch_s": 30}) is None  # the next save overwrites copy B
    e = Config(f)
    assert e.load() == "B" and e["double_punch_s"] == 30


def test_both_copies_corrupt_or_foreign_give_defaults_and_say_why():
    f = flash()
    f.program(0, b"JUNKJUNKJUNKJUNK")
    f.program(1024, b"DKCF\x01\xff\x05\x00" + b"\x01\x00\x00\x00" * 2 + b"{bad}" + b"\x00" * 4)
    c = Config(f)
    assert c.load() == "defaults" and c.values == defaults()
    assert len(c.problems) == 2


def test_a_stored_value_that_no_longer_checks_gets_its_default():
    f = flash()
    c = Config(f)
    c.load()
    c.values["double_punch_s"] = 99999  # as if written by another firmware
    c.values["retired_key"] = 1
    c.save()
    d = Config(f)
    d.load()
    assert d["double_punch_s"] == 60 and "retired_key" not in d.values
    assert len(d.problems) == 2 and "double_punch_s" in d.problems[0] + d.problems[1]
