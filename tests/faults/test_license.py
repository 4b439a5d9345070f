#!/usr/bin/env python3
"""Fault matrix, license rows (tests/faults/matrix.py): the license server refuses (401,
403), fails (500, 503) or grants a wrong key. The catalog's tracks start with 30 s of
clear lead (docs/media.md §5), 3.75 s of wall time on the paced device: a license
retried within that plays on without an underrun.

usage: test_license.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]
"""

import faultkit as fk
import matrix
import test_mock as tm
from matrix import Row, row, setUpModule, tearDownModule  # noqa: F401 (unittest's hooks)

FINISHED = r"^SG*F$"
LICENSE_POST = {"path": "/license/*", "method": "POST"}


def refreshes():
    return tm.fetch_json("GET", "/_mock/lwa/state")[1]["counts"]["refresh_token"]


class TestLicense(Row):
    def t1_fails_rest_plays(self, code):
        """t1 ends in PLAYBACK_ERROR with code; t2 and t3 play to their end."""
        st = self.d.wait_state(("stopped", "error"))
        self.assertEqual(st["state"], "stopped", st)
        self.assertEqual(st["tracks_played"], 2, st)
        self.assert_no_underrun(st)
        ev = self.assert_events(tracks=3)
        # STARTED first when its first frame was heard before the license failed
        self.assertRegex(fk.letters(ev, fk.T1), r"^(SG*)?E$")
        self.assertEqual(fk.error_codes(ev, fk.T1), ["E%d" % code], ev)
        for t in (fk.T2, fk.T3):
            self.assertRegex(fk.letters(ev, t), FINISHED)
        return st

    @row("license: one 503 for t1's license",
         "asked again after the license client's backoff, within the clear lead: the album "
         "plays to its end, no underrun")
    def test_503_once(self):
        fid = matrix.fault(dict(LICENSE_POST, status=503, count=1))
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 1)
        granted = tm.fetch_json("GET", "/_mock/license")[1]["granted"]
        self.assertEqual(granted, 3)  # every track's session got its license after all

    @row("license: 503 twice in a row for t1's license",
         "one retry only, then t1 fails (PLAYBACK_ERROR, an HTTP error) after its clear "
         "lead started; t2 and t3 play to their end, no underrun")
    def test_503_twice(self):
        fid = matrix.fault(dict(LICENSE_POST, status=503, count=2))
        self.play()
        self.t1_fails_rest_plays(fk.AMP_EHTTP)
        self.assertEqual(matrix.fault_hits(fid), 2)

    @row("license: a 500 for t1's license",
         "not retried (license.h): t1 fails (PLAYBACK_ERROR, an HTTP error), t2 and t3 play "
         "to their end, no underrun")
    def test_500(self):
        fid = matrix.fault(dict(LICENSE_POST, status=500, count=1))
        self.play()
        self.t1_fails_rest_plays(fk.AMP_EHTTP)
        self.assertEqual(matrix.fault_hits(fid), 1)

    @row("license: t1's license refused with 403 (after 1.5 s, t2 already queued)",
         "t1 fails (PLAYBACK_ERROR, denied: never retried), the queued t2 still plays, then "
         "t3, no underrun")
    def test_403(self):
        fid = matrix.fault(dict(LICENSE_POST, status=403, count=1, delay_ms=1500))
        self.play()
        self.t1_fails_rest_plays(1)  # -EPERM
        self.assertEqual(matrix.fault_hits(fid), 1)

    @row("license: a 401 for t1's license",
         "one token refresh, the license asked again with the new token, the album plays "
         "to its end, no underrun")
    def test_401_one_refresh(self):
        before = refreshes()
        fid = matrix.fault(dict(LICENSE_POST, status=401, count=1))
        seq = matrix.last_seq()
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 1)
        self.assertEqual(refreshes() - before, 1)
        lic = [e for e in matrix.requests_since(seq) if e["path"].startswith("/license/")]
        self.assertEqual([e["status"] for e in lic], [401, 200, 200, 200], lic)
        self.assertNotEqual(lic[0]["headers"]["authorization"],
                            lic[1]["headers"]["authorization"])

    @row("license: t1's license carries a wrong content key (every bit inverted)",
         "t1 plays its clear lead, then fails at its first encrypted segment (PLAYBACK_ERROR, "
         "a decrypted sample that does not decode); t2 and t3 play to their end, no underrun")
    def test_wrong_key(self):
        status, st = tm.fetch_json("POST", "/_mock/license/config", {"wrong_keys": 1})
        self.assertEqual(status, 200, st)
        self.play()
        self.t1_fails_rest_plays(fk.AMP_EDECRYPT)
        self.assertEqual(tm.fetch_json("GET", "/_mock/license")[1]["wrong_keys"], 0)


if __name__ == "__main__":
    matrix.main()
