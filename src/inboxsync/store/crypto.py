"""Credentials at rest: AES-256-GCM with a key from ``INBOXSYNC_SECRET_KEY`` or a 0600 key file.

Sealed values are ``b"\\x01" + nonce(12) + ciphertext``; the leading version byte leaves room for
key rotation. API keys are not encrypted but hashed (:func:`hash_api_key`): they are random and long,
so one SHA-256 is enough and lookups stay an index probe.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from inboxsync.errors import ConfigError, StorageError

_VERSION = b"\x01"
KEY_FILE_NAME = "secret.key"


def load_or_create_key(secret_key: str | None, data_dir: Path) -> bytes:
    """The 32-byte key: from the setting if given, else from (or into) ``<data_dir>/secret.key``."""
    if secret_key:
        return _decode_key(secret_key.strip(), "INBOXSYNC_SECRET_KEY")
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        return _decode_key(path.read_text().strip(), str(path))
    data_dir.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=256)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.urlsafe_b64encode(key).decode() + "\n")
    return key


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{where}: not base64") from exc
    if len(key) != 32:
        raise ConfigError(f"{where}: the key must be 32 bytes (base64), not {len(key)}")
    return key


class Sealer:
    """Encrypts and decrypts credential blobs."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, value: dict[str, Any]) -> bytes:
        nonce = os.urandom(12)
        plaintext = json.dumps(value, separators=(",", ":")).encode()
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, _VERSION)

    def open(self, sealed: bytes) -> dict[str, Any]:
        if not sealed.startswith(_VERSION) or len(sealed) < 29:
            raise StorageError("sealed credentials have an unknown format")
        try:
            plaintext = self._aead.decrypt(sealed[1:13], sealed[13:], _VERSION)
        except InvalidTag as exc:
            raise ConfigError(
                "credentials cannot be decrypted: wrong INBOXSYNC_SECRET_KEY?"
            ) from exc
        value = json.loads(plaintext)
        if not isinstance(value, dict):
            raise StorageError("sealed credentials are not an object")
        return value


API_KEY_PREFIX = "isk_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
