"""The playback-event collector (docs/service.md §6).

Routes here:
  POST   /collector/<id>         one event (JSON object). Strict, checked in this order: no
                                 "Authorization: Bearer <t>" naming an access token the lwa
                                 module issued and that has not expired on the mock's clock
                                 answers 401 (auth.check_bearer); a Content-Type other than
                                 application/json, or not exactly one "hasExplicit" header
                                 of "true" or "false", answers 400; so does a body that is
                                 not a JSON object, or one without a string "eventId" and
                                 "eventType". A refusal says why in the request log (its
                                 "why") and records nothing. The first event with an
                                 eventId is recorded and answers 200 {"recorded": true};
                                 a resend of the same
                                 eventId answers 200 {"recorded": false} and is only counted
                                 (duplicates): a retry is idempotent, and a test can tell a
                                 lost event from a repeated one.
  GET    /_mock/collector        {"events": [...], "duplicates": n, "posts": n}, events in
                                 the order first received, each {"collector": <id>,
                                 "eventId", "eventType", "event": the JSON object,
                                 "headers": {"authorization", "hasexplicit",
                                 "content-type"} as received, "" when absent}
  DELETE /_mock/collector        forget everything -> {"cleared": n}

Fault rules (5xx, 4xx, delays) apply to /collector/* as to any route; a faulted request
never reaches this module, so it is not recorded. At most EVENTS_MAX events are kept
(507 beyond), each body at most BODY_MAX bytes (413).
"""

from .. import auth
from ..router import HttpError, Response

NAME = "collector"
EVENTS_MAX = 10000
BODY_MAX = 64 * 1024
KEPT_HEADERS = ("authorization", "hasexplicit", "content-type")


def _refuse(req, status, why):
    req.why = why
    return Response.json({"message": why}, status)


def _check_headers(app, req):
    """None, or the 401/400 Response for an event without the headers of §6."""
    r = auth.check_bearer(app, req)
    if r is not None:
        return r
    ctypes = req.headers.get_all("Content-Type") or []
    if len(ctypes) != 1 or ctypes[0].split(";")[0].strip().lower() != "application/json":
        return _refuse(req, 400, "header Content-Type missing or not application/json")
    explicit = req.headers.get_all("hasExplicit") or []
    if len(explicit) != 1 or explicit[0] not in ("true", "false"):
        return _refuse(req, 400, "header hasExplicit missing or malformed")
    return None


def register(app):
    store = app.state.setdefault("collector", {"events": [], "ids": set(), "duplicates": 0,
                                               "posts": 0})

    def post_event(req):
        try:
            return record(req)
        except HttpError as e:
            req.why = req.why or e.message  # every refusal names its reason in the log
            raise

    def record(req):
        cid = req.rest
        if not cid or "/" in cid:
            raise HttpError(404, "no collector id")
        if len(req.body) > BODY_MAX:
            raise HttpError(413, "event too large")
        refused = _check_headers(app, req)
        if refused is not None:
            return refused
        obj = req.json()
        if not isinstance(obj, dict):
            raise HttpError(400, "event is not a JSON object")
        eid, etype = obj.get("eventId"), obj.get("eventType")
        if not isinstance(eid, str) or not eid or not isinstance(etype, str) or not etype:
            raise HttpError(400, "event without eventId or eventType")
        hdrs = {k: req.headers.get(k, "") for k in KEPT_HEADERS}
        with app.lock:
            store["posts"] += 1
            if eid in store["ids"]:
                store["duplicates"] += 1
                return Response.json({"recorded": False})
            if len(store["events"]) >= EVENTS_MAX:
                raise HttpError(507, "too many events")
            store["ids"].add(eid)
            store["events"].append({"collector": cid, "eventId": eid, "eventType": etype,
                                    "event": obj, "headers": hdrs})
        return Response.json({"recorded": True})

    def list_events(req):
        with app.lock:
            return Response.json({"events": list(store["events"]),
                                  "duplicates": store["duplicates"], "posts": store["posts"]})

    def clear(req):
        with app.lock:
            n = len(store["events"])
            store["events"].clear()
            store["ids"].clear()
            store["duplicates"] = 0
            store["posts"] = 0
        return Response.json({"cleared": n})

    app.on_reset(clear)
    app.route("POST", "/collector/", post_event, prefix=True)
    app.route("GET", "/_mock/collector", list_events)
    app.route("DELETE", "/_mock/collector", clear)
