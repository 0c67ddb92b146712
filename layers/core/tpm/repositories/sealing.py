"""Field sealing for repositories: which fields of a record are encrypted, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tpm.security.envelope import FieldCipher


@dataclass(frozen=True)
class Sealer:
    """Encrypts/decrypts the PHI fields of one record; the AAD binds practice, record kind,
    record id and field name, so a ciphertext copied elsewhere fails to open."""

    cipher: FieldCipher
    practice_id: str
    kind: str
    record_id: str

    def seal(self, field: str, value: str | None) -> str | None:
        if value is None:
            return None
        return self.cipher.encrypt_text(self.practice_id, self.kind, self.record_id, field, value)

    def open(self, field: str, value: Any) -> str | None:
        if value is None:
            return None
        return self.cipher.decrypt_text(
            self.practice_id, self.kind, self.record_id, field, str(value)
        )
