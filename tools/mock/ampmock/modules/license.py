"""The license server (docs/service.md §8, with the ClearKey content of §9 and the
sessions of §10).

Service routes:
  POST /license/<rid>       a session of the api module (docs/service.md §10)
  POST /license/catalog     any key of the catalog, for tests of the license client alone
      body {"licenseChallenge": "<base64 W3C ClearKey request>"}
      Strict, checked in this order:
        401  no "Authorization: Bearer <token>" naming a valid access token of the lwa
             module (auth.check_bearer: unknown or expired on the mock's clock)
        400  Content-Type is not application/json; the body is not a JSON object with a
             string licenseChallenge; that string is not base64; its bytes are not a
             W3C ClearKey request {"kids": ["<base64url 16 bytes>", ...], "type": ".."}
        403  /license/<rid>: a key header of the session (x-amz-music-asin,
             x-amz-music-rid, Cookie rid=<rid>) missing or not exactly its value, or a
             KID that is not the session's ("KID of another session");
             /license/catalog: a required key header is missing (default:
             x-amz-music-asin, x-amz-music-rid, and a Cookie holding rid=), or a KID is
             not in the catalog; any other path: "unknown session"
        200  {"license": "<base64 of the ClearKey JWK set>"} with
             {"keys": [{"kty": "oct", "kid": b64url, "k": b64url}, ...],
              "type": "temporary"} for the requested KIDs, in the order asked, plus
             "expiration" (epoch ms, on the module's clock) when the request carries
             x-amz-music-license-expiration-secs or
             x-alexa-music-license-expiration-test-duration-secs (1..LIFETIME_MAX s;
             another value is a 400). Every reply carries an x-amzn-RequestId; a 403
             records its reason in the request log.

Keys come from the catalog under --root: every keys.json that ampack writes
(tools/ampack/README.md: one line {"kid": "<32 hex>", "key": "<32 hex>"}, one per track
and key variant). The files are read again when a KID is not known yet, so a test may
write its keys after the mock started. The keys the speke module issued (docs/speke.md)
are known as well (after the catalog's), so /license/catalog grants them too.

Test control (under /_mock/, never faulted, never logged):
  GET  /_mock/license         {"posts": n, "granted": n, "required_headers": [...],
                               "clock_offset": s, "keys": n}
  POST /_mock/license/config  {"required_headers": [{"name": n, "contains": s}, ...]}
                              ("contains" optional: a substring the value must hold;
                              for /license/catalog only); also {"wrong_keys": n}:
                              the next n licenses granted carry each key with its bits
                              inverted (a wrong content key; 0 cancels)
  POST /_mock/license/clock   {"advance": s}   move the module's clock forward by s
  POST /_mock/license/reset   {}               default headers, counters 0, clock offset 0
  GET  /_mock/license/granted {"licenses": [{"license": b64 body, "keys": [b64url k]}]}
                              the last GRANTED_MAX licenses granted and their content
                              keys (every license granted is also in the secrets
                              ledger, ledger.py, that tests/secrets/scan.py reads)

Nothing here prints a challenge, a key or a license; the request log keeps only what it
keeps for every request (the headers and the body length). The granted list is served
only on the control channel.
"""

import base64
import binascii
import json
import os
import uuid

from .. import auth
from ..router import HttpError, Response

NAME = "license"
BODY_MAX = 64 * 1024          # a request body (413 beyond)
KIDS_MAX = 64                 # KIDs in one request (400 beyond)
KEYS_FILES_MAX = 100_000      # keys.json files read from the catalog
KEYS_FILE_MAX = 4096          # bytes of one keys.json
REQUIRED_MAX = 32             # required header rules
GRANTED_MAX = 256            # licenses listed by /_mock/license/granted
LIFETIME_MAX = 366 * 86400    # seconds an expiry test header may ask for
EXPIRY_HEADERS = ("x-amz-music-license-expiration-secs",
                  "x-alexa-music-license-expiration-test-duration-secs")
DEFAULT_REQUIRED = ({"name": "x-amz-music-asin"}, {"name": "x-amz-music-rid"},
                    {"name": "Cookie", "contains": "rid="})


def _b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(s):
    if not isinstance(s, str) or not s or len(s) > 64:
        return None
    try:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    except (binascii.Error, ValueError):
        return None


