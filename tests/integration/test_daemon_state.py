#!/usr/bin/env python3
"""Issue 10's hooks, saved state and SIGHUP through the real daemon (ampd, driven by
ampctl) against the mock on the test catalog. Python standard library only.

usage: test_daemon_state.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]

- the onevent hook of an album play sees sink_open, start, track x3, stop, sink_close in
  this order, with the titles, and an environment without a URL or a token;
- a hook that hangs is killed (its process group) after timeout_s while the music plays
  on (null backend at the real rate: position increasing, state playing, no underrun);
- volume and repeat survive a SIGTERM and a kill -9 after the debounce; a corrupt state
  file is ignored with a log line;
- with [playback] resume the restarted daemon resumes the container at the track and the
  position it was stopped at (the collector gets the seek to that position);
- SIGHUP applies a new log level and a new hook without stopping the music, names a key
  that needs a restart, sends RELOADING=1 and READY=1, and a bad file keeps the old
  configuration with one error line.
"""

import os
import re
import signal
import stat
import sys
import unittest

import test_daemon as td
import test_mock as tm
from test_sdnotify import Notify

W = tm.W
GUARD_S = td.GUARD_S
NULL_SYNC = "backend = null\nsync = true\nidle_close_s = 1\n"
STATE = "player-state"


def setUpModule():
    td.set_up_module("ampd-state-test-")


tearDownModule = tm.end_module


def wait_for(pred, what, guard=GUARD_S):
    return td.wait_for(what, pred, guard, poll=0.1)


def write_hook(path, body):
    with open(path, "w", encoding="ascii") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o700)


def read_text(path):
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\n") for line in f]


