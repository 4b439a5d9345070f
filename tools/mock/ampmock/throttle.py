"""The bandwidth throttle: one link of a given speed that the bodies of matching replies
share, set, changed and lifted while replies are being sent (POST/GET/DELETE
/_mock/throttle, see README.md "Bandwidth throttle").

Unlike a fault rule's rate_bps (fixed per reply when the reply starts), the throttle is
looked up for every chunk a reply writes, so a change applies to replies already under
way, and all matching replies together get rate_bps (as on one shared link). It is a
virtual clock of when the link is next free: a chunk of n bytes waits until then, and
moves it on by n / rate. Waiting is a condition variable with a timeout (notified when
the throttle changes), never a busy loop.
"""

import threading
import time

# The fastest a throttle may be set to (bytes/s) and the longest path pattern.
RATE_MAX = 1 << 40
PATH_MAX = 1024
# Chunks a throttled reply is cut into: at most this many bytes, and at most 1/20 s of
# the rate, so that pacing is smooth and a change applies within a chunk.
CHUNK_BYTES = 16 * 1024


class ThrottleError(ValueError):
    pass


def validate(obj):
    """{"path": p, "rate_bps": n} from a test -> (p, n), or raise ThrottleError."""
    if not isinstance(obj, dict) or set(obj) - {"path", "rate_bps"} or "rate_bps" not in obj:
        raise ThrottleError("throttle: {\"rate_bps\": n[, \"path\": p]}")
    rate = obj["rate_bps"]
    if isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate <= RATE_MAX:
        raise ThrottleError("rate_bps: an integer in 0..%d (0 lifts the throttle)" % RATE_MAX)
    path = obj.get("path", "/*")
    if not isinstance(path, str) or not path.startswith("/") or len(path) > PATH_MAX or \
            any(c in path for c in "\r\n\0"):
        raise ThrottleError("path: starts with /, at most %d chars" % PATH_MAX)
    return path, rate


def path_matches(pattern, path):
    """A fault rule's path rule: exact, or a prefix when the pattern ends with '*'."""
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


class Throttle:
    """Shared by all connection threads."""

    def __init__(self):
        self._cond = threading.Condition()
        self._path = None
        self._rate = 0
        self._free_at = 0.0  # time.monotonic() when the link is next idle
        self._bytes = 0  # body bytes sent under a throttle since start
        self._waited = 0.0  # seconds replies spent waiting for the link

    def set(self, path, rate):
        """Throttle replies to path (pattern) at rate bytes/s; rate 0 lifts it."""
        with self._cond:
            self._path, self._rate = (path, rate) if rate else (None, 0)
            self._free_at = 0.0  # a new link starts idle
            self._cond.notify_all()
            return self._state()

    def state(self):
        with self._cond:
            return self._state()

    def _state(self):
        return {"path": self._path, "rate_bps": self._rate, "throttled_bytes": self._bytes,
                "waited_s": round(self._waited, 3)}

    def chunk_size(self, path, default):
        """How to cut a reply to path: small chunks while a throttle could apply to it."""
        with self._cond:
            if self._rate and path_matches(self._path, path):
                return max(1, min(default, CHUNK_BYTES, self._rate // 20))
        return default

    def take(self, path, n):
        """Wait until n body bytes of a reply to path may go out (at once when no
        throttle matches; a throttle set, changed or lifted meanwhile counts at once)."""
        with self._cond:
            while self._rate and path_matches(self._path, path):
                now = time.monotonic()
                if self._free_at <= now:
                    self._free_at = now + n / self._rate
                    self._bytes += n
                    return
                start = now
                self._cond.wait(self._free_at - now)
                self._waited += time.monotonic() - start
