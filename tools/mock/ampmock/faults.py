"""Fault rules: what a test asks the mock to break, and for which requests.

A rule is a JSON object (see README.md, "Fault rules"). Rules are checked in the order
they were added; the first active rule whose path (and method, if given) matches a
request applies to it. A rule with a count applies to that many requests and then stays
listed as inactive (remaining 0) until the rules are cleared.
"""

import threading

# Most rules held at once (active or used up); more gives 400 until cleared.
RULES_MAX = 256
# Longest delay a rule may ask for (ms): a test must never wait forever.
DELAY_MS_MAX = 120_000
# Longest body a status rule may carry (bytes).
RULE_BODY_MAX = 64 * 1024

_INT_FIELDS = {
    # name: (lowest, highest)
    "status": (200, 599),
    "count": (0, 1_000_000),
    "retry_after": (0, 86_400),
    "delay_ms": (0, DELAY_MS_MAX),
    "rate_bps": (1, 1 << 40),
    "close_after_bytes": (0, 1 << 40),
    "short_body": (1, 1 << 40),
}
_STR_FIELDS = {"path": 1024, "method": 16, "body": RULE_BODY_MAX, "content_type": 256,
               "content_range": 256}
_BOOL_FIELDS = ("ignore_range",)


class FaultError(ValueError):
    pass


def validate(obj):
    """Check one rule object from a test; return a clean dict or raise FaultError."""
    if not isinstance(obj, dict):
        raise FaultError("a fault rule is a JSON object")
    rule = {}
    for key, val in obj.items():
        if key in _INT_FIELDS:
            lo, hi = _INT_FIELDS[key]
            if isinstance(val, bool) or not isinstance(val, int) or not lo <= val <= hi:
                raise FaultError("%s: an integer in %d..%d" % (key, lo, hi))
        elif key in _STR_FIELDS:
            if not isinstance(val, str) or len(val) > _STR_FIELDS[key]:
                raise FaultError("%s: a string of at most %d chars" % (key, _STR_FIELDS[key]))
            if key != "body" and any(c in val for c in "\r\n\0"):
                raise FaultError("%s: control characters" % key)
        elif key in _BOOL_FIELDS:
            if not isinstance(val, bool):
                raise FaultError("%s: true or false" % key)
        else:
            raise FaultError("unknown field %r" % key)
        rule[key] = val
    if not rule.get("path", "").startswith("/"):
        raise FaultError("path: required, starts with /")
    if "method" in rule:
        rule["method"] = rule["method"].upper()
    return rule


class FaultStore:
    """The rules, shared by all connection threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []
        self._next_id = 1

    def add(self, rule):
        """Add a validated rule; return its listing (with "id")."""
        with self._lock:
            if len(self._rules) >= RULES_MAX:
                raise FaultError("too many rules (max %d): DELETE /_mock/faults" % RULES_MAX)
            entry = dict(rule)
            entry["id"] = self._next_id
            entry["hits"] = 0
            if entry.get("count"):
                entry["remaining"] = entry["count"]
            self._next_id += 1
            self._rules.append(entry)
            return dict(entry)

    def clear(self):
        with self._lock:
            n = len(self._rules)
            self._rules.clear()
            return n

    def remove(self, rule_id):
        with self._lock:
            for i, r in enumerate(self._rules):
                if r["id"] == rule_id:
                    del self._rules[i]
                    return True
            return False

    def list(self):
        with self._lock:
            return [dict(r, active=r.get("remaining", 1) > 0) for r in self._rules]

    def match(self, method, path):
        """Return a copy of the first active matching rule (counting the use), or None."""
        with self._lock:
            for r in self._rules:
                if r.get("remaining", 1) <= 0:
                    continue
                pat = r["path"]
                if pat.endswith("*"):
                    if not path.startswith(pat[:-1]):
                        continue
                elif path != pat:
                    continue
                if "method" in r and r["method"] != method:
                    continue
                r["hits"] += 1
                if "remaining" in r:
                    r["remaining"] -= 1
                return dict(r)
            return None
