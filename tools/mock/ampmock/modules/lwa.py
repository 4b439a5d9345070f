"""Login with Amazon: code pairing and refresh (docs/service.md §2).

Service routes (form-encoded POST bodies, JSON replies, errors are 400
{"error", "error_description"}):
  POST /lwa/auth/o2/create/codepair   response_type=device_code, client_id,
                                      scope=amazon_music:access [, scope_data]
  POST /lwa/auth/o2/token             grant_type=device_code, device_code, user_code
                                      grant_type=refresh_token, refresh_token, client_id
So a client's {lwa} base URL is https://host:port/lwa.

Test control (under /_mock/, never faulted, never logged):
  POST /_mock/lwa/approve  {"user_code": c}      the user typed c: the next poll links
  POST /_mock/lwa/config   {"token_lifetime": s, "code_lifetime": s, "interval": s,
                            "client_id": id}     any subset; interval may be a fraction
  POST /_mock/lwa/fail     {"grant_type": "device_code"|"refresh_token"|"codepair",
                            "error": e, "status": 400, "count": n}
                           answer the next n requests of that kind with error e
                           (status 5xx: a text body instead of the JSON error)
  POST /_mock/lwa/revoke   {"refresh_token": t} or {"all": true}: later use of the
                           token is invalid_grant
  POST /_mock/lwa/clock    {"advance": s}        move the module's clock forward by s
                           (POST /_mock/clock moves every module's clock)
  POST /_mock/lwa/issue    {}                    issue an access and a refresh token as a
                           finished pairing would (for tests of the modules that only
                           need a valid bearer) -> the token reply of /lwa/auth/o2/token
  POST /_mock/lwa/reset    {}                    drop the fail rules and pending code pairs
  GET  /_mock/lwa/state    counters, the tokens and device codes issued (the newest
                           ISSUED_MAX), for tests (every one is also in the
                           secrets ledger, ledger.py)

The module keeps its own clock (time.monotonic() plus the offset /_mock/lwa/clock adds),
so a test can expire a code pair or an access token without waiting. Polling a code
pair sooner than its interval after the previous poll answers slow_down and doubles the
interval that pair requires (docs/service.md §2: the client doubles its interval).
Refresh tokens rotate: every refresh issues a new one and the old one stops working.
"""

import secrets
import time

from ..router import HttpError, Response

NAME = "lwa"
SCOPE = "amazon_music:access"
CODES_MAX = 256      # code pairs kept at once (the oldest is dropped)
TOKENS_MAX = 1024    # refresh tokens kept at once (the oldest is dropped)
ISSUED_MAX = 256     # access/refresh tokens listed by /_mock/lwa/state
FAILS_MAX = 64       # pending forced-error rules
SLOW_TOLERANCE_S = 0.005  # timer granularity: a poll this much early is still on time
ERRORS = ("authorization_pending", "slow_down", "invalid_code_pair", "expired_token",
          "invalid_grant", "invalid_request", "unauthorized_client",
          "unsupported_grant_type", "invalid_client", "invalid_scope", "server_error")


def add_arguments(parser):
    parser.add_argument("--lwa-client-id", default="amzn1.application-oa2-client.ampdtest",
                        help="the client_id the lwa module accepts")


def _err(code, desc="", status=400):
    return Response.json({"error": code, "error_description": desc or code}, status)


