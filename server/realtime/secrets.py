"""Short-lived `ek_…` keys for live transcription, so that a page can open a session without a real key.

A key carries its expiry, the session it was minted for (as compact JSON), and a MAC made with a
secret derived from the server's API keys: every replica with the same keys accepts it, and nothing
is stored. It opens realtime sessions only; the HTTP routes still want a real key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

PREFIX = "ek_"
EPHEMERAL_SESSION = "realtime_ephemeral_session"
"""Where the key check leaves, in a socket's scope state, the session its `ek_` key was minted for."""
MIN_S, MAX_S, DEFAULT_S = 10, 7200, 600


class EphemeralKeys:
    def __init__(self, api_keys: frozenset[str]) -> None:
        material = b"\n".join(sorted(hashlib.sha256(k.encode()).digest() for k in api_keys))
        self._secret = hashlib.sha256(b"audio-server ephemeral keys\n" + material).digest()

    def mint(self, seconds: int, session: dict[str, Any] | None = None, now: float | None = None) -> tuple[str, int]:
        """A new key, for sessions that start as `session` says, and the unix time it expires at."""
        expires_at = int((time.time() if now is None else now) + seconds)
        body = f"{expires_at:x}.{secrets.token_hex(8)}"
        if session:
            packed = json.dumps(session, separators=(",", ":")).encode()
            body += "." + base64.urlsafe_b64encode(packed).decode().rstrip("=")
        return f"{PREFIX}{body}.{self._mac(body)}", expires_at

    def session(self, key: bytes | str | None, now: float | None = None) -> dict[str, Any] | None:
        """The session a valid key was minted for ({} for none); None when the key is not valid."""
        text = key.decode("latin-1") if isinstance(key, bytes) else key
        if not text or not text.startswith(PREFIX):
            return None
        body, _, mac = text[len(PREFIX) :].rpartition(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        expiry, _, rest = body.partition(".")
        _, _, packed = rest.partition(".")
        try:
            if int(expiry, 16) <= (time.time() if now is None else now):
                return None
            if not packed:
                return {}
            found = json.loads(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)))
        except (ValueError, binascii.Error):
            return None
        return found if isinstance(found, dict) else None

    def valid(self, key: bytes | str | None, now: float | None = None) -> bool:
        return self.session(key, now) is not None

    def _mac(self, body: str) -> str:
        return hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()[:32]
