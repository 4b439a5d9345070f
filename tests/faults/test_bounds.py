#!/usr/bin/env python3
"""Fault matrix, bound rows (tests/faults/matrix.py): input over the daemon's bounds, from
the service (a manifest over each of its bounds, src/media/manifest.h) and from local
control clients (docs/protocol.md §5).

usage: test_bounds.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]
"""

import hashlib
import json
import os
import re
import socket
import time

import matrix
from matrix import Row, row, setUpModule, tearDownModule  # noqa: F401 (unittest's hooks)

MANIFEST_MAX_BYTES = 4 << 20  # src/media/manifest.h
MANIFEST_MAX_ELEMENTS = 200000
MANIFEST_MAX_REPS = 32
TITLES = ("Mix Part One", "Mix Part Two", "Mix Part Three")  # the mock's album (api.py)


def t1_manifest():
    with open(os.path.join(matrix.W["root"], "album", "t1", "v1", "manifest.mpd"),
              encoding="utf-8") as f:
        return f.read()


MARK = "@@REPEAT@@"


def over_bytes():
    """(body, body_repeat): t1's manifest with a comment that makes it one byte too long."""
    mpd = t1_manifest().replace("<Period", "<!-- %s -->\n  <Period" % MARK, 1)
    pad = MANIFEST_MAX_BYTES + 1 - (len(mpd.encode()) - len(MARK))
    return mpd, {"marker": MARK, "text": "x", "times": pad}


def over_reps():
    mpd = t1_manifest()
    rep = re.search(r"      <Representation .*?</Representation>\n", mpd, re.S).group(0)
    reps = "".join(rep.replace('id="flac_16_44"', 'id="flac_16_44_%d"' % i)
                   for i in range(MANIFEST_MAX_REPS + 1))
    return mpd.replace(rep, reps, 1), None


def over_elements():
    mpd = t1_manifest().replace("<Period", "<x>%s</x>\n  <Period" % MARK, 1)
    return mpd, {"marker": MARK, "text": "<y/>", "times": MANIFEST_MAX_ELEMENTS}


def track_tag(track):
    """The mock's trackTag of a catalog track (tools/mock/README.md, Device API)."""
    return "B0" + hashlib.sha1(track.encode()).hexdigest()[:8].upper()


class TestManifest(Row):
    def t1_manifest_is(self, made):
        """t1's manifest replaced by made (body, body_repeat): t1 fails with AMP_ETOOBIG,
        t2 and t3 play."""
        rule = {"path": "/cdn/*", "status": 200, "count": 1, "body": made[0],
                "content_type": "application/dash+xml"}
        if made[1]:
            rule["body_repeat"] = made[1]
        fid = matrix.fault(rule)
        self.play()
        st = self.d.wait_state(("stopped", "error"))
        self.assertEqual(matrix.fault_hits(fid), 1)
        self.assertEqual((st["state"], st["tracks_played"], st["underruns"]),
                         ("stopped", 2, 0), st)
        self.assertIn("player: track failed: input exceeds a limit", matrix.log_text(self.d))
        evs = self.assert_events(tracks=3)
        t1 = [e for e in evs if e["event"].get("trackTag") == track_tag("album-t1")]
        self.assertEqual([e["eventType"] for e in t1], ["PLAYBACK_ERROR"], t1)

    @row("manifest: t1's is one byte over 4 MiB (MANIFEST_MAX_BYTES)",
         "t1 fails (\"input exceeds a limit\", its PLAYBACK_ERROR), t2 and t3 play, every "
         "event once, no underrun")
    def test_manifest_over_bytes(self):
        self.t1_manifest_is(over_bytes())

    @row("manifest: t1's has 33 Representations in one AdaptationSet (MANIFEST_MAX_REPS 32)",
         "t1 fails (\"input exceeds a limit\", its PLAYBACK_ERROR), t2 and t3 play, every "
         "event once, no underrun")
    def test_manifest_over_reps(self):
        self.t1_manifest_is(over_reps())

    @row("manifest: t1's holds 200000 more elements (MANIFEST_MAX_ELEMENTS) in 0.8 MB",
         "t1 fails (\"input exceeds a limit\", its PLAYBACK_ERROR), t2 and t3 play, every "
         "event once, no underrun")
    def test_manifest_over_elements(self):
        self.t1_manifest_is(over_elements())


def connect(path):
    """A connection; a full listen backlog (EAGAIN: the daemon has not accepted the ones
    before yet) is waited out, as a client would."""
    end = time.monotonic() + 30
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > end:
                raise
            time.sleep(0.01)


def read_lines(s, n):
    """The first n reply lines on s (bounded by its timeout)."""
    buf = b""
    while buf.count(b"\n") < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return [json.loads(x) for x in buf.split(b"\n")[:n] if x.strip()]


class TestControlFlood(Row):
    @row("control: while t1 plays, 31 clients at once: 10 with an unterminated line, 10 "
         "sending lines over 64 KiB, 11 pipelining 200 requests each without reading; a "
         "33rd client",
         "the over-long lines get too_long and the connection stays; every pipelined "
         "request is answered, in order; the 33rd is refused busy and closed; a normal "
         "client (the 32nd) is answered; the album plays to its end, no underrun")
    def test_control_flood(self):
        self.play()
        matrix.wait_for("t1 playing", lambda: self.st()["state"] == "playing")
        sock = self.d.sock
        held = []
        try:
            for _ in range(10):  # an unterminated line, then silence
                s = connect(sock)
                s.sendall(b'{"id": 1, "cmd": "sta')
                held.append(s)
            long_ones = []
            for _ in range(10):  # a line over the bound, then a good one
                s = connect(sock)
                s.sendall(b"x" * (70 * 1024) + b'\n{"id": 2, "cmd": "status"}\n')
                long_ones.append(s)
                held.append(s)
            pipes = []
            for i in range(11):  # 200 requests in one go, none read yet
                s = connect(sock)
                s.sendall(b"".join(b'{"id": %d, "cmd": "status"}\n' % j for j in range(200)))
                pipes.append(s)
                held.append(s)
            time.sleep(0.5)
            rc, reply = self.d.ctl("status")  # the 32nd client
            self.assertTrue(reply.get("ok"), reply)
            self.assertEqual(reply["result"]["state"], "playing", reply)
            # ... which was the last there is room for: with it gone and another in its
            # place, a 33rd is refused, with id null
            s33 = [connect(sock) for _ in range(2)]
            held += s33
            extra = read_lines(s33[-1], 1)
            self.assertEqual([(r["id"], r["error"]["code"]) for r in extra], [(None, "busy")])
            self.assertEqual(s33[-1].recv(1), b"")  # and closed
            for s in long_ones:
                got = read_lines(s, 2)
                self.assertEqual(got[0].get("error", {}).get("code"), "too_long", got)
                self.assertTrue(got[1].get("ok"), got)  # the connection stayed
            for s in pipes:  # every request answered, in order
                got = read_lines(s, 200)
                self.assertEqual([(r["id"], r["ok"]) for r in got],
                                 [(j, True) for j in range(200)])
            s33[0].close()  # the 32nd slot again
            rc, reply = self.d.ctl("status")  # still answered
            self.assertTrue(reply.get("ok"), reply)
        finally:
            for s in held:
                s.close()
        st = self.d.wait_state(("stopped", "error"))
        self.assert_clean_end(st)
        self.assert_events(tracks=3)


if __name__ == "__main__":
    matrix.main()
