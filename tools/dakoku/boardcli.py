"""``dakoku board run``: the real firmware as a device on the desk (simulator/vboard/).

One board per process: the guest (firmware/main.py on hardware/board.py's ``Board``, on the
real MicroPython or CPython) and its host world (simulated chips, a pty console, real TCP to the
receiver). ``--count N`` starts N such processes, one board each, with their own identity,
flash directory and pty, and waits for them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

DESCRIPTION = """\
Runs the real firmware (firmware/main.py and the real drivers of hardware/) as a board on the
desk: on the real MicroPython (or CPython), its buses carried to simulated chips byte by byte,
its flash in files under --dir (a board killed and started again keeps what it had), its
network a real TCP connection to the receiver, its service console on a pty whose path is
printed at start (docs/HARDWARE.md, "Service console"). Stop it with Ctrl-C.

The terminal must be registered at the receiver: give what 'dakoku cloud terminal add TENANT
ID' printed (--terminal-file) or --tenant, --terminal and --secret. With --count N and
--terminal T0001, the boards are T0001, T0002, ... sharing --secret; or give --terminal-file
once per board."""

_ID_NUMBER = re.compile(r"^(.*?)(\d+)$")


def _parser() -> argparse.ArgumentParser:
    from dakoku.clihelp import parser

    p = parser("dakoku board", "The real firmware as a device on the desk.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = sub.add_parser("run", help="run a virtual board (or --count N of them)",
                       description=DESCRIPTION, formatter_class=p.formatter_class)  # fmt: skip
    r.add_argument("--profile", required=True, metavar="pit|bt",
                   help="the board profile: pit (pit-s3: RC-S620S, Wi-Fi, battery) or bt "
                   "(bt-eth: PN532 + R503 finger module, keys, wired LAN) (default: none, "
                   "required)")  # fmt: skip
    r.add_argument("--receiver", required=True, metavar="URL",
                   help="the receiver's base URL, http://HOST:PORT or https://HOST:PORT "
                   "(default: none, required)")  # fmt: skip
    r.add_argument("--terminal-file", metavar="FILE", action="append",
                   help="what 'dakoku cloud terminal add' printed, saved to FILE: tenant, "
                   "terminal and secret; give it once per board with --count (default: "
                   "--tenant, --terminal, --secret)")  # fmt: skip
    r.add_argument("--tenant", help="tenant code (default: from --terminal-file)")
    r.add_argument("--terminal", help="terminal ID (default: from --terminal-file)")
    r.add_argument("--secret", metavar="HEX",
                   help="the terminal's secret in hex (default: from --terminal-file)")  # fmt: skip
    r.add_argument("--runtime", choices=("micropython", "cpython"), default="micropython",
                   help="the interpreter the firmware runs on")  # fmt: skip
    r.add_argument("--dir", metavar="DIR",
                   help="the board's flash files, boot ID and board.json (console path, pid); "
                   "delete it for a factory-fresh board, which needs a new terminal ID "
                   "(default: sim-output/boards/TENANT-TERMINAL)")  # fmt: skip
    r.add_argument("--count", type=int, default=1, metavar="N",
                   help="boards to run, one process each")  # fmt: skip
    r.add_argument("--cafile", metavar="PEM",
                   help="CA certificates to trust for an https:// receiver (default: the "
                   "system's)")  # fmt: skip
    r.add_argument("--production", action="store_true",
                   help="a production build: the console has no test stimuli (card, finger, "
                   "key, net, power cut)")  # fmt: skip
    r.add_argument("--set", action="append", metavar="KEY=VALUE", dest="settings",
                   help="provision a configuration key before the boot, checked as a service "
                   "change (docs/CONFIGURATION.md), VALUE as JSON or a word: --set "
                   "service_pin=4321 --set feedback_ms=500 (default: none; give it again for "
                   "more)")  # fmt: skip
    r.add_argument("--heap", default="4M", metavar="SIZE",
                   help="the MicroPython guest's heap")  # fmt: skip
    return p


def _fail(text: str) -> int:
    sys.stderr.write(f"dakoku board: {text}\n")
    return 2


def _numbered(terminal: str, i: int) -> str:
    if i == 0:
        return terminal
    m = _ID_NUMBER.match(terminal)
    if not m:
        return f"{terminal}-{i + 1}"
    prefix, digits = m.groups()
    return prefix + str(int(digits) + i).zfill(len(digits))


def _identities(args: argparse.Namespace) -> list[tuple[str, str, bytes]]:
    from dakoku.sim import _identity

    files = args.terminal_file or []
    if len(files) > 1:
        if args.count not in (1, len(files)):
            from simulator.remoteday import SetupError

            raise SetupError(f"--count {args.count} but {len(files)} --terminal-file")
        out = []
        for f in files:
            one = argparse.Namespace(**{**vars(args), "terminal_file": f})
            out.append(_identity(one))
        return out
    one = argparse.Namespace(**{**vars(args), "terminal_file": files[0] if files else None})
    tenant, terminal, secret = _identity(one)
    return [(tenant, _numbered(terminal, i), secret) for i in range(args.count)]


def _settings(items: list[str]) -> dict:
    """``KEY=VALUE`` pairs; VALUE is JSON (``500``, ``true``, ``[[5,0,1]]``) or else a word."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: give KEY=VALUE, e.g. service_pin=4321")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if key == "service_pin" and not isinstance(value, str):
            value = text  # digits are the PIN's text, not a number
        out[key] = value
    return out


