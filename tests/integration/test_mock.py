#!/usr/bin/env python3
"""Self-tests of the mock service (tools/mock): the known-good counterpart of the C
client's integration tests. Python standard library only.

Makes a test PKI with tools/mock/testca.sh in a temp dir, starts ampmock.py on a free
port and talks to it with http.client over TLS, verifying against the test CA.
"""

import http.client
import json
import os
import random
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest
import warnings

import testout

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MOCK = os.path.join(REPO, "tools", "mock", "ampmock.py")
TESTCA = os.path.join(REPO, "tools", "mock", "testca.sh")
START_TIMEOUT_S = 10
IO_TIMEOUT_S = 10

FILE_SIZE = 200_000
DATA = random.Random(1234).randbytes(FILE_SIZE)

W = {}  # the test world: tmp, certs, root, mock


class Mock:
    """One ampmock.py process; stop() asserts it exits cleanly."""

    def __init__(self, *extra):
        self.tmp = tempfile.mkdtemp(dir=W["tmp"])
        self.port_file = os.path.join(self.tmp, "port")
        self.err_path = os.path.join(self.tmp, "stderr")
        self.log_path = os.path.join(self.tmp, "requests.jsonl")
        cmd = [sys.executable, MOCK, "--certs", W["certs"], "--root", W["root"], "--port", "0",
               "--port-file", self.port_file, "--log-file", self.log_path,
               "--max-lifetime", "300"] + list(extra)
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(START_TIMEOUT_S)
        sel.close()
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("ampmock ready port="):
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("mock did not start: %r %s" % (line, self.stderr()))
        self.port = int(line.strip().split("=", 1)[1])

    def stderr(self):
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self.proc.stdout.close()
        return rc


