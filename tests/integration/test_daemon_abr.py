#!/usr/bin/env python3
"""ABR end to end: the real daemon (ampd, driven by ampctl) against the mock over TLS on
the test catalog, with the mock's bandwidth throttle (/_mock/throttle) on the CDN,
playing into the null backend paced in real time (device `sync`), so that a fetch too
slow for what plays runs the device dry (the null device counts that as an underrun,
platform/null/null.h). Python standard library only.

usage: test_daemon_abr.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]

The album (t1 37 s, t2 24.5 s, t3 18.5 s; each HD FLAC 16/44.1 at ~440 kbit/s and SD
Opus 48 kHz at ~196 kbit/s) starts with the CDN throttled to 40 kB/s (320 kbit/s): the
FLAC set cannot be fetched as fast as it plays (the album's FLAC would take ~110 s at
that rate for its 80 s), the Opus set can. The first segment is FLAC (nothing measured
yet); ABR must step down to Opus within t1 (a rate change mid-track: 44.1 -> 48 kHz).
Once Opus is heard the throttle is lifted and ABR must step back up to FLAC. How soon
depends on the bytes fetched fast since (docs/media.md §13: the estimate is weighted by
transfer time): from the rest of t1 and t2 (about 0.8 MB) the estimate passes what t3's
start needs for FLAC (bandwidth within 0.8 x estimate / 1.25). Asserted:

- the album ends, all three tracks heard, no error and no underrun;
- `status` shows t1 as FLAC 44.1 kHz, then t1 as Opus 48 kHz, and FLAC again after the
  lift;
- the mock's request log agrees: t1's media requests go to flac_16_44.mp4 first, then
  opus_192.mp4, and FLAC segments are fetched again after the lift; the throttle held
  bytes back;
- the device is not reopened for the switch: `device.opens` stays what it was when t1
  started, and while Opus plays on the 44.1 kHz device `device.resampling` is true.

And the capability header (the device's probe, src/player/devcaps.h): with HI_RES and
THREE_DIMENSIONAL configured, a 16-bit null device (`S16:`) is asked for as
STD_RES,HI_FI and a 32-bit one as STD_RES,HI_FI,HI_RES: never a spatial capability.
"""

import json
import os
import sys
import time
import unittest

import test_daemon as td
import test_daemon_faults as tdf
import test_mock as tm

W = tm.W
GUARD_S = td.GUARD_S
THROTTLE_BPS = 40000  # bytes/s: below HD FLAC 16/44.1, above SD Opus 192

setUpModule = tdf.setUpModule
tearDownModule = tdf.tearDownModule


def media_requests(seq):
    """(track, rep, range) of every CDN media request since seq, in order."""
    rid_track = {s["rid"]: s["track"]
                 for s in tm.fetch_json("GET", "/_mock/api/state")[1]["sessions"]}
    out = []
    for e in tdf.requests_since(seq):
        parts = e["path"].split("/")  # "", "cdn", rid, "<rep>.mp4"
        if len(parts) == 4 and parts[1] == "cdn" and parts[3].endswith(".mp4"):
            out.append((rid_track.get(parts[2]), parts[3][:-4], e.get("range"), e["seq"]))
    return out


class TestAbrThrottled(tdf.FaultTest):
    output = "backend = null\nsync = true\n"  # the device becomes "sync"

    def test_steps_down_without_underrun_and_back_up(self):
        seq = tdf.last_seq()
        st = tm.fetch_json("POST", "/_mock/throttle", {"path": "/cdn/*",
                                                       "rate_bps": THROTTLE_BPS})
        self.assertEqual(st[0], 200, st)
        self.play()
        samples = []  # (status, lifted) while playing
        lift_seq = None
        end = time.monotonic() + GUARD_S
        while True:
            s = td.result_of(self.d.status())
            if s["state"] in ("stopped", "error"):
                break
            self.assertLess(time.monotonic(), end, s)
            if s["state"] == "playing":
                samples.append((s, lift_seq is not None))
                if lift_seq is None and s.get("codec") == "opus":
                    lift_seq = tdf.last_seq()
                    held = tm.fetch_json("DELETE", "/_mock/throttle")[1]
            time.sleep(0.2)
        with open(os.path.join(self.d.dir, "status.json"), "w", encoding="utf-8") as f:
            json.dump([x for x, _ in samples], f, indent=1)  # for a failure's post-mortem
        self.assert_clean_end(s)  # stopped, no error, no underrun, 3 tracks

        # status: t1 FLAC 44.1, then t1 Opus 48 (mid-track), FLAC again after the lift
        self.assertIsNotNone(lift_seq, "Opus was never heard: %s" % samples[-1:])
        self.assertGreater(held["throttled_bytes"], 0, held)
        t1 = samples[0][0]["title"]
        seen = [(x["title"], x["codec"], x["rate"]) for x, _ in samples]
        first_opus = seen.index((t1, "opus", 48000))
        self.assertIn((t1, "flac", 44100), seen[:first_opus], seen)
        self.assertTrue(any(x["codec"] == "flac" for x, lifted in samples if lifted),
                        "no step back up after the lift: %s" % seen)

        # the request log: which representation's segments were fetched
        reqs = media_requests(seq)
        t1_reps = [rep for track, rep, _, _ in reqs if track == "album-t1"]
        self.assertEqual(t1_reps[0], "flac_16_44", reqs)
        self.assertIn("opus_192", t1_reps, reqs)
        self.assertEqual(t1_reps[t1_reps.index("opus_192"):],
                         ["opus_192"] * (len(t1_reps) - t1_reps.index("opus_192")), reqs)
        self.assertTrue(any(rep == "flac_16_44" for _, rep, _, s in reqs if s > lift_seq),
                        reqs)

        # the device: kept open across the switch, resampling Opus to its 44.1 kHz
        opens = samples[0][0]["device"]["opens"]
        self.assertEqual({x["device"]["opens"] for x, _ in samples if x["title"] == t1},
                         {opens}, seen)
        on_44 = [x["device"] for x, _ in samples
                 if x["codec"] == "opus" and x["device"]["rate"] == 44100]
        self.assertTrue(on_44, "Opus never played on the 44.1 kHz device")
        self.assertTrue(all(d["open"] and d["resampling"] for d in on_44), on_44)


class DeviceCapability(tdf.FaultTest):
    """The capability header asks only for what the configuration AND the device allow
    (src/player/devcaps.h): every Device API request of a browse carries it."""

    capabilities = "STD_RES,HI_FI,HI_RES,THREE_DIMENSIONAL"

    def sent(self):
        seq = tdf.last_seq()
        self.container_ref("Albums")
        got = {e["headers"].get("x-amzn-audio-device-capability")
               for e in tdf.requests_since(seq) if e["path"].startswith("/api/")}
        self.assertTrue(got)
        return got


class TestCapability16Bit(DeviceCapability):
    output = "backend = null\ndevice = S16:default\n"  # a 16-bit device: no HI_RES

    def test_no_hi_res_on_a_16_bit_device(self):
        self.assertEqual(self.sent(), {"STD_RES,HI_FI"})


class TestCapability32Bit(DeviceCapability):
    output = "backend = null\ndevice = S32:default\n"

    def test_hi_res_on_a_32_bit_device_never_spatial(self):
        self.assertEqual(self.sent(), {"STD_RES,HI_FI,HI_RES"})


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    W["catalog"], W["ampd"], W["ampctl"], W["cdm_dir"] = sys.argv[1:5]
    unittest.main(argv=[sys.argv[0]] + sys.argv[5:], verbosity=2)
