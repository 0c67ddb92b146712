"""The composition point: settings -> adapters. Handlers ask for `get_runtime()` lazily
(at the first request, not at import) and pass its parts to services."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tpm.adapters.keys import open_master_key
from tpm.adapters.keys.base import MasterKey
from tpm.adapters.store import open_store
from tpm.adapters.store.base import Store
from tpm.clock import Clock, SystemClock
from tpm.config import Settings, get_settings
from tpm.security.envelope import FieldCipher


@dataclass
class Runtime:
    settings: Settings
    store: Store
    master_key: MasterKey
    cipher: FieldCipher
    clock: Clock


_lock = threading.Lock()
_runtime: Runtime | None = None


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    clock = clock or SystemClock()
    store = open_store(settings.store_url)
    master = open_master_key(settings.keys_url)
    cipher = FieldCipher(
        master,
        store,
        clock,
        cache_size=settings.data_key_cache_size,
        cache_seconds=settings.data_key_cache_seconds,
        data_key_max_age_days=settings.data_key_max_age_days,
    )
    return Runtime(settings=settings, store=store, master_key=master, cipher=cipher, clock=clock)


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = build_runtime(get_settings())
    return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    """Tests and `tpm dev` install a runtime explicitly."""
    global _runtime
    with _lock:
        _runtime = runtime
