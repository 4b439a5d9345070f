"""The secrets ledger: every secret the mock hands out, written as it is handed out, so
that a test run can look for each one in everything it wrote (tests/secrets/scan.py).

    --secrets-ledger FILE      append here; by default, when AMPD_TEST_LEDGER_DIR is set
                               (ctest sets it for every test, tests/CMakeLists.txt),
                               $AMPD_TEST_LEDGER_DIR/ampmock-<pid>.ledger

One line per secret, "<kind> <form> <value>": form "s" is the text as sent, "x" the hex
of bytes (a content key). Kinds: access_token, refresh_token, device_code (the user code
is not one: it is shown to the user by design, docs/service.md §2), cdn_sig (the sig of a
signed CDN URL), license (a license reply's base64 body), content_key (a key a license
or a SPEKE reply carried), speke_api_key (the X-Api-Key the speke module accepts, and
the secret of its --speke-sigv4 credentials).

Each line goes out in one write(2) on an O_APPEND descriptor, so a mock that is killed
has already recorded what it issued, and concurrent handlers never interleave a line.
The ledger holds the secrets themselves: it lives outside the scanned tree and is for
test runs only. Nothing is recorded without a ledger.
"""

import os
import threading

SEEN_MAX = 100_000  # lines remembered to write each secret once (beyond: written again)
KINDS = ("access_token", "refresh_token", "device_code", "cdn_sig", "license",
         "content_key", "speke_api_key")


class Ledger:
    def __init__(self, path=None):
        if path is None and os.environ.get("AMPD_TEST_LEDGER_DIR"):
            d = os.environ["AMPD_TEST_LEDGER_DIR"]
            os.makedirs(d, mode=0o700, exist_ok=True)
            path = os.path.join(d, "ampmock-%d.ledger" % os.getpid())
        self._fd = None
        self._lock = threading.Lock()
        self._seen = set()
        if path:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                               0o600)

    def record(self, kind, value):
        """Record one secret: value is str (as sent) or bytes (written in hex)."""
        if self._fd is None or not value:
            return
        if kind not in KINDS:
            raise ValueError("unknown secret kind %r" % kind)
        line = "%s %s %s\n" % ((kind, "x", value.hex()) if isinstance(value, bytes)
                               else (kind, "s", value))
        with self._lock:
            if line in self._seen:  # a catalog key granted a thousand times: once
                return
            if len(self._seen) < SEEN_MAX:
                self._seen.add(line)
            os.write(self._fd, line.encode("utf-8"))

    def close(self):
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
