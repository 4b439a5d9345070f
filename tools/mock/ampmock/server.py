"""The HTTPS server: TLS, HTTP/1.1 keep-alive, one thread per connection.

Every response goes out through Handler._send, which applies the fault rule picked for
the request (bandwidth cap, truncation) and the bandwidth throttle (throttle.py), and
keeps the request log. A rule with
reset_before_headers sends nothing: Handler._reset drops the connection with a TCP RST.
A stalled handshake (MockServer.set_stall, POST /_mock/handshake) is a server-level
fault: it applies before any request, to the next connections accepted.
"""

import http.server
import os
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import traceback
import warnings

from .faults import DELAY_MS_MAX, body_of
from .router import CHUNK_MAX, HttpError, Request, Response

# Longest request body read into memory (bytes); more gives 413.
REQUEST_BODY_MAX = 16 * 1024 * 1024
# A TLS handshake must finish within this (s).
HANDSHAKE_TIMEOUT_S = 10
# An idle kept-alive connection, or a stalled read/write, is dropped after this (s).
IDLE_TIMEOUT_S = 30
# Methods the router may see; others get 501.
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
# Connections served at once; more are closed at once (a runaway client must not
# exhaust threads).
CONNECTIONS_MAX = 256
# Most connections one POST /_mock/handshake may stall.
STALL_COUNT_MAX = 1000
# Paths under this prefix are the test's control channel: no faults, not logged.
CONTROL_PREFIX = "/_mock/"

_NO_BODY_STATUS = (204, 304)


