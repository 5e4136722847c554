"""Helpers of the receiver's tests: signed raw requests, a settable clock, punch bodies."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

from protocol import sign
from protocol.http import ResponseParser, encode_request

TENANT = "ACME01"
TERMINAL = "T0001"
SECRET = b"0123456789abcdef0123456789abcdef"
EPOCH = 1795000000
CARD = bytes([1, 46, 76, 210, 163, 180, 197, 214])


class Clock:
    """The receiver's clock in tests: UTC seconds, set by hand."""

    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


_nonce = [0]


def request(
    method: str,
    target: str,
    body: bytes | dict | None = None,
    *,
    tenant: str = TENANT,
    terminal: str = TERMINAL,
    secret: bytes = SECRET,
    t: int = EPOCH,
    nonce: str | None = None,
    headers: list | None = None,
    content_type: str = "application/json",
) -> bytes:
    """Bytes of a signed request (the signature is right unless the caller spoils it)."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    body = body or b""
    if nonce is None:
        _nonce[0] += 1
        nonce = "n%015d" % _nonce[0]
    text = sign.request_string(method, target, tenant, terminal, t, nonce, body)
    hs = [
        ("Dakoku-Tenant", tenant),
        ("Dakoku-Terminal", terminal),
        ("Dakoku-Time", str(t)),
        ("Dakoku-Nonce", nonce),
        ("Dakoku-Signature", sign.sign(secret, text)),
    ]
    if method == "POST":
        hs.append(("Content-Type", content_type))
    hs.extend(headers or [])
    return encode_request(method, target, "receiver", hs, body)


def punch(seq: int, card: bytes = CARD, t: int = EPOCH, k: int = 1, **extra) -> dict:
    p = {"seq": seq, "t": t, "tz": 540, "k": k, "m": 1, "cred": card.hex(), "boot": 1}
    p.update(extra)
    return p


class Answer:
    def __init__(self, status: int, headers: list, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)


def send(address: tuple, data: bytes, method: str = "POST", timeout: float = 10.0) -> Answer:
    """One request on a new connection; the parsed answer."""
    with socket.create_connection(address, timeout) as sock:
        sock.sendall(data)
        parser = ResponseParser(method)
        while True:
            chunk = sock.recv(65536)
            msg = parser.feed(chunk) if chunk else parser.eof()
            if msg is not None:
                return Answer(msg.status, msg.headers, msg.body)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(db: str, preexec_fn=None):
    """``dakoku cloud serve`` on ``db`` in its own process; killed (SIGKILL) at the end.
    Yields (address, process)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dakoku.cli", "cloud", "--db", db, "serve", "--port", str(port),
         "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=preexec_fn,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.05)
        yield ("127.0.0.1", port), proc
    finally:
        proc.kill()
        proc.wait(10)
