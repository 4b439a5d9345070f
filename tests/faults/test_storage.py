#!/usr/bin/env python3
"""Fault matrix, storage rows (tests/faults/matrix.py): the state directory fills up or
cannot be written (docs/reliability.md, "The playback-event queue").

A full disk is RLIMIT_FSIZE (set on the running daemon with prlimit(2), SIGXFSZ ignored
from its start): every write past the limit fails with EFBIG, the path ENOSPC takes. The
daemon's log goes through a pipe, so that the limit does not hold its log file too.
It needs no privilege (CI runs in a container without CAP_SYS_ADMIN: no tmpfs to fill).

A read-only state directory is its mode 0500. Root ignores modes, so where the tests run
as root (CI's container) the daemon is started through setpriv(1) without the
capabilities that override them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER).

usage: test_storage.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]
"""

import os
import resource
import signal
import subprocess
import threading

import matrix
from matrix import Row, row, setUpModule, tearDownModule  # noqa: F401 (unittest's hooks)
import test_mock as tm


def start_fsize_ready(d):
    """Start d as Daemon.start does, but with SIGXFSZ ignored (inherited through exec) and
    its output copied to its log by a thread of ours."""
    args = [matrix.W["ampd"], "-c", d.conf]
    for o in d.overrides:
        args += ["-o", o]
    d.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=d.env,
                              preexec_fn=lambda: signal.signal(signal.SIGXFSZ, signal.SIG_IGN))

    def copy(src=d.proc.stdout, dst=d.log):
        for chunk in iter(lambda: src.read1(65536), b""):
            dst.write(chunk)
            dst.flush()
    threading.Thread(target=copy, daemon=True).start()
    matrix.wait_for("the control socket", lambda: os.path.exists(d.sock) or
                    d.proc.poll() is not None)
    assert d.proc.poll() is None, "ampd exited: %s" % d.proc.returncode


def fsize(pid, limit):
    """The soft RLIMIT_FSIZE of process pid (RLIM_INFINITY: none)."""
    hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)[1]
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, hard))


def start_without_override(d):
    """Start d as Daemon.start does; as root, without the capabilities that let root write
    where the mode says no."""
    real = matrix.W["ampd"]
    if os.geteuid() == 0:
        wrapper = os.path.join(d.dir, "ampd-nocaps")
        with open(wrapper, "w", encoding="ascii") as f:
            f.write("#!/bin/sh\nexec setpriv --bounding-set -dac_override,-dac_read_search,"
                    "-fowner -- %s \"$@\"\n" % real)
        os.chmod(wrapper, 0o700)
        matrix.W["ampd"] = wrapper
    try:
        d.start()
    finally:
        matrix.W["ampd"] = real


class TestReadOnly(Row):
    @row("state directory read-only (mode 0500) from a restart on, through a play and a "
         "token refresh",
         "the daemon starts linked from its token file and plays the album, every event "
         "once (the queue's file itself is writable), no underrun; what cannot be saved is "
         "logged (Permission denied) and the token file is kept as it was; with the "
         "directory writable again the next refresh saves the tokens, and a restart is "
         "linked")
    def test_state_dir_read_only(self):
        d = self.d
        state = os.path.join(d.dir, "state")
        tok = os.path.join(state, "lwa-tokens.json")
        with open(tok, "rb") as f:
            tokens = f.read()
        d.stop()
        os.chmod(state, 0o500)
        self.addCleanup(os.chmod, state, 0o700)
        if os.path.exists(d.sock):
            os.unlink(d.sock)
        start_without_override(d)
        matrix.wait_for("linked", lambda: self.st()["link"] == "linked")
        self.play_to_end()
        # a forced refresh (a 401): the new tokens cannot be written
        fid = matrix.fault({"path": "/api/*", "status": 401, "count": 1})
        self.d.ctl("browse")
        self.assertEqual(matrix.fault_hits(fid), 1)
        log = matrix.log_text(d)
        self.assertIn("cannot save the LWA tokens in %s: Permission denied" % state, log)
        with open(tok, "rb") as f:
            self.assertEqual(f.read(), tokens)
        self.assertEqual(self.st()["link"], "linked")
        # writable again: the next refresh saves them
        os.chmod(state, 0o700)
        fid = matrix.fault({"path": "/api/*", "status": 401, "count": 1})
        self.d.ctl("browse")
        matrix.wait_for("the tokens saved", lambda: open(tok, "rb").read() != tokens)
        matrix.restart(self)
        matrix.wait_for("linked", lambda: self.st()["link"] == "linked")
        # the saved refresh token is the one that works: a forced refresh with it
        fid = matrix.fault({"path": "/api/*", "status": 401, "count": 1})
        self.d.ctl("browse")
        self.assertEqual(matrix.fault_hits(fid), 1)
        self.assertEqual(self.st()["link"], "linked")


class TestFullDisk(Row):
    @row("disk full: the event queue's file cannot grow (RLIMIT_FSIZE at its size) from "
         "t1's start to the album's end, the collector answering 503 meanwhile",
         "the album plays on to its end (no underrun, no error); the events that found no "
         "room are refused, the one queued before is kept; with room again new ones queue "
         "behind it, and all of those are delivered once, in order")
    def test_event_queue_disk_full(self):
        d = self.d
        d.stop()  # and again, with SIGXFSZ ignored
        if os.path.exists(d.sock):
            os.unlink(d.sock)
        start_fsize_ready(d)
        matrix.wait_for("linked", lambda: self.st()["link"] == "linked")
        fid = matrix.fault({"path": "/collector/*", "status": 503})
        evq = os.path.join(d.dir, "state", "events.evq")
        self.play()
        matrix.wait_for("t1's STARTED queued", lambda: self.st()["events"]["pending"] == 1)
        fsize(d.proc.pid, os.path.getsize(evq))  # not one byte more
        st = d.wait_state(("stopped", "error"))
        self.assert_clean_end(st)
        ev = st["events"]
        self.assertEqual((ev["submitted"], ev["pending"], ev["sent"]), (1, 1, 0), ev)
        self.assertGreaterEqual(ev["append_fails"], 5, ev)  # t1's end, t2's and t3's
        fsize(d.proc.pid, resource.RLIM_INFINITY)  # room again
        self.play()
        st = d.wait_state(("stopped", "error"))
        self.assert_clean_end(st, tracks=6)
        tm.fetch("DELETE", "/_mock/faults/%d" % fid)
        ev = self.wait_events_sent()
        c = matrix.collector()
        self.assertEqual([e["eventType"] for e in c["events"]],
                         ["PLAYBACK_STARTED"] + ["PLAYBACK_STARTED", "PLAYBACK_FINISHED"] * 3)
        self.assertEqual(len({e["eventId"] for e in c["events"]}), 7)
        self.assertEqual(c["duplicates"], 0)
        self.assertEqual((ev["submitted"], ev["sent"], ev["rejected"], ev["dropped"]),
                         (7, 7, 0, 0), ev)
        tags = [e["event"]["trackTag"] for e in c["events"]]
        self.assertEqual(tags[0], tags[1])  # t1's, of the first play, kept


if __name__ == "__main__":
    matrix.main()
