"""Request and response signing: HMAC-SHA-256 on ``hashlib`` (MicroPython).

docs/PROTOCOL.md, PRT-AUTH-*. A request is signed over a canonical string that binds the method,
the target, the terminal's identity, its time estimate, a nonce and the body's SHA-256; the
receiver's answer is signed over its status, the request's nonce and its body's SHA-256, so an
old answer cannot be replayed to a terminal and a forged acknowledgement is never believed.
"""

import hashlib
from binascii import hexlify, unhexlify

from micropython import const

SCHEME = "hmac-sha256="
_BLOCK = const(64)


def hmac_sha256(key, message):
    """HMAC-SHA-256 of ``message`` under ``key`` (RFC 2104), as 32 bytes."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = bytes(key) + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(message)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def sha256_hex(data):
    return hexlify(hashlib.sha256(data).digest()).decode()


def equal(a, b):
    """Compare two byte strings in time independent of where they differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def request_string(method, target, tenant, terminal, time, nonce, body):
    return "\n".join(
        ("DAKOKU1", method, target, tenant, terminal, str(time), nonce, sha256_hex(body))
    ).encode()


def response_string(status, nonce, body):
    return "\n".join(("DAKOKU1-R", str(status), nonce, sha256_hex(body))).encode()


def sign(secret, message):
    """The ``Dakoku-Signature`` header value for ``message``."""
    return SCHEME + hexlify(hmac_sha256(secret, message)).decode()


def _given(header):
    """The 32 bytes a ``Dakoku-Signature`` header carries, or None if it is not one."""
    if not isinstance(header, str) or not header.startswith(SCHEME):
        return None
    if len(header) != len(SCHEME) + 64:
        return None
    try:
        return unhexlify(header[len(SCHEME) :])
    except ValueError:
        return None


def verify(secret, message, header):
    """True if ``header`` is a valid signature of ``message`` under ``secret``.

    The header's hex is decoded and compared with the digest (constant time), rather than our
    signature hex-encoded and compared as text: a terminal verifies every answer."""
    given = _given(header)
    return given is not None and equal(hmac_sha256(secret, message), given)
