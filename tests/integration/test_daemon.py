#!/usr/bin/env python3
"""The real daemon, end to end: ampd against the mock over TLS on loopback (the test
catalog), driven through its control socket by ampctl, playing into the pipe backend
(a regular file). Python standard library only.

usage: test_daemon.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]

- linking: `ampctl login` gives a code; the test approves it at the mock (as the user on
  a phone would); the daemon polls and links; the token file is 0600.
- browse: root -> Albums -> the album, through ampctl.
- play: the album's three tracks come out of the pipe gapless and bit-exact (the file
  equals album/continuous's source PCM), status goes loading -> playing -> stopped, and
  a subscriber sees the state changes in order; the collector has every track's
  PLAYBACK_STARTED and PLAYBACK_FINISHED in order.
- bad clients: an oversized line, invalid JSON and an unknown command get their error
  codes, and the daemon goes on serving.
- kill -9 and restart: linked again from the token file, without a new login.
- SIGTERM while the pipe backend's write waits on a full FIFO nobody reads: ampd exits.
"""

import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import time
import unittest

import test_mock as tm

W = tm.W
GUARD_S = 120  # a wait this long is a hang: fail


def wav_pcm(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    off = 12
    while off + 8 <= len(data):
        size = int.from_bytes(data[off + 4:off + 8], "little")
        if data[off:off + 4] == b"data":
            return data[off + 8:off + 8 + size]
        off += 8 + size + (size & 1)
    raise AssertionError("no data chunk")


class Daemon:
    """ampd with a config of its own, in its own directory. output: the [output] section's
    lines instead of the pipe (or ALSA) backend's; log_level: [log] level; extra_config:
    text appended to the file (sections of its own); overrides: `-o section.key=value`
    arguments on top of the file (docs/configuration.md §3)."""

    START_GUARD_S = GUARD_S  # start(): the wait for the control socket
    START_POLL_S = 0.05

    def __init__(self, name, out=None, alsa=False, output=None, capabilities="STD_RES,HI_FI",
                 overrides=(), log_level="debug", extra_config=""):
        self.dir = os.path.join(W["tmp"], name)
        os.makedirs(os.path.join(self.dir, "state"), mode=0o700, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "run"), mode=0o700, exist_ok=True)
        self.sock = os.path.join(self.dir, "run", "control")
        self.out = out or os.path.join(self.dir, "played.raw")
        port = W["mock"].port
        self.conf = os.path.join(self.dir, "ampd.conf")
        with open(self.conf, "w", encoding="ascii") as f:
            f.write("[service]\n"
                    "lwa_url = https://localhost:%d/lwa\n"
                    "api_url = https://localhost:%d/api/\n"
                    "client_id = amzn1.application-oa2-client.ampdtest\n"
                    "ca_file = %s\n"
                    "capabilities = %s\n"
                    "[output]\n%s"
                    "[paths]\nstate_dir = %s\nruntime_dir = %s\ncdm_dir = %s\ncdm = clearkey\n"
                    "[log]\nlevel = %s\n%s" % (
                        port, port, os.path.join(W["certs"], "ca.pem"), capabilities,
                        output if output is not None else
                        "backend = alsa\ndevice = rec\n" if alsa else
                        "backend = pipe\ndevice = S16:%s\n" % self.out,
                        os.path.join(self.dir, "state"), os.path.join(self.dir, "run"),
                        W["cdm_dir"], log_level, extra_config))
        self.log = open(os.path.join(self.dir, "ampd.log"), "ab")
        self.proc = None
        self.overrides = list(overrides)
        self.env = dict(os.environ)
        if alsa:
            # ALSA's file plugin over null records the exact bytes the device got; the
            # asoundrc goes in a HOME of the daemon's own.
            home = os.path.join(self.dir, "home")
            os.makedirs(home, exist_ok=True)
            with open(os.path.join(home, ".asoundrc"), "w", encoding="ascii") as f:
                f.write('pcm.rec { type file; slave.pcm "null"; file "%s"; format "raw" }\n'
                        % self.out)
            self.env["HOME"] = home

    def command(self):
        """ampd's arguments (a subclass puts a tool in front)."""
        args = [W["ampd"], "-c", self.conf]
        for o in self.overrides:
            args += ["-o", o]
        return args

    def start(self):
        self.proc = subprocess.Popen(self.command(), stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env)
        end = time.monotonic() + self.START_GUARD_S
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None:
                raise AssertionError("ampd exited: %s" % self.proc.returncode)
            if time.monotonic() > end:
                raise AssertionError("no control socket")
            time.sleep(self.START_POLL_S)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        assert_no_race(self.log.name)
        return self.proc.returncode if self.proc else None

    def ctl(self, *args, check=True):
        r = subprocess.run([W["ampctl"], "-s", self.sock, "--json"] + list(args),
                           capture_output=True, timeout=60, check=False)
        if check and r.returncode != 0:
            raise AssertionError("ampctl %s: exit %d: %s %s" % (
                args, r.returncode, r.stdout.decode(), r.stderr.decode()))
        out = r.stdout.decode().strip()
        return r.returncode, json.loads(out.splitlines()[-1]) if out else None

    def raw(self, data):
        """Send raw bytes on a new connection; the reply lines."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(self.sock)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        s.close()
        return [json.loads(line) for line in buf.decode().splitlines() if line.strip()]

    def status(self):
        return self.ctl("status")[1]

    def link(self):
        """ampctl login, the code approved at the mock as a phone would, until linked."""
        code = result_of(self.ctl("login")[1])["user_code"]
        status, _ = tm.fetch_json("POST", "/_mock/lwa/approve", {"user_code": code})
        assert status == 200, status
        end = time.monotonic() + GUARD_S
        while result_of(self.status()).get("link") != "linked":
            assert time.monotonic() < end, "not linked"
            time.sleep(0.05)

    def album_ref(self):
        """The reference of the catalog's album (Albums, its one playable item)."""
        root = result_of(self.ctl("browse")[1])
        albums = [i for i in root["items"] if i["title"] == "Albums"]
        sec = result_of(self.ctl("browse", albums[0]["ref"])[1])
        return [i for i in sec["items"] if i["playable"]][0]["ref"]

    def wait_state(self, states):
        end = time.monotonic() + GUARD_S
        while True:
            st = self.status()
            result = st.get("result", st)
            if result.get("state") in states:
                return result
            if time.monotonic() > end:
                raise AssertionError("state %s, waited for %s" % (result.get("state"), states))
            time.sleep(0.1)


