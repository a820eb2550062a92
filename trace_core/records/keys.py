"""The server's Ed25519 signing key: loaded from (or created at) a PEM file, identified by a
short fingerprint of its public key so that rotated keys can still verify old signatures.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True)
class ServerSigningKey:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    @property
    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private_key.sign(message)).decode("ascii")

    @classmethod
    def generate(cls) -> ServerSigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> ServerSigningKey:
        """Read the key at ``path``; on first start create it, readable by the owner only."""
        if path.exists():
            return cls.load(path)
        key = cls.generate()
        key.write_pem(path)
        return key

    def write_pem(self, path: Path) -> None:
        """Write the private key to a new file readable by the owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)

    @classmethod
    def load(cls, path: Path) -> ServerSigningKey:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return cls(loaded)


def verify_with_pem(public_pem: str, message: bytes, signature_b64: str) -> bool:
    public_key = serialization.load_pem_public_key(public_pem.encode("ascii"))
    if not isinstance(public_key, Ed25519PublicKey):
        return False
    try:
        public_key.verify(base64.b64decode(signature_b64), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def key_id_of_pem(public_pem: str) -> str:
    """The key id of a PEM public key; empty when it is not an Ed25519 key."""
    try:
        public_key = serialization.load_pem_public_key(public_pem.encode("ascii"))
    except ValueError:
        return ""
    if not isinstance(public_key, Ed25519PublicKey):
        return ""
    return key_id_of(public_key)
