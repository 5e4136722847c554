"""``dakoku sim``: the simulator's entry point.

The simulator itself (virtual terminals, a virtual service, scenarios, conformance) is not built
yet. Until it is, this runs the end-to-end demonstration the code supports today and says
plainly what is missing.
"""

from __future__ import annotations

import argparse
import platform
import sys

# What the simulator will consist of, and where each part stands. Kept honest by hand: a part
# moves to "built" in the same change that builds it.
PARTS = [
    ("MicroPython runner and dual-runtime tests", "built", "issue 2"),
    ("flash punch journal on simulated NOR flash", "built", "issue 3"),
    ("upload protocol v1 (client and server roles)", "not built yet", "issue 4"),
    ("terminal firmware state machine", "not built yet", "issue 5"),
    ("reference receiver service", "not built yet", "issue 6"),
    ("virtual terminals, scenarios, conformance suite", "not built yet", "later issues"),
]

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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dakoku sim", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    print("dakoku simulator - what exists today\n")
    for part, state, where in PARTS:
        print(f"  [{'x' if state == 'built' else ' '}] {part:<50} {state} ({where})")
    print()
    status = demo_two_runtimes()
    print()
    print("The simulator proper is not built yet; `make sim` grows with each issue that lands.")
    return status
