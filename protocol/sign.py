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
MIN_SECRET = const(16)  # bytes (PRT-AUTH-1)


def secret_key(secret):
    """The HMAC key of PRT-AUTH-1 from a terminal's secret: bytes as they are, or the hex text
    the receiver printed when the terminal was registered (``dakoku cloud terminal add``),
    decoded. Never the hex text itself as the key. ValueError, naming the secret, for
    anything that is not hex or is shorter than 16 bytes."""
    if isinstance(secret, str):
        text = secret.strip()
        try:
            secret = unhexlify(text)
        except ValueError:
            secret = None
        if secret is None or not text:
            raise ValueError("secret: hex digits expected, as dakoku cloud terminal add prints")
    secret = bytes(secret)
    if len(secret) < MIN_SECRET:
        raise ValueError("secret: at least 16 bytes (32 hex digits)")
    return secret


# The last key's padded forms, (key, inner pad, outer pad): a terminal signs and verifies every
# exchange under one secret, and making the pads each time was about 600 bytes of garbage per
# HMAC. One tuple, replaced whole, so threads on the receiver never see a mixed entry.
_pads = [(None, b"", b"")]  # type: list[tuple[bytes | None, bytes, bytes]]


def _pads_of(key):
    cached = _pads[0]
    if cached[0] == key:
        return cached
    block = hashlib.sha256(key).digest() if len(key) > _BLOCK else key
    inner = bytearray(_BLOCK)
    outer = bytearray(_BLOCK)
    for i in range(_BLOCK):
        b = block[i] if i < len(block) else 0
        inner[i] = b ^ 0x36
        outer[i] = b ^ 0x5C
    cached = (bytes(key), bytes(inner), bytes(outer))
    _pads[0] = cached
    return cached


def hmac_sha256(key, message):
    """HMAC-SHA-256 of ``message`` under ``key`` (RFC 2104), as 32 bytes."""
    _, inner_pad, outer_pad = _pads_of(key)
    inner = hashlib.sha256(inner_pad)
    inner.update(message)
    outer = hashlib.sha256(outer_pad)
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
