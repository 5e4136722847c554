"""``dakoku sim``: the simulator's entry point.

The simulator itself (virtual terminals, a virtual service, scenarios, conformance) is not built
yet. Until it is, this runs the end-to-end demonstration the code supports today and says
plainly what is missing.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys

SIM_OUTPUT = "sim-output"  # what `make sim` leaves behind (git-ignored)

_GUEST_REPORT = """\
import sys, gc, firmware
gc.collect()
print("  MicroPython", ".".join(str(v) for v in sys.implementation.version[:3]),
      "- firmware", firmware.VERSION,
      "- heap free", gc.mem_free(), "of", gc.mem_free() + gc.mem_alloc(), "bytes")
"""


def demo_two_runtimes() -> int:
    """The terminal package imported on CPython and inside the real MicroPython (64 KB heap)."""
    import firmware
    from dakoku.micropython import shared_interpreter

    print("Terminal code on two runtimes:")
    print(f"  CPython {platform.python_version()} - firmware {firmware.VERSION}")
    result = shared_interpreter().run(
        ["-X", "heapsize=64K", "-c", _GUEST_REPORT],
        on_stdout=lambda b: (sys.stdout.write(b.decode()), sys.stdout.flush()) and None,
        on_stderr=lambda b: (sys.stderr.write(b.decode()), sys.stderr.flush()) and None,
        timeout_s=30,
    )
    print(f"  (guest exit status {result.exit_status}, fuel used {result.fuel_used})")
    return result.exit_status


def demo_protocol() -> int:
    """A terminal's client and a receiver's server in memory under virtual time: punches, a
    lost acknowledgement, a maintenance window, and every punch held exactly once at the end."""
    from firmware.punch import KIND_CLOCK_IN, Punch
    from protocol.client import Client, Identity, Send
    from protocol.memstore import MemoryStore
    from protocol.server import Server

    epoch = 1795000000
    secret = b"demo-secret-0123456789abcdef"
    store = MemoryStore()
    store.add_tenant("ACME01")
    store.add_terminal("ACME01", "T0001", secret)
    card = bytes.fromhex("012e4cd2a3b4c5d6")
    store.add_employee("ACME01", "E001", "山田 太郎", cards=[card])
    server = Server(store)
    client = Client(Identity("ACME01", "T0001", secret, "0.1.0", "pit-sim"), boot_id=1)

    class Journal:  # the terminal's journal, in memory for the demonstration
        def __init__(self):
            self.punches: list[Punch] = []
            self.delivered: set[int] = set()

        def unsent(self, limit=-1):
            todo = [p for p in self.punches if p.seq not in self.delivered]
            return iter(todo if limit < 0 else todo[:limit])

        def journal_status(self):
            unsent = len(self.punches) - len(self.delivered)
            return {"next_seq": len(self.punches) + 1, "unsent": unsent, "capacity": 8000}

        def clock_state(self):
            return {"synced": True, "time": epoch, "boot": 1, "up": 0}

    journal = Journal()
    answered: set[int] = set()  # the receiver's answer codes ([res=N]) the log lines show
    now = 0
    client.start(now, epoch)
    lose_next_ack = False

    def tap(count):
        for _ in range(count):
            seq = len(journal.punches) + 1
            punch = Punch(epoch + now // 1000, KIND_CLOCK_IN, 1, card, True, 540, 1, 0, seq)
            journal.punches.append(punch)

    def run_until(limit):
        nonlocal now, lose_next_ack
        while now <= limit:
            action = client.next_action(now, journal)
            if not isinstance(action, Send):
                if action.until_ms is None or action.until_ms > limit:
                    return
                now = action.until_ms
                continue
            answer = server.handle(action.data, epoch + now // 1000)
            if lose_next_ack and action.kind == "punches":
                lose_next_ack = False
                out = client.timed_out(action.deadline_ms)
                now = action.deadline_ms
                note = " (the receiver stored them; the answer was lost)"
            else:
                out = client.receive(now, answer)
                note = ""
            if out is None:
                return
            for seq in out.delivered:
                journal.delivered.add(seq)
            print(f"  t={now / 1000:7.1f}s  {out.mode:<11} {out.log}{note}")
            answered.update(int(code) for code in re.findall(r"\[res=(\d+)\]", out.log))

    tap(3)
    run_until(1000)
    lose_next_ack = True
    tap(2)
    run_until(30_000)
    start = epoch + now // 1000
    store.windows.append({"start": start, "end": start + 600, "notice": "planned upgrade"})
    print(f"  t={now / 1000:7.1f}s  -- maintenance for 600 s; 4 more taps are stored offline")
    tap(4)
    run_until(now + 1_000_000)
    from protocol.codes import TEXT

    for code in sorted(answered):
        print(f"  ([res={code}]: the receiver answered code {code}, {TEXT.get(code, '?')}; "
              "protocol/codes.py)")  # fmt: skip
    held = store.held("ACME01", "T0001")
    ok = sorted(held) == list(range(1, 10)) and len(journal.delivered) == 9
    print(f"  receiver holds {len(held)} punches, each once; terminal has 0 unsent: {ok}")
    return 0 if ok else 1


SIM_DESCRIPTION = """\
Run the simulator.

