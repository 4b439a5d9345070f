#!/usr/bin/env python3
"""Fault matrix, transport rows (tests/faults/matrix.py): the network between the daemon
and the service's hosts fails: a name that does not resolve, a refused connect, a stalled
TLS handshake, a reset before the reply's headers, a connection cut mid-body.

usage: test_transport.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]
"""

import time

import faultkit as fk
import matrix
import test_daemon as td
import test_mock as tm
from matrix import Row, row, setUpModule, tearDownModule  # noqa: F401 (unittest's hooks)

FINISHED = r"^SG*F$"


class TestUnreachable(Row):
    """A host that cannot be reached: the error surfaced, the rest goes on."""

    def setUp(self):
        if self._testMethodName == "test_api_dns":
            self.overrides = ("service.api_url=https://api.invalid:%d/api/" % tm.W["mock"].port,)
        elif self._testMethodName == "test_api_refused_then_back":
            self.port = fk.free_port()
            self.overrides = ("service.api_url=https://localhost:%d/api/" % self.port,)
        super().setUp()

    @row("Device API: its host name does not resolve",
         "browse fails with the network error, nothing reaches the API, the daemon stays up")
    def test_api_dns(self):
        seq = matrix.last_seq()
        rc, reply = self.d.ctl("browse", check=False)
        self.assertNotEqual(rc, 0, reply)
        self.assertEqual(reply["error"]["message"], "network failure", reply)
        self.assertEqual(fk.requests_to(seq, "/api/"), [])
        st = self.st()
        self.assertIn(st["state"], ("idle", "stopped"), st)
        self.assertEqual(st["link"], "linked", st)
        self.assert_events(tracks=0)

    @row("Device API: connect refused (nothing listens on its port), then it comes back",
         "browse fails with the network error; once the port answers the album plays to its "
         "end, no underrun")
    def test_api_refused_then_back(self):
        rc, reply = self.d.ctl("browse", check=False)
        self.assertNotEqual(rc, 0, reply)
        self.assertEqual(reply["error"]["message"], "network failure", reply)
        fwd = fk.Forwarder(self.port)
        self.addCleanup(fwd.close)
        self.play_to_end()
        self.assertGreater(fwd.accepted, 0)

    @row("CDN: t1's audio object names a host that does not resolve",
         "t1 fails (PLAYBACK_ERROR, the network error), t2 and t3 play to the end, no underrun")
    def test_cdn_dns(self):
        fk.api_config(cdn_host="cdn.invalid:%d" % tm.W["mock"].port, cdn_host_count=1)
        self._t1_unreachable()

    @row("CDN: t1's audio object names a port nothing listens on (connect refused)",
         "t1 fails (PLAYBACK_ERROR, the network error), t2 and t3 play to the end, no underrun")
    def test_cdn_refused(self):
        fk.api_config(cdn_host="localhost:%d" % fk.free_port(), cdn_host_count=1)
        self._t1_unreachable()

    def _t1_unreachable(self):
        seq = matrix.last_seq()
        self.play()
        st = self.d.wait_state(("stopped", "error"))
        self.assertEqual(st["state"], "stopped", st)
        self.assertEqual(st["tracks_played"], 2, st)
        self.assert_no_underrun(st)
        ev = self.assert_events(tracks=3)
        self.assertEqual(fk.error_codes(ev, fk.T1), ["E%d" % fk.AMP_ENETWORK], ev)
        for t in (fk.T2, fk.T3):
            self.assertRegex(fk.letters(ev, t), FINISHED)
        # t1's session got no CDN request at all (its host was never reached)
        rid = fk.sessions(fk.T1)[0]["rid"]
        self.assertEqual(fk.requests_to(seq, "/cdn/%s/" % rid), [])
        self.assertIn("track failed: network failure", fk.log_text(self.d))


