"""The receiver under a hostile client: slow-loris requests, and more connections than it has
file descriptors for (issue 16, items 8 and 9)."""

from __future__ import annotations

import select
import socket

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
