#!/usr/bin/env python3
"""Fault matrix, clock rows (tests/faults/matrix.py): what expires while the daemon holds
it (a queued track's audio object, a license mid-track), and the wall clock jumping
either way as NTP may set it. The daemon's clocks are moved by ampd_test's `test_clock`
(src/testhooks.h), the mock's by `/_mock/clock`: no row waits for an expiry.

The monotonic clock is only moved while the player is paused: the paced null device keeps
time on it, and a jump while it plays would be heard as the whole buffer played at once.

usage: test_clock.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]
"""

import matrix
from matrix import HookRow, row, setUpModule, tearDownModule  # noqa: F401
import test_mock as tm

TITLES = ("Mix Part One", "Mix Part Two", "Mix Part Three")  # the mock's album (api.py)


def sessions(track):
    return [s for s in tm.fetch_json("GET", "/_mock/api/state")[1]["sessions"]
            if s["track"] == track]


def cdn_refused(seq):
    return [(e["path"], e["status"]) for e in matrix.requests_since(seq)
            if e["path"].startswith("/cdn/") and e["status"] not in (200, 206)]


class TestExpiry(HookRow):
    speed = 4  # half the matrix's: more time for the row's steps within t1
    @row("audio object: t2's, fetched when t1's last segment came in, expires before t2 "
         "starts (both clocks +400 s past its 300 s)",
         "the player sees it expired and fetches a fresh one before asking the CDN (no "
         "403); the album plays to its end, every event once, no underrun")
    def test_audio_object_expires_before_play(self):
        seq = matrix.last_seq()
        self.play()
        matrix.wait_for("t2 queued behind t1", lambda: sessions("album-t2"))
        st = self.st()
        self.assertEqual((st["state"], st["title"]), ("playing", TITLES[0]), st)
        matrix.mock_clock(400)
        self.clock(wall_s=400)
        jump = matrix.last_seq()
        self.assertEqual(self.st()["title"], TITLES[0])  # t2 has not started yet
        matrix.finish(self)
        s2 = sessions("album-t2")
        self.assertEqual(len(s2), 2, s2)  # renewed
        self.assertNotEqual(s2[0]["kid"], s2[1]["kid"])
        self.assertEqual(cdn_refused(jump), [])
        self.assertEqual(cdn_refused(seq), [])

    @row("license: expires mid-t1 (license_expiry_test_secs 20; both clocks +12 s and +12 s "
         "more during a pause)",
         "renewed past half its life, before it expires; t1 decrypts on with the renewed "
         "keys; the album plays to its end, every event once, no underrun")
    def test_license_expires_mid_track(self):
        self.d.stop()
        self.d.overrides.append("service.license_expiry_test_secs=20")
        matrix.restart(self, kill=False)
        seq = matrix.last_seq()
        self.play()
        # 3 s in: the start behind (under load an underrun was counted now and then when
        # the pause came as t1 started, with no clock moved)
        matrix.wait_for("3 s of t1", lambda: self.st()["position_ms"] >= 3000)
        self.d.ctl("pause")
        # The clocks move only once the device is paused: `pause` answers before the
        # output thread pauses it, and the paced device runs on the daemon's monotonic
        # clock, so a jump while it still ran played 12 s at once (an underrun, seen
        # about one run in three under load).
        matrix.wait_for("the device paused", lambda: self.st()["device"]["paused"],
                        show=self.st)
        rid = sessions("album-t1")[0]["rid"]

        def grants():
            return [e for e in matrix.requests_since(seq)
                    if e["path"] == "/license/" + rid and e["status"] == 200]

        self.assertEqual(len(grants()), 1)
        # past the renewal point (half the 20 s left), before the expiry: renewed ...
        self.both_clocks(12)
        matrix.wait_for("t1's license renewed", lambda: len(grants()) >= 2,
                        show=lambda: len(grants()))
        # ... and past the first license's expiry: only the renewed one holds the keys
        self.both_clocks(12)
        self.d.ctl("resume")
        st = self.d.wait_state(("stopped", "error"))
        self.assertEqual((st["state"], st["tracks_played"]), ("stopped", 3), st)
        self.assertNotIn("error", st)
        self.assert_no_underrun(st)
        self.assert_events(tracks=3)


class TestWallJump(HookRow):
    def jump_mid_t1(self, seconds):
        seq = matrix.last_seq()
        self.play()
        matrix.wait_for("t1 playing", lambda: self.st()["state"] == "playing")
        self.clock(wall_s=seconds)
        matrix.finish(self)
        return seq

    @row("wall clock: jumps 2 h forward mid-t1 (the daemon's only; the service's time is "
         "right)",
         "the token, the audio objects and the licenses still count as valid for as long "
         "as the service gave them; the album plays to its end, every event once, no "
         "underrun")
    def test_wall_jump_forward(self):
        seq = self.jump_mid_t1(7200)
        self.assertEqual(cdn_refused(seq), [])

    @row("wall clock: jumps 2 h back mid-t1 (the daemon's only)",
         "nothing counts as expired early or late beyond what the service says; the album "
         "plays to its end, every event once, no underrun")
    def test_wall_jump_back(self):
        seq = self.jump_mid_t1(-7200)
        self.assertEqual(cdn_refused(seq), [])


if __name__ == "__main__":
    matrix.main()
