#!/usr/bin/env python3
"""Fault matrix, login rows (tests/faults/matrix.py): the token refresh fails for a long
time, or the link is gone (`invalid_grant`), docs/service.md §2.

The ten minutes are the daemon's and the mock's clocks moved (ampd_test's `test_clock`
and `/_mock/clock`), not ten real minutes.

usage: test_auth.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]
"""

import os
import subprocess

import matrix
from matrix import HookRow, Row, row, setUpModule, tearDownModule  # noqa: F401
import test_mock as tm

TOKEN_LIFETIME = 3600  # the mock's default (docs/service.md §2: expires_in 3600)
AHEAD = 300  # ampd refreshes 5 min before the expiry (docs/service.md §2)


def refreshes():
    return tm.fetch_json("GET", "/_mock/lwa/state")[1]["counts"]["refresh_token"]


def token_file(d):
    return os.path.join(d.dir, "state", "lwa-tokens.json")


class TestRefresh(HookRow):
    def more_refreshes(self, than):
        return matrix.wait_for("another refresh attempt", lambda: refreshes() > than,
                               show=refreshes)

    @row("LWA: every token refresh answered 503 for ten minutes (the clocks moved), from "
         "200 s before the access token expires to 400 s after",
         "retried with backoff; the old token plays the album while it lasts; still linked, "
         "the token file kept; once expired a play fails with an error; the first refresh "
         "after the fault lifts links it up again and the album plays, every event once")
    def test_refresh_fails_ten_minutes(self):
        tm.fetch_json("POST", "/_mock/lwa/fail", {"grant_type": "refresh_token",
                                                  "status": 503, "count": 100000})
        with open(token_file(self.d), "rb") as f:
            tokens = f.read()
        ref = self.container_ref("Albums")
        n = refreshes()
        self.both_clocks(TOKEN_LIFETIME - AHEAD + 100)  # the refresh ahead is due
        n = self.more_refreshes(n)
        self.play_to_end()  # on the old token, 200 s before it expires
        self.assertEqual(self.st()["link"], "linked")
        # ten minutes of failures in all: a step of the backoff's cap (60 s) at a time
        for _ in range(8):
            self.both_clocks(60)
            n = self.more_refreshes(n)
        st = self.st()
        self.assertEqual(st["link"], "linked", st)  # a 5xx is no reason to unlink
        with open(token_file(self.d), "rb") as f:
            self.assertEqual(f.read(), tokens)  # kept as it was
        # the access token has expired: a play waits for the next refresh attempt, which
        # fails as well, and says so
        play = subprocess.Popen([matrix.W["ampctl"], "-s", self.d.sock, "--json", "play",
                                 ref], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # the clocks move only once the play is in (loading, waiting for a token): moved
        # before it, the play would wait a whole backoff that no one moves on (a loaded
        # machine made a fixed 0.5 s sleep too short)
        matrix.wait_for("the play to be loading", lambda: self.st()["state"] == "loading")
        # The Device API retries a call whose refresh failed in passing like its own 5xx
        # (three times, src/cloud/api.c), each waiting for the next refresh attempt: the
        # clocks move on a backoff's cap at a time until the play gives up.
        for _ in range(8):
            self.both_clocks(60)
            try:
                matrix.wait_for("the play's error", lambda: self.st()["state"] != "loading",
                                guard=5)
                break
            except AssertionError:
                pass
        out, err = play.communicate(timeout=matrix.GUARD_S)
        st = self.d.wait_state(("stopped", "error", "idle"))
        # the refresh's failure (a 503: AMP_EHTTP) is the player's error; nothing played
        self.assertEqual((st["state"], st.get("error"), st["tracks_played"]),
                         ("error", "HTTP error status", 3), (out, err, st))
        self.assertEqual(st["link"], "linked", st)
        # the fault lifts; the next attempt (within the backoff's 60 s) refreshes
        tm.fetch_json("POST", "/_mock/lwa/reset", {})
        self.both_clocks(60)
        matrix.wait_for("a fresh token", lambda: open(token_file(self.d), "rb").read() != tokens)
        self.play()
        st = self.d.wait_state(("stopped", "error"))
        self.assertEqual((st["state"], st["tracks_played"], st["underruns"]),
                         ("stopped", 6, 0), st)
        self.assertNotIn("error", st)
        self.assertEqual(st["link"], "linked")
        self.assert_events(tracks=3)


class TestLinkLost(Row):
    @row("LWA: the refresh token revoked, the Device API answers 401 (a forced refresh: "
         "invalid_grant)",
         "status link unlinked, the token file removed (docs/service.md §2); a new login "
         "links and the album plays, every event once")
    def test_invalid_grant(self):
        tm.fetch_json("POST", "/_mock/lwa/revoke", {"all": True})
        fid = matrix.fault({"path": "/api/*", "status": 401, "count": 1})
        rc, reply = self.d.ctl("browse", check=False)
        self.assertNotEqual(rc, 0, reply)
        self.assertEqual(reply["error"]["message"], "Link has been severed", reply)
        self.assertEqual(matrix.fault_hits(fid), 1)
        st = self.st()
        self.assertEqual(st["link"], "unlinked", st)
        self.assertFalse(os.path.exists(token_file(self.d)))
        self.d.link()  # a new login
        self.assertTrue(os.path.exists(token_file(self.d)))
        self.play_to_end()


if __name__ == "__main__":
    matrix.main()
