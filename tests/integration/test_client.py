#!/usr/bin/env python3
"""libampd-client and ampctl against the real daemon (test_daemon.py's Daemon and the mock
over TLS on loopback). Python standard library only.

usage: test_client.py CATALOG_DIR AMPD AMPCTL CDM_DIR CMAKE BUILD_DIR CC CFLAGS SOURCE_DIR
       [unittest options]

- install: `DESTDIR=stage cmake --install BUILD_DIR --component client` and `dev` lay out
  the library, its symlinks, the header and ampd-client.pc; docs/examples/status.c builds
  with `cc $(pkg-config --cflags --libs ampd-client)` (PKG_CONFIG_PATH into the stage
  only; CFLAGS are the build's sanitizer flags, which the staged library needs), links
  the staged library, and prints the live daemon's state and its events.
- ampctl login: the code, the URL, and with --qr a QR block whose size is the one the
  encoded text's length calls for (QR version, 8-bit mode, level L); without --qr (stdout
  is a pipe) no block.
- ampctl watch: one plain line per change into a pipe (loading, playing with the track
  and its quality, stopped); on a terminal (a pty) one line redrawn in place.
- exit codes: 0 ok, 1 refused by the daemon, 2 usage, 3 daemon not reachable.
"""

import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
import unittest

import test_daemon as td
import test_mock as tm

W = tm.W
GUARD_S = td.GUARD_S
# Bytes of 8-bit data a QR symbol of version 1..10 holds at error correction level L.
QR_L_BYTES = [17, 32, 53, 78, 106, 134, 154, 192, 230, 271]
QR_MARGIN = 4
QR_CHARS = set("\u2588\u2580\u2584 ")


def qr_block(text):
    """The lines of text made of half blocks only (at least one block in each)."""
    return [line for line in text.splitlines()
            if line and set(line) <= QR_CHARS and set(line) - {" "}]


class Reader:
    """Collects a file descriptor's bytes on a thread."""

    def __init__(self, fd):
        self.fd, self.data, self.done = fd, b"", False
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # a pty's master reads EIO once the child is gone
                chunk = b""
            if not chunk:
                break
            with self.lock:
                self.data += chunk
        self.done = True

    def text(self):
        with self.lock:
            return self.data.decode("utf-8", errors="replace")

    def wait_for(self, pred, what):
        end = time.monotonic() + GUARD_S
        while not pred(self.text()):
            if time.monotonic() > end or self.done:
                raise AssertionError("%s; got %r" % (what, self.text()))
            time.sleep(0.05)


def setUpModule():
    td.set_up_module("ampd-client-test-")
    W["daemon"] = td.Daemon("client")
    W["daemon"].start()


def tearDownModule():
    tm.end_module(W["daemon"].stop)


def ampctl(*args, timeout=60):
    return subprocess.run([W["ampctl"], "-s", W["daemon"].sock] + list(args),
                          capture_output=True, timeout=timeout, check=False)


def wait_link(state):
    d = W["daemon"]
    end = time.monotonic() + GUARD_S
    while td.result_of(d.status()).get("link") != state:
        if time.monotonic() > end:
            raise AssertionError("link never %s" % state)
        time.sleep(0.1)