def register(app):
    st = app.state.setdefault("lwa", {
        "offset": 0.0,
        "client_id": app.args.lwa_client_id,
        "token_lifetime": 3600,
        "code_lifetime": 600,
        "interval": 5.0,
        "codes": {},      # device_code -> pair dict
        "refresh": {},    # refresh_token -> {"revoked": bool}
        "access": {},     # access_token -> expiry (module clock)
        "fails": [],      # [{"kind", "error", "status", "left"}]
        "issued": [],     # [{"access_token", "refresh_token"}], newest last
        "device_codes": [],  # the device codes handed out, newest last (ISSUED_MAX)
        "counts": {"codepair": 0, "device_code": 0, "refresh_token": 0},
    })

    def now():
        return time.monotonic() + st["offset"] + app.clock_offset

    st["now"] = now  # for auth.token_valid: the expiry of an access token is on this clock

    def form(req):
        ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return None
        return req.form()

    def forced(kind):
        """(response, error) forced for this kind of request, or (None, None). Under
        app.lock."""
        for f in st["fails"]:
            if f["kind"] == kind and f["left"] > 0:
                f["left"] -= 1
                if f["status"] >= 500:
                    return (Response.text("lwa mock: forced %d\n" % f["status"], f["status"]),
                            None)
                return _err(f["error"], "forced by the test", f["status"]), f["error"]
        return None, None

    def issue_tokens():
        """New access and refresh tokens. Under app.lock."""
        access = "Atza|" + secrets.token_urlsafe(48)
        refresh = "Atzr|" + secrets.token_urlsafe(48)
        if len(st["refresh"]) >= TOKENS_MAX:
            st["refresh"].pop(next(iter(st["refresh"])))
        if len(st["access"]) >= TOKENS_MAX:
            st["access"].pop(next(iter(st["access"])))
        st["refresh"][refresh] = {"revoked": False}
        st["access"][access] = now() + st["token_lifetime"]
        st["issued"].append({"access_token": access, "refresh_token": refresh})
        app.ledger.record("access_token", access)
        app.ledger.record("refresh_token", refresh)
        del st["issued"][:-ISSUED_MAX]
        return {"access_token": access, "refresh_token": refresh, "token_type": "bearer",
                "expires_in": st["token_lifetime"]}

    def codepair(req):
        f = form(req)
        with app.lock:
            st["counts"]["codepair"] += 1
            if f is None:
                return _err("invalid_request", "not a form body")
            if set(f) - {"response_type", "client_id", "scope", "scope_data"} \
                    or f.get("response_type") != "device_code" or f.get("scope") != SCOPE \
                    or not f.get("client_id"):
                return _err("invalid_request", "response_type, client_id and scope required")
            if f["client_id"] != st["client_id"]:
                return _err("unauthorized_client", "unknown client_id")
            r, _ = forced("codepair")
            if r:
                return r
            if len(st["codes"]) >= CODES_MAX:
                st["codes"].pop(next(iter(st["codes"])))
            device_code = secrets.token_urlsafe(24)
            user_code = secrets.token_hex(3).upper()
            st["device_codes"].append(device_code)
            app.ledger.record("device_code", device_code)
            del st["device_codes"][:-ISSUED_MAX]
            st["codes"][device_code] = {
                "user_code": user_code, "expires": now() + st["code_lifetime"],
                "interval": st["interval"], "last_poll": None, "approved": False}
            interval = st["interval"]
            reply = {"device_code": device_code, "user_code": user_code,
                     "verification_uri": "https://amazon.com/us/code",
                     "expires_in": st["code_lifetime"],
                     "interval": int(interval) if float(interval).is_integer() else interval}
        return Response.json(reply)

    def poll(f):
        if set(f) - {"grant_type", "device_code", "user_code", "client_id"} \
                or not f.get("device_code") or not f.get("user_code"):
            return _err("invalid_request", "device_code and user_code required")
        if "client_id" in f and f["client_id"] != st["client_id"]:
            return _err("unauthorized_client", "unknown client_id")
        r, error = forced("device_code")
        pair = st["codes"].get(f["device_code"])
        t = now()
        if pair is not None and error == "slow_down":
            # A forced slow_down binds like a real one: the pair now needs twice the wait.
            pair["interval"] = pair["interval"] * 2
            pair["last_poll"] = t
        if r:
            return r
        if pair is None or pair["user_code"] != f["user_code"]:
            return _err("invalid_code_pair", "no such code pair")
        if t >= pair["expires"]:
            st["codes"].pop(f["device_code"], None)
            return _err("invalid_code_pair", "the code pair has expired")
        last, pair["last_poll"] = pair["last_poll"], t
        if last is not None and t - last < pair["interval"] - SLOW_TOLERANCE_S:
            pair["interval"] = pair["interval"] * 2
            return _err("slow_down", "polled sooner than the interval")
        if not pair["approved"]:
            return _err("authorization_pending", "the user has not entered the code yet")
        st["codes"].pop(f["device_code"], None)
        return Response.json(issue_tokens())

    def refresh(f):
        if set(f) - {"grant_type", "refresh_token", "client_id"} \
                or not f.get("refresh_token") or not f.get("client_id"):
            return _err("invalid_request", "refresh_token and client_id required")
        if f["client_id"] != st["client_id"]:
            return _err("unauthorized_client", "unknown client_id")
        r, _ = forced("refresh_token")
        if r:
            return r
        tok = st["refresh"].get(f["refresh_token"])
        if tok is None or tok["revoked"]:
            return _err("invalid_grant", "the refresh token is not valid")
        # Rotation: the old refresh token stops working once a new one is issued.
        tok["revoked"] = True
        return Response.json(issue_tokens())

    def token(req):
        f = form(req)
        with app.lock:
            if f is None:
                return _err("invalid_request", "not a form body")
            grant = f.get("grant_type")
            if grant in st["counts"]:
                st["counts"][grant] += 1
            if not grant:
                return _err("invalid_request", "grant_type required")
            if grant == "device_code":
                return poll(f)
            if grant == "refresh_token":
                return refresh(f)
            return _err("unsupported_grant_type", "grant_type not supported")

    # ---- control

    def approve(req):
        code = req.json().get("user_code")
        with app.lock:
            for pair in st["codes"].values():
                if pair["user_code"] == code:
                    pair["approved"] = True
                    return Response.json({"approved": code})
        raise HttpError(404, "no pending code pair with that user_code")

    def config(req):
        obj = req.json()
        if not isinstance(obj, dict):
            raise HttpError(400, "a JSON object")
        known = {"token_lifetime": int, "code_lifetime": int, "interval": float,
                 "client_id": str}
        with app.lock:
            for k, v in obj.items():
                if k not in known or isinstance(v, bool) or \
                        not isinstance(v, (int, float) if known[k] is not str else str):
                    raise HttpError(400, "bad config field %r" % k)
                st[k] = known[k](v)
            return Response.json({k: st[k] for k in known})

    def fail(req):
        obj = req.json()
        kind, error = obj.get("grant_type"), obj.get("error", "server_error")
        status, count = obj.get("status", 400), obj.get("count", 1)
        if kind not in ("device_code", "refresh_token", "codepair") or error not in ERRORS \
                or not isinstance(status, int) or not 400 <= status <= 599 \
                or not isinstance(count, int) or count < 1:
            raise HttpError(400, "bad fail rule")
        with app.lock:
            if len(st["fails"]) >= FAILS_MAX:
                st["fails"] = [f for f in st["fails"] if f["left"] > 0]
                if len(st["fails"]) >= FAILS_MAX:
                    raise HttpError(507, "too many fail rules")
            st["fails"].append({"kind": kind, "error": error, "status": status, "left": count})
        return Response.json({"added": kind})

    def revoke(req):
        obj = req.json()
        with app.lock:
            if obj.get("all") is True:
                for tok in st["refresh"].values():
                    tok["revoked"] = True
                return Response.json({"revoked": len(st["refresh"])})
            tok = st["refresh"].get(obj.get("refresh_token"))
            if tok is None:
                raise HttpError(404, "no such refresh token")
            tok["revoked"] = True
        return Response.json({"revoked": 1})

    def clock(req):
        adv = req.json().get("advance")
        if isinstance(adv, bool) or not isinstance(adv, (int, float)) or adv < 0:
            raise HttpError(400, "advance: seconds >= 0")
        with app.lock:
            st["offset"] += adv
            return Response.json({"offset": st["offset"]})

    def issue(req):
        with app.lock:
            return Response.json(issue_tokens())

    def reset(req):
        with app.lock:
            n = len(st["fails"])
            st["fails"] = []
            st["codes"].clear()
        return Response.json({"cleared_fails": n})

    def state(req):
        with app.lock:
            return Response.json({"counts": dict(st["counts"]), "pending": len(st["codes"]),
                                  "issued": list(st["issued"]),
                                  "device_codes": list(st["device_codes"]),
                                  "offset": st["offset"]})

    app.on_reset(reset)
    app.route("POST", "/lwa/auth/o2/create/codepair", codepair)
    app.route("POST", "/lwa/auth/o2/token", token)
    app.route("POST", "/_mock/lwa/approve", approve)
    app.route("POST", "/_mock/lwa/config", config)
    app.route("POST", "/_mock/lwa/fail", fail)
    app.route("POST", "/_mock/lwa/revoke", revoke)
    app.route("POST", "/_mock/lwa/clock", clock)
    app.route("POST", "/_mock/lwa/reset", reset)
    app.route("POST", "/_mock/lwa/issue", issue)
    app.route("GET", "/_mock/lwa/state", state)
