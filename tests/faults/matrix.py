#!/usr/bin/env python3
"""The fault matrix (docs/reliability.md, "The fault matrix"): what every row shares.

A row is one test method of a `Row` subclass in tests/faults/test_*.py, marked with
`@row(fault, expect)`: the fault it injects and what must come of it, in a few words each
(the table in docs/reliability.md is made from them, see table.py). Each row runs the real
daemon (`ampd`, driven by `ampctl`) against the mock over TLS on loopback, linked afresh,
on a reset mock, with the mock's fault rules (tools/mock/ampmock/faults.py) or the
process's surroundings (its disk, its clock, its device, a signal) in the way.

Every row asserts, besides its own point:
- no crash: the daemon still answers `status` at the end, and did not exit unless the row
  killed it (`assert_alive`, run at tear-down for every row);
- the right recovery or the right surfaced error (the row's own assertions);
- the events the collector holds (`assert_events`): once the daemon's queue is empty
  (`status.events.pending` 0), every eventId the collector recorded is unique, the
  daemon's acknowledgements equal what the collector recorded plus the resends it
  counted as duplicates (none lost in between), everything submitted was acknowledged or
  refused, and each track's events form STARTED (PAUSED|RESUMED|SEEKED|PROGRESS)*
  (FINISHED|STOPPED|ERROR), in order, once per play of it (or an ERROR alone: a track
  that failed before it was heard);
- underruns (`assert_no_underrun`): zero, on a paced device, where the buffer ahead
  covers the fault.

The default device is the null backend paced at SPEED times the real rate
(`device = sync:N`, platform/null/null.h): it counts underruns as a real device would,
while an 80 s album takes 80/SPEED s. A row that checks the PCM bit for bit sets
`paced = False` and plays into the pipe backend (a regular file) instead, as fast as it
decodes (no underrun can be counted there).

usage: test_<group>.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]

With AMPD_FAULTS_RESULTS set to a directory, each row's outcome (row, fault, expect,
result, seconds) is appended there as one JSON line per row, in <module>.jsonl.
"""

import json
import os
import re
import sys
import time
import unittest

import test_daemon as td
import test_daemon_faults as tdf
import test_mock as tm

W = tm.W
GUARD_S = td.GUARD_S
SPEED = 8  # the paced device's speed: 30 s of buffer ahead covers 3.75 s of wall time

# A track's events, one letter each, in the order the collector recorded them.
_LETTER = {"PLAYBACK_STARTED": "S", "PLAYBACK_PAUSED": "P", "PLAYBACK_RESUMED": "R",
           "PLAYBACK_SEEKED": "K", "PLAYBACK_PROGRESS": "G", "PLAYBACK_FINISHED": "F",
           "PLAYBACK_STOPPED": "T", "PLAYBACK_ERROR": "E"}
# A track played more than once in a row (the album again after a recovery) has one such
# run per play.
# PLAYBACK_ERROR may stand alone: a track that failed before it was heard.
_TRACK_EVENTS = re.compile(r"^(S[PRKG]*[FTE]|E)+$")
_TRACK_UNENDED = re.compile(r"^(S[PRKG]*[FTE]|E)*S[PRKG]*$")  # killed before its end

setUpModule = tdf.setUpModule
tearDownModule = tdf.tearDownModule
fault = tdf.fault
fault_hits = tdf.fault_hits
requests_since = tdf.requests_since
last_seq = tdf.last_seq
source_pcm = tdf.source_pcm


def row(fault_text, expect):
    """Mark a test method as a row of the matrix: the fault, what must come of it."""
    def mark(fn):
        fn.matrix_row = (fault_text, expect)
        return fn
    return mark


wait_for = td.wait_for


def collector():
    return tm.fetch_json("GET", "/_mock/collector")[1]


