"""The request log: what the client under test asked for and what it got.

One entry per request (never for /_mock/*), added when the response starts and
finalised when it ends:

  seq, time (epoch s, request arrival), conn (connection number: equal for requests on
  one kept-alive connection), tls (protocol version), method, path, query, headers
  ({lowercased name: value}, repeated names joined with ", "), range (the Range header or
  null), request_body_bytes (a request body is never stored, only its length), status
  and content_length (what the reply announced; both null when a reset_before_headers
  rule sent no reply), body_bytes_sent, complete (the whole body
  went out), fault (id of the fault rule applied, or null), why (a module's reason for
  refusing the request, e.g. "header hasExplicit missing or malformed", or null).

Entries are plain JSON, so tests in C and Python read them alike. The copy in --log-file
is for people reading a test run afterwards and is kept with the run's outputs, which
the secrets scan reads (tests/secrets/scan.py): there the credentials of the wire are
replaced by "<redacted>" (the Authorization and X-Api-Key headers, the sig of a signed
URL's query); the listing on the control channel keeps them for the tests. A response in its
final write is "finishing": a listing waits (bounded) for those, so a client that has
just read the last byte of a reply and then asks for the log sees that reply complete.
"""

import collections
import json
import re
import threading
import time

# Entries kept; the oldest go first.
ENTRIES_MAX = 10_000
# Longest a listing waits for responses in their final write (s).
SETTLE_WAIT_S = 2.0
# What the --log-file copy leaves out (see above).
REDACTED_HEADERS = ("authorization", "x-api-key")
_SIG = re.compile(r"(^|&)(sig=)[^&]*")


class RequestLog:
    def __init__(self, log_file=None):
        self._cond = threading.Condition()
        self._entries = collections.deque(maxlen=ENTRIES_MAX)
        self._seq = 0
        self._finishing = 0
        self._file = open(log_file, "a", encoding="utf-8") if log_file else None

    def begin(self, fields):
        """Add an entry (a dict: the fields above, minus seq) and return it."""
        with self._cond:
            self._seq += 1
            entry = {"seq": self._seq}
            entry.update(fields)
            entry.setdefault("body_bytes_sent", 0)
            entry.setdefault("complete", False)
            entry["_finishing"] = False
            self._entries.append(entry)
            return entry

    def finishing(self, entry):
        """The response of `entry` is about to write its last bytes."""
        with self._cond:
            if not entry["_finishing"]:
                entry["_finishing"] = True
                self._finishing += 1

    def end(self, entry, complete):
        """The response of `entry` is over (complete or not)."""
        with self._cond:
            entry["complete"] = bool(complete)
            if entry["_finishing"]:
                entry["_finishing"] = False
                self._finishing -= 1
            self._cond.notify_all()
            if self._file:
                self._file.write(json.dumps(_redacted(_public(entry))) + "\n")
                self._file.flush()

    def list(self, since=0):
        """Snapshot of the entries with seq > since, oldest first."""
        deadline = time.monotonic() + SETTLE_WAIT_S
        with self._cond:
            while self._finishing > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return [_public(e) for e in self._entries if e["seq"] > since]

    def clear(self):
        """Drop all entries; seq keeps counting up."""
        with self._cond:
            n = len(self._entries)
            self._entries.clear()
            return n

    def count(self):
        with self._cond:
            return self._seq

    def close(self):
        with self._cond:
            if self._file:
                self._file.close()
                self._file = None


def _public(entry):
    return {k: v for k, v in entry.items() if not k.startswith("_")}


def _redacted(entry):
    """The entry without the wire's credentials, for the --log-file copy."""
    out = dict(entry)
    headers = dict(out.get("headers") or {})
    for name in REDACTED_HEADERS:
        if name in headers:
            headers[name] = "<redacted>"
    out["headers"] = headers
    if out.get("query"):
        out["query"] = _SIG.sub(r"\1\2<redacted>", out["query"])
    return out
