"""Power-cut sweep of the journal (MicroPython-compatible; used by tests and the benchmark).

A scripted workload — appends, partial and full delivery marks, single marks, background
prepares, several wraps of the ring, reaching FULL and recovering — runs once without faults to
count its flash steps (programs and erases). Then, for every step in turn, it runs again on a
fresh flash with the power cut during that step, the journal is remounted, and the result is
checked against a model of what the workload was told:

- every append that returned is present exactly once with the same content (unsent), or was
  acknowledged (then it may be unsent again: a delivered mark may be lost in a cut);
- nothing that was never appended appears (the append in progress at the cut may appear, once);
- no punch is marked delivered that was not acknowledged;
- the journal accepts appends again (after draining), with a sequence number never used before.
"""

from firmware.journal import FULL, Journal
from firmware.punch import Punch
from simulator.norflash import PowerCut, SimulatedNorFlash


def make_punch(i):
    return Punch(
        1700000000 + i * 7,
        kind=i % 5,
        method=1 + i % 2,
        credential=bytes(((i * 37 + k) & 0xFF) for k in range(8)),
        clock_synced=i % 11 != 0,
        utc_offset_min=540,
        boot_id=(i // 50) & 0xFFFF,
        flags=i & 1,
    )


class Model:
    """What the workload was told by the journal."""

    def __init__(self):
        self.appended = {}  # seq -> key of the punch (without seq)
        self.acked_up_to = 0  # every seq <= this was acknowledged (mark requested)
        self.acked = set()  # single acknowledgements
        self.inflight = None  # key of the append in progress, if any
        self.next_index = 0

    def is_acked(self, seq):
        return seq <= self.acked_up_to or seq in self.acked


def content(punch):
    key = punch.key()
    return key[1:]  # without the sequence number


class Workload:
    """The script; ``run`` raises PowerCut out of the journal when the flash cuts."""

    def __init__(self, rounds=12, burst=17):
        self.rounds = rounds
        self.burst = burst

    def append(self, journal, model):
        punch = make_punch(model.next_index)
        model.next_index += 1
        model.inflight = content(punch)
        seq = journal.append(punch)
        model.inflight = None
        if seq != FULL:
            model.appended[seq] = content(punch)
        return seq

    def mark_up_to(self, journal, model, seq):
        if seq > model.acked_up_to:
            model.acked_up_to = seq
        journal.mark_delivered_up_to(seq)

    def mark_one(self, journal, model, seq):
        model.acked.add(seq)
        journal.mark_delivered(seq)

    def run(self, flash, model):
        journal = Journal.mount(flash)
        for r in range(self.rounds):
            for _ in range(self.burst + (r % 4) * 3):
                if self.append(journal, model) == FULL:
                    break
            if r % 3 == 0:
                journal.prepare()
            oldest = journal.oldest_unsent_seq()
            if oldest:
                self.mark_up_to(journal, model, oldest + 5 + r % 7)
            later = journal.next_seq - 3
            if later > 0 and r % 2 == 1:
                self.mark_one(journal, model, later)
            if r % 5 == 4:
                # Reach FULL (an outage), then recover (the uplink drains everything).
                for _ in range(
                    journal.capacity + journal.slots
                ):  # bounded even if FULL never comes
                    if self.append(journal, model) == FULL:
                        break
                self.mark_up_to(journal, model, journal.next_seq - 1)
        return journal


class SweepResult:
    def __init__(self):
        self.cut_points = 0
        self.total_steps = 0
        self.lost = 0
        self.duplicated = 0
        self.corrupt_accepted = 0
        self.wrong_delivered = 0
        self.refused_append = 0
        self.failures = []  # (cut point, message), first few only

    def fail(self, point, message):
        if len(self.failures) < 5:
            self.failures.append((point, message))

    def ok(self):
        return not (
            self.lost
            or self.duplicated
            or self.corrupt_accepted
            or self.wrong_delivered
            or self.refused_append
        )


def count_steps(workload, sector_size, sector_count):
    flash = SimulatedNorFlash(sector_size=sector_size, sector_count=sector_count)
    workload.run(flash, Model())
    return flash.programs + flash.erases


def check_after_cut(flash, model, result, point):
    """Remount and check the invariants; returns the mounted journal."""
    flash.power_on()
    journal = Journal.mount(flash)
    seen = {}
    inflight_seen = 0
    for punch in journal.unsent():
        if punch.seq in seen:
            result.duplicated += 1
            result.fail(point, "seq %d yielded twice" % punch.seq)
            continue
        seen[punch.seq] = True
        expected = model.appended.get(punch.seq)
        if expected is None:
            if model.inflight is not None and content(punch) == model.inflight:
                inflight_seen += 1
                if inflight_seen > 1:
                    result.duplicated += 1
                continue
            result.duplicated += 1
            result.fail(point, "seq %d was never appended" % punch.seq)
        elif content(punch) != expected:
            result.corrupt_accepted += 1
            result.fail(point, "seq %d content differs" % punch.seq)
    for seq in model.appended:
        if seq in seen:
            continue
        if not model.is_acked(seq):
            result.lost += 1
            result.fail(point, "seq %d unsent and unacknowledged, but missing" % seq)
    for seq in seen:
        if journal.is_delivered(seq):
            result.wrong_delivered += 1
    for seq in model.appended:
        if seq not in seen and not model.is_acked(seq) and journal.is_delivered(seq):
            result.wrong_delivered += 1
            result.fail(point, "seq %d marked delivered without an acknowledgement" % seq)
    return journal


def check_accepts_appends(journal, model, result, point):
    """Drain (as the uplink would) and append: a fresh, never used sequence number."""
    journal.mark_delivered_up_to(journal.next_seq - 1)
    seq = journal.append(make_punch(10**6))
    highest = max(model.appended) if model.appended else 0
    if seq == FULL or seq <= highest:
        result.refused_append += 1
        result.fail(point, "append after recovery returned %d (highest used %d)" % (seq, highest))


def sweep(workload, sector_size=512, sector_count=4, every=1, seed=1, limit=None):
    """Cut at step 1, 1+every, 1+2*every, … of the workload; returns a SweepResult."""
    result = SweepResult()
    total = count_steps(workload, sector_size, sector_count)
    point = 1
    while point <= total and (limit is None or result.cut_points < limit):
        flash = SimulatedNorFlash(
            sector_size=sector_size, sector_count=sector_count, seed=seed + point
        )
        model = Model()
        flash.cut_at(point)
        try:
            workload.run(flash, model)
            result.fail(point, "the workload finished without reaching its cut")
        except PowerCut:
            pass
        journal = check_after_cut(flash, model, result, point)
        check_accepts_appends(journal, model, result, point)
        result.cut_points += 1
        point += every
    result.total_steps = total
    return result
