"""The local identity provider: tokens signed with an Ed25519 key kept in the data dir.

The private key is a PEM file readable only by its owner (0600, in a 0700 directory),
created on first use. Rotation moves the current key aside as a retired key whose public
half stays in the JWKS, so tokens signed before the rotation verify until they expire;
`prune_retired` removes retired keys once that can no longer matter.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import Final

from jwt import PyJWK

from tpm.clock import Clock, SystemClock
from tpm.security.tokens import (
    LOCAL_ALGORITHM,
    LocalSigner,
    StaticJwks,
    TokenUse,
    TokenVerifier,
    generate_signing_key,
    key_id,
    load_signing_key,
)

CURRENT_KEY_FILE: Final = "token-signing.pem"
RETIRED_PREFIX: Final = "token-signing-retired-"


class LocalIdentity:
    name = "local"
    credentials_at_provider = False  # our own password hashes and TOTP secrets
    api_token_use: TokenUse = "access"  # noqa: S105 - a token kind, not a secret

    def __init__(
        self, key_dir: Path, *, issuer: str, audience: str, clock: Clock | None = None
    ) -> None:
        self._dir = Path(key_dir)
        self._issuer = issuer
        self._audience = audience
        self._clock: Clock = clock or SystemClock()
        self._signer: LocalSigner | None = None
        self._lock = threading.Lock()

    @property
    def signer(self) -> LocalSigner:
        with self._lock:
            if self._signer is None:
                self._signer = self._load_signer()
            return self._signer

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return self.signer.jwks()

    def verifier(self, token_use: TokenUse | None = None) -> TokenVerifier:
        return TokenVerifier(
            _SignerJwks(self),
            issuer=self._issuer,
            audience=self._audience,
            allowed_algs=[LOCAL_ALGORITHM],
            expected_token_use=token_use or self.api_token_use,
            clock=self._clock,
        )

    def rotate_signing_key(self) -> str:
        """Start signing with a new key; the old one stays published. Returns the new kid."""
        with self._lock:
            current = self._dir / CURRENT_KEY_FILE
            if current.exists():
                old = load_signing_key(_read_private(current))
                current.replace(self._dir / f"{RETIRED_PREFIX}{key_id(old.public_key())}.pem")
            self._signer = self._load_signer()
            return self._signer.kid

    def prune_retired(self) -> int:
        """Forget retired keys (after the longest token lifetime has passed)."""
        with self._lock:
            retired = list(self._dir.glob(f"{RETIRED_PREFIX}*.pem"))
            for path in retired:
                path.unlink()
            self._signer = None
            return len(retired)

    def _load_signer(self) -> LocalSigner:
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        current = self._dir / CURRENT_KEY_FILE
        if not current.exists():
            _create_private(current)
        private_key = load_signing_key(_read_private(current))
        retired = [
            load_signing_key(_read_private(path)).public_key()
            for path in sorted(self._dir.glob(f"{RETIRED_PREFIX}*.pem"))
        ]
        return LocalSigner(
            private_key,
            issuer=self._issuer,
            audience=self._audience,
            clock=self._clock,
            retired_keys=retired,
        )


class _SignerJwks:
    """The provider's own published keys, re-read on refresh (after a rotation)."""

    def __init__(self, identity: LocalIdentity) -> None:
        self._identity = identity
        self._keys = StaticJwks(identity.jwks())

    def get(self, kid: str) -> PyJWK | None:
        return self._keys.get(kid)

    def refresh(self) -> None:
        self._keys = StaticJwks(self._identity.jwks())


def _create_private(path: Path) -> None:
    """Write the key to a private temp file, then link it into place.

    link() fails if the name exists, so two processes starting together cannot both
    install a key, and a reader never sees a half-written file.
    """
    pem, _ = generate_signing_key()
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".token-signing-")
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates it 0600
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp_name, path)
    finally:
        os.unlink(temp_name)


def _read_private(path: Path) -> bytes:
    if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise PermissionError(f"{path.name} must be readable only by its owner (chmod 600)")
    return path.read_bytes()
