#!/usr/bin/env python3
"""ampd's notifications to systemd (sd_notify through libsystemd, src/core/sdnotify.h),
received on a NOTIFY_SOCKET of the test's, a datagram socket as systemd's. The daemon
runs against the mock over TLS on loopback (the test catalog), into the null backend
paced at the real rate. Python standard library only.

usage: test_sdnotify.py CATALOG_DIR AMPD AMPD_TEST AMPCTL CDM_DIR [unittest options]

- READY=1 arrives only once the control socket accepts: the test connects at the moment
  it receives READY and gets its answer; STATUS= says "unlinked, idle" before it.
- without [service] client_id (the shipped example) the daemon starts all the same; login
  fails with a reason.
- `ampd` (the binary that is installed) has no test hook: test_stall is an unknown
  command there.
- With WATCHDOG_USEC and WATCHDOG_PID set as systemd sets them, WATCHDOG=1 keeps coming
  while the daemon plays; STATUS= names the link, the state and the track.
- A loop stalled by the test hook of `ampd_test` (test_stall, src/testhooks.h) sends no
  WATCHDOG=1 at all for three times the interval (systemd would kill it after one);
  released, the pings come again.
- SIGTERM while playing: STOPPING=1, exit status 0, and the PLAYBACK_STOPPED of the
  track in the event queue on disk: the daemon started again delivers it.
"""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import test_daemon as td
import test_mock as tm

W = tm.W
GUARD_S = td.GUARD_S
WATCHDOG_USEC = 400000  # pings every 200 ms


class Notify:
    """The NOTIFY_SOCKET: every datagram, split into its assignments. A thread reads the
    socket all the time, as systemd does: an unread queue of datagrams (10 by default,
    net.unix.max_dgram_qlen) would block the daemon's sd_notify()."""

    def __init__(self, path):
        self.path = path
        self.proc = None  # the daemon: a wait ends early once it has exited
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.msgs = []
        self.cond = threading.Condition()
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                r, _, _ = select.select([self.sock], [], [], 0.2)
            except (OSError, ValueError):
                return
            with self.cond:
                if self.closed:
                    return
                if r:
                    self.msgs.append(self.sock.recv(4096).decode().split("\n"))
                    self.cond.notify_all()

    def recv(self, timeout):
        """The next datagram's assignments, or None after timeout seconds."""
        with self.cond:
            self.cond.wait_for(lambda: self.msgs, timeout=timeout)
            return self.msgs.pop(0) if self.msgs else None

    def drain(self):
        msgs = []
        while True:
            m = self.recv(0)
            if m is None:
                return msgs
            msgs.append(m)

    def wait_for(self, pred, what):
        """Datagrams until one with an assignment pred accepts; all of them, in order."""
        end = time.monotonic() + GUARD_S
        seen = []
        while time.monotonic() < end:
            gone = self.proc is not None and self.proc.poll() is not None
            m = self.recv(0.3 if gone else min(1.0, max(0, end - time.monotonic())))
            if m is None:
                if gone:
                    break  # the daemon exited and every datagram it sent is read
                continue
            seen.append(m)
            if any(pred(a) for a in m):
                return seen
        raise AssertionError("no %s; got %s (daemon %s)" % (
            what, seen, "exited %s" % self.proc.returncode
            if self.proc and self.proc.poll() is not None else "running"))

    def close(self):
        with self.cond:
            self.closed = True
        self.reader.join(5)
        self.sock.close()
        os.unlink(self.path)


