"""A stateful property test of the protocol (issue 15): client and server in memory, the
server's behaviour drawn from what the spec allows; safety after every exchange, liveness
once the receiver turns well-behaved (tests/protocol/protocol_machine.py). CPython only.

A bounded run here; ``dakoku bench protocol-stateful`` runs many more examples."""

from hypothesis import HealthCheck, settings
from protocol_machine import ProtocolMachine

TestProtocol = ProtocolMachine.TestCase
TestProtocol.settings = settings(
    max_examples=120,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