def client_ctx(cafile=None):
    ctx = ssl.create_default_context(cafile=cafile or os.path.join(W["certs"], "ca.pem"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def connect(port, ctx=None, host="localhost"):
    return http.client.HTTPSConnection(host, port, context=ctx or client_ctx(),
                                       timeout=IO_TIMEOUT_S)


def fetch(method, path, body=None, headers=None, port=None):
    """One request on a new connection: (status, headers, body bytes)."""
    c = connect(port or W["mock"].port)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def fetch_json(method, path, obj=None):
    body = None if obj is None else json.dumps(obj)
    status, _, data = fetch(method, path, body, {"Content-Type": "application/json"})
    return status, json.loads(data) if status == 200 else data.decode(errors="replace")


def add_fault(rule):
    status, out = fetch_json("POST", "/_mock/faults", rule)
    assert status == 200, (status, out)
    return out


def log_entries(since=0):
    status, out = fetch_json("GET", "/_mock/requests?since=%d" % since)
    assert status == 200
    return out


def make_tmp(prefix):
    """W["tmp"], a new temp dir, and W["certs"] in it: the test PKI of testca.sh. The start
    of every module set-up on the mock (here and in the modules built on this one)."""
    W["tmp"] = tempfile.mkdtemp(prefix=prefix)
    W["certs"] = os.path.join(W["tmp"], "certs")
    subprocess.run(["bash", TESTCA, W["certs"]], check=True, timeout=60)


def end_module(*first, check_mock_exit=False):
    """Every module's tear-down: the callables first (in order), then the mock's stop
    (check_mock_exit: its exit status must be 0); W["tmp"] is kept and removed
    (testout.remove_tmp) whatever failed."""
    try:
        for f in first:
            f()
        if "mock" in W:
            rc = W["mock"].stop()
            assert not check_mock_exit or rc == 0, "mock exit status %d" % rc
    finally:
        testout.remove_tmp(W["tmp"])


def setUpModule():
    make_tmp("ampmock-test-")
    root = W["root"] = os.path.join(W["tmp"], "root")
    os.makedirs(os.path.join(root, "sub"))
    with open(os.path.join(root, "a.mp4"), "wb") as f:
        f.write(DATA)
    with open(os.path.join(root, "empty.bin"), "wb"):
        pass
    with open(os.path.join(root, "sub", "t.txt"), "wb") as f:
        f.write(b"hello\n")
    with open(os.path.join(W["tmp"], "secret"), "wb") as f:
        f.write(b"SECRET OUTSIDE ROOT\n")
    os.symlink(os.path.join(W["tmp"], "secret"), os.path.join(root, "escape"))
    os.symlink("sub/t.txt", os.path.join(root, "inside"))
    W["mock"] = Mock()


def tearDownModule():
    end_module(check_mock_exit=True)


class MockTest(unittest.TestCase):
    def setUp(self):
        fetch("DELETE", "/_mock/faults")
        fetch("DELETE", "/_mock/requests")

    def tearDown(self):
        self.assertNotIn("Traceback", W["mock"].stderr())


class TestFiles(MockTest):
    def test_tls_with_the_test_ca(self):
        c = connect(W["mock"].port)
        c.request("GET", "/files/sub/t.txt")
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"hello\n"))
        self.assertIn(c.sock.version(), ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(r.headers["Accept-Ranges"], "bytes")
        c.close()

    def test_port_file_matches_ready_line(self):
        with open(W["mock"].port_file, encoding="ascii") as f:
            self.assertEqual(int(f.read()), W["mock"].port)

    def test_whole_file_and_head(self):
        status, h, body = fetch("GET", "/files/a.mp4")
        self.assertEqual((status, body), (200, DATA))
        self.assertEqual(h["Content-Type"], "audio/mp4")
        status, h, body = fetch("HEAD", "/files/a.mp4", headers={"Range": "bytes=0-99"})
        self.assertEqual((status, body, h["Content-Length"]), (206, b"", "100"))

    def test_range_206(self):
        cases = [("bytes=100-199", 100, 199), ("bytes=199990-", 199990, FILE_SIZE - 1),
                 ("bytes=-5", FILE_SIZE - 5, FILE_SIZE - 1), ("bytes=0-0", 0, 0),
                 ("bytes=150000-999999", 150000, FILE_SIZE - 1),
                 ("bytes=-999999", 0, FILE_SIZE - 1)]
        for rng, first, last in cases:
            with self.subTest(rng=rng):
                status, h, body = fetch("GET", "/files/a.mp4", headers={"Range": rng})
                self.assertEqual(status, 206)
                self.assertEqual(h["Content-Range"], "bytes %d-%d/%d" % (first, last, FILE_SIZE))
                self.assertEqual(int(h["Content-Length"]), last - first + 1)
                self.assertEqual(body, DATA[first:last + 1])

    def test_range_416(self):
        for path, rng, size in [("/files/a.mp4", "bytes=200000-", FILE_SIZE),
                                ("/files/a.mp4", "bytes=-0", FILE_SIZE),
                                ("/files/empty.bin", "bytes=0-", 0)]:
            with self.subTest(path=path, rng=rng):
                status, h, _ = fetch("GET", path, headers={"Range": rng})
                self.assertEqual(status, 416)
                self.assertEqual(h["Content-Range"], "bytes */%d" % size)

    def test_multi_or_bad_range_gives_whole_file(self):
        for rng in ("bytes=0-1,5-9", "bytes=9-5", "items=0-5", "bytes=abc"):
            with self.subTest(rng=rng):
                status, h, body = fetch("GET", "/files/a.mp4", headers={"Range": rng})
                self.assertEqual((status, body), (200, DATA))
                self.assertIsNone(h["Content-Range"])

    def test_if_range_mismatch_gives_whole_file(self):
        _, h, _ = fetch("HEAD", "/files/a.mp4")
        status, _, body = fetch("GET", "/files/a.mp4",
                                headers={"Range": "bytes=0-9", "If-Range": h["ETag"]})
        self.assertEqual((status, body), (206, DATA[:10]))
        status, _, body = fetch("GET", "/files/a.mp4",
                                headers={"Range": "bytes=0-9", "If-Range": '"other"'})
        self.assertEqual((status, body), (200, DATA))

    def test_path_traversal_refused(self):
        for path in ("/files/../secret", "/files/%2e%2e/secret", "/files/sub/../../secret",
                     "/files//etc/passwd", "/files/%2fetc%2fpasswd", "/files/escape",
                     "/files/sub/..%2f..%2fsecret", "/files/sub%5c..%5c..%5csecret",
                     "/files/a.mp4%00.txt"):
            with self.subTest(path=path):
                status, _, body = fetch("GET", path)
                self.assertIn(status, (403, 404))
                self.assertNotIn(b"SECRET", body)
        status, _, body = fetch("GET", "/files/inside")  # a symlink within the root
        self.assertEqual((status, body), (200, b"hello\n"))
        self.assertEqual(fetch("GET", "/files/nope")[0], 404)
        self.assertEqual(fetch("GET", "/files/sub")[0], 404)

    def test_keep_alive_two_requests_on_one_connection(self):
        c = connect(W["mock"].port)
        c.request("GET", "/files/a.mp4", headers={"Range": "bytes=0-9"})
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (206, DATA[:10]))
        sock = c.sock
        c.request("GET", "/files/sub/t.txt")
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"hello\n"))
        self.assertIs(c.sock, sock)  # http.client did not reconnect
        c.close()
        log = log_entries()
        self.assertEqual(len(log), 2)
        self.assertEqual(log[0]["conn"], log[1]["conn"])


