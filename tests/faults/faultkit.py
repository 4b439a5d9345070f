"""Helpers of the transport, CDN, license and service rows (tests/faults/test_transport.py,
test_cdn.py, test_license.py, test_service.py): the mock's knobs, the daemon's log, the
collector's events per track, and a TCP forwarder for a service that comes back."""

import hashlib
import os
import socket
import threading

import matrix
import test_daemon as td
import test_mock as tm

# src/core/err.h: AMP_ERR_BASE + n
AMP_EHTTP = 10001
AMP_ENETWORK = 10007
AMP_EMP4 = 10011
AMP_ELICENSE = 10016
AMP_EDECODE = 10017
AMP_EDECRYPT = 10022

T1, T2, T3 = "album-t1", "album-t2", "album-t3"


def tag_of(track):
    """The mock's trackTag of a catalog track (tools/mock/README.md, "Device API")."""
    return "B0" + hashlib.sha1(track.encode()).hexdigest()[:8].upper()


def letters(events, track):
    """The track's events, one letter each (matrix._LETTER), in the collector's order."""
    return "".join(matrix._LETTER.get(e["eventType"], "?") for e in events
                   if e["event"].get("trackTag") == tag_of(track))


def error_codes(events, track):
    return [e["event"].get("errorCode") for e in events
            if e["event"].get("trackTag") == tag_of(track) and
            e["eventType"] == "PLAYBACK_ERROR"]


def api_config(**kw):
    status, reply = tm.fetch_json("POST", "/_mock/api/config", kw)
    assert status == 200, (status, reply)
    return reply


def sessions(track=None):
    return [s for s in tm.fetch_json("GET", "/_mock/api/state")[1]["sessions"]
            if track is None or s["track"] == track]


def log_text(d):
    with open(os.path.join(d.dir, "ampd.log"), encoding="utf-8", errors="replace") as f:
        return f.read()


def free_port():
    """A loopback port nothing listens on (bound, then closed: connect is refused)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def requests_to(seq, prefix):
    return [e for e in matrix.requests_since(seq) if e["path"].startswith(prefix)]


class Forwarder:
    """TCP on 127.0.0.1:port, each connection piped to the mock's port: the service
    coming back on the port the daemon was configured with."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.accepted = 0
        self.conns = []
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            up = socket.create_connection(("127.0.0.1", td.W["mock"].port))
            self.conns += [c, up]
            for a, b in ((c, up), (up, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