def wait_for(what, pred, guard=GUARD_S, show=None, poll=0.05):
    """Until pred() is true (its value); show() says what there was instead."""
    end = time.monotonic() + guard
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("waited %d s for %s%s" % (
                guard, what, ": %r" % (show(),) if show else ""))
        time.sleep(poll)


def assert_no_race(log):
    """A ThreadSanitizer report in the daemon's log (its stderr) fails the test, whether
    or not the daemon went on (halt_on_error=0) or exited (the tsan preset's 1)."""
    with open(log, "rb") as f:
        text = f.read()
    at = text.find(b"WARNING: ThreadSanitizer")
    if at >= 0:
        raise AssertionError("ThreadSanitizer report in %s:\n%s" % (
            log, text[at:at + 6000].decode(errors="replace")))


def result_of(reply):
    return reply.get("result", reply) if isinstance(reply, dict) else reply


def set_up_module(prefix, mock_args=()):
    """The module set-up of the tests on the daemon: the test catalog as the mock's root,
    a temp dir (prefix) with the test PKI (tm.make_tmp), the mock (mock_args). Their
    tear-down is tm.end_module."""
    W["root"] = os.path.realpath(W["catalog"])
    tm.make_tmp(prefix)
    W["mock"] = tm.Mock(*mock_args)


def setUpModule():
    set_up_module("ampd-daemon-test-")
    W["daemon"] = Daemon("d1")
    W["daemon"].start()


