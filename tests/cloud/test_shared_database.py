"""Two stateless receivers on one PostgreSQL database (the deployment that outgrows one
machine): uploads spread over both are held once, a replay to the other receiver is refused,
a resend through either is answered as a duplicate."""

from __future__ import annotations

from cloud_support import EPOCH, SECRET, TENANT, TERMINAL, Clock, punch, request, send

from simulator.cloud.service import RunningReceiver
from simulator.cloud.store import SqlStore


def test_two_receivers_share_one_postgres_database(pg_cluster):
    url = pg_cluster.new_database("shared")
    setup = SqlStore.open(url)
    setup.add_tenant(TENANT)
    setup.add_terminal(TENANT, TERMINAL, SECRET)
    setup.close()
    a, b = SqlStore.open(url), SqlStore.open(url)
    clock = Clock(EPOCH)
    try:
        with RunningReceiver(a, clock=clock) as ra, RunningReceiver(b, clock=clock) as rb:
            receivers = (ra.receiver.address, rb.receiver.address)
            for i in range(10):  # batches of 10, alternating receivers
                body = {"punches": [punch(s, t=EPOCH + s) for s in range(10 * i + 1, 10 * i + 11)]}
                answer = send(receivers[i % 2], request("POST", "/v1/punches", body))
                assert answer.status == 200 and answer.json()["dup"] == 0
            # A lost acknowledgement: the same batch again, through the other receiver.
            body = {"punches": [punch(s, t=EPOCH + s) for s in range(91, 101)]}
            again = send(receivers[0], request("POST", "/v1/punches", body))
            assert again.json()["dup"] == 10 and again.json()["high"] == 100
            # A captured request replayed to the other receiver is refused (shared nonces).
            captured = request("POST", "/v1/punches", {"punches": [punch(101)]})
            assert send(receivers[0], captured).status == 200
            replay = send(receivers[1], captured)
            assert (replay.status, replay.json()["code"]) == (401, 4)
        assert a.held(TENANT, TERMINAL) == {s: 7 for s in range(1, 102)}  # nobody's card: 7
        assert a.counts() == {"punches": 101, "conflicts": 0}
    finally:
        a.close()
        b.close()
