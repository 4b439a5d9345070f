"""Requests, responses and the router of the mock service.

A handler is a function `handler(req) -> Response`. It may raise HttpError for an error
reply. Handlers never write to the socket themselves: the server sends every Response
through one path, which is where fault rules (bandwidth cap, truncation) and the request
log apply, so routes added later by modules get them for free.
"""

import json
import urllib.parse

# Largest chunk a body yields at a time (bytes).
CHUNK_MAX = 64 * 1024


class HttpError(Exception):
    """Raised by a handler: the server answers `status` with a short text body."""

    def __init__(self, status, message=""):
        super().__init__(message)
        self.status = status
        self.message = message


class Body:
    """A response body of known length, produced in chunks."""

    length = 0

    def chunks(self, size):
        """Yield bytes objects of at most `size` bytes, `length` bytes in total."""
        return iter(())


class BytesBody(Body):
    def __init__(self, data):
        self.data = bytes(data)
        self.length = len(self.data)

    def chunks(self, size):
        view = memoryview(self.data)
        for off in range(0, self.length, size):
            yield bytes(view[off:off + size])


class FileBody(Body):
    """`length` bytes of the file at `path`, from `offset`. Opened only when sent."""

    def __init__(self, path, offset, length):
        self.path = path
        self.offset = offset
        self.length = length

    def chunks(self, size):
        left = self.length
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            while left > 0:
                data = f.read(min(size, left))
                if not data:
                    # The file shrank under us: the server drops the connection,
                    # the client sees a short body.
                    raise OSError("file %s shrank while being sent" % self.path)
                left -= len(data)
                yield data


class PatternBody(Body):
    """`length` bytes of the repeating pattern 00 01 .. ff (byte i is i % 256)."""

    _PATTERN = bytes(range(256)) * 257  # 64 KiB + 256: any phase plus a 64 KiB chunk

    def __init__(self, length):
        self.length = length

    def chunks(self, size):
        size = min(size, 64 * 1024)
        pos = 0
        while pos < self.length:
            n = min(size, self.length - pos)
            phase = pos % 256
            yield self._PATTERN[phase:phase + n]
            pos += n


class Response:
    """Status, headers (a list of (name, value)) and a Body.

    `rate_bps` (bytes per second) caps the sending speed of this response; the server
    applies the lower of it and any fault rule's cap.
    """

    def __init__(self, status=200, body=b"", headers=None, content_type=None):
        self.status = status
        self.headers = list(headers or [])
        if content_type:
            self.headers.append(("Content-Type", content_type))
        self.body = body if isinstance(body, Body) else BytesBody(body)
        self.rate_bps = 0

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    @classmethod
    def json(cls, obj, status=200, headers=None):
        data = (json.dumps(obj, indent=None, sort_keys=False) + "\n").encode()
        return cls(status, data, headers, "application/json")

    @classmethod
    def text(cls, text, status=200, headers=None):
        return cls(status, text.encode(), headers, "text/plain; charset=utf-8")


class Request:
    """One parsed request, as handlers see it.

    method, path (raw, without the query), query (raw string), params (dict of lists),
    headers (case-insensitive email.message.Message), body (bytes), rest (the part of the
    path after a prefix route's prefix), conn_id, tls_version, ignore_range (set by a
    fault rule), why (set by a module that refuses the request: logged), app (the App:
    faults, reqlog, state, args, base_url).
    """

    def __init__(self, method, target, headers, body, app, conn_id=0, tls_version=None):
        self.method = method
        path, _, query = target.partition("?")
        self.path = path
        self.query = query
        self.params = urllib.parse.parse_qs(query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.app = app
        self.conn_id = conn_id
        self.tls_version = tls_version
        self.rest = ""
        self.ignore_range = False
        self.why = None  # a module's reason for refusing, for the request log

    def param(self, name, default=None):
        vals = self.params.get(name)
        return vals[0] if vals else default

    def int_param(self, name, default, lo, hi):
        raw = self.param(name)
        if raw is None:
            return default
        try:
            val = int(raw, 10)
        except ValueError:
            raise HttpError(400, "%s: not an integer" % name) from None
        if not lo <= val <= hi:
            raise HttpError(400, "%s: out of range %d..%d" % (name, lo, hi))
        return val

    def json(self):
        """The body parsed as JSON, or HttpError 400."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise HttpError(400, "body is not JSON: %s" % e) from None

    def form(self):
        """The body parsed as application/x-www-form-urlencoded: dict of first values."""
        try:
            pairs = urllib.parse.parse_qsl(self.body.decode("utf-8"), keep_blank_values=True,
                                           strict_parsing=False, max_num_fields=1000)
        except (UnicodeDecodeError, ValueError) as e:
            raise HttpError(400, "body is not a form: %s" % e) from None
        out = {}
        for k, v in pairs:
            out.setdefault(k, v)
        return out

    def header_dict(self):
        """Headers as {lowercased name: value}; repeated names joined with ", "."""
        out = {}
        for name, value in self.headers.items():
            key = name.lower()
            out[key] = out[key] + ", " + value if key in out else value
        return out

    @property
    def base_url(self):
        """https://<Host header> (or 127.0.0.1:port): for absolute URLs in documents."""
        host = self.headers.get("Host") or "127.0.0.1:%d" % self.app.port
        return "https://" + host


class Router:
    """Maps (method, path) to a handler.

    Exact routes win over prefix routes; among prefixes the longest wins. A path that
    matches with another method gives 405. HEAD falls back to the GET handler (the
    server then sends the headers only).
    """

    def __init__(self):
        self._exact = {}   # path -> {method: handler}
        self._prefix = []  # [(prefix, {method: handler})], longest first

    def add(self, methods, path, handler, prefix=False):
        if isinstance(methods, str):
            methods = (methods,)
        if prefix:
            for p, table in self._prefix:
                if p == path:
                    break
            else:
                table = {}
                self._prefix.append((path, table))
                self._prefix.sort(key=lambda e: -len(e[0]))
        else:
            table = self._exact.setdefault(path, {})
        for m in methods:
            if m.upper() in table:
                raise ValueError("route %s %s registered twice" % (m, path))
            table[m.upper()] = handler

    def resolve(self, method, path):
        """Return (handler, rest) or raise HttpError 404/405."""
        table, rest = self._exact.get(path), ""
        if table is None:
            for p, t in self._prefix:
                if path.startswith(p):
                    table, rest = t, path[len(p):]
                    break
        if table is None:
            raise HttpError(404, "no route for %s" % path)
        handler = table.get(method) or (table.get("GET") if method == "HEAD" else None)
        if handler is None:
            raise HttpError(405, "method %s not allowed on %s" % (method, path))
        return handler, rest

    def routes(self):
        """[(methods, path, is_prefix)] for documentation and debugging."""
        out = [(sorted(t), p, False) for p, t in self._exact.items()]
        out += [(sorted(t), p, True) for p, t in self._prefix]
        return out