class TestFaults(MockTest):
    def test_ignore_range_rule(self):
        rule = add_fault({"path": "/files/a.mp4", "ignore_range": True})
        status, h, body = fetch("GET", "/files/a.mp4", headers={"Range": "bytes=10-19"})
        self.assertEqual((status, body), (200, DATA))
        self.assertIsNone(h["Content-Range"])
        listed = fetch_json("GET", "/_mock/faults")[1]
        self.assertEqual([(r["id"], r["hits"]) for r in listed], [(rule["id"], 1)])

    def test_status_with_count_then_success(self):
        add_fault({"path": "/files/a.mp4", "status": 503, "count": 2, "retry_after": 1})
        for _ in range(2):
            status, h, _ = fetch("GET", "/files/a.mp4", headers={"Range": "bytes=0-9"})
            self.assertEqual(status, 503)
            self.assertEqual(h["Retry-After"], "1")
        status, h, body = fetch("GET", "/files/a.mp4", headers={"Range": "bytes=0-9"})
        self.assertEqual((status, body), (206, DATA[:10]))
        self.assertIsNone(h["Retry-After"])
        rule = fetch_json("GET", "/_mock/faults")[1][0]
        self.assertEqual((rule["hits"], rule["remaining"], rule["active"]), (2, 0, False))
        self.assertEqual([e["status"] for e in log_entries()], [503, 503, 206])

    def test_prefix_rule_first_match_wins_and_method(self):
        add_fault({"path": "/files/sub/*", "status": 500, "method": "HEAD"})
        add_fault({"path": "/files/sub/*", "status": 404, "body": "{\"error\":\"x\"}",
                   "content_type": "application/json"})
        add_fault({"path": "/files/sub/t.txt", "status": 502})
        self.assertEqual(fetch("HEAD", "/files/sub/t.txt")[0], 500)
        status, h, body = fetch("GET", "/files/sub/t.txt")
        self.assertEqual((status, body, h["Content-Type"]),
                         (404, b'{"error":"x"}', "application/json"))
        self.assertEqual(fetch("GET", "/files/a.mp4")[0], 200)

    def test_close_after_bytes_truncates(self):
        add_fault({"path": "/files/a.mp4", "close_after_bytes": 1000, "count": 1})
        c = connect(W["mock"].port)
        c.request("GET", "/files/a.mp4")
        r = c.getresponse()
        self.assertEqual((r.status, r.headers["Content-Length"]), (200, str(FILE_SIZE)))
        with self.assertRaises(http.client.IncompleteRead) as cm:
            r.read()
        self.assertEqual(cm.exception.partial, DATA[:1000])
        c.close()
        entry = log_entries()[-1]
        self.assertEqual((entry["body_bytes_sent"], entry["complete"], entry["status"]),
                         (1000, False, 200))
        self.assertEqual(fetch("GET", "/files/a.mp4")[2], DATA)  # count ran out

    def test_rate_limit_still_delivers_everything(self):
        rule = add_fault({"path": "/files/a.mp4", "rate_bps": 1_000_000, "delay_ms": 20})
        status, _, body = fetch("GET", "/files/a.mp4")
        self.assertEqual((status, body), (200, DATA))
        listed = fetch_json("GET", "/_mock/faults")[1]
        self.assertEqual(listed[0]["id"], rule["id"])
        self.assertEqual((listed[0]["rate_bps"], listed[0]["hits"]), (1_000_000, 1))
        entry = log_entries()[-1]
        self.assertEqual((entry["complete"], entry["fault"]), (True, rule["id"]))

    def test_rule_validation_and_removal(self):
        for bad in ({"status": 503}, {"path": "x"}, {"path": "/a", "bogus": 1},
                    {"path": "/a", "count": "2"}, {"path": "/a", "status": True},
                    {"path": "/a", "status": 99}, {"path": "/a", "delay_ms": -1}, [1]):
            with self.subTest(rule=bad):
                self.assertEqual(fetch_json("POST", "/_mock/faults", bad)[0], 400)
        self.assertEqual(fetch("POST", "/_mock/faults", b"{nope")[0], 400)
        rules = fetch_json("POST", "/_mock/faults", [{"path": "/a"}, {"path": "/b"}])[1]
        self.assertEqual(fetch("DELETE", "/_mock/faults/%d" % rules[0]["id"])[0], 200)
        self.assertEqual(fetch("DELETE", "/_mock/faults/%d" % rules[0]["id"])[0], 404)
        self.assertEqual([r["path"] for r in fetch_json("GET", "/_mock/faults")[1]], ["/b"])
        self.assertEqual(fetch_json("DELETE", "/_mock/faults")[1], {"cleared": 1})
        self.assertEqual(fetch_json("GET", "/_mock/faults")[1], [])

    def _hits(self):
        return [r["hits"] for r in fetch_json("GET", "/_mock/faults")[1]]

    def test_query_condition(self):
        add_fault({"path": "/files/sub/t.txt", "query": {"name": "x", "value": "1"},
                   "status": 503})
        for query, status in (("", 200), ("?x=2", 200), ("?x=1", 503), ("?y=0&x=1", 503),
                              ("?x=1x", 200), ("?X=1", 200), ("?x=%31", 503)):
            with self.subTest(query=query):
                self.assertEqual(fetch("GET", "/files/sub/t.txt" + query)[0], status)
        self.assertEqual(self._hits(), [3])

    def test_header_condition(self):
        add_fault({"path": "/files/sub/t.txt", "header": {"name": "X-Fail"}, "status": 502})
        add_fault({"path": "/files/sub/t.txt", "header": {"name": "x-amzn-kind", "value": "b"},
                   "status": 504})
        for headers, status in (({}, 200), ({"x-fail": ""}, 502), ({"X-FAIL": "1"}, 502),
                                ({"X-Amzn-Kind": "b"}, 504), ({"X-Amzn-Kind": "B"}, 200),
                                ({"X-Amzn-Kind": "b "}, 504), ({"X-Amzn-Kind": "bb"}, 200),
                                ({"X-Other": "b"}, 200)):
            with self.subTest(headers=headers):
                self.assertEqual(fetch("GET", "/files/sub/t.txt", headers=headers)[0], status)
        # "b " is "b": the whitespace around a field value is not part of it.
        self.assertEqual(self._hits(), [2, 2])

    def test_form_condition(self):
        # The example of the README: fail only the refresh grant of one token endpoint.
        add_fault({"path": "/echo", "form": {"name": "grant_type", "value": "refresh_token"},
                   "status": 503})
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        for body, headers, status in (
                (b"grant_type=device_code&device_code=d", form, 200),
                (b"grant_type=refresh_token&refresh_token=r", form, 503),
                (b"client_id=c&grant_type=refresh%5Ftoken", form, 503),
                (b"grant_type=refresh_token", {"Content-Type": "text/plain"}, 200),
                (b"grant_type=refresh_token", {}, 200),
                (b"grant_type=refresh_tokens", form, 200),
                (b"grant_type=\xff", form, 200)):
            with self.subTest(body=body, headers=headers):
                self.assertEqual(fetch("POST", "/echo", body, headers)[0], status)
        self.assertEqual(self._hits(), [2])

    def test_all_conditions_must_hold(self):
        rule = {"path": "/echo", "method": "POST", "query": {"name": "q", "value": "1"},
                "header": {"name": "X-A", "value": "a"},
                "form": {"name": "f", "value": "v"}, "status": 500}
        add_fault(rule)
        form = "application/x-www-form-urlencoded"
        full = ("/echo?q=1", {"X-A": "a", "Content-Type": form}, b"f=v")
        self.assertEqual(fetch("POST", full[0], full[2], full[1])[0], 500)
        for path, headers, body in (("/echo", full[1], full[2]),
                                    (full[0], {"Content-Type": form}, full[2]),
                                    (full[0], full[1], b"f=w")):
            with self.subTest(path=path, headers=headers, body=body):
                self.assertEqual(fetch("POST", path, body, headers)[0], 200)
        self.assertEqual(fetch("PUT", full[0], full[2], full[1])[0], 200)  # the method
        listed = fetch_json("GET", "/_mock/faults")[1][0]
        self.assertEqual(listed["hits"], 1)
        self.assertEqual({k: listed[k] for k in ("query", "header", "form")},
                         {k: rule[k] for k in ("query", "header", "form")})

    def test_condition_validation(self):
        long_name, long_value = "n" * 257, "v" * 4097
        for bad in ({"query": "x=1"}, {"query": {"name": "x"}}, {"form": {"name": "x"}},
                    {"query": {"name": "", "value": "1"}}, {"query": {"name": "x", "value": 1}},
                    {"query": {"name": 1, "value": "1"}}, {"query": ["x", "1"]},
                    {"query": {"name": long_name, "value": "1"}},
                    {"query": {"name": "x", "value": long_value}},
                    {"header": {"name": "Bad Name"}}, {"header": {"name": "X-A:"}},
                    {"header": {"name": "X-A", "value": "a\r\nX-B: b"}},
                    {"header": {"name": "X-A", "value": None}},
                    {"query": {"name": "x\n", "value": "1"}},
                    {"form": {"name": "a\0", "value": "1"}},
                    {"form": {"name": "a", "value": "1\r"}},
                    {"form": {"name": "a", "value": "1", "extra": 1}}, {"form": None}):
            with self.subTest(rule=bad):
                rule = dict(bad, path="/echo", status=500)
                self.assertEqual(fetch_json("POST", "/_mock/faults", rule)[0], 400)
        self.assertEqual(fetch_json("GET", "/_mock/faults")[1], [])
        ok = add_fault({"path": "/echo", "header": {"name": "X-A"},
                        "query": {"name": "n" * 256, "value": "v" * 4096}})
        self.assertEqual(ok["header"], {"name": "X-A"})

    def _raw_get(self, path):
        """GET path (Connection: close) on a new TLS connection run over memory BIOs, so
        that the TCP socket's own end is seen: (plaintext received, "fin" or "rst")."""
        sock = socket.create_connection(("127.0.0.1", W["mock"].port), IO_TIMEOUT_S)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = client_ctx().wrap_bio(inc, out, server_hostname="localhost")
        got = b""
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    sock.sendall(out.read())
                    data = sock.recv(65536)
                    self.assertNotEqual(data, b"", "closed during the handshake")
                    inc.write(data)
            tls.write(b"GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                      % path.encode())
            sock.sendall(out.read())
            while True:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    return got, "rst"
                if not data:
                    return got, "fin"
                inc.write(data)
                try:
                    while True:
                        got += tls.read(65536)
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                    pass
        finally:
            sock.close()

    def test_reset_before_headers(self):
        rule = add_fault({"path": "/files/sub/t.txt", "reset_before_headers": True,
                          "count": 1})
        # An RST, not a FIN, and no byte of a reply.
        self.assertEqual(self._raw_get("/files/sub/t.txt"), (b"", "rst"))
        entry = log_entries()[-1]
        self.assertEqual((entry["path"], entry["status"], entry["fault"], entry["complete"],
                          entry["body_bytes_sent"], entry["content_length"]),
                         ("/files/sub/t.txt", None, rule["id"], False, 0, None))
        got, end = self._raw_get("/files/sub/t.txt")  # the count is used up
        self.assertEqual(end, "fin")
        self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got)
        self.assertTrue(got.endswith(b"\r\n\r\nhello\n"), got)
        self.assertEqual(fetch("GET", "/files/sub/t.txt")[2], b"hello\n")
        self.assertEqual(self._hits(), [1])
        self.assertEqual(fetch_json("POST", "/_mock/faults",
                                    {"path": "/a", "reset_before_headers": 1})[0], 400)

    def test_handshake_stall(self):
        before = fetch_json("GET", "/_mock/handshake")[1]
        self.assertEqual(fetch_json("POST", "/_mock/handshake",
                                    {"stall_ms": 10_000, "count": 1})[1],
                         {"stall_ms": 10_000, "remaining": 1, "stalled": before["stalled"]})
        # The next connection gets TCP and no ServerHello: the client's handshake times
        # out (0.5 s here, against a 10 s stall).
        raw = socket.create_connection(("127.0.0.1", W["mock"].port), IO_TIMEOUT_S)
        raw.settimeout(0.5)
        with self.assertRaises(TimeoutError):
            client_ctx().wrap_socket(raw, server_hostname="localhost")
        raw.close()
        # The one after it is served as usual.
        self.assertEqual(fetch("GET", "/files/sub/t.txt")[2], b"hello\n")
        self.assertEqual(fetch_json("GET", "/_mock/handshake")[1],
                         {"stall_ms": 10_000, "remaining": 0, "stalled": before["stalled"] + 1})

    def test_handshake_stall_cancel_and_validation(self):
        c = connect(W["mock"].port)  # one kept-alive connection: it is not stalled itself

        def post(obj):
            c.request("POST", "/_mock/handshake", json.dumps(obj),
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            body = r.read()
            return r.status, json.loads(body) if r.status == 200 else None

        self.assertEqual(post({"stall_ms": 10_000, "count": 5})[1]["remaining"], 5)
        self.assertEqual(post({"stall_ms": 0, "count": 5})[1]["remaining"], 0)
        self.assertEqual(fetch("GET", "/files/sub/t.txt")[2], b"hello\n")  # not stalled
        for bad in ({"stall_ms": -1, "count": 1}, {"stall_ms": 120_001, "count": 1},
                    {"stall_ms": "5", "count": 1}, {"stall_ms": True, "count": 1},
                    {"stall_ms": 5.0, "count": 1}, {"stall_ms": 5, "count": -1},
                    {"stall_ms": 5, "count": 1001}, {"stall_ms": 5},
                    {"stall_ms": 5, "count": 1, "extra": 0}, [5, 1]):
            with self.subTest(body=bad):
                self.assertEqual(post(bad)[0], 400)
        self.assertEqual(post({"stall_ms": 120_000, "count": 0})[1]["remaining"], 0)
        c.close()
        self.assertEqual(fetch("GET", "/files/sub/t.txt")[2], b"hello\n")

    def test_control_paths_are_never_faulted(self):
        add_fault({"path": "/*", "status": 500})
        self.assertEqual(fetch("GET", "/files/a.mp4")[0], 500)
        self.assertEqual(fetch_json("GET", "/_mock/faults")[0], 200)


class TestLogAndRoutes(MockTest):
    def test_request_log(self):
        fetch("GET", "/files/a.mp4?x=1", headers={"Range": "bytes=0-9", "X-Test": "v"})
        fetch("GET", "/files/nope")
        fetch("POST", "/echo", b"token=SECRET-TOKEN-42", {"Authorization": "Bearer t"})
        fetch("GET", "/_mock/faults")  # not logged
        log = log_entries()
        self.assertEqual([e["path"] for e in log], ["/files/a.mp4", "/files/nope", "/echo"])
        rng, missing, post = log
        self.assertEqual((rng["method"], rng["query"], rng["range"], rng["status"]),
                         ("GET", "x=1", "bytes=0-9", 206))
        self.assertEqual((rng["body_bytes_sent"], rng["complete"]), (10, True))
        self.assertEqual(rng["headers"]["x-test"], "v")
        self.assertEqual(missing["status"], 404)
        self.assertIsNone(missing["range"])
        self.assertEqual((post["method"], post["request_body_bytes"]), ("POST", 21))
        self.assertGreater(post["seq"], missing["seq"])
        self.assertNotIn("SECRET-TOKEN-42", json.dumps(log))
        self.assertEqual([e["path"] for e in log_entries(since=missing["seq"])], ["/echo"])
        with open(W["mock"].log_path, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual(lines[-1]["seq"], post["seq"])
        self.assertNotIn("SECRET-TOKEN-42", json.dumps(lines))
        self.assertEqual(fetch_json("DELETE", "/_mock/requests")[1], {"cleared": 3})
        self.assertEqual(log_entries(), [])

    def test_echo(self):
        c = connect(W["mock"].port)
        c.putrequest("POST", "/echo?q=1")
        c.putheader("X-Amzn-A", "1")
        c.putheader("X-Amzn-A", "2")
        c.putheader("Content-Length", "4")
        c.endheaders(b"h\xc3\xa9y")
        r = c.getresponse()
        out = json.loads(r.read())
        c.close()
        self.assertEqual(r.status, 200)
        self.assertEqual((out["method"], out["path"], out["query"]), ("POST", "/echo", "q=1"))
        self.assertEqual((out["body"], out["body_bytes"]), ("h\u00e9y", 4))
        self.assertEqual(out["headers"]["x-amzn-a"], "1, 2")
        self.assertIn(["X-Amzn-A", "2"], out["header_list"])

    def test_chunked_request_body(self):
        c = connect(W["mock"].port)
        c.request("POST", "/echo", body=iter([b"ab", b"cde"]), encode_chunked=True)
        out = json.loads(c.getresponse().read())
        c.close()
        self.assertEqual((out["body"], out["headers"]["transfer-encoding"]), ("abcde", "chunked"))

    def test_status_redirect_slow(self):
        status, _, body = fetch("GET", "/status/418")
        self.assertEqual((status, body), (418, b"status 418\n"))
        self.assertEqual(fetch("GET", "/status/99")[0], 400)
        status, h, _ = fetch("GET", "/redirect?to=http%3A%2F%2F127.0.0.1%3A1%2Fx&code=302")
        self.assertEqual((status, h["Location"]), (302, "http://127.0.0.1:1/x"))
        self.assertEqual(fetch("GET", "/redirect?to=x%0d%0aSet-Cookie:a")[0], 400)
        status, _, body = fetch("GET", "/slow?bytes=70000&rate=10000000")
        self.assertEqual((status, body), (200, bytes(i % 256 for i in range(70000))))
        self.assertEqual(fetch("GET", "/nowhere")[0], 404)
        self.assertEqual(fetch("DELETE", "/files/a.mp4")[0], 405)

    def test_example_module(self):
        status, _, body = fetch("GET", "/example/hello")
        self.assertEqual((status, json.loads(body)["hello"]), (200, "world"))
        fetch("POST", "/example/counter/n")
        status, _, body = fetch("GET", "/example/counter/n")
        self.assertEqual(json.loads(body), {"name": "n", "value": 1})

    def test_client_disconnect_mid_response(self):
        c = connect(W["mock"].port)
        c.request("GET", "/slow?bytes=10000000&rate=2000000")
        r = c.getresponse()
        self.assertEqual(len(r.read(1000)), 1000)
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        status, _, body = fetch("GET", "/files/sub/t.txt")  # the server lives on
        self.assertEqual((status, body), (200, b"hello\n"))
        slow = [e for e in log_entries() if e["path"] == "/slow"]
        self.assertEqual(len(slow), 1)
        self.assertFalse(slow[0]["complete"])

    def test_plain_http_is_refused(self):
        before = fetch_json("GET", "/_mock/stats")[1]["handshake_failures"]
        with socket.create_connection(("127.0.0.1", W["mock"].port), IO_TIMEOUT_S) as s:
            s.sendall(b"GET /files/sub/t.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertNotIn(b"hello", s.recv(4096))
        stats = fetch_json("GET", "/_mock/stats")[1]
        self.assertEqual(stats["handshake_failures"], before + 1)
        self.assertEqual(log_entries(), [])


def issue_token():
    status, out = fetch_json("POST", "/_mock/lwa/issue", {})
    assert status == 200, (status, out)
    return out["access_token"]


class TestCollector(MockTest):
    """The collector's header checks (docs/service.md §6); the C reporter's side is in
    tests/integration/test_report.c."""

    def _post(self, cid, headers, eid):
        body = json.dumps({"eventId": eid, "eventType": "PLAYBACK_STARTED"}).encode()
        c = connect(W["mock"].port)
        try:
            # putrequest/putheader: http.client adds no Content-Type of its own.
            c.putrequest("POST", "/collector/" + cid)
            for name, value in headers:
                c.putheader(name, value)
            c.putheader("Content-Length", str(len(body)))
            c.endheaders(body)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def _events(self, cid):
        return [e for e in fetch_json("GET", "/_mock/collector")[1]["events"]
                if e["collector"] == cid]

    def test_refuses_each_missing_header_then_takes_the_good_one(self):
        tok = issue_token()
        good = {"Authorization": "Bearer " + tok, "hasExplicit": "true",
                "Content-Type": "application/json; charset=utf-8"}
        cases = [("Authorization", None, 401, "no bearer token"),
                 ("Authorization", "Bearer " + tok + "x", 401, "unknown or expired access token"),
                 ("Authorization", "Basic " + tok, 401, "no bearer token"),
                 ("hasExplicit", None, 400, "header hasExplicit missing or malformed"),
                 ("hasExplicit", "TRUE", 400, "header hasExplicit missing or malformed"),
                 ("Content-Type", None, 400,
                  "header Content-Type missing or not application/json"),
                 ("Content-Type", "text/json", 400,
                  "header Content-Type missing or not application/json")]
        for i, (name, value, status, why) in enumerate(cases):
            with self.subTest(name=name, value=value):
                hdrs = dict(good)
                if value is None:
                    del hdrs[name]
                else:
                    hdrs[name] = value
                self.assertEqual(self._post("py-hdrs", hdrs.items(), "e%d" % i)[0], status)
                entry = log_entries()[-1]
                self.assertEqual((entry["status"], entry["why"]), (status, why))
                self.assertNotIn(tok, entry["why"])
        # Two hasExplicit headers are one too many.
        twice = list(good.items()) + [("hasExplicit", "false")]
        self.assertEqual(self._post("py-hdrs", twice, "e-twice")[0], 400)
        self.assertEqual(self._events("py-hdrs"), [])
        status, body = self._post("py-hdrs", good.items(), "e-good")
        self.assertEqual((status, json.loads(body)), (200, {"recorded": True}))
        self.assertEqual([e["eventId"] for e in self._events("py-hdrs")], ["e-good"])
        self.assertIsNone(log_entries()[-1]["why"])

    def test_token_expires_on_the_mock_clock(self):
        tok = issue_token()
        hdrs = [("Authorization", "Bearer " + tok), ("hasExplicit", "false"),
                ("Content-Type", "application/json")]
        self.assertEqual(self._post("py-exp", hdrs, "x1")[0], 200)
        self.assertEqual(fetch_json("POST", "/_mock/clock", {"advance": 3601})[0], 200)
        self.assertEqual(self._post("py-exp", hdrs, "x2")[0], 401)
        self.assertEqual(log_entries()[-1]["why"], "unknown or expired access token")
        hdrs[0] = ("Authorization", "Bearer " + issue_token())  # issued on the new clock
        self.assertEqual(self._post("py-exp", hdrs, "x3")[0], 200)
        self.assertEqual([e["eventId"] for e in self._events("py-exp")], ["x1", "x3"])


class TestThrottle(MockTest):
    """/_mock/throttle: one shared link, looked up for every chunk, liftable mid-reply."""

    def tearDown(self):
        fetch("DELETE", "/_mock/throttle")
        super().tearDown()

    def test_lift_applies_to_a_reply_under_way(self):
        """At 20 kB/s the 200 kB file would take 10 s: the reply is seen held back part
        way in the log, the throttle is lifted, and the rest goes out unthrottled (the
        counter of throttled bytes stops short of the file), byte-exact."""
        base = fetch_json("GET", "/_mock/throttle")[1]["throttled_bytes"]
        st = fetch_json("POST", "/_mock/throttle", {"path": "/files/a.mp4", "rate_bps": 20000})
        self.assertEqual(st[0], 200)
        self.assertEqual((st[1]["path"], st[1]["rate_bps"]), ("/files/a.mp4", 20000))
        c = connect(W["mock"].port)
        c.request("GET", "/files/a.mp4")
        r = c.getresponse()
        head = r.read(1000)  # the first chunk goes at once, the link is then busy
        # /_mock/ is never throttled, nor is another path, while the link is busy
        self.assertEqual(fetch("GET", "/files/sub/t.txt")[2], b"hello\n")
        entry = [e for e in log_entries() if e["path"] == "/files/a.mp4"][-1]
        self.assertFalse(entry["complete"])
        self.assertLess(entry["body_bytes_sent"], FILE_SIZE)
        held = fetch_json("GET", "/_mock/throttle")[1]
        self.assertGreater(held["throttled_bytes"], base)
        lifted = fetch_json("DELETE", "/_mock/throttle")[1]
        self.assertEqual((lifted["path"], lifted["rate_bps"]), (None, 0))
        body = head + r.read()
        c.close()
        self.assertTrue(body == DATA)
        after = fetch_json("GET", "/_mock/throttle")[1]["throttled_bytes"]
        self.assertLess(after - base, FILE_SIZE)  # the rest was sent after the lift
        self.assertTrue([e for e in log_entries() if e["path"] == "/files/a.mp4"][-1]
                        ["complete"])

    def test_shared_by_matching_paths_only(self):
        """Two replies under a prefix pattern both count; another path does not."""
        base = fetch_json("GET", "/_mock/throttle")[1]["throttled_bytes"]
        self.assertEqual(fetch_json("POST", "/_mock/throttle",
                                    {"path": "/files/sub/*", "rate_bps": 1 << 30})[0], 200)
        self.assertEqual(fetch("GET", "/files/sub/t.txt")[2], b"hello\n")
        self.assertEqual(fetch("GET", "/files/inside")[2], b"hello\n")  # not under /sub/
        self.assertEqual(fetch("GET", "/files/sub/t.txt")[2], b"hello\n")
        self.assertEqual(fetch_json("GET", "/_mock/throttle")[1]["throttled_bytes"] - base, 12)

    def test_validation_and_reset(self):
        for bad in ({}, {"rate_bps": -1}, {"rate_bps": "1"}, {"rate_bps": True},
                    {"rate_bps": 1, "path": "x"}, {"rate_bps": 1, "bogus": 1}, [1]):
            with self.subTest(body=bad):
                self.assertEqual(fetch_json("POST", "/_mock/throttle", bad)[0], 400)
        self.assertEqual(fetch_json("POST", "/_mock/throttle", {"rate_bps": 5000})[1]["path"],
                         "/*")
        self.assertEqual(fetch_json("POST", "/_mock/reset", {})[0], 200)
        st = fetch_json("GET", "/_mock/throttle")[1]
        self.assertEqual((st["path"], st["rate_bps"]), (None, 0))
        self.assertEqual(fetch("GET", "/files/a.mp4")[2], DATA)  # at once: nothing held


class TestReset(MockTest):
    """POST /_mock/reset: every module's state, the faults and the clock, at once."""

    def test_reset_all(self):
        tok = issue_token()
        hdrs = [("Authorization", "Bearer " + tok), ("hasExplicit", "false"),
                ("Content-Type", "application/json")]
        body = json.dumps({"eventId": "r1", "eventType": "PLAYBACK_STARTED"}).encode()
        c = connect(W["mock"].port)
        c.putrequest("POST", "/collector/py-reset")
        for n, v in hdrs + [("Content-Length", str(len(body)))]:
            c.putheader(n, v)
        c.endheaders(body)
        self.assertEqual(c.getresponse().status, 200)
        c.close()
        self.assertEqual(fetch_json("POST", "/_mock/faults", {"path": "/x", "status": 500})[0],
                         200)
        self.assertEqual(fetch_json("POST", "/_mock/clock", {"advance": 10})[0], 200)
        status, out = fetch_json("POST", "/_mock/reset", {})
        self.assertEqual(status, 200)
        self.assertGreaterEqual(out["modules"], 4)  # lwa, license, api, collector
        self.assertEqual(out["faults"], 1)
        self.assertEqual(fetch_json("GET", "/_mock/faults")[1], [])
        self.assertEqual(fetch_json("GET", "/_mock/clock")[1]["offset"], 0)
        events = [e for e in fetch_json("GET", "/_mock/collector")[1]["events"]
                  if e["collector"] == "py-reset"]
        self.assertEqual(events, [])


class TestLifecycle(unittest.TestCase):
    def test_exits_when_parent_pid_is_gone(self):
        parent = subprocess.Popen(["sleep", "0.3"])
        m = Mock("--parent-pid", str(parent.pid))
        parent.wait()
        self.assertEqual(m.proc.wait(10), 0)
        m.proc.stdout.close()
        self.assertIn("parent %d is gone" % parent.pid, m.stderr())

    def test_bad_arguments(self):
        r = subprocess.run([sys.executable, MOCK, "--certs", W["certs"], "--root",
                            os.path.join(W["tmp"], "nope")], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"not a directory", r.stderr)


class TestTlsRefusals(unittest.TestCase):
    """Servers a correct client must refuse, each with a known-good counterpart."""

    def _start(self, *args):
        m = Mock(*args)
        self.addCleanup(lambda: self.assertEqual(m.stop(), 0))
        self.addCleanup(lambda: self.assertNotIn("Traceback", m.stderr()))
        return m

    def _handshake(self, port, ctx, host="localhost"):
        with socket.create_connection(("127.0.0.1", port), IO_TIMEOUT_S) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                return s.version()

    def test_tls11_only_server(self):
        m = self._start("--tls-max", "1.1")
        with self.assertRaises(ssl.SSLError):
            self._handshake(m.port, client_ctx())
        old = client_ctx()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        self.assertEqual(self._handshake(m.port, old), "TLSv1.1")
        # The same with the openssl command the C client's library is built on.
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % m.port,
                            "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-servername",
                            "localhost", "-CAfile", os.path.join(W["certs"], "ca.pem"),
                            "-verify_return_error"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, rb"Protocol\s*: TLSv1\.1")
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % m.port,
                            "-tls1_2"], stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)  # refused; a signal death is negative

    def test_tls12_only_server_is_fine(self):
        m = self._start("--tls-max", "1.2")
        self.assertEqual(self._handshake(m.port, client_ctx()), "TLSv1.2")

    def test_wrong_host(self):
        m = self._start("--cert", "wronghost")
        with self.assertRaises(ssl.SSLCertVerificationError) as cm:
            self._handshake(m.port, client_ctx())
        self.assertEqual(cm.exception.verify_code, 62)  # X509_V_ERR_HOSTNAME_MISMATCH
        self.assertIn(self._handshake(m.port, client_ctx(), "wrong.example"),
                      ("TLSv1.2", "TLSv1.3"))

    def test_expired(self):
        m = self._start("--cert", "expired")
        with self.assertRaises(ssl.SSLCertVerificationError) as cm:
            self._handshake(m.port, client_ctx())
        self.assertEqual(cm.exception.verify_code, 10)  # X509_V_ERR_CERT_HAS_EXPIRED

    def test_unknown_ca(self):
        m = self._start("--cert", "unknownca-server")
        with self.assertRaises(ssl.SSLCertVerificationError) as cm:
            self._handshake(m.port, client_ctx())
        self.assertEqual(cm.exception.verify_code, 20)  # unable to get local issuer
        other = client_ctx(os.path.join(W["certs"], "otherca.pem"))
        self.assertIn(self._handshake(m.port, other), ("TLSv1.2", "TLSv1.3"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
