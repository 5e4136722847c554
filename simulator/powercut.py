"""Power-cut and flash-fault sweeps of the journal (MicroPython-compatible; tests and bench).

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

The same workload and checks run under every other fault class of docs/JOURNAL.md ("Fault
model"): two cuts in a row (the second during recovery), a program the chip ignores (at every
program), a byte that never programs, an erase that does nothing or leaves a mix (at every
erase), one decayed bit (at every bit of a small journal in several states) and a changed
partition geometry. The silent faults raise nothing, so the workload reboots (remounts) after
every round and the checks run at every reboot: a fault that only shows at the next mount is
caught there. ``run_class(name)`` runs one class; ``CLASSES`` names them.
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
        self.top = 0  # highest number an append returned
        self.reused = 0  # appends that returned a number handed out before
        self.spared = {}  # seq -> True: punches whose record took a decayed bit (may be lost)

    def is_acked(self, seq):
        return seq <= self.acked_up_to or seq in self.acked

    def highest(self):
        return self.top


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
            if seq <= model.top:
                model.reused += 1
            else:
                model.top = seq
            model.appended[seq] = content(punch)
        return seq

    def mark_up_to(self, journal, model, seq):
        if seq > model.acked_up_to:
            model.acked_up_to = seq
        journal.mark_delivered_up_to(seq)

    def mark_one(self, journal, model, seq):
        model.acked.add(seq)
        journal.mark_delivered(seq)

    def run(self, flash, model, reboot=None):
        """Run the script; with ``reboot(flash)`` the journal is remounted through it after
        every round (the silent-fault sweeps check the invariants there)."""
        journal = Journal.mount(flash)
        for r in range(self.rounds):
            if reboot is not None and r:
                journal = reboot(flash)
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
        self.reused = 0  # numbers handed out twice
        self.unmountable = 0  # mounts that raised although the journal was ours
        self.refused = 0  # changed geometries refused with a clear error, nothing written
        self.failures = []  # (cut point, message), first few only
        self.runs = 0
        self.failed_runs = 0
        self.faults_hit = 0  # runs whose silent fault was reached (a stuck byte that nothing
        # programs changes nothing)

    def fail(self, point, message):
        if len(self.failures) < 5:
            self.failures.append((point, message))

    def bad(self):
        return (
            self.lost
            + self.duplicated
            + self.corrupt_accepted
            + self.wrong_delivered
            + self.refused_append
            + self.reused
            + self.unmountable
        )

    def ok(self):
        return self.bad() == 0

    def counted(self, before):
        """Close one run: it failed if any failure counter moved since ``before``."""
        self.runs += 1
        if self.bad() != before:
            self.failed_runs += 1


def count_steps(workload, sector_size, sector_count):
    flash = SimulatedNorFlash(sector_size=sector_size, sector_count=sector_count)
    workload.run(flash, Model())
    return flash.programs + flash.erases


def check_after_cut(flash, model, result, point):
    """Remount and check the invariants; returns the mounted journal."""
    flash.power_on()
    journal = Journal.mount(flash)
    check_journal(journal, model, result, point)
    return journal


def check_journal(journal, model, result, point):
    """The invariants of a mounted journal against what the workload was told."""
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
        if not model.is_acked(seq) and seq not in model.spared:
            result.lost += 1
            result.fail(point, "seq %d unsent and unacknowledged, but missing" % seq)
    for seq in seen:
        if journal.is_delivered(seq):
            result.wrong_delivered += 1
    for seq in model.appended:
        if seq in seen or model.is_acked(seq) or seq in model.spared:
            continue
        if journal.is_delivered(seq):
            result.wrong_delivered += 1
            result.fail(point, "seq %d marked delivered without an acknowledgement" % seq)
    if model.reused:
        result.reused += model.reused
        result.fail(point, "%d numbers handed out twice" % model.reused)
        model.reused = 0


def check_accepts_appends(journal, model, result, point):
    """Drain (as the uplink would) and append: a fresh, never used sequence number."""
    journal.mark_delivered_up_to(journal.next_seq - 1)
    seq = journal.append(make_punch(10**6))
    highest = model.highest()
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
        before = result.bad()
        journal = check_after_cut(flash, model, result, point)
        check_accepts_appends(journal, model, result, point)
        result.counted(before)
        result.cut_points += 1
        point += every
    result.total_steps = total
    return result


# ---------------------------------------------------------------------------- fault classes
#
# Each ``sweep_*`` returns a SweepResult whose ``runs`` and ``failed_runs`` the benchmark
# reports per class; ``every`` thins a sweep (every n-th fault point) for the quick test runs.


def _small(sector_size, sector_count, seed=1):
    return SimulatedNorFlash(sector_size=sector_size, sector_count=sector_count, seed=seed)


def _mount_checked(flash, model, result, point):
    """Remount (a reboot), check, and hand back the journal the workload goes on with."""
    try:
        journal = Journal.mount(flash)
    except Exception as e:  # any refusal of our own journal is a failure
        result.unmountable += 1
        result.fail(point, "mount raised %r" % e)
        raise
    check_journal(journal, model, result, point)
    return journal


def count_ops(workload, sector_size, sector_count):
    """(programs, erases) of a fault-free run of ``workload`` rebooting after every round."""
    flash = _small(sector_size, sector_count)
    workload.run(flash, Model(), reboot=Journal.mount)
    return flash.programs, flash.erases


def _silent_run(flash, workload, result, point):
    """The workload under a silent fault, checked at every reboot and at the end."""
    model = Model()
    before = result.bad()
    try:
        workload.run(flash, model, lambda f: _mount_checked(f, model, result, point))
        flash.disarm()
        journal = _mount_checked(flash, model, result, point)
        check_accepts_appends(journal, model, result, point)
        result.faults_hit += 1 if flash.faults_hit else 0
    except Exception as e:  # counted as a failure of this run
        if result.bad() == before:
            result.unmountable += 1
            result.fail(point, "raised %r" % e)
    result.counted(before)


def sweep_ignored_program(workload, sector_size=512, sector_count=4, every=1):
    """One program the chip silently ignores, at every program of the workload."""
    result = SweepResult()
    programs, _ = count_ops(workload, sector_size, sector_count)
    for point in range(1, programs + 1, every):
        flash = _small(sector_size, sector_count, seed=point)
        flash.ignore_program_at(point)
        _silent_run(flash, workload, result, point)
    result.total_steps = programs
    return result


def sweep_stuck_byte(workload, sector_size=512, sector_count=4, every=1):
    """One byte that never programs, at every byte of the partition."""
    result = SweepResult()
    size = sector_size * sector_count
    for addr in range(0, size, every):
        flash = _small(sector_size, sector_count, seed=addr + 1)
        flash.stick(addr)
        _silent_run(flash, workload, result, addr)
    result.total_steps = size
    return result


def sweep_failed_erase(workload, partial, sector_size=512, sector_count=4, every=1):
    """One erase that does nothing (or, ``partial``, leaves a mix), at every erase."""
    result = SweepResult()
    _, erases = count_ops(workload, sector_size, sector_count)
    for point in range(1, erases + 1, every):
        flash = _small(sector_size, sector_count, seed=point)
        flash.fail_erase_at(point, partial)
        _silent_run(flash, workload, result, point)
    result.total_steps = erases
    return result


def _recovery(flash, model):
    """What a terminal does after a reboot: mount, read the backlog, drain it, punch."""
    journal = Journal.mount(flash)
    for _ in journal.unsent(8):
        pass
    top = journal.next_seq - 1
    if top > model.acked_up_to:
        model.acked_up_to = top
    journal.mark_delivered_up_to(top)
    Workload().append(journal, model)
    journal.prepare()


def sweep_two_cuts(workload, sector_size=512, sector_count=4, every=1, every_second=1):
    """A power cut at a step of the workload, then a second one at every step of the
    recovery that follows (mount, drain, one punch, prepare)."""
    result = SweepResult()
    total = count_steps(workload, sector_size, sector_count)
    for first in range(1, total + 1, every):
        second = 1
        while True:
            flash = _small(sector_size, sector_count, seed=first * 131 + second)
            model = Model()
            flash.cut_at(first)
            try:
                workload.run(flash, model)
            except PowerCut:
                pass
            flash.power_on()
            flash.cut_at(second)
            finished = False
            before = result.bad()
            try:
                _recovery(flash, model)
                finished = True
            except PowerCut:
                pass
            flash.disarm()
            try:
                journal = check_after_cut(flash, model, result, first)
                check_accepts_appends(journal, model, result, first)
            except Exception as e:
                result.unmountable += 1
                result.fail(first, "after a second cut at %d: %r" % (second, e))
            result.counted(before)
            if finished:
                break
            second += every_second
    result.total_steps = total
    return result


# ------------------------------------------------------------- journal states (decay, geometry)

STATES = ("fresh", "wrapped", "full", "partly_delivered")


def build_state(state, sector_size=512, sector_count=4):
    """(flash, model) holding a small journal in ``state``:

    - fresh: a few punches in the first sector, none delivered;
    - wrapped: the ring went round more than once, a backlog over two sectors;
    - full: FULL reached, nothing delivered since;
    - partly_delivered: wrapped, then every other punch of the backlog acknowledged one by one.
    """
    flash = _small(sector_size, sector_count)
    model = Model()
    journal = Journal.mount(flash)
    w = Workload()

    def fill(n):
        for _ in range(n):
            if w.append(journal, model) == FULL:
                return

    if state == "fresh":
        fill(journal.slots // 2)
    else:
        for _ in range(2 * sector_count + 1):
            fill(journal.slots)
            w.mark_up_to(journal, model, journal.next_seq - 1)
            journal.prepare()
        fill(journal.slots + journal.slots // 2)
        if state == "full":
            fill(journal.capacity)
        elif state == "partly_delivered":
            for seq in range(journal.next_seq - journal.slots, journal.next_seq, 2):
                w.mark_one(journal, model, seq)
    return flash, model


def _record_seq_at(flash, addr, journal):
    """The sequence number whose record holds byte ``addr``, or 0 (header, bitmap, blank)."""
    off = addr % journal.sector_size
    if off < journal.header_size or off >= journal.header_size + journal.slots * 32:
        return 0
    start = addr - (off - journal.header_size) % 32
    raw = flash.read(start, 4)
    seq = raw[0] | raw[1] << 8 | raw[2] << 16 | raw[3] << 24
    return 0 if seq == 0xFFFFFFFF else seq


def sweep_decay(state, sector_size=512, sector_count=4, every=1, offset=0):
    """One decayed bit, at every bit (or every ``every``-th from ``offset``) of a journal in
    ``state``: it mounts, returns every punch but the one whose record took the bit, hands
    out no number twice and accepts appends after draining."""
    result = SweepResult()
    flash, model = build_state(state, sector_size, sector_count)
    image = flash.image()
    layout = Journal(flash)
    appended = dict(model.appended)
    acked = (model.acked_up_to, set(model.acked), model.top)
    bits = flash.size * 8
    for bit in range(offset, bits, every):
        flash.restore(image)
        model.appended = dict(appended)
        model.acked_up_to, model.acked, model.top = acked[0], set(acked[1]), acked[2]
        model.spared = {}
        addr = bit >> 3
        hit = _record_seq_at(flash, addr, layout)
        if hit:
            model.spared[hit] = True
        flash.flip(addr, bit & 7)
        before = result.bad()
        try:
            journal = _mount_checked(flash, model, result, bit)
            check_accepts_appends(journal, model, result, bit)
        except Exception as e:
            if result.bad() == before:
                result.unmountable += 1
                result.fail(bit, "raised %r" % e)
        result.counted(before)
    result.total_steps = bits
    return result


def sweep_geometry(sector_size=512, sector_count=4):
    """Every state seen through a changed partition: grown, shrunk, other sector sizes. The
    journal must refuse it with a clear error and write nothing, or mount it without loss."""
    from firmware.journal import JournalError

    result = SweepResult()
    changes = (
        (sector_count + 1, sector_size),
        (sector_count + 2, sector_size),
        (2 * sector_count, sector_size),
        (sector_count - 1, sector_size),
        (2, sector_size),
        (sector_count // 2, 2 * sector_size),
        (2 * sector_count, sector_size // 2),
    )
    for state in STATES:
        for count, size in changes:
            flash, model = build_state(state, sector_size, sector_count)
            other = flash.resized(count * size // sector_size, sector_size).resized(count, size)
            before_bytes = other.image()
            before = result.bad()
            point = count * 100000 + size
            try:
                journal = Journal.mount(other)
            except JournalError:
                if other.image() != before_bytes:
                    result.unmountable += 1
                    result.fail(point, "a refused mount wrote to the flash")
                result.refused += 1
                result.counted(before)
                continue
            except Exception as e:
                result.unmountable += 1
                result.fail(point, "%s: mount raised %r" % (state, e))
                result.counted(before)
                continue
            check_journal(journal, model, result, point)
            check_accepts_appends(journal, model, result, point)
            result.counted(before)
    return result


def sweep_power_cut(workload, sector_size=512, sector_count=4, every=1):
    return sweep(workload, sector_size, sector_count, every)


#: name -> (function, args): every fault class of the journal, as the benchmark runs them.
CLASSES = (
    "power_cut",
    "two_cuts",
    "ignored_program",
    "stuck_byte",
    "silent_erase",
    "partial_erase",
    "decay_fresh",
    "decay_wrapped",
    "decay_full",
    "decay_partly_delivered",
    "geometry",
)


def run_class(name, every=1, workload=None):
    """Run one fault class of the journal (``every``: thin it to every n-th point)."""
    w = workload if workload is not None else Workload()
    if name == "power_cut":
        return sweep(w, every=every)
    if name == "two_cuts":
        return sweep_two_cuts(w, every=every)
    if name == "ignored_program":
        return sweep_ignored_program(w, every=every)
    if name == "stuck_byte":
        return sweep_stuck_byte(w, every=every)
    if name == "silent_erase":
        return sweep_failed_erase(w, False, every=every)
    if name == "partial_erase":
        return sweep_failed_erase(w, True, every=every)
    if name.startswith("decay_"):
        return sweep_decay(name[6:], every=every)
    if name == "geometry":
        return sweep_geometry()
    raise ValueError("no such fault class: " + name)