Without --receiver: the status list and three demonstrations on embedded defaults (what make sim
shows): terminal code on two runtimes, the upload protocol in memory, and a 50-person day at the
door against the reference receiver over HTTP, ending with the receiver's CSV.

With --receiver URL: the same door day, compressed into real time, against a receiver you run
(dakoku cloud serve); see the README's walkthrough."""


def _parser() -> argparse.ArgumentParser:
    from dakoku.clihelp import parser

    p = parser("dakoku sim", SIM_DESCRIPTION)
    r = p.add_argument_group("against your own receiver")
    r.add_argument("--receiver", metavar="URL",
                   help="the receiver's base URL, e.g. http://127.0.0.1:8080 (default: none, "
                   "run the embedded demonstrations)")  # fmt: skip
    r.add_argument("--terminal-file", metavar="FILE",
                   help="what 'dakoku cloud terminal add TENANT ID' printed, saved to FILE "
                   "('-': standard input); gives tenant, terminal and secret "
                   "(default: none)")  # fmt: skip
    r.add_argument("--tenant", help="tenant code (default: from --terminal-file)")
    r.add_argument("--terminal", help="terminal ID (default: from --terminal-file)")
    r.add_argument("--secret", metavar="HEX",
                   help="the terminal's secret in hex (default: from --terminal-file)")  # fmt: skip
    r.add_argument("--people", type=int, metavar="N",
                   help="employees at the door, the first N with a card in the receiver's "
                   "roster (default: all of them)")  # fmt: skip
    r.add_argument("--interval", type=float, default=0.3, metavar="SECONDS",
                   help="seconds between two events of the day (default: %(default)s)")  # fmt: skip
    r.add_argument("--flash-dir", metavar="DIR",
                   help="where the terminal's flash images and boot ID are kept between runs; "
                   "delete it for a factory-fresh terminal, which needs a new terminal ID "
                   "(default: sim-output/terminals/TENANT-ID)")  # fmt: skip
    r.add_argument("--cafile", metavar="PEM",
                   help="CA certificates to trust for an https:// receiver (default: the "
                   "system's)")  # fmt: skip
    return p


def _identity(args: argparse.Namespace) -> tuple[str, str, bytes]:
    from simulator.remoteday import SetupError, parse_secret, parse_terminal_added

    tenant, terminal, secret = args.tenant, args.terminal, None
    if args.terminal_file:
        try:
            if args.terminal_file == "-":
                text = sys.stdin.read()
            else:
                with open(args.terminal_file, encoding="utf-8") as fh:
                    text = fh.read()
        except OSError as e:
            raise SetupError(f"cannot read {args.terminal_file}: {e.strerror}") from None
        f_tenant, f_terminal, secret = parse_terminal_added(text)
        tenant, terminal = tenant or f_tenant, terminal or f_terminal
    if args.secret:
        secret = parse_secret(args.secret)
    missing = [name for name, v in (("--tenant", tenant), ("--terminal", terminal),
                                    ("--secret", secret)) if not v]  # fmt: skip
    if missing:
        raise SetupError(
            f"give {', '.join(missing)}, or --terminal-file with what 'dakoku cloud terminal "
            "add' printed"
        )
    assert tenant and terminal and secret
    return tenant, terminal, secret


