"""The composition point: settings -> adapters. Handlers ask for `get_runtime()` lazily
(at the first request, not at import) and pass its parts to services."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tpm.adapters.archive import Archive, open_archive
from tpm.adapters.audit import open_audit
from tpm.adapters.files import FileStore, open_files
from tpm.adapters.identity import IdentityProvider
from tpm.adapters.identity.factory import open_identity
from tpm.adapters.keys import open_master_key
from tpm.adapters.keys.base import MasterKey
from tpm.adapters.notify import Notifier, open_notifier
from tpm.adapters.store import open_store
from tpm.adapters.store.base import Store
from tpm.adapters.video import VideoService, open_video
from tpm.adapters.workflows import Workflows, open_workflows
from tpm.clock import Clock, SystemClock
from tpm.config import Settings, get_settings
from tpm.security.audit import AuditTrail
from tpm.security.envelope import FieldCipher
from tpm.security.tokens import TokenVerifier


@dataclass
class Runtime:
    settings: Settings
    store: Store
    master_key: MasterKey
    cipher: FieldCipher
    clock: Clock
    identity: IdentityProvider
    audit: AuditTrail
    notifier: Notifier
    files: FileStore
    video: VideoService
    archive: Archive  # the write-once audit archive (tpm.adapters.archive)
    workflows: Workflows
    _verifier: TokenVerifier | None = None

    def verifier(self) -> TokenVerifier:
        """The API bearer-token verifier, built once (it caches the JWKS)."""
        if self._verifier is None:
            self._verifier = self.identity.verifier()
        return self._verifier


_lock = threading.Lock()
_runtime: Runtime | None = None


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    clock = clock or SystemClock()
    store = open_store(settings.store_url, clock=clock)
    master = open_master_key(settings.keys_url)
    cipher = FieldCipher(
        master,
        store,
        clock,
        cache_size=settings.data_key_cache_size,
        cache_seconds=settings.data_key_cache_seconds,
        data_key_max_age_days=settings.data_key_max_age_days,
    )
    signer, sink, trusted_keys = open_audit(settings.audit_url, store, master)
    audit = AuditTrail(signer, sink, clock=clock, trusted_keys=trusted_keys)
    identity = open_identity(
        settings.identity_url,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        clock=clock,
    )
    return Runtime(
        settings=settings,
        store=store,
        master_key=master,
        cipher=cipher,
        clock=clock,
        identity=identity,
        audit=audit,
        notifier=open_notifier(settings.notify_url, region=settings.aws_region),
        files=open_files(settings.files_url, cipher, region=settings.aws_region),
        video=open_video(settings.video_url, region=settings.aws_region),
        archive=open_archive(settings.audit_url, region=settings.aws_region),
        workflows=open_workflows(settings.workflows_url, store, clock, region=settings.aws_region),
    )


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = build_runtime(get_settings())
    return _runtime


@contextmanager
def runtime_installed(runtime: Runtime) -> Iterator[None]:
    """Handlers called in-process meanwhile (the demo seed drives the workflow runner)
    use `runtime`; the one installed before comes back after."""
    global _runtime
    with _lock:
        previous, _runtime = _runtime, runtime
    try:
        yield
    finally:
        with _lock:
            _runtime = previous


def set_runtime(runtime: Runtime | None) -> None:
    """Tests and `tpm dev` install a runtime explicitly."""
    global _runtime
    with _lock:
        _runtime = runtime