def _scan_keys(root):
    """{kid bytes: key bytes} of every keys.json under root."""
    keys, files = {}, 0
    for dirpath, _dirs, names in os.walk(root):
        if "keys.json" not in names:
            continue
        files += 1
        if files > KEYS_FILES_MAX:
            break
        try:
            with open(os.path.join(dirpath, "keys.json"), "rb") as fp:
                obj = json.loads(fp.read(KEYS_FILE_MAX + 1)[:KEYS_FILE_MAX].decode("utf-8"))
            kid, key = bytes.fromhex(obj["kid"]), bytes.fromhex(obj["key"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if len(kid) == 16 and len(key) == 16:
            keys[kid] = key
    return keys


def _check_rules(rules):
    if not isinstance(rules, list) or len(rules) > REQUIRED_MAX:
        raise HttpError(400, "required_headers: a list of at most %d rules" % REQUIRED_MAX)
    out = []
    for r in rules:
        if not isinstance(r, dict) or set(r) - {"name", "contains"} \
                or not isinstance(r.get("name"), str) or not r["name"] \
                or not isinstance(r.get("contains", ""), str):
            raise HttpError(400, "a rule is {\"name\": n[, \"contains\": s]}")
        out.append(dict(r))
    return out


def register(app):
    st = app.state.setdefault("license", {
        "offset": 0.0, "posts": 0, "granted": 0, "keys": {}, "granted_list": [],
        "required": [dict(r) for r in DEFAULT_REQUIRED],
        "wrong_keys": 0,  # licenses still to grant with wrong keys (/_mock/license/config)
    })

    def now_ms():
        return int((app.now() + st["offset"]) * 1000)

    def lookup(kids):
        """The keys of kids (the catalog's, else those the speke module issued), reading
        the catalog again once if one is unknown; None if a KID is still unknown."""
        speke = app.state.get("speke")
        with app.lock:
            known = st["keys"]
            issued = dict(speke["keys"]) if speke is not None else {}
        if any(k not in known and k not in issued for k in kids):
            known = _scan_keys(app.args.root)
            with app.lock:
                st["keys"] = known
        if any(k not in known and k not in issued for k in kids):
            return None
        return [known.get(k) or issued[k] for k in kids]

    def challenge_kids(req):
        ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise HttpError(400, "Content-Type is not application/json")
        if len(req.body) > BODY_MAX:
            raise HttpError(413, "body too large")
        obj = req.json()
        ch = obj.get("licenseChallenge") if isinstance(obj, dict) else None
        if not isinstance(ch, str) or not ch:
            raise HttpError(400, "no string licenseChallenge")
        try:
            raw = base64.b64decode(ch, validate=True)
            creq = json.loads(raw.decode("utf-8"))
        except (binascii.Error, ValueError):
            raise HttpError(400, "licenseChallenge is not base64 of a ClearKey request") \
                from None
        kids = creq.get("kids") if isinstance(creq, dict) else None
        if not isinstance(kids, list) or not 1 <= len(kids) <= KIDS_MAX \
                or not isinstance(creq.get("type"), str):
            raise HttpError(400, "not a W3C ClearKey request")
        out = []
        for k in kids:
            b = _b64url_decode(k)
            if b is None or len(b) != 16:
                raise HttpError(400, "a KID is not base64url of 16 bytes")
            out.append(b)
        return out

    def expiry_secs(req):
        for name in EXPIRY_HEADERS:
            v = req.headers.get(name)
            if v is None:
                continue
            v = v.strip()
            if not v.isdigit() or not 1 <= int(v) <= LIFETIME_MAX:
                raise HttpError(400, "%s: 1..%d seconds" % (name, LIFETIME_MAX))
            return int(v)
        return None

    def refuse(req, rid, why):
        req.why = why
        return Response.json({"message": why}, 403, [("x-amzn-RequestId", rid)])

    def session_of(req):
        """The api session for this path (None for /license/catalog), or a str: why the
        path is refused."""
        name = req.rest
        if name == "catalog":
            return None
        api = app.state.get("api")
        with app.lock:
            s = api["sessions"].get(name) if api is not None else None
        return s if s is not None else "unknown session"

    def session_refused(s):
        with app.lock:
            s["refused"]["license"] += 1

    def post_license(req):
        rid = str(uuid.uuid4())
        with app.lock:
            st["posts"] += 1
            required = [dict(r) for r in st["required"]]
        refusal = auth.check_bearer(app, req)
        if refusal is not None:
            refusal.headers.append(("x-amzn-RequestId", rid))
            return refusal
        try:
            kids = challenge_kids(req)
            secs = expiry_secs(req)
        except HttpError as e:
            if e.status == 413:
                raise
            return Response.json({"message": str(e)}, 400, [("x-amzn-RequestId", rid)])
        s = session_of(req)
        if isinstance(s, str):
            return refuse(req, rid, s)
        if s is None:
            for r in required:
                v = req.headers.get(r["name"])
                if v is None or r.get("contains", "") not in v:
                    return refuse(req, rid, "key header missing: %s" % r["name"])
            keys = lookup(kids)
            if keys is None:
                return refuse(req, rid, "unknown KID")
        else:
            bad = auth.session_header_mismatch(req, s["key"])
            if bad is not None:
                session_refused(s)
                return refuse(req, rid, "key header missing or wrong: %s" % bad)
            if any(k != s["kid"] for k in kids):
                session_refused(s)
                return refuse(req, rid, "KID of another session")
            keys = lookup(kids)
            if keys is None:
                return refuse(req, rid, "unknown KID")
        with app.lock:
            wrong = st["wrong_keys"] > 0
            st["wrong_keys"] -= wrong
        if wrong:  # every bit inverted: a key of the right size that decrypts to noise
            keys = [bytes(b ^ 0xFF for b in k) for k in keys]
        lic = {"keys": [{"kty": "oct", "kid": _b64url(kid), "k": _b64url(key)}
                        for kid, key in zip(kids, keys)],
               "type": "temporary"}
        if secs is not None:
            lic["expiration"] = now_ms() + secs * 1000
        body = base64.b64encode(json.dumps(lic, separators=(",", ":")).encode()).decode()
        for key in keys:
            app.ledger.record("content_key", key)
        app.ledger.record("license", body)
        with app.lock:
            st["granted"] += 1
            st["granted_list"].append({"license": body, "keys": [_b64url(k) for k in keys]})
            del st["granted_list"][:-GRANTED_MAX]
        return Response.json({"license": body}, 200, [("x-amzn-RequestId", rid)])

    def granted(req):
        with app.lock:
            return Response.json({"licenses": list(st["granted_list"])})

    def state(req):
        with app.lock:
            return Response.json({"posts": st["posts"], "granted": st["granted"],
                                  "required_headers": list(st["required"]),
                                  "clock_offset": st["offset"], "keys": len(st["keys"]),
                                  "wrong_keys": st["wrong_keys"]})

    def config(req):
        obj = req.json()
        if not isinstance(obj, dict) or set(obj) - {"required_headers", "wrong_keys"}:
            raise HttpError(400, "config takes required_headers, wrong_keys")
        wrong = obj.get("wrong_keys")
        if wrong is not None and (isinstance(wrong, bool) or not isinstance(wrong, int) or
                                  not 0 <= wrong <= 1000):
            raise HttpError(400, "wrong_keys: licenses 0..1000")
        rules = _check_rules(obj["required_headers"]) if "required_headers" in obj else None
        with app.lock:
            if rules is not None:
                st["required"] = rules
            if wrong is not None:
                st["wrong_keys"] = wrong
        return state(req)

    def clock(req):
        obj = req.json()
        adv = obj.get("advance") if isinstance(obj, dict) else None
        if isinstance(adv, bool) or not isinstance(adv, (int, float)) or not 0 <= adv <= 1e9:
            raise HttpError(400, "advance: seconds >= 0")
        with app.lock:
            st["offset"] += adv
        return state(req)

    def reset(req):
        with app.lock:
            st.update(offset=0.0, posts=0, granted=0, keys={}, wrong_keys=0,
                      required=[dict(r) for r in DEFAULT_REQUIRED])
        return state(req)

    app.on_reset(reset)
    app.route("POST", "/license/", post_license, prefix=True)
    app.route("GET", "/_mock/license", state)
    app.route("GET", "/_mock/license/granted", granted)
    app.route("POST", "/_mock/license/config", config)
    app.route("POST", "/_mock/license/clock", clock)
    app.route("POST", "/_mock/license/reset", reset)
