"""Short-lived `ek_…` keys for live transcription, so that a page can open a session without a real key.

A key carries its own expiry and a MAC made with a secret derived from the server's API keys, so every
replica with the same keys accepts it, and nothing is stored. It opens realtime sessions only: the
HTTP routes still want a real key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

PREFIX = "ek_"
MIN_S, MAX_S, DEFAULT_S = 10, 7200, 600


class EphemeralKeys:
    def __init__(self, api_keys: frozenset[str]) -> None:
        material = b"\n".join(sorted(hashlib.sha256(k.encode()).digest() for k in api_keys))
        self._secret = hashlib.sha256(b"audio-server ephemeral keys\n" + material).digest()

    def mint(self, seconds: int, now: float | None = None) -> tuple[str, int]:
        """A new key and the unix time it expires at."""
        expires_at = int((time.time() if now is None else now) + seconds)
        body = f"{expires_at:x}_{secrets.token_hex(8)}"
        return f"{PREFIX}{body}_{self._mac(body)}", expires_at

    def valid(self, key: bytes | str | None, now: float | None = None) -> bool:
        text = key.decode("latin-1") if isinstance(key, bytes) else key
        if not text or not text.startswith(PREFIX):
            return False
        body, _, mac = text[len(PREFIX) :].rpartition("_")
        expiry, _, _ = body.partition("_")
        try:
            expires_at = int(expiry, 16)
        except ValueError:
            return False
        return hmac.compare_digest(mac, self._mac(body)) and expires_at > (time.time() if now is None else now)

    def _mac(self, body: str) -> str:
        return hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()[:32]