class Row(tdf.FaultTest):
    """A reset mock, a fresh linked daemon on the paced null device (or the pipe backend
    with paced = False); the row adds its faults, plays and checks."""

    paced = True
    speed = SPEED
    # The device's own buffer. At speed N it covers buffer_ms / N of wall time: the
    # default 200 ms is 25 ms at 8x, less than the output thread may wait for a CPU on a
    # busy 2-core machine (an album with no fault counted 4 underruns at load 6); 2 s,
    # the most [output] buffer_ms takes, is 250 ms of wall time (1 s still counted one
    # now and then beside other builds).
    buffer_ms = 2000
    may_exit = False  # the row kills or stops the daemon itself

    def setUp(self):
        if self.paced and self.output is None:
            self.output = "backend = null\ndevice = sync:%d\nbuffer_ms = %d\n" % (
                self.speed, self.buffer_ms)
        super().setUp()
        self.addCleanup(self.assert_alive)  # runs before the daemon's stop (LIFO)

    # -- the shared assertions ------------------------------------------------------

    def st(self):
        """The daemon's status (the result object)."""
        return td.result_of(self.d.status())

    def assert_alive(self):
        if self.may_exit:
            return
        self.assertIsNone(self.d.proc.poll(), "ampd exited (%s): see %s" % (
            self.d.proc.returncode, os.path.join(self.d.dir, "ampd.log")))
        self.assertIn("state", self.st())

    def assert_no_underrun(self, st=None):
        st = st or self.st()
        self.assertTrue(self.paced, "underruns are counted on the paced device only")
        self.assertEqual(st["underruns"], 0, st)

    def wait_events_sent(self, guard=GUARD_S):
        """Until the daemon's queue is empty; its `events` object then."""
        return wait_for("the event queue to empty",
                        lambda: (lambda e: e if e["pending"] == 0 else None)(
                            self.st()["events"]), guard=guard,
                        show=lambda: self.st()["events"])

    def assert_events(self, tracks=None, duplicates=0, daemon_sent=True, unended=0):
        """None lost, none doubled (see the module's text). tracks: the number of tracks
        whose events must be there (None: any); duplicates: resends the collector may
        count (a POST in flight when the daemon was killed); daemon_sent: compare with
        this daemon's counters (False after a restart: they count from its start);
        unended: how many tracks' events may stop before their end event (the track
        the daemon was killed in)."""
        ev = self.wait_events_sent()
        c = collector()
        ids = [e["eventId"] for e in c["events"]]
        self.assertEqual(len(ids), len(set(ids)), "an eventId recorded twice")
        self.assertEqual(c["duplicates"], duplicates, c["duplicates"])
        if daemon_sent:
            self.assertEqual(ev["sent"], len(ids) + c["duplicates"], (ev, len(ids)))
            self.assertEqual(ev["submitted"], ev["sent"] + ev["rejected"] + ev["dropped"], ev)
        per_track = {}
        for e in c["events"]:
            tag = e["event"].get("trackTag", "")
            per_track.setdefault(tag, []).append(_LETTER.get(e["eventType"], "?"))
        for tag, seq in per_track.items():
            if unended and _TRACK_UNENDED.match("".join(seq)):
                unended -= 1
                continue
            self.assertRegex("".join(seq), _TRACK_EVENTS, "events of track %r" % tag)
        if tracks is not None:
            self.assertEqual(len(per_track), tracks, sorted(per_track))
        return c["events"]

    # -- playing ----------------------------------------------------------------------

    def play_to_end(self, tracks=3, bit_exact=None):
        """Play the album to its end: no error, every track, the events, no underrun on
        the paced device; bit for bit when not paced (bit_exact None: when not paced)."""
        self.play()
        st = self.d.wait_state(("stopped", "error"))
        self.assert_clean_end(st, tracks=tracks)
        if bit_exact if bit_exact is not None else not self.paced:
            self.assert_album_bit_exact()
        self.assert_events(tracks=tracks)
        return st


