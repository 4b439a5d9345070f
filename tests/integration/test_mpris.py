#!/usr/bin/env python3
"""ampd as an MPRIS media player (src/mpris/mpris.h, docs/mpris.md): the real daemon
against the mock over TLS on loopback (the test catalog), into the null backend paced at
the real rate, with `[mpris] bus = session` on a private bus the test starts
(`dbus-daemon --session --print-address`; no system bus is needed). The bus is driven with
busctl (calls, properties as JSON) and watched with `gdbus monitor`; ampctl is the
reference the D-Bus view is checked against.

usage: test_mpris.py CATALOG_DIR AMPD AMPD_TEST AMPCTL CDM_DIR DBUS_DAEMON BUSCTL GDBUS STDBUF SETPRIV
       POLICY_FILE [unittest options]

- the name org.mpris.MediaPlayer2.ampd is on the bus; Identity "ampd"; idle: Stopped, the
  NoTrack trackid, CanPlay false, CanControl true.
- play (ampctl): PlaybackStatus Playing; Metadata (trackid from the track tag, title,
  artist, album, length, art URL) equal to `ampctl status`; Position brackets ampctl's
  position_ms and moves (the audio clock).
- PlayPause pauses and resumes (ampctl sees paused, playing); Seek +10 s and a Seek by
  -2^63 (the start), SetPosition and `ampctl seek` each give a Seeked at the position
  ampctl reports next; Volume 0.25 is ampctl's 25; Next changes the track (Metadata follows); Stop.
- bad input is a D-Bus error and the daemon serves on: Seek with a string, SetPosition
  with a stale track id or a negative position, Volume of the wrong type or NaN,
  LoopStatus "Sometimes", OpenUri; a Seek past the end (2^63 - 1 µs) is Next.
- gdbus monitor saw PropertiesChanged for each change (Playing, Paused, Volume, the
  second track's Metadata, Stopped) and the Seeked signals.
- the system bus, as a private dbus-daemon with the default policy of Debian's
  system.conf (no one owns a name, no method calls, unless a policy file says so):
  without dist/dbus/org.mpris.MediaPlayer2.ampd.conf ampd cannot own the name, says so in
  its log and serves its control socket all the same; with it (its user="ampd" made the
  test's user) ampd owns the name, and a caller of another user (nobody, when the test
  runs as root) reads Identity and sets Volume (sd-bus refuses methods and setters to
  callers without CAP_SYS_ADMIN on the system bus unless they are marked unprivileged).
- the bus restarted: the daemon serves on without it and owns the name on the new bus.
- calls that arrive as the daemon stops: with the loop stalled (ampd_test's test_stall),
  200 Volume sets and a SIGTERM wait; released, the loop's last pass takes 64 of the
  calls and quits; the rest are read while the daemon tears down, after the control
  socket is gone: they must not reach the player (whose changes go to that socket).
  Exit status 0 (ASan fails a use after free).
"""

import getpass
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import test_daemon as td
import test_mock as tm

W = tm.W
GUARD_S = 60  # a wait this long is a hang: fail
NAME = "org.mpris.MediaPlayer2.ampd"
PATH = "/org/mpris/MediaPlayer2"
PLAYER = "org.mpris.MediaPlayer2.Player"


def track_path(tag):
    """mpris:trackid as sd_bus_path_encode() builds it from the track tag."""
    enc = "".join(c if c.isascii() and c.isalnum() else "_%02x" % ord(c) for c in tag)
    return "/org/mpris/MediaPlayer2/ampd/track/" + (enc or "_")


class Bus:
    """A private bus: dbus-daemon prints its address and runs until stopped. The session
    bus of session.conf, or a system bus of config (a file), whose socket any user may
    reach (umask 0, as the system bus's)."""

    def __init__(self, log, config=None):
        conf = ["--config-file=" + config] if config else ["--session"]
        self.proc = subprocess.Popen([W["dbus_daemon"], "--nofork", "--print-address"] + conf,
                                     stdout=subprocess.PIPE, stderr=log, umask=0)
        self.address = self.proc.stdout.readline().decode().strip()
        assert self.address.startswith("unix:"), self.address
        # Without the server's guid, as the system bus's address is given (a client
        # refuses a server whose guid differs, and a bus started again has a new one).
        self.address = re.sub(r",guid=[0-9a-f]+", "", self.address)
        var = "DBUS_SYSTEM_BUS_ADDRESS" if config else "DBUS_SESSION_BUS_ADDRESS"
        self.env = dict(os.environ, **{var: self.address})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc.stdout.close()


