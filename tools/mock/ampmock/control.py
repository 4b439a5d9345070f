"""The test's control channel, /_mock/*: never faulted, never logged.

  POST   /_mock/faults        add a rule (JSON object) or several (JSON array); answers
                              the rule(s) with their "id"
  GET    /_mock/faults        JSON array of the rules (with "hits", "remaining", "active")
  DELETE /_mock/faults        remove all rules -> {"cleared": n}
  DELETE /_mock/faults/<id>   remove one rule (404 if there is none)
  GET    /_mock/requests[?since=SEQ]   JSON array of log entries (see reqlog.py)
  DELETE /_mock/requests      empty the log -> {"cleared": n}
  GET    /_mock/stats         {"connections", "handshake_failures", "requests", "port"}
  GET    /_mock/routes        the routes registered, for humans
  POST   /_mock/clock         {"advance": s}: move the mock's clock (app.now(), which every
                              module's clock follows) forward by s >= 0 -> {"offset": s}
  GET    /_mock/clock         {"offset": s, "now": epoch s}
  POST   /_mock/reset         every module's own reset (lwa, license, api, collector), the
                              fault rules, the handshake stall, the throttle and the clock offset; the
                              request log keeps counting -> {"modules": n, "faults": n}
  POST   /_mock/handshake     {"stall_ms": n, "count": k}: the next k connections accepted
                              (any path: the request is not known yet) get TCP and then
                              nothing for n ms (<= faults.DELAY_MS_MAX) before their TLS
                              handshake; either 0 cancels -> the state below
  GET    /_mock/handshake     {"stall_ms", "remaining", "stalled": connections stalled so far}
  POST   /_mock/throttle      {"rate_bps": n[, "path": p]}: the bodies of replies to p (a
                              fault rule's path: exact or a prefix with "*"; default "/*")
                              share a link of n bytes/s, replies under way included; 0
                              lifts it -> the state below
  GET    /_mock/throttle      {"path", "rate_bps", "throttled_bytes", "waited_s"}
  DELETE /_mock/throttle      lift it -> the state
"""

from .faults import DELAY_MS_MAX, FaultError, validate
from .router import HttpError, Response
from .server import STALL_COUNT_MAX
from .throttle import ThrottleError
from .throttle import validate as validate_throttle


def register(app):
    faults, reqlog = app.faults, app.reqlog

    def add_faults(req):
        obj = req.json()
        try:
            if isinstance(obj, list):
                return Response.json([faults.add(validate(o)) for o in obj])
            return Response.json(faults.add(validate(obj)))
        except FaultError as e:
            raise HttpError(400, "fault rule: %s" % e) from None

    def list_faults(req):
        return Response.json(faults.list())

    def clear_faults(req):
        return Response.json({"cleared": faults.clear()})

    def remove_fault(req):
        if not (req.rest.isascii() and req.rest.isdigit()) or not faults.remove(int(req.rest)):
            raise HttpError(404, "no such rule")
        return Response.json({"cleared": 1})

    def list_requests(req):
        return Response.json(reqlog.list(req.int_param("since", 0, 0, 1 << 62)))

    def clear_requests(req):
        return Response.json({"cleared": reqlog.clear()})

    def stats(req):
        srv = app.server
        return Response.json({"connections": srv.connections,
                              "handshake_failures": srv.handshake_failures,
                              "requests": reqlog.count(), "port": app.port})

    def routes(req):
        return Response.json([{"methods": m, "path": p, "prefix": pre}
                              for m, p, pre in app.router.routes()])

    app.route("POST", "/_mock/faults", add_faults)
    app.route("GET", "/_mock/faults", list_faults)
    app.route("DELETE", "/_mock/faults", clear_faults)
    app.route("DELETE", "/_mock/faults/", remove_fault, prefix=True)
    app.route("GET", "/_mock/requests", list_requests)
    app.route("DELETE", "/_mock/requests", clear_requests)
    app.route("GET", "/_mock/stats", stats)
    def clock(req):
        obj = req.json()
        adv = obj.get("advance") if isinstance(obj, dict) else None
        if isinstance(adv, bool) or not isinstance(adv, (int, float)) or not 0 <= adv <= 1e9:
            raise HttpError(400, "advance: seconds in 0..1e9")
        with app.lock:
            app.clock_offset += adv
        return clock_state(req)

    def clock_state(req):
        with app.lock:
            return Response.json({"offset": app.clock_offset, "now": app.now()})

    def handshake(req):
        obj = req.json()
        if not isinstance(obj, dict) or set(obj) != {"stall_ms", "count"}:
            raise HttpError(400, "handshake: exactly {\"stall_ms\": n, \"count\": k}")
        ms, count = obj["stall_ms"], obj["count"]
        for v in (ms, count):
            if isinstance(v, bool) or not isinstance(v, int):
                raise HttpError(400, "handshake: stall_ms and count are integers")
        try:
            return Response.json(app.server.set_stall(ms, count))
        except ValueError:
            raise HttpError(400, "handshake: stall_ms 0..%d, count 0..%d"
                            % (DELAY_MS_MAX, STALL_COUNT_MAX)) from None

    def handshake_state(req):
        return Response.json(app.server.stall_state())

    app.route("POST", "/_mock/handshake", handshake)
    app.route("GET", "/_mock/handshake", handshake_state)

    def throttle_set(req):
        try:
            path, rate = validate_throttle(req.json())
        except ThrottleError as e:
            raise HttpError(400, str(e)) from None
        return Response.json(app.throttle.set(path, rate))

    def throttle_lift(req):
        return Response.json(app.throttle.set(None, 0))

    def throttle_state(req):
        return Response.json(app.throttle.state())

    app.route("POST", "/_mock/throttle", throttle_set)
    app.route("GET", "/_mock/throttle", throttle_state)
    app.route("DELETE", "/_mock/throttle", throttle_lift)
    def reset_all(req):
        for fn in app.resets:
            fn(req)
        n = faults.clear()
        app.server.set_stall(0, 0)
        app.throttle.set(None, 0)
        with app.lock:
            app.clock_offset = 0.0
        return Response.json({"modules": len(app.resets), "faults": n})

    app.route("GET", "/_mock/routes", routes)
    app.route("POST", "/_mock/reset", reset_all)
    app.route("POST", "/_mock/clock", clock)
    app.route("GET", "/_mock/clock", clock_state)
