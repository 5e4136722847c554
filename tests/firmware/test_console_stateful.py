"""The service console's hypothesis state machine (tests/firmware/console_machine.py), bounded:
``dakoku bench console-stateful`` runs many more examples."""

from console_machine import ConsoleMachine
from hypothesis import HealthCheck, settings


def test_the_console_answers_every_line_once_and_the_door_punches():
    ConsoleMachine.TestCase.settings = settings(
        max_examples=60,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    ConsoleMachine.TestCase().runTest()
