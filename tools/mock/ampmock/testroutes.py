"""Small routes for testing the HTTP client itself.

  POST|PUT /echo                 200 JSON {"method","path","query","headers":{lowercased: value},
                                 "header_list":[[name, value], ...] (as sent, in order),
                                 "body": the request body as text, "body_bytes": n}
  ANY /status/<code>             that status (200..599) with a short text body
  GET|HEAD|POST /redirect?to=<url-encoded URL>&code=302
                                 a redirect (301, 302, 303, 307 or 308) to that URL
  GET|HEAD /slow?bytes=N&rate=B  N bytes (byte i is i % 256) at B bytes/s (0: no cap)
"""

from .router import PatternBody, HttpError, Response

# Largest body /slow sends (bytes).
SLOW_BYTES_MAX = 256 * 1024 * 1024
_REDIRECT_CODES = (301, 302, 303, 307, 308)


def echo(req):
    return Response.json({
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "headers": req.header_dict(),
        "header_list": [[n, v] for n, v in req.headers.items()],
        "body": req.body.decode("utf-8", errors="replace"),
        "body_bytes": len(req.body),
    })


def status(req):
    if not (req.rest.isascii() and req.rest.isdigit()) or not 200 <= int(req.rest) <= 599:
        raise HttpError(400, "status: a number in 200..599")
    code = int(req.rest)
    return Response.text("status %d\n" % code, code)


def redirect(req):
    to = req.param("to")
    if not to or any(ord(c) < 0x20 or ord(c) == 0x7F for c in to) or len(to) > 4096:
        raise HttpError(400, "to: required, a URL without control characters")
    code = req.int_param("code", 302, 300, 399)
    if code not in _REDIRECT_CODES:
        raise HttpError(400, "code: one of %s" % (_REDIRECT_CODES,))
    return Response.text("redirect to %s\n" % to, code, [("Location", to)])


def slow(req):
    n = req.int_param("bytes", 65536, 0, SLOW_BYTES_MAX)
    rate = req.int_param("rate", 65536, 0, 1 << 40)
    resp = Response(200, PatternBody(n), content_type="application/octet-stream")
    resp.rate_bps = rate
    return resp


def register(app):
    app.route(("POST", "PUT"), "/echo", echo)
    app.route(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"), "/status/", status, prefix=True)
    app.route(("GET", "HEAD", "POST"), "/redirect", redirect)
    app.route(("GET", "HEAD"), "/slow", slow)
