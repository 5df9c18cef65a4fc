"""Device cookies: proof that a client logged in as a user before (OWASP's "device
cookies" against lock-out by strangers). After a successful login the API hands out a
signed note "this client logged in as NAME"; the dashboard keeps it in a long-lived
cookie and shows it at the next login. A login that brings a valid one for the name it
tries is counted apart from everyone else's failures (backend/ratelimit.py), so guessing
by others never locks the operator's own browser out.

The note is HMAC-SHA256-signed with a key from the settings, or kept in data_dir/device_key
(made once, mode 0600): it survives restarts, and nothing about it is stored per client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

PREFIX = "ksd_"
MAX_AGE_S = 180 * 86400  # a browser not used to log in for half a year counts as new


class DeviceCookies:
    def __init__(self, key: str, max_age_s: float = MAX_AGE_S,
                 clock: Callable[[], float] = time.time) -> None:
        self._key = key.encode()
        self.max_age_s = max_age_s
        self.clock = clock

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def issue(self, name: str) -> str:
        """A new device cookie for a client that has just logged in as `name`."""
        payload = f"{name.lower()}|{int(self.clock())}|{secrets.token_hex(8)}".encode()
        return PREFIX + base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + \
            self._sign(payload)

    def check(self, cookie: str | None, name: str) -> str | None:
        """The key the cookie's failures count under when it is valid for `name` (signed
        here, for that name, not too old); None otherwise."""
        if not cookie or not cookie.startswith(PREFIX) or len(cookie) > 512:
            return None
        encoded, _, signature = cookie[len(PREFIX):].partition(".")
        try:
            payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            who, issued, _nonce = payload.decode().split("|")
            age = self.clock() - int(issued)
        except ValueError:  # bad base64, not UTF-8, not three fields, not a number
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        if who != name.lower() or not 0 <= age <= self.max_age_s:
            return None
        return hashlib.sha256(payload).hexdigest()[:32]