class StateTest(unittest.TestCase):
    """A reset mock and a daemon of the test's own; link() pairs it."""

    def setUp(self):
        status, _ = tm.fetch_json("POST", "/_mock/reset", {})
        self.assertEqual(status, 200)
        tm.fetch_json("POST", "/_mock/lwa/config", {"interval": 0.1})
        self.name = self.id().rsplit(".", 2)[-2] + "." + self._testMethodName
        self.dir = os.path.join(W["tmp"], self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.d = None

    def tearDown(self):
        if self.d:
            self.d.stop()
            self.d.log.close()

    def daemon(self, **kw):
        self.d = td.Daemon(self.name, **kw)
        return self.d

    def wait_linked(self):
        wait_for(lambda: td.result_of(self.d.status()).get("link") == "linked", "the link")

    def st(self):
        return td.result_of(self.d.status())

    def log_text(self):
        self.d.log.flush()
        with open(os.path.join(self.d.dir, "ampd.log"), encoding="utf-8",
                  errors="replace") as f:
            return f.read()


class TestHooks(StateTest):
    def test_album_event_order(self):
        """An album through the pipe backend: the exact sequence of events, the track
        fields, and nothing of the daemon's environment (no URL, no token)."""
        rec = os.path.join(self.dir, "events")
        envs = os.path.join(self.dir, "envs")
        hook = os.path.join(self.dir, "hook.sh")
        write_hook(hook, 'echo "$1|$AMPD_EVENT|$AMPD_TITLE|$AMPD_DURATION_MS" >> %s\n'
                   'env >> %s\n' % (rec, envs))
        self.daemon(output="backend = pipe\ndevice = S16:%s\nidle_close_s = 1\n"
                    % os.path.join(self.dir, "played.raw"),
                    extra_config="[hooks]\nonevent = %s\ntimeout_s = 10\n" % hook)
        self.d.env["AMPD_TEST_SECRET"] = "https://secret.example/?token=xyz"
        self.d.start()
        self.d.link()
        self.d.ctl("play", self.d.album_ref())
        st = self.d.wait_state(("stopped", "error"))
        self.assertEqual(st["state"], "stopped", st)
        self.assertEqual(st["tracks_played"], 3, st)
        wait_for(lambda: any(l.startswith("sink_close|") for l in read_lines(rec)),
                 "sink_close")
        lines = read_lines(rec)
        events = [l.split("|")[0] for l in lines]
        self.assertEqual(events, ["sink_open", "start", "track", "track", "track", "stop",
                                  "sink_close"], lines)
        for l in lines:
            self.assertEqual(l.split("|")[0], l.split("|")[1], l)  # $1 is AMPD_EVENT
        tracks = [l.split("|") for l in lines if l.startswith("track|")]
        titles = [t[2] for t in tracks]
        self.assertEqual(len(set(titles)), 3, titles)
        self.assertTrue(all(titles), titles)
        self.assertEqual(lines[1].split("|")[2], titles[0])  # start carries the first track
        self.assertTrue(all(int(t[3]) > 0 for t in tracks), tracks)
        env = "\n".join(read_lines(envs))
        self.assertNotIn("http", env)
        self.assertNotIn("SECRET", env)
        self.assertNotIn("NOTIFY_SOCKET", env)
        for t in tm.fetch_json("GET", "/_mock/lwa/state")[1]["issued"]:
            self.assertNotIn(t["access_token"], env)
            self.assertNotIn(t["refresh_token"], env)

    def test_first_change_is_an_event(self):
        """The daemon's first change after its start (a volume) is an event too, with
        AMPD_VOLUME."""
        rec = os.path.join(self.dir, "events")
        hook = os.path.join(self.dir, "hook.sh")
        write_hook(hook, 'echo "$AMPD_EVENT $AMPD_VOLUME" >> %s\n' % rec)
        self.daemon(extra_config="[hooks]\nonevent = %s\n" % hook)
        self.d.start()
        self.d.ctl("volume", "50")
        wait_for(lambda: read_lines(rec), "the volume event")
        self.d.ctl("volume", "51")
        wait_for(lambda: len(read_lines(rec)) == 2, "the second volume event")
        self.assertEqual(read_lines(rec), ["volume 50", "volume 51"])

    def test_stop_hook_runs_at_sigterm(self):
        """SIGTERM while playing: the stop event's hook (an amplifier off) runs before the
        daemon exits."""
        rec = os.path.join(self.dir, "events")
        hook = os.path.join(self.dir, "hook.sh")
        write_hook(hook, 'sleep 0.5; echo "$AMPD_EVENT" >> %s\n' % rec)
        self.daemon(output=NULL_SYNC, extra_config="[hooks]\nonevent = %s\n" % hook)
        self.d.start()
        self.d.link()
        self.d.ctl("play", self.d.album_ref())
        wait_for(lambda: "track" in read_lines(rec), "the track event")
        self.assertEqual(self.d.stop(), 0)
        self.assertEqual(read_lines(rec)[-1], "stop", read_lines(rec))

    def test_hung_hook_killed_music_goes_on(self):
        """The hook of the first track hangs (with a child in its group); after timeout_s
        both are killed, the music plays on at the real rate, later events still run."""
        rec = os.path.join(self.dir, "events")
        pidfile = os.path.join(self.dir, "pid")
        hook = os.path.join(self.dir, "hook.sh")
        write_hook(hook, 'echo "$AMPD_EVENT" >> %s\n'
                   'if [ "$AMPD_EVENT" = track ] && [ ! -e %s ]; then\n'
                   '  sleep 600 & echo $! > %s; wait\nfi\n' % (rec, pidfile, pidfile))
        self.daemon(output=NULL_SYNC, extra_config="[hooks]\nonevent = %s\ntimeout_s = 1\n"
                    % hook)
        self.d.start()
        self.d.link()
        self.d.ctl("play", self.d.album_ref())
        wait_for(lambda: os.path.exists(pidfile) and read_text(pidfile).strip(), "the hang")
        pid = int(read_text(pidfile).strip())
        wait_for(lambda: "still running after 1 s: killed" in self.log_text(), "the kill")

        def gone():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    return f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except FileNotFoundError:
                return True
        wait_for(gone, "the hook's child gone")
        a = self.st()
        self.assertEqual(a["state"], "playing", a)
        b = wait_for(lambda: (lambda s: s if s["position_ms"] > a["position_ms"] or
                              s["title"] != a["title"] else None)(self.st()),
                     "the position moving")
        self.assertEqual(b["state"], "playing", b)
        self.assertEqual(b["underruns"], 0, b)
        # the queue goes on: a volume change is run after the kill
        self.d.ctl("volume", "33")
        wait_for(lambda: "volume" in read_lines(rec), "the volume event")
        self.assertEqual(self.st()["underruns"], 0)
        self.d.ctl("stop")


class TestSavedState(StateTest):
    def state_file(self):
        return os.path.join(self.d.dir, "state", STATE)

    def test_volume_repeat_survive_restarts(self):
        self.daemon(extra_config="[playback]\nvolume = 90\n")
        self.d.start()
        self.assertEqual(self.st()["volume"], 90)
        self.d.ctl("volume", "37")
        self.d.ctl("repeat", "all")
        # after the debounce (1 s) the file holds it: a kill -9 loses nothing
        wait_for(lambda: os.path.exists(self.state_file()) and
                 "volume 37\nrepeat 2\n" in read_text(self.state_file()), "the state file")
        self.assertEqual(stat.S_IMODE(os.stat(self.state_file()).st_mode), 0o600)
        self.d.stop(signal.SIGKILL)
        os.unlink(self.d.sock)
        self.d.start()
        st = self.st()
        self.assertEqual((st["volume"], st["repeat"]), (37, "all"), st)
        self.assertIn("restored: volume 37, repeat all", self.log_text())
        # SIGTERM right after a change (inside the debounce): written at the shutdown
        self.d.ctl("volume", "12")
        self.d.ctl("repeat", "one")
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        st = self.st()
        self.assertEqual((st["volume"], st["repeat"]), (12, "one"), st)

    def test_corrupt_state_ignored(self):
        self.daemon(extra_config="[playback]\nvolume = 55\n")
        os.makedirs(os.path.join(self.d.dir, "state"), exist_ok=True)
        path = os.path.join(self.d.dir, "state", STATE)
        with open(path, "w") as f:  # a cut file: no crc line
            f.write("ampd-state 1\nvolume 3\nrepeat 1\n")
        os.chmod(path, 0o600)
        self.d.start()
        st = self.st()
        self.assertEqual((st["volume"], st["repeat"]), (55, "off"), st)
        self.assertIn("the saved player state (player-state) is ignored", self.log_text())
        self.d.ctl("volume", "44")
        wait_for(lambda: "volume 44\n" in read_text(path), "a good file again")
        self.d.stop()
        self.d.start()
        self.assertEqual(self.st()["volume"], 44)

    def test_resume_after_restart(self):
        """[playback] resume: stopped by SIGTERM in the album's second track, the daemon
        started again plays that track from where it was (a seek there, which the
        collector records)."""
        self.daemon(output=NULL_SYNC, extra_config="[playback]\nresume = true\n")
        self.d.start()
        self.d.link()
        tm.fetch("DELETE", "/_mock/collector")
        self.d.ctl("play", self.d.album_ref())
        self.d.wait_state(("playing",))
        self.d.ctl("seek", "35")  # near t1's end (37 s)
        st = wait_for(lambda: (lambda s: s if s["tracks_played"] == 1 and
                               s["position_ms"] > 2000 else None)(self.st()),
                      "the second track at 2 s")
        title = st["title"]
        self.assertEqual(self.d.stop(), 0)
        with open(self.state_file()) as f:
            saved = dict(l.split(" ", 1) for l in f.read().splitlines())
        self.assertEqual(saved["track"], "1", saved)
        pos = int(saved["position_ms"])
        self.assertGreaterEqual(pos, st["position_ms"])
        tm.fetch("DELETE", "/_mock/collector")
        self.d.start()
        first = wait_for(lambda: (lambda s: s if s["state"] == "playing" else None)(self.st()),
                         "playing again")
        self.assertEqual(first["title"], title, first)
        self.assertEqual(first["tracks_played"], 0)

        def seeked():  # (the first run's seek to 35 s may be delivered now too)
            evs = tm.fetch_json("GET", "/_mock/collector")[1]["events"]
            return [e for e in evs if e["eventType"] == "PLAYBACK_SEEKED" and
                    e["event"].get("offsetInMilliseconds") == pos]
        wait_for(seeked, "the resume's seek to %d ms" % pos)
        self.d.ctl("stop")
        # a stop forgets the resume point (the volume stays)
        wait_for(lambda: "container" not in read_text(self.state_file()), "no resume")


class TestJournal(StateTest):
    def test_priorities_only_when_stderr_is_the_journal(self):
        """JOURNAL_STREAM naming the daemon's stderr: "<N>" priorities, no timestamp;
        naming another file: the plain format."""
        for match in (True, False):
            self.daemon()
            st = os.fstat(self.d.log.fileno())
            self.d.env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino + (0 if match else 1))
            mark = len(self.log_text())
            self.d.start()
            self.d.status()
            self.assertEqual(self.d.stop(), 0)
            lines = self.log_text()[mark:].splitlines()
            self.assertGreater(len(lines), 5)
            if match:
                self.assertTrue(all(re.match(r"<[3-7]>[a-z]+: ", l) for l in lines), lines[:5])
                self.assertIn("<6>main: ampd ", "\n".join(lines))
            else:
                self.assertFalse(any(l.startswith("<") for l in lines), lines[:5])
            self.d.log.close()