class _Recorder(unittest.TextTestResult):
    """Appends each row's outcome to AMPD_FAULTS_RESULTS/<module>.jsonl."""

    def startTest(self, test):
        self._t0 = time.monotonic()
        super().startTest(test)

    def _record(self, test, result):
        out = os.environ.get("AMPD_FAULTS_RESULTS")
        fn = getattr(test, getattr(test, "_testMethodName", ""), None)
        mark = getattr(fn, "matrix_row", None)
        if not out or mark is None:
            return
        os.makedirs(out, exist_ok=True)
        mod = type(test).__module__
        if mod == "__main__":
            mod = os.path.splitext(os.path.basename(sys.argv[0]))[0]
        line = {"module": mod, "test": "%s.%s" % (type(test).__name__, test._testMethodName),
                "fault": mark[0], "expect": mark[1], "result": result,
                "seconds": round(time.monotonic() - self._t0, 1)}
        with open(os.path.join(out, mod + ".jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, "pass")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "ERROR")

    def addSkip(self, test, reason):  # no row may skip: a skip is a failure here
        super().addSkip(test, reason)
        self._record(test, "SKIP")
        self.failures.append((test, "skipped: %s" % reason))


# -- helpers of the auth, events, storage, device, clock, kill and bounds groups ----------


def mock_clock(seconds):
    """Move the mock's clock (every module's) forward."""
    status, reply = tm.fetch_json("POST", "/_mock/clock", {"advance": seconds})
    assert status == 200, (status, reply)
    return reply


def log_text(d):
    d.log.flush()
    with open(os.path.join(d.dir, "ampd.log"), encoding="utf-8", errors="replace") as f:
        return f.read()


class HookRow(Row):
    """A row on ampd_test (src/testhooks.h: the daemon with its test hooks, never
    installed), for what only a hook can do: move the daemon's clocks (`test_clock`)."""

    def setUp(self):
        binary = W["ampd"]
        W["ampd"] = os.environ["AMPD_TEST_BINARY"]  # set by tests/faults/CMakeLists.txt
        self.addCleanup(W.__setitem__, "ampd", binary)
        super().setUp()

    def clock(self, mono_s=0, wall_s=0):
        """Move the daemon's clocks: monotonic forward by mono_s, wall by wall_s."""
        reply = self.d.raw(json.dumps({"id": 1, "cmd": "test_clock", "mono_s": mono_s,
                                       "wall_s": wall_s}).encode() + b"\n")
        self.assertTrue(reply and reply[0].get("ok"), reply)

    def both_clocks(self, seconds):
        """The daemon's clocks (both) and the mock's forward by the same seconds."""
        mock_clock(seconds)
        self.clock(mono_s=seconds, wall_s=seconds)


def finish(test, tracks=3):
    """What play_to_end checks, for an album already playing: its end, clean; the events."""
    st = test.d.wait_state(("stopped", "error"))
    test.assert_clean_end(st, tracks=tracks)
    test.assert_events(tracks=tracks)
    return st


def restart(test, kill=True):
    """kill -9 (or SIGTERM) the row's daemon and start it again on the same directory."""
    import signal
    test.d.stop(signal.SIGKILL if kill else signal.SIGTERM)
    if os.path.exists(test.d.sock):
        os.unlink(test.d.sock)  # a stale socket is replaced anyway; keep the wait honest
    test.d.start()


def main():
    if len(sys.argv) < 5:
        sys.exit(sys.modules["__main__"].__doc__)
    W["catalog"], W["ampd"], W["ampctl"], W["cdm_dir"] = sys.argv[1:5]
    out = os.environ.get("AMPD_FAULTS_RESULTS")
    if out:  # this run's outcomes replace the last run's of the same module
        mod = os.path.splitext(os.path.basename(sys.argv[0]))[0]
        try:
            os.unlink(os.path.join(out, mod + ".jsonl"))
        except FileNotFoundError:
            pass
    runner = unittest.TextTestRunner(verbosity=2, resultclass=_Recorder)
    unittest.main(argv=[sys.argv[0]] + sys.argv[5:], testRunner=runner)