def tearDownModule():
    tm.end_module(W["daemon"].stop)


class TestDaemon(unittest.TestCase):
    """In order: link, browse, play, bad clients, kill -9."""

    def test_1_link(self):
        d = W["daemon"]
        rc, reply = d.ctl("login")
        res = result_of(reply)
        self.assertIn("user_code", res)
        self.assertTrue(res["verification_uri"].startswith("https://"))
        status, _ = tm.fetch_json("POST", "/_mock/lwa/approve", {"user_code": res["user_code"]})
        self.assertEqual(status, 200)
        end = time.monotonic() + GUARD_S
        while result_of(d.status()).get("link") != "linked":
            self.assertLess(time.monotonic(), end)
            time.sleep(0.1)
        tok = os.path.join(d.dir, "state", "lwa-tokens.json")
        self.assertEqual(stat.S_IMODE(os.stat(tok).st_mode), 0o600)

    def _album_ref(self):
        d = W["daemon"]
        root = result_of(d.ctl("browse")[1])
        albums = [i for i in root["items"] if i["title"] == "Albums"]
        self.assertEqual(len(albums), 1)
        self.assertFalse(albums[0]["playable"])
        sec = result_of(d.ctl("browse", albums[0]["ref"])[1])
        playable = [i for i in sec["items"] if i["playable"]]
        self.assertGreaterEqual(len(playable), 1)
        return playable[0]["ref"]

    def test_2_play_album_gapless_bit_exact(self):
        d = W["daemon"]
        ref = self._album_ref()
        tm.fetch("DELETE", "/_mock/collector")
        sub = subprocess.Popen([W["ampctl"], "-s", d.sock, "--json", "subscribe"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # the subscription is in before play (its reply came first)
        d.ctl("play", ref)
        st = d.wait_state(("stopped", "error"))
        self.assertEqual(st["state"], "stopped", st)
        self.assertEqual(st.get("tracks_played"), 3)
        sub.send_signal(signal.SIGINT)
        events, _ = sub.communicate(timeout=30)
        states = []
        for line in events.decode().splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "player" and (not states or states[-1] != ev.get("state")):
                states.append(ev.get("state"))
        self.assertEqual(states[0], "loading", states)
        self.assertIn("playing", states)
        self.assertEqual(states[-1], "stopped", states)
        want = wav_pcm(os.path.join(W["root"], "album", "continuous", "source",
                                    "flac_16_44.wav"))
        with open(d.out, "rb") as f:
            got = f.read()
        self.assertEqual(len(got), len(want))
        self.assertTrue(got == want, "the played PCM differs from the source")
        end = time.monotonic() + GUARD_S
        while True:
            evs = tm.fetch_json("GET", "/_mock/collector")[1]["events"]
            types = [e["eventType"] for e in evs]
            if len(types) >= 6 or time.monotonic() > end:
                break
            time.sleep(0.2)
        self.assertEqual(types, ["PLAYBACK_STARTED", "PLAYBACK_FINISHED"] * 3)

    def test_3_bad_clients(self):
        d = W["daemon"]
        replies = d.raw(b"x" * (70 * 1024) + b"\n" + b"{not json\n" +
                        b'{"id": 1, "cmd": "frobnicate"}\n' + b'{"id": 2, "cmd": "status"}\n')
        codes = [r.get("error", {}).get("code") for r in replies]
        self.assertEqual(codes[:3], ["too_long", "bad_json", "unknown_command"], replies)
        self.assertTrue(replies[3].get("ok"), replies)
        self.assertEqual(d.proc.poll(), None)

    def test_4_kill9_restart_stays_linked(self):
        d = W["daemon"]
        # Events the collector cannot take yet (503) are queued on disk when ampd dies.
        tm.fetch("DELETE", "/_mock/collector")
        rule = tm.fetch_json("POST", "/_mock/faults",
                             {"path": "/collector/*", "status": 503, "count": 100000})[1]
        d.ctl("play", self._album_ref())
        st = d.wait_state(("stopped", "error"))
        self.assertEqual(st["state"], "stopped", st)
        self.assertEqual(tm.fetch_json("GET", "/_mock/collector")[1]["events"], [])
        d.stop(signal.SIGKILL)
        tm.fetch("DELETE", "/_mock/faults/%d" % rule["id"])
        os.unlink(d.sock)  # a stale socket is replaced anyway; keep the wait honest
        before = tm.fetch_json("GET", "/_mock/lwa/state")[1]["counts"]["codepair"]
        d.start()
        end = time.monotonic() + GUARD_S
        while result_of(d.status()).get("link") != "linked":
            self.assertLess(time.monotonic(), end)
            time.sleep(0.1)
        after = tm.fetch_json("GET", "/_mock/lwa/state")[1]["counts"]["codepair"]
        self.assertEqual(after, before)  # no new pairing
        # ... and the restarted daemon delivers every one of them, in order, once.
        end = time.monotonic() + GUARD_S
        while True:
            evs = tm.fetch_json("GET", "/_mock/collector")[1]["events"]
            if len(evs) >= 6 or time.monotonic() > end:
                break
            time.sleep(0.2)
        self.assertEqual([e["eventType"] for e in evs],
                         ["PLAYBACK_STARTED", "PLAYBACK_FINISHED"] * 3)
        self.assertEqual(len({e["eventId"] for e in evs}), 6)


class TestAlsa(unittest.TestCase):
    """The same album through real ALSA (the file plugin): bit-exact, gapless."""

    def test_album_through_alsa_file_plugin(self):
        d = Daemon("alsa", alsa=True)
        d.start()
        try:
            d.link()
            d.ctl("play", d.album_ref())
            st = d.wait_state(("stopped", "error"))
            self.assertEqual((st["state"], st.get("tracks_played")), ("stopped", 3), st)
            self.assertEqual(st.get("underruns"), 0)
        finally:
            d.stop()
        want = wav_pcm(os.path.join(W["root"], "album", "continuous", "source",
                                    "flac_16_44.wav"))
        with open(d.out, "rb") as f:
            got = f.read()
        self.assertEqual(len(got), len(want))
        self.assertTrue(got == want, "the PCM ALSA got differs from the source")


class TestSigtermBlockedOutput(unittest.TestCase):
    """The pipe backend into a FIFO whose reader holds it open and never reads: once the
    FIFO is full the output thread waits in its write. SIGTERM still ends the daemon
    (engine_free interrupts the output before joining its thread), cleanly, within the
    guard; without the interrupt it never exits."""

    def test_sigterm_exits(self):
        fifo = os.path.join(W["tmp"], "stuck.fifo")
        os.mkfifo(fifo, 0o600)
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # never read
        d = Daemon("stuck", out=fifo)
        d.start()
        try:
            d.link()
            d.ctl("play", d.album_ref())
            d.wait_state(("playing",))
            # The FIFO is full (a second writer finds no room): the output thread waits.
            end = time.monotonic() + GUARD_S
            while True:
                wfd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                try:
                    full = not select.select([], [wfd], [], 0)[1]
                finally:
                    os.close(wfd)
                if full:
                    break
                self.assertLess(time.monotonic(), end, "the FIFO never filled")
                time.sleep(0.05)
            self.assertIsNone(d.proc.poll())
            d.proc.send_signal(signal.SIGTERM)
            try:
                rc = d.proc.wait(timeout=GUARD_S)
            except subprocess.TimeoutExpired:
                d.proc.kill()
                d.proc.wait()
                self.fail("ampd did not exit within %d s of SIGTERM" % GUARD_S)
            self.assertEqual(rc, 0)
        finally:
            d.stop(signal.SIGKILL)
            os.close(rfd)


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    W["catalog"], W["ampd"], W["ampctl"], W["cdm_dir"] = sys.argv[1:5]
    unittest.main(argv=[sys.argv[0]] + sys.argv[5:], verbosity=2)
