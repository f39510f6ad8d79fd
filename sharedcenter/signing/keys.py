"""Private keys at rest: PKCS#8 encrypted with a passphrase derived from the deployment secret,
in files of mode 0600.  Keys are never logged and never stored in the database."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from sharedcenter.errors import ImproperlyConfigured

__all__ = ["generate_key", "key_passphrase", "read_private_key", "write_private_key"]


def generate_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A new RSA key (RSA is what every PDF reader and ``pdfsig``/NSS verify)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def key_passphrase(secret_key: str, name: str) -> bytes:
    """The passphrase of the key file ``name``: HMAC-SHA256 of the name under the deployment secret."""
    return hmac.new(secret_key.encode(), f"sharedcenter-key:{name}".encode(), hashlib.sha256).hexdigest().encode()


def write_private_key(path: Path, key: rsa.RSAPrivateKey, passphrase: bytes) -> None:
    """Write ``key`` encrypted to ``path``, created with mode 0600 (never readable by others).

    Raises
    ------
    FileExistsError
        ``path`` exists: a key is never overwritten.
    """
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def read_private_key(path: Path, passphrase: bytes) -> PrivateKeyTypes:
    """Load an encrypted key file.

    Raises
    ------
    ImproperlyConfigured
        The file is missing, readable by others, or cannot be decrypted with this deployment's secret.
    """
    if not path.is_file():
        raise ImproperlyConfigured(f"signing key file {path} is missing")
    if path.stat().st_mode & 0o077:
        raise ImproperlyConfigured(f"signing key file {path} is readable by others; chmod 600 it")
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"cannot decrypt signing key {path.name} (secret key changed?)") from exc
