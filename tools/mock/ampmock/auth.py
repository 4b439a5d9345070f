"""Checks shared by the service modules: the bearer token and the playback headers.

check_bearer(app, req) -> None or a 401 Response
    The request's "Authorization: Bearer <token>" must name an access token the lwa
    module issued and that has not expired on the mock's clock (docs/service.md §2, §5).
    Without the lwa module loaded, every bearer is unknown.

check_playback_headers(app, req) -> None or a 4xx Response
    The headers every Device API call carries (docs/service.md §5): the bearer (401),
    then X-Amzn-Audio-DRMType, X-Amzn-Audio-Device-Capability, X-Amzn-Device-Id,
    hasExplicit, Accept-Language, User-Agent and Accept (400 naming the first one that is
    missing or malformed).

session_header_mismatch(req, [(name, value), ...]) -> None or the first name the
    request does not carry with exactly that value (a Cookie: that name=value pair among
    its cookies): the session headers of docs/service.md §10, for the api and license
    modules.

Both checks log why they refused through req.app.reqlog's "why" note (the request log shows it),
never the token itself.
"""

import re

from .router import Response

CAPABILITIES = ("STD_RES", "HI_FI", "HI_RES", "THREE_DIMENSIONAL", "REAL_AUDIO_360")
_DEVICE_ID = re.compile(r"^[0-9a-f]{32}$")
_USER_AGENT = re.compile(r"^[!-~]+/[!-~]+( .*)?$")


def bearer(req):
    """The token of "Authorization: Bearer <token>", or None."""
    auth = req.headers.get("Authorization") or ""
    if not auth.startswith("Bearer "):
        return None
    tok = auth[len("Bearer "):].strip()
    return tok or None


def token_valid(app, token):
    """True when the lwa module issued this access token and it has not expired."""
    st = app.state.get("lwa")
    if st is None or token is None:
        return False
    with app.lock:
        expiry = st["access"].get(token)
        now = st["now"]()
    return expiry is not None and now < expiry


def _refuse(req, status, why):
    req.why = why
    return Response.json({"message": why}, status)


def check_bearer(app, req):
    tok = bearer(req)
    if tok is None:
        return _refuse(req, 401, "no bearer token")
    if not token_valid(app, tok):
        return _refuse(req, 401, "unknown or expired access token")
    return None


def _check_capability(v):
    parts = v.split(",")
    return bool(v) and " " not in v and all(p in CAPABILITIES for p in parts) \
        and len(set(parts)) == len(parts)


_CHECKS = (
    ("X-Amzn-Audio-DRMType", lambda v: v == "WIDEVINE"),
    ("X-Amzn-Audio-Device-Capability", _check_capability),
    ("X-Amzn-Device-Id", lambda v: bool(_DEVICE_ID.match(v))),
    ("hasExplicit", lambda v: v in ("true", "false")),
    ("Accept-Language", lambda v: bool(v.strip())),
    ("User-Agent", lambda v: bool(_USER_AGENT.match(v))),
    ("Accept", lambda v: v == "application/json"),
)


def check_playback_headers(app, req):
    r = check_bearer(app, req)
    if r is not None:
        return r
    for name, ok in _CHECKS:
        vals = req.headers.get_all(name) or []
        if len(vals) != 1 or not ok(vals[0]):
            return _refuse(req, 400, "header %s missing or malformed" % name)
    return None


def has_explicit(req):
    """The request's hasExplicit as a bool (call after check_playback_headers)."""
    return req.headers.get("hasExplicit") == "true"


def _cookie_pairs(value):
    return [p.strip() for p in value.split(";") if p.strip()]


def session_header_mismatch(req, pairs):
    """The name of the first of pairs [(name, value)] that the request does not carry with
    exactly that value (one header of that name; for Cookie, that name=value pair among
    its cookies), or None when it carries them all (docs/service.md §10)."""
    for name, value in pairs:
        vals = req.headers.get_all(name) or []
        if len(vals) != 1:
            return name
        if name.lower() == "cookie":
            if value not in _cookie_pairs(vals[0]):
                return name
        elif vals[0] != value:
            return name
    return None