def _check_receiver(host: str, port: int, url: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as e:
        why = e.strerror or str(e) or type(e).__name__
    print(f"receiver {url} does not answer ({why}): the board punches offline and sends "
          "when it answers", flush=True)  # fmt: skip


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from simulator.remoteday import SetupError, parse_receiver_url

    if args.count < 1:
        return _fail("--count must be at least 1")
    try:
        scheme, host, port = parse_receiver_url(args.receiver)
        identities = _identities(args)
    except SetupError as e:
        return _fail(str(e))
    from simulator.vboard.host import PROFILE_NAMES

    if args.profile not in PROFILE_NAMES:
        return _fail(f"--profile: {args.profile!r} is not a board profile (pit or bt)")
    if not re.fullmatch(r"\d+[KM]?", args.heap):
        return _fail(f"--heap: {args.heap!r} is not a size like 4M or 512K")
    if args.cafile and not os.path.isfile(args.cafile):
        return _fail(f"--cafile: cannot read {args.cafile}")
    try:
        args.settings = _settings(args.settings or [])
    except ValueError as e:
        return _fail(str(e))
    if len(identities) > 1:
        return _many(args, identities)
    tenant, terminal, secret = identities[0]
    board_dir = Path(args.dir or os.path.join("sim-output", "boards", f"{tenant}-{terminal}"))
    return _one(args, scheme, host, port, (tenant, terminal, secret), board_dir)


def _one(args, scheme, host, port, identity, board_dir: Path) -> int:
    from simulator.vboard.host import BoardError, BoardWorld, run_board

    def log(line: str) -> None:
        print(line, flush=True)

    try:
        world = BoardWorld(args.profile, board_dir, host, port, identity, tls=scheme == "https",
                           cafile=args.cafile, test_build=not args.production,
                           runtime=args.runtime, log=log, heap=args.heap,
                           settings=args.settings)  # fmt: skip
    except BoardError as e:
        return _fail(str(e))
    state = {
        "tenant": identity[0],
        "terminal": identity[1],
        "profile": world.profile["name"],
        "runtime": args.runtime,
        "console": world.console.path,
        "pid": os.getpid(),
        "receiver": args.receiver,
        "test_build": not args.production,
    }
    (board_dir / "board.json").write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    log(f"board {identity[1]} ({world.profile['name']}, {args.runtime}): "
        f"console {world.console.path}, flash {board_dir}")  # fmt: skip
    _check_receiver(host, port, args.receiver)

    def stop(signum, frame):
        world.stop_asked = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        status = run_board(world)
    finally:
        world.close()
    return 0 if status == world.EXIT_STOPPED else 1


def _many(args, identities) -> int:
    """One process per board; Ctrl-C (or SIGTERM) stops them all."""
    children = []
    base = [sys.executable, "-m", "dakoku.cli", "board", "run", "--profile", args.profile,
            "--receiver", args.receiver, "--runtime", args.runtime,
            "--heap", args.heap]  # fmt: skip
    if args.cafile:
        base += ["--cafile", args.cafile]
    if args.production:
        base.append("--production")
    for key, value in args.settings.items():
        base += ["--set", f"{key}={json.dumps(value, ensure_ascii=False)}"]
    for tenant, terminal, secret in identities:
        board_dir = os.path.join(args.dir, f"{tenant}-{terminal}") if args.dir else None
        cmd = [*base, "--tenant", tenant, "--terminal", terminal, "--secret", secret.hex()]
        if board_dir:
            cmd += ["--dir", board_dir]
        children.append(subprocess.Popen(cmd))

    def stop(signum, frame):
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    statuses = [c.wait() for c in children]
    return max(statuses)