class Monitor:
    """`gdbus monitor` of the daemon's name, read line by line by a thread (stdbuf: gdbus
    prints through stdio, which a pipe would buffer until exit)."""

    def __init__(self, env):
        self.proc = subprocess.Popen([W["stdbuf"], "-oL", W["gdbus"], "monitor", "--session",
                                      "--dest", NAME], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, pred, what, start=0):
        """The index of the first line from start on that pred accepts."""
        end = time.monotonic() + GUARD_S
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    if pred(self.lines[i]):
                        return i
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("gdbus monitor: no %s in %s" % (what, self.lines))
                self.cond.wait(left)

    def mark(self):
        with self.cond:
            return len(self.lines)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.reader.join(5)
        self.proc.stdout.close()


def changed(prop, value_pattern):
    """A PropertiesChanged line of the Player interface whose prop's value starts with
    value_pattern."""
    rx = re.compile(r"PropertiesChanged \('%s', \{.*'%s': <%s" % (
        re.escape(PLAYER), re.escape(prop), value_pattern))
    return lambda line: rx.search(line) is not None


SEEKED = re.compile(r"%s\.Seeked \(int64 (-?\d+),\)" % re.escape(PLAYER))


class Daemon(td.Daemon):
    """td.Daemon into the null backend at the real rate, with MPRIS on the test's bus."""

    def __init__(self, name, bus, which="session"):
        super().__init__(name)
        with open(self.conf, encoding="ascii") as f:
            conf = f.read()
        conf = conf.replace("backend = pipe\ndevice = S16:%s\n" % self.out,
                            "backend = null\nsync = true\n")
        assert "sync = true" in conf
        with open(self.conf, "w", encoding="ascii") as f:
            f.write(conf + "[mpris]\nbus = %s\n" % which)
        self.env.update(bus.env)

    def st(self):
        return td.result_of(self.status())

    def wait_status(self, pred, what):
        end = time.monotonic() + GUARD_S
        while True:
            st = self.st()
            if pred(st):
                return st
            if time.monotonic() > end:
                raise AssertionError("ampctl status: no %s: %s" % (what, st))
            time.sleep(0.05)


def busctl(*args, check=True, bus=None, user=None):
    """busctl on the session bus of the test, or on bus (a system one); as user (a
    [uid, gid] to drop to with setpriv) when given."""
    cmd = [W["busctl"], "--system" if bus else "--user"] + list(args)
    if user:
        cmd = [W["setpriv"], "--reuid=%d" % user[0], "--regid=%d" % user[1],
               "--clear-groups"] + cmd
    r = subprocess.run(cmd, capture_output=True, timeout=GUARD_S,
                       env=(bus or W["bus"]).env, check=False)
    if check and r.returncode != 0:
        raise AssertionError("busctl %s: exit %d: %s" % (args, r.returncode, r.stderr.decode()))
    return r


def call(method, *args, check=True):
    return busctl("call", NAME, PATH, PLAYER, method, *args, check=check)


def prop(name, iface=PLAYER, **kw):
    """A property's value, through busctl's JSON (variants in a{sv} as {type, data})."""
    r = busctl("--json=short", "get-property", NAME, PATH, iface, name, **kw)
    return json.loads(r.stdout)["data"]


def meta():
    return {k: v["data"] for k, v in prop("Metadata").items()}


def setUpModule():
    td.set_up_module("ampd-mpris-test-")
    W["buslog"] = open(os.path.join(W["tmp"], "dbus-daemon.log"), "ab")
    W["bus"] = Bus(W["buslog"])


def tearDownModule():
    tm.end_module(W["bus"].stop, W["buslog"].close)