class TestReload(StateTest):
    def test_sighup_live_while_playing(self):
        rec = os.path.join(self.dir, "events")
        hook = os.path.join(self.dir, "hook.sh")
        write_hook(hook, 'echo "$AMPD_EVENT" >> %s\n' % rec)
        notify = Notify(os.path.join(self.dir, "notify"))
        self.addCleanup(notify.close)
        self.daemon(output=NULL_SYNC, log_level="info")
        self.d.env["NOTIFY_SOCKET"] = notify.path
        self.d.start()
        notify.proc = self.d.proc
        notify.wait_for(lambda a: a == "READY=1", "READY=1")
        self.d.link()
        self.d.ctl("play", self.d.album_ref())
        a = wait_for(lambda: (lambda s: s if s["state"] == "playing" and
                              s["position_ms"] > 500 else None)(self.st()), "playing")
        self.assertNotIn(" debug ", self.log_text())
        with open(self.d.conf) as f:
            conf = f.read()
        good = (conf.replace("level = info\n", "level = info,player=debug,hooks=debug\n"
                             "stats_interval_s = 1\n")
                .replace("sync = true\n", "sync = true\nbuffer_ms = 300\n")
                + "[hooks]\nonevent = %s\n" % hook)
        with open(self.d.conf, "w") as f:
            f.write(good)
        notify.drain()
        mark = len(self.log_text())
        self.d.proc.send_signal(signal.SIGHUP)
        seen = notify.wait_for(lambda x: x == "READY=1", "READY=1 after the reload")
        self.assertTrue(any(m[0] == "RELOADING=1" and m[1].startswith("MONOTONIC_USEC=")
                            for m in seen), seen)
        log = self.log_text()[mark:]
        self.assertIn("reload: [output] buffer_ms changed: it needs a restart", log)
        self.assertIn("reload: [log] level applied", log)
        self.assertIn("reload: [hooks] onevent applied", log)
        self.assertIn("reload: [log] stats_interval_s applied", log)
        self.assertNotIn("stats: playing:", self.log_text()[:mark])  # 60 s by default
        stats = wait_for(lambda: [l for l in self.log_text()[mark:].splitlines()
                                  if " stats: playing: bitrate estimate " in l], "a stats line")
        self.assertRegex(stats[0], r"buffer \d+ ms, underruns 0, quality 44100 Hz 16 bit 2 ch, "
                         r"codec \S+")
        self.d.ctl("volume", "20")  # the new hook runs (and logs at the new level)
        wait_for(lambda: read_lines(rec) == ["volume"], "the hook's volume event")
        wait_for(lambda: " debug   hooks: onevent volume: done" in self.log_text()[mark:],
                 "a debug line of hooks")
        # the music goes on: the position moves on past the one before the reload (waited
        # for: the status is a snapshot, and a loaded machine may sit on one value a while)
        b = wait_for(lambda: (lambda s: s if s["state"] == "playing" and (
            s["position_ms"] > a["position_ms"] or s["title"] != a["title"]) else None)(
                self.st()), "the position past %d ms" % a["position_ms"])
        self.assertEqual(b["underruns"], 0, b)
        self.assertEqual(b["device"]["opens"], a["device"]["opens"], (a, b))
        # a bad file: one error line, nothing changes
        with open(self.d.conf, "w") as f:
            f.write(good.replace("level = info,player=debug,hooks=debug\n", "level = loud\n"))
        mark = len(self.log_text())
        self.d.proc.send_signal(signal.SIGHUP)
        notify.wait_for(lambda x: x == "READY=1", "READY=1 after the bad reload")
        log = self.log_text()[mark:]
        errs = [l for l in log.splitlines() if l.split()[1:2] == ["error"]]
        self.assertEqual(len(errs), 1, log)
        self.assertIn("the configuration stays as it was", errs[0])
        self.assertIn("level", errs[0])
        self.d.ctl("volume", "21")
        wait_for(lambda: read_lines(rec) == ["volume", "volume"], "the hook kept")
        wait_for(lambda: self.log_text()[mark:].count("onevent volume: done") == 1,
                 "debug kept")
        # and after the bad reload the music still goes on (waited for, as above)
        wait_for(lambda: (lambda s: s if s["state"] == "playing" and (
            s["position_ms"] > b["position_ms"] or s["title"] != b["title"]) else None)(
                self.st()), "the position past %d ms" % b["position_ms"])
        self.d.ctl("stop")


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    W["catalog"], W["ampd"], W["ampctl"], W["cdm_dir"] = sys.argv[1:5]
    unittest.main(argv=[sys.argv[0]] + sys.argv[5:], verbosity=2)
