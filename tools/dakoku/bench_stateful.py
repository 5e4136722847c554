"""``dakoku bench protocol-stateful``: the protocol's stateful property test, more examples.

tests/protocol/test_protocol_stateful.py runs a bounded, derandomized sample in ``make test``;
this runs ``EXAMPLES`` random examples of ``STEPS`` rules each (tests/protocol/protocol_machine.py)
and prints what it covered. A failure raises, with hypothesis's shrunk case.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

EXAMPLES = 1000
STEPS = 60


def bench_stateful() -> dict:
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "protocol"))
    from protocol_machine import ProtocolMachine

    runs = {"examples": 0, "exchanges": 0, "virtual_hours": 0.0}

    class Counted(ProtocolMachine):
        def teardown(self):
            ProtocolMachine.teardown(self)
            if hasattr(self, "store"):
                runs["examples"] += 1
                runs["exchanges"] += self.exchanges
                runs["virtual_hours"] += self.now / 3_600_000

    t0 = time.perf_counter()
    run_state_machine_as_test(
        Counted,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    return {
        "examples": runs["examples"],
        "steps_per_example_max": STEPS,
        "exchanges": runs["exchanges"],
        "virtual_hours": round(runs["virtual_hours"], 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }
