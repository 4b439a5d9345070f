"""Fault rules: what a test asks the mock to break, and for which requests.

A rule is a JSON object (see README.md, "Fault rules"). Rules are checked in the order
they were added; the first active rule whose path matches a request, and whose other
conditions all hold, applies to it:
  method                       the request's method
  query  {"name", "value"}     a query parameter of that name has exactly that value
  header {"name"[, "value"]}   a request header of that name (case-insensitive) has
                               exactly that value, or is present when "value" is absent
  form   {"name", "value"}     the body is application/x-www-form-urlencoded and a field
                               of that name has exactly that value
Rules are matched after the request body is read, so "form" sees it. A rule with a
count applies to that many requests and then stays listed as inactive (remaining 0)
until the rules are cleared.
"""

import re
import threading
import urllib.parse

# Most rules held at once (active or used up); more gives 400 until cleared.
RULES_MAX = 256
# Longest delay a rule may ask for (ms): a test must never wait forever.
DELAY_MS_MAX = 120_000
# Longest body a status rule may carry (bytes).
RULE_BODY_MAX = 64 * 1024
# Longest body once a body_repeat is expanded (bytes): room for a body over the client's
# bounds (a 4 MiB manifest) from a short rule.
RULE_BODY_EXPANDED_MAX = 16 << 20

_INT_FIELDS = {
    # name: (lowest, highest)
    "status": (200, 599),
    "count": (0, 1_000_000),
    "retry_after": (0, 86_400),
    "delay_ms": (0, DELAY_MS_MAX),
    "rate_bps": (1, 1 << 40),
    "close_after_bytes": (0, 1 << 40),
    "short_body": (1, 1 << 40),
    "flip_byte": (0, 1 << 40),
}
_STR_FIELDS = {"path": 1024, "method": 16, "body": RULE_BODY_MAX, "content_type": 256,
               "content_range": 256}
_BOOL_FIELDS = ("ignore_range", "reset_before_headers")
# Conditions on more than the path: field -> is "value" required?
_MATCH_FIELDS = {"query": True, "header": False, "form": True}
# Longest name and value of a condition (chars).
MATCH_NAME_MAX = 256
MATCH_VALUE_MAX = 4096
# Form fields parsed from a body when a rule asks (more: the condition does not hold).
FORM_FIELDS_MAX = 1000
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 header name


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
        elif key in _MATCH_FIELDS:
            val = _validate_condition(key, val, _MATCH_FIELDS[key])
        elif key == "body_repeat":
            val = _validate_repeat(val)
        else:
            raise FaultError("unknown field %r" % key)
        rule[key] = val
    if not rule.get("path", "").startswith("/"):
        raise FaultError("path: required, starts with /")
    if "method" in rule:
        rule["method"] = rule["method"].upper()
    if "body_repeat" in rule:
        rep = rule["body_repeat"]
        if rep["marker"] not in rule.get("body", ""):
            raise FaultError("body_repeat: its marker is not in body")
        size = len(rule["body"].encode()) + rep["times"] * len(rep["text"].encode())
        if size > RULE_BODY_EXPANDED_MAX:
            raise FaultError("body_repeat: the body would exceed %d bytes"
                             % RULE_BODY_EXPANDED_MAX)
    return rule


def _validate_repeat(val):
    if not isinstance(val, dict) or set(val) != {"marker", "text", "times"}:
        raise FaultError("body_repeat: an object {\"marker\", \"text\", \"times\"}")
    for k in ("marker", "text"):
        if not isinstance(val[k], str) or not 1 <= len(val[k]) <= 4096:
            raise FaultError("body_repeat.%s: a string of 1..4096 chars" % k)
    t = val["times"]
    if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= RULE_BODY_EXPANDED_MAX:
        raise FaultError("body_repeat.times: an integer in 0..%d" % RULE_BODY_EXPANDED_MAX)
    return dict(val)


def body_of(rule):
    """A status rule's body as bytes (its body_repeat expanded)."""
    body = rule.get("body", "mock fault: status %d\n" % rule["status"])
    rep = rule.get("body_repeat")
    if rep:
        body = body.replace(rep["marker"], rep["text"] * rep["times"], 1)
    return body.encode()


def _validate_condition(key, val, value_required):
    if not isinstance(val, dict):
        raise FaultError("%s: an object {\"name\", \"value\"}" % key)
    extra = set(val) - {"name", "value"}
    if extra:
        raise FaultError("%s: unknown field %r" % (key, sorted(extra)[0]))
    name = val.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= MATCH_NAME_MAX:
        raise FaultError("%s.name: a string of 1..%d chars" % (key, MATCH_NAME_MAX))
    if key == "header" and not _TOKEN.match(name):
        raise FaultError("header.name: a header name (an RFC 9110 token)")
    if "value" not in val:
        if value_required:
            raise FaultError("%s.value: required" % key)
    elif not isinstance(val["value"], str) or len(val["value"]) > MATCH_VALUE_MAX:
        raise FaultError("%s.value: a string of at most %d chars" % (key, MATCH_VALUE_MAX))
    for part in (name, val.get("value", "")):
        if any(c in part for c in "\r\n\0"):
            raise FaultError("%s: control characters" % key)
    return dict(val)


def _form_fields(req):
    """The request's form fields ({name: [values]}), or None when it has no form body."""
    ctypes = req.headers.get_all("Content-Type") or []
    if len(ctypes) != 1 or \
            ctypes[0].split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return None
    try:
        return urllib.parse.parse_qs(req.body.decode("utf-8"), keep_blank_values=True,
                                     max_num_fields=FORM_FIELDS_MAX)
    except (UnicodeDecodeError, ValueError):
        return None


class _Conditions:
    """A request as the conditions of a rule see it; the form is parsed once, if asked."""

    def __init__(self, req):
        self.req = req
        self._form = False

    def form(self):
        if self._form is False:
            self._form = _form_fields(self.req)
        return self._form

    def hold(self, rule):
        q = rule.get("query")
        if q is not None and q["value"] not in self.req.params.get(q["name"], ()):
            return False
        h = rule.get("header")
        if h is not None:
            # Names are case-insensitive; a value is the field value of RFC 9110 §5.5,
            # without the whitespace around it.
            vals = [v.strip(" \t") for v in self.req.headers.get_all(h["name"]) or []]
            if not (h["value"] in vals if "value" in h else vals):
                return False
        f = rule.get("form")
        if f is not None:
            fields = self.form()
            if fields is None or f["value"] not in fields.get(f["name"], ()):
                return False
        return True


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

    def match(self, req):
        """Return a copy of the first active rule matching req (a router.Request whose
        body has been read), counting the use, or None."""
        method, path, cond = req.method, req.path, _Conditions(req)
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
                if not cond.hold(r):
                    continue
                r["hits"] += 1
                if "remaining" in r:
                    r["remaining"] -= 1
                return dict(r)
            return None