def receiver_main(args: argparse.Namespace) -> int:
    from simulator.remoteday import SetupError, parse_receiver_url, receiver_day

    if args.people is not None and args.people < 1:
        sys.stderr.write("dakoku sim: --people must be at least 1\n")
        return 2
    if args.interval < 0:
        sys.stderr.write("dakoku sim: --interval must not be negative\n")
        return 2
    try:
        parse_receiver_url(args.receiver)  # a bad URL is said before anything else
        tenant, terminal, secret = _identity(args)
        print("The door day against your receiver, compressed into real time (a real")
        print("receiver checks each request's time against its own clock); times as the")
        print("terminal shows them:")
        result = receiver_day(
            args.receiver,
            tenant,
            terminal,
            secret,
            people=args.people,
            interval_s=args.interval,
            cafile=args.cafile,
            flash_dir=args.flash_dir,
            printer=lambda line: print("  " + line, flush=True),
        )
    except SetupError as e:
        sys.stderr.write(f"dakoku sim: {e}\n")
        return 1
    except KeyboardInterrupt:
        return 130  # Ctrl-C: what stayed on the terminal's flash has been said
    print()
    if result.ok:
        print(f"Every punch the terminal recorded ({result.recorded}) is acknowledged by the")
        print("receiver. See them with:")
        print(f"  dakoku cloud export {tenant} -o punches.csv")
        return 0
    print(f"{result.unsent} of {result.recorded} punches are not acknowledged yet; the terminal")
    print("would keep resending them (a real one keeps them on flash).")
    return 1


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.receiver:
        return receiver_main(args)
    given = [o for o in ("terminal_file", "tenant", "terminal", "secret", "people", "cafile",
                                "flash_dir")
             if getattr(args, o) is not None]  # fmt: skip
    if given:
        option = given[0].replace("_", "-")
        sys.stderr.write(f"dakoku sim: --{option} needs --receiver URL\n")
        return 2
    from dakoku.status import lines_plain

    print("dakoku simulator - what exists today (tools/dakoku/status.py):\n")
    for line in lines_plain():
        print("  " + line)
    print()
    return run_demonstrations()


def run_demonstrations() -> int:
    """The three demonstrations of ``make sim``; 0 if each ended as it should."""
    status = demo_two_runtimes()
    print()
    print("Upload protocol v1, terminal and receiver in memory (virtual time):")
    status = demo_protocol() or status
    print()
    print("A day at a 50-person office: the terminal core on simulated flash, the reference")
    print("receiver (SQLite) over real HTTP on 127.0.0.1, a maintenance window and a network")
    print("outage (virtual time; simulator/door.py, simulator/cloud/):")
    from simulator.cloud.endtoend import cloud_day

    result = cloud_day(printer=lambda line: print("  " + line))
    print(f"  {result.requests} HTTP requests; every punch answered OK is held by the receiver")
    print(f"  exactly once: {result.ok}")
    status = status or (0 if result.ok else 1)
    print()
    print("The same door on each board profile: firmware/main.py on hardware/board.py with every")
    print("part simulated (reader chip, finger module, keys, buzzer, LED, RTC, network, battery;")
    print("simulator/boardday.py, hardware/profiles.py):")
    from hardware.profiles import BT, PIT
    from simulator.boardday import board_days, feedback_png

    os.makedirs(SIM_OUTPUT, exist_ok=True)
    boards_ok = board_days((PIT, BT), printer=lambda line: print("  " + line), png_dir=SIM_OUTPUT)
    print(f"  every punch answered OK is held by the server exactly once, on each: {boards_ok}")
    pngs = [feedback_png(SIM_OUTPUT, p) for p in (PIT, BT)]
    print("  each board's last feedback screen, as its ST7789 showed it: " + ", ".join(pngs))
    status = status or (0 if boards_ok else 1)
    print()
    print("The real firmware as a board on the desk (dakoku board run): the BT board on the real")
    print("MicroPython, its chips simulated byte by byte, its flash in files, real TCP to a")
    print("receiver, its service console on a pty (simulator/vboard/, docs/HARDWARE.md):")
    from simulator.vboard.demo import desk_board

    desk_ok = desk_board(printer=lambda line: print("  " + line, flush=True))
    status = status or (0 if desk_ok else 1)
    csv_path = os.path.join(SIM_OUTPUT, "punches.csv")
    with open(csv_path, "w", encoding="utf-8", newline="") as fh:
        fh.write(result.csv)
    lines = result.csv.splitlines()
    print()
    print(f"The receiver's CSV export (FCS-05), {len(lines) - 1} punches, in full in {csv_path}.")
    print("A sample: the first five, three taken offline (offline = yes), the last three;")
    print("docs/RECEIVER.md describes the columns.")
    shown = [*lines[:6], "...", *[ln for ln in lines if ",yes," in ln][:3], "...", *lines[-3:]]
    for line in shown:
        print("  " + line)
    print()
    print("The simulator proper is not built yet; make sim grows with each issue that lands.")
    print("To point the simulated terminal at a receiver of your own: dakoku sim --help; to run")
    print("a board on the desk and talk to its console: dakoku board run --help.")
    return status
