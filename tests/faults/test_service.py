#!/usr/bin/env python3
"""Fault matrix, service rows (tests/faults/matrix.py): the Device API answers 401 or
5xx (bursts, a Retry-After, more than the retries), and the LWA token refresh a 401 asks
for fails for a while.

usage: test_service.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]
"""

import faultkit as fk
import matrix
import test_mock as tm
from matrix import Row, row, setUpModule, tearDownModule  # noqa: F401 (unittest's hooks)

FINISHED = r"^SG*F$"


def refreshes():
    return tm.fetch_json("GET", "/_mock/lwa/state")[1]["counts"]["refresh_token"]


def token_posts(seq):
    return [e for e in matrix.requests_since(seq)
            if e["method"] == "POST" and e["path"] == "/lwa/auth/o2/token"]


class TestDeviceApi(Row):
    @row("Device API: a 401 for t1's audio object",
         "one token refresh, the request sent again, the album plays to its end, no underrun")
    def test_401_one_refresh(self):
        before = refreshes()
        seq = matrix.last_seq()
        fid = matrix.fault({"path": "/api/audio/*", "status": 401, "count": 1})
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 1)
        self.assertEqual(refreshes() - before, 1)
        self.assertEqual(len(token_posts(seq)), 1)

    @row("Device API: a 401 for t1's audio object, and again after the refresh",
         "t1 fails (PLAYBACK_ERROR alone: permission denied, never retried in a loop), t2 "
         "and t3 play to their end, no underrun")
    def test_401_twice(self):
        before = refreshes()
        fid = matrix.fault({"path": "/api/audio/album-t1", "status": 401, "count": 2})
        self.play()
        st = self.d.wait_state(("stopped", "error"))
        self.assertEqual(matrix.fault_hits(fid), 2)
        self.assertEqual(refreshes() - before, 1)  # one refresh, not one per 401
        self.assertEqual(st["state"], "stopped", st)
        self.assertEqual(st["tracks_played"], 2, st)
        self.assert_no_underrun(st)
        ev = self.assert_events(tracks=3)
        self.assertEqual(fk.letters(ev, fk.T1), "E", ev)
        self.assertEqual(fk.error_codes(ev, fk.T1), ["E13"], ev)  # -EACCES
        for t in (fk.T2, fk.T3):
            self.assertRegex(fk.letters(ev, t), FINISHED)

    @row("Device API: a burst of three 503s on t1's audio object",
         "retried with backoff (three retries), the album plays to its end, no underrun")
    def test_503_burst(self):
        fid = matrix.fault({"path": "/api/audio/album-t1", "status": 503, "count": 3})
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 3)

    @row("Device API: a 503 with Retry-After 2 s on the album's container",
         "asked again after the 2 s, the album plays to its end, no underrun")
    def test_503_retry_after(self):
        ref = self.container_ref("Albums")
        fid = matrix.fault({"path": "/api/containers/album", "status": 503, "count": 1,
                            "retry_after": 2})
        seq = matrix.last_seq()
        self.d.ctl("play", ref)
        st = self.d.wait_state(("stopped", "error"))
        self.assert_clean_end(st)
        self.assert_events(tracks=3)
        self.assertEqual(matrix.fault_hits(fid), 1)
        doc = [e for e in matrix.requests_since(seq) if e["path"] == "/api/containers/album"]
        self.assertEqual([e["status"] for e in doc], [503, 200], doc)
        self.assertGreaterEqual(doc[1]["time"] - doc[0]["time"], 1.9, doc)

    @row("Device API: 500 on t1's audio object, more times than the retries",
         "t1 fails (PLAYBACK_ERROR alone, an HTTP error) after the retries, t2 and t3 play "
         "to their end, no underrun")
    def test_500_beyond_retries(self):
        fid = matrix.fault({"path": "/api/audio/album-t1", "status": 500})
        self.play()
        st = self.d.wait_state(("stopped", "error"))
        # each of the Device API client's four tries is net/http's first and three retries
        self.assertEqual(matrix.fault_hits(fid), 16)
        self.assertEqual(st["state"], "stopped", st)
        self.assertEqual(st["tracks_played"], 2, st)
        self.assert_no_underrun(st)
        ev = self.assert_events(tracks=3)
        self.assertEqual(fk.letters(ev, fk.T1), "E", ev)
        self.assertEqual(fk.error_codes(ev, fk.T1), ["E%d" % fk.AMP_EHTTP], ev)


class TestTokenRefresh(Row):
    @row("LWA: a 401 from the Device API asks for a refresh, which gets two 503s",
         "the refresh retried until it succeeds, the request sent again with the new "
         "token, the album plays to its end, no underrun")
    def test_refresh_503_burst(self):
        before = refreshes()
        seq = matrix.last_seq()
        fid = matrix.fault({"path": "/api/audio/album-t1", "status": 401, "count": 1})
        refresh = matrix.fault({"path": "/lwa/auth/o2/token", "status": 503, "count": 2,
                                "form": {"name": "grant_type", "value": "refresh_token"}})
        self.play_to_end()
        self.assertEqual((matrix.fault_hits(fid), matrix.fault_hits(refresh)), (1, 2))
        self.assertEqual(refreshes() - before, 1)  # the third POST reached the module
        self.assertEqual([e["status"] for e in token_posts(seq)], [503, 503, 200])
        self.assertEqual(self.st()["link"], "linked")


if __name__ == "__main__":
    matrix.main()
