#!/usr/bin/env python3
"""Fault matrix, audio device rows (tests/faults/matrix.py): the ALSA device cannot be
opened when playback starts, or goes away mid-track. Real ALSA (alsa-lib, the daemon's
alsa backend) through a configuration of the test's own: ALSA_CONFIG_PATH names a file
that includes the system's alsa.conf and then defines the PCM `rec`. alsa-lib reads the
files of ALSA_CONFIG_PATH again at an open once they changed (it does not look at a
~/.asoundrc again), so the test can change the device under the running daemon.

- busy at start: the PCM `rec` names a card that is not there (`type hw; card 7`: the
  open fails, ENOENT), until the test rewrites the file to ALSA's file plugin over null. A device the file
  plugin writes cannot be held by another opener (and the test machines have no sound
  card to hold), so this is the stand-in for EBUSY: both are open errors the backend
  passes on as they are (platform/alsa/alsa.c), and the engine treats every open error
  alike: it holds the audio and retries with backoff (src/player/engine_output.c).
- unplugged mid-track: the file plugin writes into a pipe to a reader process (its
  `|cmd` form, the reader taking the PCM at about 8 times its rate) that the test kills
  mid-track: the next write fails (EIO, as a device that is gone); the engine closes the
  device and opens it again, which starts a new reader: the device is back.

The file plugin over null is not paced (it takes the PCM as fast as it comes), so these
rows count no underruns; they check what ALSA received instead.

usage: test_device.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]
"""

import os
import signal
import sys

import matrix
from matrix import Row, row, setUpModule, tearDownModule  # noqa: F401 (unittest's hooks)

SYSTEM_CONF = "</usr/share/alsa/alsa.conf>\n"
FILE_PCM = 'pcm.rec { type file; slave.pcm "null"; file "%s"; format "raw" }\n'
ABSENT_PCM = "pcm.rec { type hw; card 7 }\n"
# The pipe's reader: appends what it reads to argv[2], at about 8 times the album's rate
# (a device that takes its time, so that the kill lands mid-track).
READER = """import os, sys, time
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
with open(sys.argv[2], "ab") as out:
    while True:
        b = sys.stdin.buffer.read1(16384)
        if not b:
            break
        out.write(b)
        time.sleep(len(b) / (8 * 176400))
"""


class DeviceRow(Row):
    paced = False
    # closed 1 s after the album's end: the file plugin writes the last of its buffer into
    # the file when it is closed
    output = "backend = alsa\ndevice = rec\nidle_close_s = 1\n"

    def setUp(self):
        super().setUp()
        self.conf = os.path.join(self.d.dir, "alsa.conf")

    def asoundrc(self, text):
        with open(self.conf + ".tmp", "w", encoding="ascii") as f:
            f.write(SYSTEM_CONF + text)
        os.replace(self.conf + ".tmp", self.conf)

    def restart_on(self, text):
        """The daemon again (SIGTERM), on an ALSA configuration with text for `rec`."""
        self.asoundrc(text)
        self.d.env["ALSA_CONFIG_PATH"] = self.conf
        matrix.restart(self, kill=False)
        matrix.wait_for("linked", lambda: self.st()["link"] == "linked")

    def device_error(self):
        st = self.st()
        return st if st.get("error", "").startswith("audio output: ") else None


class TestDevice(DeviceRow):
    @row("ALSA: the device cannot be opened when playback starts (a card that is not "
         "there, the stand-in for EBUSY), then comes back",
         "status shows \"audio output: ... (retrying)\" while the audio is held; once it "
         "opens the error clears and the album plays to its end, bit for bit, every event "
         "once")
    def test_device_busy_at_start(self):
        self.restart_on(ABSENT_PCM)
        self.play()
        st = matrix.wait_for("the device error", self.device_error, show=self.st)
        self.assertEqual(st["error"], "audio output: No such file or directory (retrying)", st)
        self.assertFalse(st["device"]["open"], st)
        self.asoundrc(FILE_PCM % self.d.out)  # the device is back
        st = self.d.wait_state(("stopped", "error"))
        self.assert_clean_end(st)
        matrix.wait_for("the idle close", lambda: not self.st()["device"]["open"])
        self.assert_album_bit_exact()
        self.assert_events(tracks=3)

    @row("ALSA: the device goes away mid-t1 (the file plugin's pipe reader killed)",
         "the write error is shown (retrying), the device opened again, playback goes on: "
         "all three tracks, no error at the end, every event once")
    def test_device_unplugged_mid_track(self):
        pidfile = os.path.join(self.d.dir, "reader.pid")
        reader = os.path.join(self.d.dir, "reader.py")
        with open(reader, "w", encoding="ascii") as f:
            f.write(READER)
        self.restart_on(FILE_PCM % ("|%s %s %s %s" % (sys.executable, reader, pidfile,
                                                       self.d.out)))
        self.play()
        matrix.wait_for("t1 playing", lambda: self.st()["state"] == "playing" and
                        os.path.exists(pidfile) and os.path.getsize(pidfile) > 0)
        with open(pidfile, encoding="ascii") as f:
            pid = int(f.read())
        os.unlink(pidfile)
        os.kill(pid, signal.SIGKILL)
        st = self.st()
        self.assertEqual(st["title"], "Mix Part One", st)  # mid-t1
        st = matrix.wait_for("the device error", self.device_error, show=self.st)
        self.assertTrue(st["error"].endswith("(retrying)"), st)
        st = self.d.wait_state(("stopped", "error"))
        self.assertEqual((st["state"], st["tracks_played"]), ("stopped", 3), st)
        self.assertNotIn("error", st)
        self.assertGreaterEqual(st["device"]["opens"], 2, st)  # opened again
        self.assertTrue(os.path.exists(pidfile))  # a new reader
        self.assert_events(tracks=3)


if __name__ == "__main__":
    matrix.main()
