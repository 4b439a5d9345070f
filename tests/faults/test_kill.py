#!/usr/bin/env python3
"""Fault matrix, kill -9 rows (tests/faults/matrix.py): SIGKILL in each phase of the
daemon's work (linking, loading, playing, reporting), then a restart on the same state
directory: the link as it was, every queued event delivered once (one duplicate at most,
and only for a POST in flight at the kill), no crash (docs/reliability.md, "The
playback-event queue").

usage: test_kill.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]
"""

import os

import matrix
from matrix import Row, row, setUpModule, tearDownModule  # noqa: F401 (unittest's hooks)
import test_daemon as td
import test_mock as tm


def codepairs():
    return tm.fetch_json("GET", "/_mock/lwa/state")[1]["counts"]["codepair"]


def types(events):
    return [e["eventType"] for e in events]


class KillRow(Row):
    def restart_linked(self):
        """kill -9, restart: linked from the token file, without a new pairing."""
        before = codepairs()
        matrix.restart(self)
        matrix.wait_for("linked", lambda: self.st()["link"] == "linked", show=self.st)
        self.assertEqual(codepairs(), before)


class TestKill(KillRow):
    @row("kill -9 while linking: the user approved, the daemon's poll in flight (held 4 s)",
         "after the restart unlinked, no token file (nothing half-written); a new login "
         "links and the album plays, every event once")
    def test_kill_linking(self):
        self.d.ctl("logout")
        tok = os.path.join(self.d.dir, "state", "lwa-tokens.json")
        self.assertFalse(os.path.exists(tok))
        fid = matrix.fault({"path": "/lwa/auth/o2/token", "delay_ms": 4000,
                            "form": {"name": "grant_type", "value": "device_code"}})
        code = td.result_of(self.d.ctl("login")[1])["user_code"]
        status, _ = tm.fetch_json("POST", "/_mock/lwa/approve", {"user_code": code})
        self.assertEqual(status, 200)
        matrix.wait_for("a poll in flight", lambda: matrix.fault_hits(fid) >= 1)
        self.assertEqual(self.st()["link"], "linking")
        matrix.restart(self)
        tm.fetch("DELETE", "/_mock/faults/%d" % fid)
        st = self.st()
        self.assertEqual(st["link"], "unlinked", st)
        self.assertFalse(os.path.exists(tok))
        self.d.link()
        self.play_to_end()

    @row("kill -9 while loading: t1's manifest held 4 s, the status loading",
         "after the restart linked as before (no new pairing), idle; no event of the "
         "killed run (none was due); the album then plays, every event once")
    def test_kill_loading(self):
        fid = matrix.fault({"path": "/cdn/*", "delay_ms": 4000, "count": 1})
        self.play()
        matrix.wait_for("the manifest in flight", lambda: matrix.fault_hits(fid) == 1)
        self.assertEqual(self.st()["state"], "loading")
        self.restart_linked()
        self.assertEqual(self.st()["state"], "idle")  # nothing resumed
        self.play()
        self.assert_clean_end(self.d.wait_state(("stopped", "error")))
        self.assert_events(tracks=3, daemon_sent=False)

    @row("kill -9 while playing: mid-t1, after a pause, a resume and a seek, all four "
         "events unsent (the collector answers 503)",
         "after the restart linked as before; the collector gets STARTED, PAUSED, RESUMED, "
         "SEEKED once each, in order, and nothing else")
    def test_kill_playing(self):
        fid = matrix.fault({"path": "/collector/*", "status": 503})
        self.play()
        self.assertEqual(self.d.wait_state(("playing", "stopped", "error"))["state"],
                         "playing")
        for cmd in (("pause",), ("resume",), ("seek", "5")):
            self.d.ctl(*cmd)  # answered after its event is queued on disk
        st = self.st()
        self.assertEqual((st["state"], st["events"]["sent"], st["events"]["pending"]),
                         ("playing", 0, 4), st)
        self.assertEqual(matrix.collector()["events"], [])
        self.restart_linked()
        tm.fetch("DELETE", "/_mock/faults/%d" % fid)
        evs = self.assert_events(tracks=1, daemon_sent=False, unended=1)
        self.assertEqual(types(evs), ["PLAYBACK_STARTED", "PLAYBACK_PAUSED",
                                      "PLAYBACK_RESUMED", "PLAYBACK_SEEKED"])

    @row("kill -9 while reporting: t1's PLAYBACK_STARTED in flight (the collector holds it "
         "3 s, then records it), PAUSED and RESUMED queued behind it",
         "after the restart linked as before; the three events delivered, the one in flight "
         "twice (one duplicate, the eventId absorbs it), nothing else")
    def test_kill_reporting(self):
        fid = matrix.fault({"path": "/collector/*", "delay_ms": 3000, "count": 1})
        self.play()
        matrix.wait_for("the first POST in flight", lambda: matrix.fault_hits(fid) == 1)
        self.d.ctl("pause")
        self.d.ctl("resume")
        st = self.st()
        self.assertEqual((st["events"]["sent"], st["events"]["pending"]), (0, 3), st)
        self.restart_linked()
        matrix.wait_for("the held POST answered", lambda: matrix.collector()["posts"] >= 4,
                        show=matrix.collector)
        evs = self.assert_events(tracks=1, duplicates=1, daemon_sent=False, unended=1)
        self.assertEqual(types(evs), ["PLAYBACK_STARTED", "PLAYBACK_PAUSED",
                                      "PLAYBACK_RESUMED"])


if __name__ == "__main__":
    matrix.main()
