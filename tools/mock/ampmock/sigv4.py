"""AWS Signature Version 4 checking of one request, standard library only.

The SPEKE module's second auth mode (docs/speke.md §8): a real SPEKE endpoint sits behind
API Gateway, which takes only requests signed with SigV4 (the "Authorization:
AWS4-HMAC-SHA256 ..." header) for the service execute-api. The server side of it is:

  canonical request  METHOD \\n canonical URI \\n canonical query \\n canonical headers \\n
                     signed header names \\n hex(SHA-256(body))
  string to sign     AWS4-HMAC-SHA256 \\n x-amz-date \\n scope \\n hex(SHA-256(canonical request))
  signing key        HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request"
  signature          hex(HMAC-SHA256(signing key, string to sign)), compared in constant time

check() returns None for a good signature, else the reason (never a secret), so that the
caller answers 403 before it reads the body as anything but bytes to hash.
"""

import datetime
import hashlib
import hmac
import re
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "execute-api"
MAX_SKEW_S = 15 * 60          # x-amz-date at most 15 minutes off the clock
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
_AUTH = re.compile(r"^AWS4-HMAC-SHA256 +Credential=([^,\s]+), *SignedHeaders=([^,\s]+), *"
                   r"Signature=([0-9a-f]{64})$")
_REGION = re.compile(r"^[a-z0-9-]{1,32}$")
_HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")


def parse_credentials(text):
    """'ACCESS_KEY_ID:SECRET' -> (id, secret); ValueError when either part is empty."""
    akid, sep, secret = (text or "").partition(":")
    if not sep or not akid or not secret:
        raise ValueError("expected ACCESS_KEY_ID:SECRET")
    return akid, secret


def _uri_encode(s, safe):
    return urllib.parse.quote(s, safe=safe)


def canonical_uri(path):
    """The path, each byte outside the unreserved set percent-encoded once ('/' kept)."""
    return _uri_encode(urllib.parse.unquote(path or "/"), "/-_.~") or "/"


def canonical_query(query):
    pairs = []
    for part in (query or "").split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        pairs.append((_uri_encode(urllib.parse.unquote_plus(k), "-_.~"),
                      _uri_encode(urllib.parse.unquote_plus(v), "-_.~")))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def _header_value(headers, name):
    vals = headers.get_all(name) if hasattr(headers, "get_all") else None
    if vals is None:
        v = headers.get(name)
        vals = None if v is None else [v]
    if not vals:
        return None
    return ",".join(" ".join(v.split()) for v in vals)


def signing_key(secret, date, region, service):
    k = hmac.new(("AWS4" + secret).encode("utf-8"), date.encode("ascii"), hashlib.sha256)
    for part in (region, service, "aws4_request"):
        k = hmac.new(k.digest(), part.encode("ascii"), hashlib.sha256)
    return k.digest()


def check(method, path, query, headers, body, access_key_id, secret, now=None):
    """None when the request carries a valid SigV4 signature by (access_key_id, secret)."""
    auth = headers.get("Authorization")
    if not auth:
        return "no Authorization header"
    m = _AUTH.match(auth.strip())
    if not m:
        return "Authorization is not AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature="
    credential, signed, signature = m.groups()
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return "malformed Credential scope"
    akid, date, region, service = parts[:4]
    if not hmac.compare_digest(akid.encode("utf-8"), access_key_id.encode("utf-8")):
        return "unknown access key id"
    if service != SERVICE or not _REGION.match(region):
        return "Credential scope is not <date>/<region>/execute-api/aws4_request"
    names = signed.split(";")
    if names != sorted(names) or len(set(names)) != len(names) or \
            not all(_HEADER_NAME.match(n) for n in names):
        return "SignedHeaders not lower case, sorted and unique"
    if "host" not in names or "x-amz-date" not in names:
        return "SignedHeaders must include host and x-amz-date"
    amz_date = (headers.get("X-Amz-Date") or "").strip()
    if not _AMZ_DATE.match(amz_date):
        return "missing or malformed X-Amz-Date"
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return "missing or malformed X-Amz-Date"
    if date != amz_date[:8]:
        return "Credential date is not the X-Amz-Date's"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if abs((now - when).total_seconds()) > MAX_SKEW_S:
        return "X-Amz-Date more than 15 minutes off"
    canon_headers = ""
    for n in names:
        v = _header_value(headers, n)
        if v is None:
            return "signed header %s missing" % n
        canon_headers += "%s:%s\n" % (n, v)
    creq = "\n".join([method, canonical_uri(path), canonical_query(query), canon_headers,
                      signed, hashlib.sha256(body or b"").hexdigest()])
    scope = "/".join([date, region, service, "aws4_request"])
    sts = "\n".join([ALGORITHM, amz_date, scope,
                     hashlib.sha256(creq.encode("utf-8")).hexdigest()])
    want = hmac.new(signing_key(secret, date, region, service), sts.encode("utf-8"),
                    hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want.encode("ascii"), signature.encode("ascii")):
        return "signature does not match"
    return None
