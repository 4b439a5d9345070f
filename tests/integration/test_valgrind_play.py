#!/usr/bin/env python3
"""The real daemon under valgrind memcheck, end to end: ampd against the mock over TLS
on loopback (the test catalog), linked through ampctl, plays the album to its end into
the pipe backend (a regular file, unpaced), then SIGTERM. Python standard library only.

usage: test_valgrind_play.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]

valgrind runs with --leak-check=full --show-leak-kinds=definite,indirect
--errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=yes and the
suppressions of tests/integration/valgrind.supp (third-party libraries only, each one
justified there). The test fails on:
- any memcheck error (an invalid read or write, a use of an uninitialised value, an
  invalid free, a definite or indirect leak): valgrind's exit status 99, and its log's
  ERROR SUMMARY not 0;
- a file descriptor left open at exit besides stdin, stdout and stderr (valgrind's
  FILE DESCRIPTORS listing);
- the album not played whole (3 tracks, bit-exact to the source), the collector not
  holding its 6 events, the daemon not exiting 0.
AMPD_VALGRIND_TRACKS=1 plays the album's first track only (stop after it).
"""

import os
import re
import shutil
import signal
import sys
import time
import unittest

import test_daemon as td
import test_mock as tm

W = tm.W
GUARD_S = 900  # memcheck runs the daemon 20-50 times slower: a wait this long is a hang
HERE = os.path.dirname(os.path.abspath(__file__))
VALGRIND = ["valgrind", "--tool=memcheck", "--leak-check=full",
            "--show-leak-kinds=definite,indirect", "--errors-for-leak-kinds=definite,indirect",
            "--error-exitcode=99", "--track-fds=yes", "--num-callers=30",
            "--suppressions=" + os.path.join(HERE, "valgrind.supp")]


class VgDaemon(td.Daemon):
    """td.Daemon with valgrind in front of ampd; its report goes to valgrind.log."""

    START_GUARD_S = GUARD_S
    START_POLL_S = 0.1

    def command(self):
        self.vglog = os.path.join(self.dir, "valgrind.log")
        return VALGRIND + ["--log-file=" + self.vglog] + super().command()


def wait_for(d, pred, what):
    end = time.monotonic() + GUARD_S
    while True:
        st = td.result_of(d.status())
        if pred(st):
            return st
        if time.monotonic() > end:
            raise AssertionError("waited for %s: %s" % (what, st))
        time.sleep(0.2)


def setUpModule():
    td.set_up_module("ampd-valgrind-test-", ("--max-lifetime", "0"))


def tearDownModule():
    try:
        W["mock"].stop()
    finally:
        if os.environ.get("AMPD_KEEP_TMP"):
            print("kept", W["tmp"])
        else:
            shutil.rmtree(W["tmp"], ignore_errors=True)


class TestValgrindPlay(unittest.TestCase):
    def test_album_clean_under_memcheck(self):
        tracks = int(os.environ.get("AMPD_VALGRIND_TRACKS", "3"))
        self.assertIn(tracks, (1, 3))
        tm.fetch_json("POST", "/_mock/lwa/config", {"interval": 0.1})
        d = VgDaemon("vg", log_level="debug")
        d.start()
        try:
            t0 = time.monotonic()
            d.link()
            tm.fetch("DELETE", "/_mock/collector")
            d.ctl("play", d.album_ref())
            if tracks == 1:
                wait_for(d, lambda s: s.get("tracks_played", 0) >= 1, "the first track")
                d.ctl("stop")
            st = wait_for(d, lambda s: s.get("state") in ("stopped", "error"), "the end")
            self.assertEqual(st["state"], "stopped", st)
            self.assertNotIn("error", st)
            self.assertGreaterEqual(st["tracks_played"], tracks, st)
            # the collector has the album's events (or the first track's and the stop)
            end = time.monotonic() + GUARD_S
            while True:
                evs = tm.fetch_json("GET", "/_mock/collector")[1]["events"]
                types = [e["eventType"] for e in evs]
                if len(types) >= 2 * (st["tracks_played"] + (tracks == 1)) or \
                        time.monotonic() > end:
                    break
                time.sleep(0.2)
            if tracks == 3:
                self.assertEqual(types, ["PLAYBACK_STARTED", "PLAYBACK_FINISHED"] * 3)
                want = td.wav_pcm(os.path.join(W["root"], "album", "continuous", "source",
                                               "flac_16_44.wav"))
                with open(d.out, "rb") as f:
                    got = f.read()
                self.assertEqual(len(got), len(want))
                self.assertTrue(got == want, "the played PCM differs from the source")
            else:
                self.assertEqual(types[:2], ["PLAYBACK_STARTED", "PLAYBACK_FINISHED"])
            print("played in %.1f s under memcheck" % (time.monotonic() - t0),
                  file=sys.stderr)
            d.proc.send_signal(signal.SIGTERM)
            rc = d.proc.wait(timeout=GUARD_S)
        finally:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
            d.log.close()
        with open(d.vglog, encoding="utf-8", errors="replace") as f:
            report = f.read()
        sys.stderr.write(report[-6000:])  # the tail in the ctest log, on failure too
        self.assertNotEqual(rc, 99, "memcheck found errors or leaks")
        self.assertEqual(rc, 0)
        m = re.findall(r"ERROR SUMMARY: (\d+) errors", report)
        self.assertEqual(m, ["0"], "no ERROR SUMMARY, or errors")
        for kind in ("definitely lost", "indirectly lost"):
            for n in re.findall(kind + r": ([\d,]+) bytes", report):
                self.assertEqual(n, "0", kind)
        # Every fd open at exit is listed with where it was opened; the ones ampd
        # inherited (std, valgrind's own log) are marked so: any other one is a leak.
        self.assertEqual(len(re.findall(r"FILE DESCRIPTORS: \d+ open", report)), 1,
                         "no FILE DESCRIPTORS listing")
        leaked = re.findall(r"Open (?:file descriptor|AF_\w+ socket) (\d+):.*\n"
                            r"(?!==\d+==    <inherited from parent>)", report)
        self.assertEqual(leaked, [], "fds left open at exit")


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    W["catalog"], W["ampd"], W["ampctl"], W["cdm_dir"] = sys.argv[1:5]
    unittest.main(argv=[sys.argv[0]] + sys.argv[5:], verbosity=2)