class TestMpris(unittest.TestCase):
    def setUp(self):
        status, _ = tm.fetch_json("POST", "/_mock/reset", {})
        self.assertEqual(status, 200)
        tm.fetch_json("POST", "/_mock/lwa/config", {"interval": 0.1})

    def test_mpris(self):
        d = Daemon("mpris", W["bus"])
        self.addCleanup(d.log.close)
        self.addCleanup(d.stop, signal.SIGKILL)
        d.start()

        # The name is on the bus (the daemon requests it once connected).
        end = time.monotonic() + GUARD_S
        while busctl("status", NAME, check=False).returncode != 0:
            self.assertIsNone(d.proc.poll(), "ampd exited")
            self.assertLess(time.monotonic(), end, "%s never appeared on the bus" % NAME)
            time.sleep(0.05)
        self.assertEqual(prop("Identity", "org.mpris.MediaPlayer2"), "ampd")
        self.assertEqual(prop("PlaybackStatus"), "Stopped")
        self.assertEqual(meta(), {"mpris:trackid": "/org/mpris/MediaPlayer2/TrackList/NoTrack"})
        self.assertEqual((prop("CanPlay"), prop("CanControl")), (False, True))

        mon = Monitor(W["bus"].env)
        self.addCleanup(mon.stop)
        mon.wait_for(lambda l: "is owned by" in l, "the owner line")

        # play through ampctl; the D-Bus view follows.
        d.link()
        d.ctl("play", d.album_ref())
        st = d.wait_status(lambda s: s["state"] == "playing" and s["position_ms"] > 0, "playing")
        mon.wait_for(changed("PlaybackStatus", "'Playing'>"), "PlaybackStatus Playing")
        self.assertEqual(prop("PlaybackStatus"), "Playing")
        self.assertTrue(prop("CanPause") and prop("CanSeek") and prop("CanGoNext"))
        m = meta()
        self.assertEqual(m["mpris:trackid"], track_path(st["track_tag"]))
        self.assertEqual(m["xesam:title"], st["title"])
        self.assertEqual(m["xesam:artist"], [st["artist"]])
        self.assertEqual(m["xesam:album"], st["album"])
        self.assertEqual(m["mpris:length"], st["duration_ms"] * 1000)
        self.assertTrue(st["title"] and st["artist"] and st["album"] and st["duration_ms"], st)
        self.assertEqual(m["mpris:artUrl"], st["art_url"])
        self.assertTrue(st["art_url"].startswith("https://") and "/cdn/images/" in
                        st["art_url"], st["art_url"])

        # Position is the audio clock: it brackets ampctl's and it moves.
        p1 = prop("Position")
        s1 = d.st()["position_ms"]
        p2 = prop("Position")
        self.assertLessEqual(p1 // 1000, s1)
        self.assertLessEqual(s1, p2 // 1000)
        end = time.monotonic() + GUARD_S
        while prop("Position") <= p2:
            self.assertLess(time.monotonic(), end, "Position does not move")
            time.sleep(0.05)

        # PlayPause: paused, then playing again.
        at = mon.mark()
        call("PlayPause")
        d.wait_status(lambda s: s["state"] == "paused", "paused")
        self.assertEqual(prop("PlaybackStatus"), "Paused")
        mon.wait_for(changed("PlaybackStatus", "'Paused'>"), "PlaybackStatus Paused", at)
        at = mon.mark()
        call("PlayPause")
        d.wait_status(lambda s: s["state"] == "playing", "playing again")
        mon.wait_for(changed("PlaybackStatus", "'Playing'>"), "PlaybackStatus Playing", at)

        # Seek +10 s: Seeked at least 10 s past where it was; ampctl is there or later.
        p0 = prop("Position")
        at = mon.mark()
        call("Seek", "x", "10000000")
        i = mon.wait_for(lambda l: SEEKED.search(l), "Seeked", at)
        landed = int(SEEKED.search(mon.lines[i]).group(1))
        self.assertGreaterEqual(landed, p0 + 10000000)
        self.assertGreaterEqual(d.st()["position_ms"] * 1000, landed)
        # A Seek before the start is the start.
        at = mon.mark()
        call("Seek", "x", "--", "-9223372036854775808")
        i = mon.wait_for(lambda l: SEEKED.search(l), "Seeked to 0", at)
        self.assertEqual(int(SEEKED.search(mon.lines[i]).group(1)), 0)
        # SetPosition on the current track.
        at = mon.mark()
        call("SetPosition", "ox", track_path(st["track_tag"]), "5000000")
        i = mon.wait_for(lambda l: SEEKED.search(l), "Seeked to 5 s", at)
        self.assertEqual(int(SEEKED.search(mon.lines[i]).group(1)), 5000000)
        self.assertGreaterEqual(d.st()["position_ms"], 5000)
        # A seek through the control socket is a Seeked too.
        at = mon.mark()
        d.ctl("seek", "7")
        i = mon.wait_for(lambda l: SEEKED.search(l), "Seeked to 7 s (ampctl)", at)
        self.assertEqual(int(SEEKED.search(mon.lines[i]).group(1)), 7000000)

        # Bad input: a D-Bus error each, never a crash.
        for args, want in [(("Seek", "s", "ten"), "Invalid arguments"),
                           (("SetPosition", "ox", track_path("NOT" + st["track_tag"]), "0"),
                            "stale track id"),
                           (("SetPosition", "ox", track_path(st["track_tag"]), "--", "-1"),
                            "outside the track"),
                           (("OpenUri", "s", "https://example.com/a.flac"), "")]:
            r = call(*args, check=False)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn(want, r.stderr.decode(), args)
        for value in (("s", "loud"), ("d", "nan")):
            r = busctl("set-property", NAME, PATH, PLAYER, "Volume", *value, check=False)
            self.assertNotEqual(r.returncode, 0, value)
        r = busctl("set-property", NAME, PATH, PLAYER, "LoopStatus", "s", "Sometimes",
                   check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIsNone(d.proc.poll(), "ampd died")
        self.assertEqual(d.st()["state"], "playing")

        # Volume: 0.0..1.0 is the player's percent.
        at = mon.mark()
        busctl("set-property", NAME, PATH, PLAYER, "Volume", "d", "0.25")
        self.assertEqual(d.st()["volume"], 25)
        self.assertEqual(prop("Volume"), 0.25)
        mon.wait_for(changed("Volume", r"0\.25>"), "Volume 0.25", at)

        # Next: another track, and Metadata says so.
        at = mon.mark()
        call("Next")
        st2 = d.wait_status(lambda s: s["state"] == "playing" and
                            s["track_tag"] not in ("", st["track_tag"]), "the next track")
        m2 = meta()
        self.assertEqual((m2["mpris:trackid"], m2["xesam:title"]),
                         (track_path(st2["track_tag"]), st2["title"]))
        mon.wait_for(changed("Metadata", r"\{.*'xesam:title': <%s>" % re.escape(
            repr(st2["title"]))), "the second track's Metadata", at)

        # A Seek past the end (2^63 - 1 µs: the sum would overflow) is Next.
        call("Seek", "x", "9223372036854775807")
        st3 = d.wait_status(lambda s: s["state"] == "playing" and
                            s["track_tag"] not in ("", st["track_tag"], st2["track_tag"]),
                            "the third track")
        self.assertEqual(meta()["xesam:title"], st3["title"])

        # Stop.
        at = mon.mark()
        call("Stop")
        d.wait_status(lambda s: s["state"] == "stopped", "stopped")
        self.assertEqual(prop("PlaybackStatus"), "Stopped")
        mon.wait_for(changed("PlaybackStatus", "'Stopped'>"), "PlaybackStatus Stopped", at)

        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(timeout=GUARD_S), 0)


# The default policy of Debian's /usr/share/dbus-1/system.conf, on a socket of the test's.
SYSTEM_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%(socket)s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  %(include)s
</busconfig>
"""


class TestTeardown(unittest.TestCase):
    def test_calls_during_the_shutdown(self):
        d = Daemon("teardown", W["bus"])
        self.addCleanup(d.log.close)
        self.addCleanup(d.stop, signal.SIGKILL)
        ampd = W["ampd"]
        W["ampd"] = W["ampd_test"]  # the daemon with the test hooks (src/testhooks.h)
        try:
            d.start()
        finally:
            W["ampd"] = ampd
        end = time.monotonic() + GUARD_S
        while busctl("status", NAME, check=False).returncode != 0:
            self.assertLess(time.monotonic(), end, "%s never appeared on the bus" % NAME)
            time.sleep(0.05)
        fifo = os.path.join(d.dir, "stall")
        os.mkfifo(fifo)
        stall = threading.Thread(target=lambda: d.raw(
            json.dumps({"id": 1, "cmd": "test_stall", "fifo": fifo}).encode() + b"\n"),
            daemon=True)
        stall.start()
        w = os.open(fifo, os.O_WRONLY)  # returns once the loop thread is blocked on it
        try:
            for i in range(200):
                busctl("call", "--expect-reply=no", NAME, PATH,
                       "org.freedesktop.DBus.Properties", "Set", "ssv", PLAYER, "Volume", "d",
                       "0.%02d" % (i % 100))
            d.proc.send_signal(signal.SIGTERM)
        finally:
            os.close(w)  # the loop runs again: the signal and the calls in one pass
        self.assertEqual(d.proc.wait(timeout=GUARD_S), 0)
        stall.join(GUARD_S)
        d.log.flush()
        with open(os.path.join(d.dir, "ampd.log"), encoding="utf-8", errors="replace") as f:
            log = f.read()
        self.assertNotIn("AddressSanitizer", log)
        self.assertIn("signal: shutting down", log)


class TestSystemBus(unittest.TestCase):
    def system_bus(self, name, policy):
        """A system bus of its own, with the policy file (as the test's user) or without;
        the bus, the daemon and the bus's configuration file."""
        sockdir = tempfile.mkdtemp(prefix="ampd-sysbus-")
        self.addCleanup(shutil.rmtree, sockdir, True)
        os.chmod(sockdir, 0o755)  # a caller of another user reaches the socket
        include = ""
        if policy:
            with open(W["policy"], encoding="utf-8") as f:
                text = f.read()
            self.assertEqual(text.count('user="ampd"'), 1)
            path = os.path.join(sockdir, "policy.conf")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace('user="ampd"', 'user="%s"' % getpass.getuser()))
            include = "<include>%s</include>" % path
        conf = os.path.join(sockdir, "system.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(SYSTEM_CONF % {"socket": os.path.join(sockdir, "bus"), "include": include})
        bus = Bus(W["buslog"], conf)
        self.addCleanup(bus.stop)
        d = Daemon(name, bus, "system")
        self.addCleanup(d.log.close)
        self.addCleanup(d.stop, signal.SIGKILL)
        d.start()
        return bus, d, conf

    def wait_name(self, bus, d):
        end = time.monotonic() + GUARD_S
        while busctl("status", NAME, bus=bus, check=False).returncode != 0:
            self.assertIsNone(d.proc.poll(), "ampd exited")
            self.assertLess(time.monotonic(), end, "%s never appeared on the bus" % NAME)
            time.sleep(0.05)

    def test_without_the_policy_file(self):
        bus, d, _ = self.system_bus("sys-nopolicy", False)
        log = os.path.join(d.dir, "ampd.log")
        end = time.monotonic() + GUARD_S
        while True:
            d.log.flush()
            with open(log, encoding="utf-8", errors="replace") as f:
                if "cannot own %s on the system bus" % NAME in f.read():
                    break
            self.assertLess(time.monotonic(), end, "no refusal in the log")
            time.sleep(0.05)
        self.assertNotEqual(busctl("status", NAME, bus=bus, check=False).returncode, 0)
        self.assertEqual(d.st()["state"], "idle")  # the daemon serves on
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(timeout=GUARD_S), 0)

    def test_with_the_policy_file(self):
        bus, d, _ = self.system_bus("sys-policy", True)
        self.wait_name(bus, d)
        # Another user: nobody when the test is root (else the test's own user).
        user = [65534, 65534] if os.geteuid() == 0 else None
        self.assertEqual(prop("Identity", "org.mpris.MediaPlayer2", bus=bus, user=user), "ampd")
        busctl("set-property", NAME, PATH, PLAYER, "Volume", "d", "0.5", bus=bus, user=user)
        self.assertEqual(d.st()["volume"], 50)
        busctl("call", NAME, PATH, PLAYER, "Play", bus=bus, user=user)  # idle: no effect
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(timeout=GUARD_S), 0)

    def test_bus_restart(self):
        """The bus goes away (dbus restarted): the daemon plays on without it, and is
        back on the new bus by itself (a retry 1 s later, then 2 s, ...)."""
        bus, d, conf = self.system_bus("sys-restart", True)
        self.wait_name(bus, d)
        bus.stop()
        self.assertEqual(d.st()["state"], "idle")  # the daemon serves on
        bus2 = Bus(W["buslog"], conf)  # the same socket path
        self.addCleanup(bus2.stop)
        self.wait_name(bus2, d)
        self.assertEqual(prop("Identity", "org.mpris.MediaPlayer2", bus=bus2), "ampd")
        d.log.flush()
        with open(os.path.join(d.dir, "ampd.log"), encoding="utf-8", errors="replace") as f:
            self.assertIn("the system bus: lost", f.read())
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(timeout=GUARD_S), 0)


if __name__ == "__main__":
    if len(sys.argv) < 12:
        sys.exit(__doc__)
    (W["catalog"], W["ampd"], W["ampd_test"], W["ampctl"], W["cdm_dir"], W["dbus_daemon"],
     W["busctl"], W["gdbus"], W["stdbuf"], W["setpriv"], W["policy"]) = sys.argv[1:12]
    unittest.main(argv=[sys.argv[0]] + sys.argv[12:], verbosity=2)
