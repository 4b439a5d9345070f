"""The App: what the server and every route module share.

  app.args     the parsed command line (modules may add options, see modules/__init__.py)
  app.route()  register a handler: app.route(("GET", "HEAD"), "/lwa/", fn, prefix=True)
  app.faults   the fault rules (faults.FaultStore)
  app.reqlog   the request log (reqlog.RequestLog)
  app.throttle the bandwidth throttle (throttle.Throttle, POST /_mock/throttle)
  app.ledger   the secrets ledger (ledger.Ledger): app.ledger.record(kind, value) for
               every token, key, license or URL signature a module hands out
  app.state    a dict for state shared between modules (tokens issued, keys, ...);
               take app.lock while changing it: handlers run in many threads
  app.port     the port, once listening (also req.base_url in a handler)
  app.server   the MockServer, once listening
  app.on_reset(fn)  a module's state reset, run by POST /_mock/reset with the others
  app.now()    the mock's wall clock (epoch s): time.time() plus the offset that
               POST /_mock/clock {"advance": s} adds; every module's clock follows it, so
               one call expires tokens, audio objects, CDN tokens and licenses at once
"""

import threading
import time

from .faults import FaultStore
from .ledger import Ledger
from .reqlog import RequestLog
from .router import Router
from .throttle import Throttle


class App:
    def __init__(self, args):
        self.args = args
        self.router = Router()
        self.faults = FaultStore()
        self.reqlog = RequestLog(getattr(args, "log_file", None))
        self.throttle = Throttle()
        self.ledger = Ledger(getattr(args, "secrets_ledger", None))
        self.state = {}
        self.lock = threading.Lock()
        self.port = 0
        self.server = None
        self.clock_offset = 0.0
        self.resets = []  # module reset handlers, run by POST /_mock/reset

    def on_reset(self, fn):
        """Run fn(req) on POST /_mock/reset (a module's own state reset)."""
        self.resets.append(fn)

    def now(self):
        return time.time() + self.clock_offset

    def route(self, methods, path, handler, prefix=False):
        """Register handler(req) -> Response for methods on path (or under it, prefix=True)."""
        self.router.add(methods, path, handler, prefix)