def tls_context(cert, key, tls_max=None):
    """Server context: TLS 1.2+ (1.3 when offered) unless tls_max narrows it.

    tls_max "1.1" serves ONLY TLS 1.0/1.1 (with @SECLEVEL=0 so OpenSSL 3 allows it): a
    server every correct client must refuse. "1.2" serves TLS 1.2 only.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if tls_max == "1.1":
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if tls_max == "1.2":
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class _Abort(Exception):
    """Drop the connection now, without a TLS close_notify."""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ampmock/1"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.conn_id = self.server.next_conn_id()
        self.tls_ok = False
        stall_ms = getattr(self.connection, "ampmock_stall_ms", 0)
        if stall_ms:
            # A stalled handshake: the TCP connection is up, the server says nothing.
            time.sleep(stall_ms / 1000.0)
        try:
            self.connection.settimeout(HANDSHAKE_TIMEOUT_S)
            self.connection.do_handshake()
            self.connection.settimeout(self.timeout)
            self.tls_ok = True
        except (OSError, ValueError) as e:
            # Refusal tests make clients abort handshakes on purpose: count, stay quiet.
            self.server.handshake_failed(e)

    def handle(self):
        if self.tls_ok:
            super().handle()

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("ampmock: conn %d: %s\n" % (self.conn_id, fmt % args))

    # Every method goes to the router.
    def do_GET(self):
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "").lower()
        if te:
            if te != "chunked":
                raise HttpError(501, "Transfer-Encoding %s" % te)
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        if not raw.strip().isdigit() or len(raw.strip()) > 12:
            raise HttpError(400, "bad Content-Length")
        n = int(raw)
        if n > REQUEST_BODY_MAX:
            raise HttpError(413, "request body over %d bytes" % REQUEST_BODY_MAX)
        data = self.rfile.read(n)
        if len(data) != n:
            raise _Abort()
        return data

    def _read_chunked(self):
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise _Abort()
            size_txt = line.split(b";", 1)[0].strip()
            try:
                size = int(size_txt, 16)
            except ValueError:
                raise HttpError(400, "bad chunk size") from None
            if size < 0 or len(out) + size > REQUEST_BODY_MAX:
                raise HttpError(413, "request body over %d bytes" % REQUEST_BODY_MAX)
            if size == 0:
                break
            data = self.rfile.read(size)
            if len(data) != size or self.rfile.read(2) != b"\r\n":
                raise _Abort()
            out += data
        while True:  # trailers
            line = self.rfile.readline(8192)
            if not line.endswith(b"\n"):
                raise _Abort()
            if line in (b"\r\n", b"\n"):
                return bytes(out)

    def _dispatch(self):
        app = self.server.app
        arrival = time.time()
        method = self.command
        req_body_len = 0
        rule = None
        req = None
        try:
            body = self._read_body()
            req_body_len = len(body)
            req = Request(method, self.path, self.headers, body, app, self.conn_id,
                          self.connection.version())
            control = req.path.startswith(CONTROL_PREFIX)
            if not control:
                rule = app.faults.match(req)  # after the body: a rule may match on it
            if rule and rule.get("reset_before_headers"):
                if rule.get("delay_ms"):
                    time.sleep(rule["delay_ms"] / 1000.0)
                resp = None
            else:
                resp = self._respond(app, req, rule)
        except _Abort:
            self.close_connection = True
            return
        except HttpError as e:
            # The request could not be read: answer and drop the connection.
            self.close_connection = True
            control = self.path.startswith(CONTROL_PREFIX)
            resp = Response.text(e.message + "\n", e.status, [("Connection", "close")])
        entry = None
        if not control:
            path, _, query = self.path.partition("?")
            entry = app.reqlog.begin({
                "time": arrival, "conn": self.conn_id, "tls": self.connection.version(),
                "method": method, "path": path, "query": query,
                "headers": {k.lower(): v for k, v in _joined(self.headers).items()},
                "range": self.headers.get("Range"), "request_body_bytes": req_body_len,
                "status": resp.status if resp else None,
                "fault": rule["id"] if rule else None,
                "why": req.why if req is not None else None,
            })
        if resp is None:
            # Logged (status and content_length null, incomplete) before the client can
            # see the reset.
            entry["content_length"] = None
            app.reqlog.end(entry, False)
            self._reset()
            return
        self._send(resp, rule, entry)

    def _respond(self, app, req, rule):
        if rule:
            if rule.get("delay_ms"):
                time.sleep(rule["delay_ms"] / 1000.0)
            if "status" in rule:
                headers = []
                if "retry_after" in rule:
                    headers.append(("Retry-After", str(rule["retry_after"])))
                return Response(rule["status"], body_of(rule), headers,
                                rule.get("content_type", "text/plain; charset=utf-8"))
            req.ignore_range = bool(rule.get("ignore_range"))
        try:
            handler, req.rest = app.router.resolve(req.method, req.path)
            resp = handler(req)
            if rule and "content_range" in rule and resp.header("Content-Range") is not None:
                # A lying server: the range it names is not the one it sends.
                resp.headers = [(n, v) for n, v in resp.headers if n.lower() != "content-range"]
                resp.headers.append(("Content-Range", rule["content_range"]))
            return resp
        except HttpError as e:
            return Response.text((e.message or "error") + "\n", e.status)
        except Exception:  # a bug in a handler: say so loudly, answer 500
            traceback.print_exc(file=sys.stderr)
            return Response.text("internal error in the mock\n", 500)

    def _send(self, resp, rule, entry):
        """Write resp: headers, then the body under the rule's cap and truncation."""
        reqlog = self.server.app.reqlog
        length = 0 if resp.status in _NO_BODY_STATUS else resp.body.length
        if rule and rule.get("short_body") and resp.status not in _NO_BODY_STATUS:
            # Declare and send fewer bytes than the body (and its Content-Range) holds,
            # on a connection kept open: the framing is intact, only the length lies.
            length = max(0, length - rule["short_body"])
        expect = 0 if self.command == "HEAD" else length  # body bytes owed to the client
        rate = min([r for r in (resp.rate_bps, (rule or {}).get("rate_bps", 0)) if r] or [0])
        cut = (rule or {}).get("close_after_bytes")
        limit = expect if cut is None else min(cut, expect)
        if entry is not None:
            entry["content_length"] = length
        sent = 0
        try:
            self.send_response(resp.status)
            for name, value in resp.headers:
                self.send_header(name, value)
            if resp.status not in _NO_BODY_STATUS:
                self.send_header("Content-Length", str(length))
            if cut is not None:
                self.close_connection = True
            if limit == 0 and entry is not None:
                reqlog.finishing(entry)
            self.end_headers()
            if limit > 0:
                start = time.monotonic()
                # The throttle (POST /_mock/throttle) is asked before every chunk, so
                # that it applies to replies under way; /_mock/ replies are never in it.
                throttle = self.server.app.throttle if entry is not None else None
                path = self.path.partition("?")[0]
                step = CHUNK_MAX if not rate else max(1, min(CHUNK_MAX, rate // 10))
                if throttle is not None:
                    step = throttle.chunk_size(path, step)
                flip = (rule or {}).get("flip_byte")
                for chunk in resp.body.chunks(step):
                    chunk = chunk[:limit - sent]
                    if flip is not None and sent <= flip < sent + len(chunk):
                        i = flip - sent  # a damaged byte: every bit of it inverted
                        chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
                    if throttle is not None:
                        throttle.take(path, len(chunk))
                    if sent + len(chunk) >= limit and entry is not None:
                        reqlog.finishing(entry)
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    if entry is not None:
                        entry["body_bytes_sent"] = sent
                    if sent >= limit:
                        break
                    if rate:
                        ahead = start + sent / rate - time.monotonic()
                        if ahead > 0:
                            time.sleep(ahead)
            if sent < expect:
                raise _Abort()
        except (_Abort, OSError, ValueError) as e:
            # A truncation rule, a client that went away, a stalled socket, a file that
            # shrank, a bad header from a handler: log the reply as incomplete BEFORE the
            # client can see the close, then drop the connection without a close_notify.
            if not isinstance(e, _Abort) and self.server.verbose:
                sys.stderr.write("ampmock: conn %d: send: %s\n" % (self.conn_id, e))
            if entry is not None:
                reqlog.end(entry, False)
            self.close_connection = True
            self._drop()
            return
        if entry is not None:
            reqlog.end(entry, True)

    def _reset(self):
        """Close the TCP connection with an RST, sending nothing (no TLS close_notify).

        SO_LINGER {on, 0 s} makes close() reset the connection. The fd is detached from
        the socket object first: the handler's own files still refer to the socket and
        would keep it open (and socketserver's shutdown(SHUT_WR) would send a FIN)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            os.close(self.connection.detach())
        except OSError:
            pass

    def _drop(self):
        try:
            self.connection.shutdown(socket.SHUT_RDWR)  # SSLSocket: no close_notify
        except OSError:
            pass


def _joined(headers):
    out = {}
    for name, value in headers.items():
        key = name.lower()
        out[key] = out[key] + ", " + value if key in out else value
    return out


class MockServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Binds 127.0.0.1:port, wraps accepted sockets in TLS (handshake in the thread)."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, port, ctx, app, verbose=False):
        self.ctx = ctx
        self.app = app
        self.verbose = verbose
        self._lock = threading.Lock()
        self.connections = 0
        self.handshake_failures = 0
        self.active = 0
        self._stall_ms = 0
        self._stall_left = 0
        self._stalled = 0
        super().__init__(("127.0.0.1", port), Handler)

    def set_stall(self, stall_ms, count):
        """The next `count` connections accepted wait stall_ms before their TLS
        handshake (0 for either: none). Every connection counts, /_mock/ ones too."""
        if not 0 <= stall_ms <= DELAY_MS_MAX or not 0 <= count <= STALL_COUNT_MAX:
            raise ValueError("stall out of range")
        with self._lock:
            self._stall_ms, self._stall_left = stall_ms, count if stall_ms else 0
        return self.stall_state()

    def stall_state(self):
        with self._lock:
            return {"stall_ms": self._stall_ms, "remaining": self._stall_left,
                    "stalled": self._stalled}

    def _take_stall(self):
        with self._lock:
            if self._stall_left <= 0:
                return 0
            self._stall_left -= 1
            self._stalled += 1
            return self._stall_ms

    def get_request(self):
        sock, addr = self.socket.accept()
        try:
            conn = self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except (OSError, ValueError):
            sock.close()
            raise
        # Decided here, in the order connections are accepted; waited out in the
        # connection's own thread (Handler.setup), so other connections go on.
        conn.ampmock_stall_ms = self._take_stall()
        return conn, addr

    def process_request(self, request, client_address):
        with self._lock:
            full = self.active >= CONNECTIONS_MAX
            if not full:
                self.active += 1
        if full:
            if self.verbose:
                sys.stderr.write("ampmock: over %d connections, closing one\n" % CONNECTIONS_MAX)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self.active -= 1

    def next_conn_id(self):
        with self._lock:
            self.connections += 1
            return self.connections

    def handshake_failed(self, err):
        with self._lock:
            self.handshake_failures += 1
        if self.verbose:
            sys.stderr.write("ampmock: TLS handshake failed: %s\n" % err)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # resets, broken pipes, TLS errors, timeouts
            if self.verbose:
                sys.stderr.write("ampmock: connection error: %s\n" % exc)
            return
        traceback.print_exc(file=sys.stderr)
