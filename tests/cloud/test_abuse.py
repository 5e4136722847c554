"""The receiver under a hostile client: slow-loris requests, and more connections than it has
file descriptors for (issue 16, items 8 and 9)."""

from __future__ import annotations

import select
import socket
import time

import pytest
from cloud_support import CARD, TENANT

from simulator.cloud.service import RunningReceiver


@pytest.fixture
def rx(sqlite_store, clock):
    sqlite_store.add_employee(TENANT, "E1", "山田", cards=[CARD])
    with RunningReceiver(sqlite_store, clock=clock) as running:
        running.address = running.receiver.address
        yield running


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """The peer closed (or reset) the connection within ``seconds``."""
    ready, _, _ = select.select([sock], [], [], seconds)
    if not ready:
        return False
    try:
        return sock.recv(100) == b""
    except ConnectionError:
        return True


def test_a_request_dribbled_a_byte_at_a_time_is_cut_off_at_its_deadline(rx):
    """One byte every 0.2 s: each read comes well within the 0.6 s request deadline, but the
    request as a whole does not. The receiver closes the connection once the request's own
    deadline has passed (before the fix every byte restarted it and the client stayed on)."""
    rx.receiver.request_timeout_s = 0.6
    head = b"POST /v1/punches HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 40
    with socket.create_connection(rx.address, 5) as sock:
        closed = False
        for byte in head:  # 60 bytes, 12 s if the receiver never cuts it off
            try:
                sock.sendall(bytes([byte]))
            except ConnectionError:
                closed = True
                break
            if _closed_within(sock, 0.2):
                closed = True
                break
        assert closed, "a slow-loris client kept its connection for the whole request"


# ---------------------------------------------------------------------- file descriptors


def _enough_descriptors(n):
    """This process may open ``n`` files (its soft limit raised for the test if need be)."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
        soft = n
    if soft < n:
        if os.environ.get("CI"):
            raise AssertionError("this test needs %d open files, the limit is %d" % (n, soft))
        pytest.skip("needs %d open files" % n)


@pytest.mark.parametrize(
    "soft, hard, idle",
    [
        (1024, 4096, 1100),  # the case: serve kept the soft 1,024 of a shell
        (512, 512, 700),  # no higher limit to be had: idle connections are shed
    ],
)
def test_idle_connections_beyond_the_descriptor_limit_leave_health_answering(
    tmp_path, soft, hard, idle
):
    from cloud_support import send, serving

    from simulator.cloud import loadgen
    from simulator.cloud.service import connection_cap
    from simulator.cloud.store import SqlStore

    _enough_descriptors(idle + 200)
    db = str(tmp_path / "fd.db")
    store = SqlStore.open(db)
    loadgen.register(store, 1)
    store.close()
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    sockets = []
    with serving(db, limit) as (address, _proc):
        try:
            for _ in range(idle):  # connected, never a byte: idle
                sockets.append(socket.create_connection(address, 5))
            health = send(address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "GET", timeout=5)
            assert health.status == 200
            signer = loadgen.Signer(loadgen.terminal_id(0))
            body = loadgen.batch_body(1, 10, int(time.time()) - 60)
            upload = send(address, signer.request(body, int(time.time())), timeout=5)
            assert upload.status == 200
            text = send(address, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "GET").body
            figures = dict(
                line.split() for line in text.decode().splitlines() if not line.startswith("#")
            )
            limit_now = float(figures["dakoku_connection_limit"])
            assert limit_now == connection_cap(max(hard, soft))  # soft raised to hard, then cap
            assert (float(figures["dakoku_connections_shed"]) > 0) == (idle > limit_now)
        finally:
            for s in sockets:
                s.close()