class TestStalledHandshake(Row):
    @row("CDN: the TLS handshake of its first connection stalls for 15 s",
         "the connect timeout (10 s) ends it, a new connection is made, the album plays to "
         "its end, no underrun")
    def test_cdn_handshake_stall(self):
        # The CDN on another name of the mock (127.0.0.1): a connection of its own, after
        # the API's kept-alive ones; the first new connection is stalled.
        fk.api_config(cdn_host="127.0.0.1:%d" % tm.W["mock"].port)
        ref = self.container_ref("Albums")
        status, _ = tm.fetch_json("POST", "/_mock/handshake", {"stall_ms": 15000, "count": 1})
        self.assertEqual(status, 200)
        self.d.ctl("play", ref)
        st = self.d.wait_state(("stopped", "error"))
        self.assert_clean_end(st)
        self.assert_events(tracks=3)
        hs = tm.fetch_json("GET", "/_mock/handshake")[1]
        self.assertEqual(hs["stalled"], 1, hs)


class TestReset(Row):
    @row("Device API: RST before the headers of t1's audio object request",
         "retried, the album plays to its end, no underrun")
    def test_api_reset(self):
        fid = matrix.fault({"path": "/api/audio/album-t1", "reset_before_headers": True,
                            "count": 1})
        seq = matrix.last_seq()
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 1)
        audio = [e["status"] for e in fk.requests_to(seq, "/api/audio/album-t1")]
        self.assertEqual(audio, [None, 200], audio)

    @row("CDN: RST before the headers of a segment request",
         "retried, the album plays to its end, no underrun")
    def test_segment_reset(self):
        fid = matrix.fault({"path": "/cdn/*", "reset_before_headers": True, "count": 1,
                            "header": {"name": "Range", "value": matrix.tdf.T1_SEG3}})
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 1)

    @row("license: RST before the headers of t1's license POST",
         "retried, the album plays to its end, no underrun")
    def test_license_reset(self):
        fid = matrix.fault({"path": "/license/*", "method": "POST",
                            "reset_before_headers": True, "count": 1})
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 1)


class TestCutMidBody(Row):
    @row("CDN: the manifest's connection closes after 500 bytes",
         "the manifest asked again, the album plays to its end, no underrun")
    def test_manifest_cut(self):
        # the first CDN request is t1's manifest (checked below)
        fid = matrix.fault({"path": "/cdn/*", "close_after_bytes": 500, "count": 1})
        seq = matrix.last_seq()
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 1)
        cut = [e for e in matrix.requests_since(seq) if e["fault"] == fid]
        self.assertTrue(cut[0]["path"].endswith("/manifest.mpd"), cut)
        self.assertFalse(cut[0]["complete"], cut)

    @row("license: the connection closes 20 bytes into t1's license reply",
         "the license asked again, the album plays to its end, no underrun")
    def test_license_cut(self):
        fid = matrix.fault({"path": "/license/*", "method": "POST", "close_after_bytes": 20,
                            "count": 1})
        seq = matrix.last_seq()
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 1)
        cut = [e for e in matrix.requests_since(seq) if e["fault"] == fid]
        self.assertEqual([e["complete"] for e in cut], [False], cut)


class TestSegmentCut(Row):
    paced = False

    @row("CDN: t1's second segment cut after 100 kB, and again 100 kB into its resume",
         "resumed both times at the first byte missing, the album bit-exact")
    def test_segment_cut_twice(self):
        first = matrix.fault({"path": "/cdn/*", "close_after_bytes": 100000, "count": 1,
                              "header": {"name": "range", "value": matrix.tdf.T1_SEG2}})
        again = matrix.fault({"path": "/cdn/*", "close_after_bytes": 100000, "count": 1,
                              "header": {"name": "range", "value": "bytes=623405-1085919"}})
        seq = matrix.last_seq()
        self.play_to_end()
        self.assertEqual((matrix.fault_hits(first), matrix.fault_hits(again)), (1, 1))
        cut = [e for e in matrix.requests_since(seq) if e["fault"] in (first, again)]
        self.assertEqual([e["complete"] for e in cut], [False, False], cut)


if __name__ == "__main__":
    matrix.main()