class Daemon(td.Daemon):
    """td.Daemon with the null backend at the real rate, a binary of choice and the
    environment systemd gives a Type=notify service."""

    def __init__(self, name, binary, watchdog=False):
        super().__init__(name)
        with open(self.conf, "r", encoding="ascii") as f:
            conf = f.read()
        conf = conf.replace("backend = pipe\ndevice = S16:%s\n" % self.out,
                            "backend = null\ndevice = sync\n")
        with open(self.conf, "w", encoding="ascii") as f:
            f.write(conf)
        self.binary = binary
        self.notify = Notify(os.path.join(self.dir, "notify"))
        self.env["NOTIFY_SOCKET"] = self.notify.path
        if watchdog:
            self.env["WATCHDOG_USEC"] = str(WATCHDOG_USEC)

    def start(self):
        # WATCHDOG_PID is the main process's pid, as systemd sets it: the shell sets it
        # to its own pid and execs the daemon.
        cmd = [self.binary, "-c", self.conf]
        if "WATCHDOG_USEC" in self.env:
            cmd = ["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"'] + cmd
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env)
        self.notify.proc = self.proc

    def request(self, obj):
        """One request on a new connection; its reply."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(GUARD_S)
        s.connect(self.sock)
        s.sendall(json.dumps(obj).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        s.close()
        lines = buf.decode().splitlines()
        return json.loads(lines[0]) if lines else None


def setUpModule():
    td.set_up_module("ampd-sdnotify-test-")


tearDownModule = tm.end_module


def pings(msgs):
    return sum(1 for m in msgs for a in m if a == "WATCHDOG=1")


class TestNotify(unittest.TestCase):
    def setUp(self):
        status, _ = tm.fetch_json("POST", "/_mock/reset", {})
        self.assertEqual(status, 200)
        tm.fetch_json("POST", "/_mock/lwa/config", {"interval": 0.1})

    def daemon(self, name, binary, watchdog=False):
        d = Daemon(name, binary, watchdog)
        self.addCleanup(d.log.close)
        self.addCleanup(d.notify.close)
        self.addCleanup(d.stop, signal.SIGKILL)
        return d

    def test_ready_after_the_socket_accepts(self):
        d = self.daemon("ready", W["ampd"])
        d.start()
        seen = d.notify.wait_for(lambda a: a == "READY=1", "READY=1")
        # At once, before anything else: the socket is there and answers.
        reply = d.request({"id": 1, "cmd": "version"})
        self.assertTrue(reply.get("ok"), reply)
        statuses = [a for m in seen for a in m if a.startswith("STATUS=")]
        self.assertEqual(statuses, ["STATUS=unlinked, idle"], seen)
        self.assertEqual(pings(seen), 0)  # no WATCHDOG_USEC: no pings
        # The installed binary carries no test hook.
        reply = d.request({"id": 2, "cmd": "test_stall", "fifo": "/nonexistent"})
        self.assertEqual(reply.get("error", {}).get("code"), "unknown_command", reply)
        d.proc.send_signal(signal.SIGTERM)
        d.notify.wait_for(lambda a: a == "STOPPING=1", "STOPPING=1")
        self.assertEqual(d.proc.wait(timeout=GUARD_S), 0)

    def test_starts_without_client_id(self):
        """The shipped example configuration has no client_id: the daemon still starts
        (READY) and serves; only login fails, with a reason."""
        d = self.daemon("noclient", W["ampd"])
        with open(d.conf, encoding="ascii") as f:
            conf = f.read()
        with open(d.conf, "w", encoding="ascii") as f:
            f.write(conf.replace("client_id = amzn1.application-oa2-client.ampdtest\n", ""))
        d.start()
        d.notify.wait_for(lambda a: a == "READY=1", "READY=1")
        rc, reply = d.ctl("login", check=False)
        self.assertNotEqual(rc, 0)
        self.assertEqual(reply["error"]["code"], "link_failed", reply)
        self.assertEqual(td.result_of(d.status())["link"], "unlinked")

    def test_watchdog_while_playing_stall_and_sigterm(self):
        d = self.daemon("watchdog", W["ampd_test"], watchdog=True)
        d.start()
        d.notify.wait_for(lambda a: a == "READY=1", "READY=1")
        d.link()
        tm.fetch("DELETE", "/_mock/collector")
        d.ctl("play", d.album_ref())
        st = d.wait_state(("playing",))
        want = "STATUS=linked, playing: %s - %s" % (st["artist"], st["title"])
        d.notify.wait_for(lambda a: a == want, want)

        # Pings keep coming while it plays.
        got = 0
        end = time.monotonic() + GUARD_S
        while got < 5 and time.monotonic() < end:
            got += pings([d.notify.recv(end - time.monotonic()) or []])
        self.assertGreaterEqual(got, 5)
        self.assertEqual(td.result_of(d.status())["state"], "playing")

        # The loop stalls: open() of the FIFO for writing returns once the hook, on the
        # loop thread, opened it for reading. Every ping sent before is queued on the
        # socket already, ahead of a mark the test sends now; after the mark, none may
        # come while the loop stands.
        fifo = os.path.join(d.dir, "stall")
        os.mkfifo(fifo)
        replies = []
        t = threading.Thread(target=lambda: replies.append(
            d.request({"id": 9, "cmd": "test_stall", "fifo": fifo})))
        t.start()
        w = os.open(fifo, os.O_WRONLY)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as mark:
            mark.sendto(b"TEST_MARK=1", d.notify.path)
        d.notify.wait_for(lambda a: a == "TEST_MARK=1", "the test's mark")
        stalled = []
        end = time.monotonic() + 3 * WATCHDOG_USEC / 1e6
        while time.monotonic() < end:
            m = d.notify.recv(max(0, end - time.monotonic()))
            if m:
                stalled.append(m)
        self.assertEqual(pings(stalled), 0, stalled)
        os.close(w)  # released
        t.join(GUARD_S)
        self.assertTrue(replies and replies[0] and replies[0].get("ok"), replies)
        d.notify.wait_for(lambda a: a == "WATCHDOG=1", "a ping after the stall")

        # SIGTERM while playing: STOPPING=1, exit 0, the track's PLAYBACK_STOPPED on disk.
        tag = td.result_of(d.status())["track_tag"]
        d.proc.send_signal(signal.SIGTERM)
        d.notify.wait_for(lambda a: a == "STOPPING=1", "STOPPING=1")
        self.assertEqual(d.proc.wait(timeout=GUARD_S), 0)
        tm.fetch("DELETE", "/_mock/collector")  # what it managed to send: not the point
        d.start()  # the same state directory: its queue file
        d.notify.wait_for(lambda a: a == "READY=1", "READY=1 again")
        end = time.monotonic() + GUARD_S
        while True:
            evs = tm.fetch_json("GET", "/_mock/collector")[1]["events"]
            stopped = [e for e in evs if e["eventType"] == "PLAYBACK_STOPPED"
                       and e["event"].get("trackTag") == tag]
            if stopped:
                break
            self.assertLess(time.monotonic(), end, "no PLAYBACK_STOPPED of %s: %s" % (tag, evs))
            time.sleep(0.1)


if __name__ == "__main__":
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    W["catalog"], W["ampd"], W["ampd_test"], W["ampctl"], W["cdm_dir"] = sys.argv[1:6]
    unittest.main(argv=[sys.argv[0]] + sys.argv[6:], verbosity=2)
