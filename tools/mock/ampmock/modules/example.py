"""Template for a service module: copy it to <service>.py and add the name to DEFAULT.

Routes here:
  GET  /example/hello              200 {"hello": "world", "greeting": --example-greeting}
  POST /example/counter/<name>     increments a named counter -> {"name": n, "value": v}
  GET  /example/counter/<name>     -> {"name": n, "value": v} (0 if never incremented)

What it shows: a module's own option, exact and prefix routes, JSON replies, HttpError,
shared state under app.lock. Fault rules and the request log need nothing from it.
"""

from ..router import HttpError, Response

NAME = "example"
# Most counters the example keeps (every store in the mock is bounded).
COUNTERS_MAX = 100


def add_arguments(parser):
    parser.add_argument("--example-greeting", default="hi",
                        help="greeting returned by GET /example/hello")


def register(app):
    counters = app.state.setdefault("example.counters", {})

    def hello(req):
        return Response.json({"hello": "world", "greeting": app.args.example_greeting})

    def counter(req):
        name = req.rest
        if not name or "/" in name:
            raise HttpError(404, "no counter name")
        with app.lock:
            if req.method == "POST":
                if name not in counters and len(counters) >= COUNTERS_MAX:
                    raise HttpError(507, "too many counters")
                counters[name] = counters.get(name, 0) + 1
            value = counters.get(name, 0)
        return Response.json({"name": name, "value": value})

    app.route(("GET", "HEAD"), "/example/hello", hello)
    app.route(("GET", "HEAD", "POST"), "/example/counter/", counter, prefix=True)
