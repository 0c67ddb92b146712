"""A JWKS fetched over HTTPS (Cognito's `/.well-known/jwks.json`) and cached."""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta

from jwt import PyJWK

from tpm.clock import Clock, SystemClock
from tpm.errors import DependencyUnavailable
from tpm.security.tokens import parse_jwks

logger = logging.getLogger(__name__)


def _urllib_fetch(url: str, timeout_seconds: float) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked in HttpJwks
    with urllib.request.urlopen(request, timeout=timeout_seconds) as response:  # noqa: S310
        body: bytes = response.read(1_048_576)
        return body


class HttpJwks:
    """A JWKS fetched over HTTPS and cached for `ttl`.

    Reloads are rate-limited (`min_refresh`) so tokens naming random kids cannot turn the
    verifier into a flood of requests to the identity provider. If a reload fails while
    cached keys exist, the cached keys stay in use; with no keys at all the failure is
    `DependencyUnavailable` (a retryable 503), not the caller's fault.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: timedelta = timedelta(hours=1),
        min_refresh: timedelta = timedelta(minutes=1),
        timeout_seconds: float = 5.0,
        clock: Clock | None = None,
        fetch: Callable[[str, float], bytes] = _urllib_fetch,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        loopback = parsed.hostname in {"localhost", "127.0.0.1", "::1"}
        if parsed.scheme != "https" and not (parsed.scheme == "http" and loopback):
            raise ValueError("a JWKS URL must use https (http only on loopback)")
        self._url = url
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._timeout = timeout_seconds
        self._clock: Clock = clock or SystemClock()
        self._fetch = fetch
        self._keys: dict[str, PyJWK] = {}
        self._loaded_at: datetime | None = None
        self._attempted_at: datetime | None = None
        self._lock = threading.Lock()

    def get(self, kid: str) -> PyJWK | None:
        with self._lock:
            self._load(force=False)
            return self._keys.get(kid)

    def refresh(self) -> None:
        with self._lock:
            self._load(force=True)

    def _load(self, *, force: bool) -> None:
        now = self._clock.now()
        stale = self._loaded_at is None or now - self._loaded_at >= self._ttl
        if not (stale or force):
            return
        if self._attempted_at is not None and now - self._attempted_at < self._min_refresh:
            if not self._keys:
                raise DependencyUnavailable()
            return
        self._attempted_at = now
        try:
            document = json.loads(self._fetch(self._url, self._timeout))
            keys = parse_jwks(document if isinstance(document, dict) else {})
        except (OSError, ValueError) as error:
            logger.warning("jwks_fetch_failed error=%s", type(error).__name__)
            if not self._keys:
                raise DependencyUnavailable() from None
            return
        self._keys = keys
        self._loaded_at = now
