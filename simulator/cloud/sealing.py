"""Terminal secrets encrypted at rest, under a key the operator keeps apart from the database.

The receiver must read a terminal's secret to check its signatures (HMAC, PRT-AUTH-*), so the
secret cannot be hashed like a password; it is sealed instead: AES-256-GCM (the ``cryptography``
package) under a 32-byte key from a *key file*, with the row's tenant and terminal ID as
associated data, so a sealed secret copied onto another terminal's row does not open. A copy of
the database alone (a backup, a dump, a stolen disk image of the database volume) gives away no
terminal.

A sealed value is ``b"\\x01" + nonce (12 bytes) + ciphertext and tag``. The database remembers
that its secrets are sealed, and under which key (``settings.secret_seal``: an HMAC of a fixed
text under the key, which reveals nothing of it), so a missing or wrong key is refused at once
with one clear line instead of failing every signature.

Key file: 64 hex digits and a newline, mode 0600 (one readable by group or others is refused, as
ssh refuses such a private key).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat

from simulator.cloud.store import RegistryError

SEALED = b"\x01"
KEY_BYTES = 32
_CHECK_TEXT = b"dakoku terminal secrets v1"


class SecretBox:
    """Seals and opens terminal secrets under one key."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != KEY_BYTES:
            raise RegistryError("a secret key is %d bytes" % KEY_BYTES)
        self._aead = AESGCM(key)
        self.fingerprint = hmac.new(key, _CHECK_TEXT, hashlib.sha256).hexdigest()

    def seal(self, secret: bytes, tenant: str, terminal_id: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return SEALED + nonce + self._aead.encrypt(nonce, bytes(secret), _aad(tenant, terminal_id))

    def open(self, sealed: bytes, tenant: str, terminal_id: str) -> bytes:
        from cryptography.exceptions import InvalidTag

        sealed = bytes(sealed)
        if not sealed.startswith(SEALED) or len(sealed) < 1 + 12 + 16:
            raise RegistryError(f"the secret of terminal {terminal_id} in {tenant} is not sealed")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], _aad(tenant, terminal_id))
        except InvalidTag:
            raise RegistryError(
                f"the secret of terminal {terminal_id} in {tenant} does not open with this key"
            ) from None


def _aad(tenant: str, terminal_id: str) -> bytes:
    return ("%s/%s" % (tenant, terminal_id)).encode()


def read_key_file(path: str) -> bytes:
    """The key in ``path``; RegistryError (one line) if it is unreadable, malformed or not
    private."""
    try:
        mode = os.stat(path).st_mode
        with open(path, encoding="ascii") as fh:
            text = fh.read().strip()
    except FileNotFoundError:
        raise RegistryError(f"secret key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RegistryError(f"cannot read secret key file {path}: {e}") from None
    if stat.S_IMODE(mode) & 0o077:
        raise RegistryError(
            f"secret key file {path} is readable by others (mode {stat.S_IMODE(mode):o}): "
            "chmod 600 it"
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise RegistryError(f"secret key file {path}: not %d hex digits" % (2 * KEY_BYTES))
    return key


def create_key_file(path: str) -> bytes:
    """A new random key written to ``path`` (which must not exist), mode 0600 from creation."""
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise RegistryError(f"cannot create secret key file {path}: {e.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key
