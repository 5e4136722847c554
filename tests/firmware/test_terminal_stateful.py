"""The terminal as a hypothesis rule-based state machine on the desktop rig (issue 13).

The machine and its invariants are in ``tools/dakoku/terminal_stateful.py``; here it runs with a
bounded number of examples, ``dakoku bench terminal-stateful`` runs many more. Shrunk failures
it found are regular tests in ``tests/terminal/test_terminal_sequences.py``.
"""

from dakoku.terminal_stateful import TerminalMachine
from hypothesis import HealthCheck, settings

TestTerminalMachine = TerminalMachine.TestCase
TestTerminalMachine.settings = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
