"""Power cut at every program and erase step of a roster update."""

from test_roster import card, flash, item, page

from firmware.roster import Roster
from simulator.norflash import PowerCut

# A logic sweep: automatic GC off on a large heap, as for the journal's sweep (a collection
# under this garbage load corrupts the WASI interpreter's heap).
MICROPYTHON_HEAPSIZE = "48M"


def test_power_cut_at_every_step_of_an_update_keeps_the_old_or_the_new():
    import gc

    gc.disable()
    step = 1
    while True:
        f = flash()
        r = Roster.mount(f)
        r.apply_page(page([item(i) for i in range(1, 8)], 1))
        f.cut_at(step)
        try:
            r.apply_page(page([item(3, name="新")], 2, full=False, delete=["E0005"]))
            finished = True
        except PowerCut:
            finished = False
        f.disarm()
        f.power_on()
        after = Roster.mount(f)
        name = after.lookup_card(card(3)).name
        if after.version == 1:
            assert not finished and name == "社員 3" and after.lookup_card(card(5)) is not None
        else:
            assert after.version == 2 and name == "新" and after.lookup_card(card(5)) is None
        if finished:
            break
        step += 1
    assert step > 5
    gc.enable()
