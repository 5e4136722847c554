"""usage: dakoku [-h] COMMAND [ARGUMENTS]

The command line of dakoku: firmware, simulator, upload protocol and reference receiver for
IC-card time-clock terminals. 'dakoku COMMAND --help' shows a command's options and their
defaults.
"""

from __future__ import annotations

import sys
from pathlib import Path

_MPY_USAGE = """\
usage: dakoku micropython [--timeout SECONDS] [--scratch DIR] [--fuel N] [--stats] [--]
                          [MicroPython arguments: -X heapsize=64K | -c CODE | -m MOD | FILE …]

Runs MicroPython 1.27 (WASI build, under wasmtime) with firmware/, protocol/ and hardware/
importable (mounted read-only at /repo). The guest's working directory '/' is a scratch
directory: a fresh temporary one unless --scratch names one to keep. Exits with the guest's
exit status; 124 when --timeout stops it, 125 when it traps (for example out of --fuel).

  -h, --help         show this help message and exit
  --timeout SECONDS  stop the guest after this many seconds of wall time (default: no limit)
  --scratch DIR      host directory the guest sees as '/', created if missing (default: a fresh
                     temporary directory, removed at the end)
  --fuel N           wasmtime fuel budget, deterministic instruction-ish units (default: no
                     limit)
  --stats            print fuel used and exit status to stderr at the end (default: off)
  -X heapsize=SIZE   MicroPython's own option: the guest's heap (default: about 1M; the
                     two-runtime tests use 64K, a terminal's size)
"""


def _micropython(args: list[str]) -> int:
    from dakoku.micropython import (
        MicroPythonUnavailable,
        repo_root,
        shared_interpreter,
        translate_argv,
    )

    timeout = scratch = fuel = None
    stats = False
    i = 0
    try:
        while i < len(args):
            arg = args[i]
            if arg in ("-h", "--help"):
                sys.stdout.write(_MPY_USAGE)
                return 0
            if arg == "--":
                i += 1
                break
            if arg == "--timeout":
                timeout = float(args[i + 1])
                if timeout <= 0:
                    raise ValueError("--timeout must be positive")
                i += 2
            elif arg == "--scratch":
                scratch = Path(args[i + 1]).resolve()
                i += 2
            elif arg == "--fuel":
                fuel = int(args[i + 1])
                if fuel <= 0:
                    raise ValueError("--fuel must be positive")
                i += 2
            elif arg == "--stats":
                stats = True
                i += 1
            else:
                break
    except (IndexError, ValueError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) else f"{args[i]} needs a value"
        sys.stderr.write(f"dakoku micropython: {detail}\n\n{_MPY_USAGE}")
        return 2

    try:
        interp = shared_interpreter()
    except MicroPythonUnavailable as exc:
        sys.stderr.write(f"dakoku micropython: {exc}\n")
        return 2
    cmd = translate_argv(args[i:], Path.cwd(), repo_root())
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)

    def forward(stream):
        def write(chunk: bytes) -> None:
            stream.buffer.write(chunk)
            stream.flush()

        return write

    result = interp.run(
        cmd.guest_argv,
        mounts=cmd.mounts,
        scratch=scratch,
        timeout_s=timeout,
        fuel=fuel,
        on_stdout=forward(sys.stdout),
        on_stderr=forward(sys.stderr),
        inherit_stdin=cmd.interactive,
    )
    if result.trap:
        sys.stderr.write(f"dakoku micropython: {result.trap}\n")
    if stats:
        sys.stderr.write(
            f"dakoku micropython: exit status {result.exit_status}, fuel used {result.fuel_used}\n"
        )
    return result.exit_status


def _sim(argv: list[str]) -> int:
    from dakoku.sim import main as sim_main

    return sim_main(argv)


def _bench(argv: list[str]) -> int:
    from dakoku.bench import main as bench_main

    return bench_main(argv)


def _status(argv: list[str]) -> int:
    from dakoku.status import main as status_main

    return status_main(argv)


def _cloud(argv: list[str]) -> int:
    from dakoku.cloud import main as cloud_main

    return cloud_main(argv)


def _reader(argv: list[str]) -> int:
    from dakoku.readercli import main as reader_main

    return reader_main(argv)


def _board(argv: list[str]) -> int:
    from dakoku.boardcli import main as board_main

    return board_main(argv)


def _firmware(argv: list[str]) -> int:
    from dakoku.statediagram import main as firmware_main

    return firmware_main(argv)


def _font(argv: list[str]) -> int:
    from dakoku.fontbuild import main as font_main

    return font_main(argv)


def _display(argv: list[str]) -> int:
    from dakoku.displaycli import main as display_main

    return display_main(argv)


COMMANDS = {
    "micropython": (_micropython, "run the real MicroPython with the terminal code importable"),
    "sim": (_sim, "run the simulator (make sim), or a door day against your receiver"),
    "firmware": (_firmware, "firmware tools: 'diagram' writes the state diagram (Mermaid)"),
    "cloud": (_cloud, "run and administer the reference receiver (SQLite or PostgreSQL)"),
    "bench": (_bench, "run benchmarks and print their figures"),
    "board": (_board, "'board run': the real firmware as a board on the desk, console on a pty"),
    "reader": (_reader, "card readers: a real RC-S380, or a simulated chip on a pty"),
    "font": (_font, "'font build': the display's Japanese bitmap font, from Debian's unifont"),
    "display": (_display, "'display png': a terminal screen drawn by the display driver, as PNG"),
    "status": (_status, "what is built; --write carries the list into README and ARCHITECTURE"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        stream = sys.stdout if argv else sys.stderr  # no command: the help, as an error
        stream.write(__doc__ or "")
        stream.write("\ncommands:\n")
        for name, (_, summary) in COMMANDS.items():
            stream.write(f"  {name:<12} {summary}\n")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        sys.stderr.write(f"dakoku: unknown command {name!r}; try 'dakoku --help'\n")
        return 2
    return COMMANDS[name][0](rest)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