class TestClient(unittest.TestCase):
    """In order: login, the staged library and its example, watch, exit codes."""

    def test_1_login_qr(self):
        r = ampctl("--qr", "login")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        code = re.search(r"^user_code: +(\S+)$", out, re.M).group(1)
        uri = re.search(r"^verification_uri: +(\S+)$", out, re.M).group(1)
        text = "%s%scbl-code=%s" % (uri, "&" if "?" in uri else "?", code)
        self.assertIn("Scan to open %s\n" % text, out)
        block = qr_block(out)
        n = len(text.encode())
        version = next(v for v, cap in enumerate(QR_L_BYTES, 1) if cap >= n)
        size = 17 + 4 * version + 2 * QR_MARGIN
        self.assertEqual(len(block), (size + 1) // 2, out)
        self.assertEqual({len(line) for line in block}, {size}, out)
        # The block is one run of lines, right after the "Scan" line.
        lines = out.splitlines()
        first = lines.index(block[0])
        self.assertEqual(lines[first:first + len(block)], block)
        self.assertTrue(lines[first - 1].startswith("Scan to open"))
        # Again without the flag, into a pipe: the code and the URL, no QR.
        self.assertEqual(ampctl("logout").returncode, 0)
        r = ampctl("login")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertRegex(out, r"(?m)^user_code: +\S+$")
        self.assertRegex(out, r"(?m)^verification_uri: +https://\S+$")
        self.assertEqual(qr_block(out), [])
        self.assertNotIn("Scan to open", out)
        self.assertFalse(set(out) & (QR_CHARS - {" "}))
        code = re.search(r"^user_code: +(\S+)$", out, re.M).group(1)
        status, _ = tm.fetch_json("POST", "/_mock/lwa/approve", {"user_code": code})
        self.assertEqual(status, 200)
        wait_link("linked")
        # Linked: a refusal by the daemon (exit 1), and no QR either.
        r = ampctl("--qr", "login")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(b"already_linked", r.stderr)
        self.assertEqual(qr_block(r.stdout.decode()), [])

    def test_2_staged_library_and_example(self):
        stage = os.path.join(W["tmp"], "stage")
        env = dict(os.environ, DESTDIR=stage)
        for comp in ("client", "dev"):
            subprocess.run([W["cmake"], "--install", W["build"], "--component", comp],
                           env=env, check=True, capture_output=True, timeout=120)
        pcs = []
        for root, _, files in os.walk(stage):
            pcs += [os.path.join(root, f) for f in files if f == "ampd-client.pc"]
        self.assertEqual(len(pcs), 1, pcs)
        # Only PKG_CONFIG_PATH leads to the stage: nothing of the build tree is used.
        penv = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]), PKG_CONFIG_LIBDIR="")
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "ampd-client"], env=penv,
                                capture_output=True, text=True, check=True).stdout.strip()
        libdir = os.path.realpath(libdir)
        self.assertTrue(libdir.startswith(os.path.realpath(stage)), libdir)
        names = sorted(os.listdir(libdir))
        self.assertIn("libampd-client.so", names)
        self.assertIn("libampd-client.so.1", names)
        self.assertTrue(os.path.islink(os.path.join(libdir, "libampd-client.so.1")))
        self.assertTrue(os.path.exists(os.path.join(os.path.dirname(os.path.dirname(libdir)),
                                                    "include", "ampd", "client.h")))
        exe = os.path.join(W["tmp"], "status")
        src = os.path.join(W["source"], "docs", "examples", "status.c")
        cmd = '%s %s -o %s %s $(pkg-config --cflags --libs ampd-client)' % (
            W["cc"], src, exe, W["cflags"])
        r = subprocess.run(["sh", "-c", cmd], env=penv, capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        renv = dict(os.environ, LD_LIBRARY_PATH=libdir)
        ldd = subprocess.run(["ldd", exe], env=renv, capture_output=True, text=True,
                             check=True).stdout
        line = [l for l in ldd.splitlines() if "libampd-client.so.1" in l]
        self.assertEqual(len(line), 1, ldd)
        self.assertIn(libdir, line[0])
        d = W["daemon"]
        r = subprocess.run([exe, d.sock], env=renv, capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        st = td.result_of(d.status())
        self.assertIn("state: %s\n" % st["state"], r.stdout.decode())
        self.assertIn("volume: %d\n" % st["volume"], r.stdout.decode())
        # Its events: subscribe, then a play gives the player's states.
        p = subprocess.Popen([exe, d.sock, "3"], env=renv, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        rd = Reader(p.stdout.fileno())
        rd.wait_for(lambda t: "\nsubscribed\n" in t, "no subscription")
        d.ctl("play", self._album_ref())
        self.assertEqual(p.wait(timeout=GUARD_S), 0, p.stderr.read())
        rd.t.join(timeout=30)
        evs = [l for l in rd.text().splitlines() if l.startswith("event: ")]
        self.assertEqual(len(evs), 3, rd.text())
        self.assertEqual(evs[0], "event: loading")
        d.wait_state(("stopped", "error"))

    def _album_ref(self):
        d = W["daemon"]
        root = td.result_of(d.ctl("browse")[1])
        albums = [i for i in root["items"] if i["title"] == "Albums"][0]
        return [i for i in td.result_of(d.ctl("browse", albums["ref"])[1])["items"]
                if i["playable"]][0]["ref"]

    def test_3_watch_pipe(self):
        d = W["daemon"]
        p = subprocess.Popen([W["ampctl"], "-s", d.sock, "watch"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        rd = Reader(p.stdout.fileno())
        rd.wait_for(lambda t: t.endswith("\n"), "no first line")  # the status
        d.ctl("play", self._album_ref())
        rd.wait_for(lambda t: re.search(r"(?m)^playing.*\n(.*\n)*stopped", t),
                    "no playing then stopped")
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(timeout=30), 0, p.stderr.read())
        rd.t.join(timeout=30)
        out = rd.text()
        self.assertNotIn("\r", out)
        self.assertNotIn("\x1b", out)
        lines = out.splitlines()
        for a, b in zip(lines, lines[1:]):
            self.assertNotEqual(a, b, "a line repeated without a change")
        states = [l.split()[0] for l in lines]
        self.assertIn("loading", states)
        playing = [l for l in lines if l.startswith("playing")]
        self.assertTrue(playing, out)
        self.assertRegex(playing[0], r"^playing  \d+:\d\d / \d+:\d\d  Mix Part \w+ - ampack  "
                                     r"\[flac 44\.1 kHz/16-bit\]$")
        self.assertEqual(states[-1], "stopped", out)

    def test_4_watch_terminal(self):
        d = W["daemon"]
        master, slave = pty.openpty()
        p = subprocess.Popen([W["ampctl"], "-s", d.sock, "watch"], stdout=slave,
                             stderr=subprocess.PIPE)
        os.close(slave)
        rd = Reader(master)
        rd.wait_for(lambda t: "\r\x1b[K" in t, "no line drawn")
        d.ctl("play", self._album_ref())
        rd.wait_for(lambda t: re.search(r"\r\x1b\[Kplaying.*\r\x1b\[Kstopped", t, re.S),
                    "no redraw from playing to stopped")
        before = rd.text()
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(timeout=30), 0, p.stderr.read())
        rd.t.join(timeout=30)
        os.close(master)
        # Redrawn in place: no line feed until the end (a pty turns \n into \r\n).
        self.assertNotIn("\n", before)
        self.assertGreaterEqual(before.count("\r\x1b[K"), 3, before)
        self.assertTrue(rd.text().endswith("\r\n"), rd.text())

    def test_5_exit_codes(self):
        d = W["daemon"]
        self.assertEqual(ampctl("status").returncode, 0)
        d.wait_state(("stopped", "idle"))
        r = ampctl("pause")  # nothing plays: the daemon refuses
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"wrong_state", r.stderr)
        for bad in (["bogus"], ["volume", "loud"], ["--nope", "status"], []):
            r = ampctl(*bad)
            self.assertEqual(r.returncode, 2, (bad, r.stderr))
        r = subprocess.run([W["ampctl"], "-s", os.path.join(W["tmp"], "none"), "status"],
                           capture_output=True, timeout=60, check=False)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(b"cannot connect", r.stderr)
        r = subprocess.run([W["ampctl"], "-s", os.path.join(W["tmp"], "none"), "watch"],
                           capture_output=True, timeout=60, check=False)
        self.assertEqual(r.returncode, 3, r.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 10:
        sys.exit(__doc__)
    (W["catalog"], W["ampd"], W["ampctl"], W["cdm_dir"], W["cmake"], W["build"], W["cc"],
     W["cflags"], W["source"]) = sys.argv[1:10]
    unittest.main(argv=[sys.argv[0]] + sys.argv[10:], verbosity=2)
