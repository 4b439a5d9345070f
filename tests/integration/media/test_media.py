#!/usr/bin/env python3
"""Integration tests of the media chain through ampprobe, against content we did not
decode ourselves: the ampack catalog (encrypted, with the source PCM), ffmpeg's own clear
DASH, and ALSA's file plugin. Bad input and the mock service over TLS are in
test_media_errors.py; what both share is media_common.py.

usage: test_media.py AMPPROBE CATALOG SRCDIR [unittest args, e.g. FlacExact]
"""
import json
import os
import subprocess
import sys
import unittest

import media_common
from media_common import TRACKS, Base, info, reps, run, wav_frames

AMPPROBE = CATALOG = SRCDIR = WAVCMP = None  # set_args, in __main__


class FlacExact(Base):
    """Every FLAC rep of every track, through the clear lead and the encrypted part,
    decrypted by the ClearKey CDM, equals the source PCM bit for bit."""

    def test_every_flac_rep(self):
        checked = 0
        for t in TRACKS:
            d = os.path.join(CATALOG, t)
            mpd = os.path.join(d, "v1", "manifest.mpd")
            for r in reps(mpd, "flac"):
                out = self.decode(mpd, r["id"], os.path.join(d, "v1", "keys.json"))
                self.assert_same(os.path.join(d, "source", r["id"] + ".wav"), out)
                checked += 1
        self.assertGreaterEqual(checked, 8)

    def test_second_key_variant(self):
        d = os.path.join(CATALOG, "mid45")
        mpd = os.path.join(d, "v2", "manifest.mpd")
        out = self.decode(mpd, "flac_24_96", os.path.join(d, "v2", "keys.json"))
        self.assert_same(os.path.join(d, "source", "flac_24_96.wav"), out)

    def test_clear_twin(self):
        d = os.path.join(CATALOG, "short12")
        out = self.decode(os.path.join(d, "clear", "manifest.mpd"), "flac_16_44")
        self.assert_same(os.path.join(d, "source", "flac_16_44.wav"), out)

    def test_whole_mp4_file(self):
        d = os.path.join(CATALOG, "uhd192")
        out = self.decode(os.path.join(d, "v1", "flac_24_192.mp4"), None,
                          os.path.join(d, "v1", "keys.json"))
        self.assert_same(os.path.join(d, "source", "flac_24_192.wav"), out)

    def test_stdout_output_equals_file(self):
        """-o - gives the same WAV as -o FILE: byte for byte when stdout is a file (the
        header is patched), and the same header but for the two sizes (0xFFFFFFFF, which
        a pipe cannot have patched) and the same PCM when stdout is a pipe."""
        d = os.path.join(CATALOG, "short12")
        mpd, keys = os.path.join(d, "v1", "manifest.mpd"), os.path.join(d, "v1", "keys.json")
        ref = self.decode(mpd, "flac_16_44", keys)
        with open(ref, "rb") as f:
            want = f.read()
        seek = os.path.join(self.tmp, "stdout.wav")
        with open(seek, "wb") as f:
            p = subprocess.run([AMPPROBE, "decode", "-o", "-", "--keys", keys, "--rep",
                                "flac_16_44", mpd], stdout=f, stderr=subprocess.PIPE,
                               timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(seek, "rb") as f:
            self.assertTrue(f.read() == want, "-o - into a file differs from -o FILE")
        p = subprocess.run([AMPPROBE, "decode", "-o", "-", "--keys", keys, "--rep",
                            "flac_16_44", mpd], capture_output=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = p.stdout
        self.assertEqual(len(got), len(want))
        data_at = want.index(b"data") + 8
        self.assertEqual(got[4:8], b"\xff\xff\xff\xff")
        self.assertEqual(got[data_at - 4:data_at], b"\xff\xff\xff\xff")
        self.assertEqual(got[8:data_at - 4], want[8:data_at - 4])
        self.assertTrue(got[data_at:] == want[data_at:], "the PCM through a pipe differs")
        # /proc/self/fd/1, a symlink to that pipe: written in place, like -o -
        p = subprocess.run([AMPPROBE, "decode", "-o", "/proc/self/fd/1", "--keys", keys,
                            "--rep", "flac_16_44", mpd], capture_output=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout == got, "-o /proc/self/fd/1 differs from -o -")

    def test_mp4_from_a_pipe(self):
        """An MP4 read from a pipe (no size, no seeking) decodes like the file."""
        d = os.path.join(CATALOG, "uhd192")
        mp4, keys = os.path.join(d, "v1", "flac_24_192.mp4"), os.path.join(d, "v1", "keys.json")
        out = os.path.join(self.tmp, "pipe.wav")
        with open(mp4, "rb") as f:
            p = subprocess.run([AMPPROBE, "decode", "--keys", keys, "-o", out, "/dev/stdin"],
                               input=f.read(),
                               capture_output=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assert_same(os.path.join(d, "source", "flac_24_192.wav"), out)

    def test_keys_from_a_pipe(self):
        """--keys on a pipe (as `--keys <(cat keys.txt)` gives): KID:KEY lines are parsed
        from the one read of the pipe, for the text form as for JSON (the text form used to
        open the path a second time, found the pipe drained and said it held no keys)."""
        d = os.path.join(CATALOG, "short12")
        mpd = os.path.join(d, "v1", "manifest.mpd")
        with open(os.path.join(d, "v1", "keys.json")) as f:
            k = json.load(f)
        text = "# from a pipe\n%s:%s\n" % (k["kid"], k["key"])
        with open(os.path.join(d, "v1", "keys.json")) as f:
            js = f.read()
        for form, body in (("text", text), ("json", js)):
            with self.subTest(form=form):
                out = os.path.join(self.tmp, f"pipe-{form}.wav")
                rfd, wfd = os.pipe()
                try:
                    # the pipe's read end as /dev/fd/N, the way a shell passes <(...)
                    proc = subprocess.Popen([AMPPROBE, "decode", "--keys", f"/dev/fd/{rfd}",
                                             "--rep", "flac_16_44", "-o", out, mpd],
                                            pass_fds=(rfd,), stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE)
                    os.close(rfd)
                    rfd = -1
                    os.write(wfd, body.encode())  # well under the 64 KiB pipe buffer
                    os.close(wfd)
                    wfd = -1
                    _, err = proc.communicate(timeout=300)
                finally:
                    for fd in (rfd, wfd):
                        if fd >= 0:
                            os.close(fd)
                self.assertEqual(proc.returncode, 0, err.decode())
                self.assert_same(os.path.join(d, "source", "flac_16_44.wav"), out)
        # and on standard input, as /dev/stdin
        out = os.path.join(self.tmp, "stdin.wav")
        p = subprocess.run([AMPPROBE, "decode", "--keys", "/dev/stdin", "--rep", "flac_16_44",
                            "-o", out, mpd], input=text.encode(), capture_output=True,
                           timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assert_same(os.path.join(d, "source", "flac_16_44.wav"), out)

    def test_album_is_gapless(self):
        """t1+t2+t3, each decoded on its own, are the continuous signal they were cut from."""
        pcm = b""
        for t in ("t1", "t2", "t3"):
            d = os.path.join(CATALOG, "album", t)
            out = self.decode(os.path.join(d, "v1", "manifest.mpd"), "flac_16_44",
                              os.path.join(d, "v1", "keys.json"))
            pcm += wav_frames(out)[1]
        whole = wav_frames(os.path.join(CATALOG, "album", "continuous", "source",
                                        "flac_16_44.wav"))[1]
        self.assertEqual(len(pcm), len(whole))
        self.assertTrue(pcm == whole, "the album's seams are not sample-exact")


class OpusExact(Base):
    """Opus reps give exactly the source's frame count (priming and the shortened last
    sample trimmed) and audio that matches it."""

    def test_every_opus_rep(self):
        checked = 0
        for t in TRACKS:
            d = os.path.join(CATALOG, t)
            mpd = os.path.join(d, "v1", "manifest.mpd")
            for r in reps(mpd, "opus"):
                src = os.path.join(d, "source", r["id"] + ".wav")
                out = self.decode(mpd, r["id"], os.path.join(d, "v1", "keys.json"))
                n = wav_frames(src)[0]
                # 48 kbps is too coarse for an SNR bound worth stating; its length is exact.
                snr = "20" if r["id"] != "opus_48" else "0"
                self.assert_same(src, out, "--snr", snr, "--frames", str(n))
                checked += 1
        self.assertGreaterEqual(checked, 9)

    def test_album_frame_counts_add_up(self):
        total = 0
        for t in ("t1", "t2", "t3"):
            d = os.path.join(CATALOG, "album", t)
            out = self.decode(os.path.join(d, "v1", "manifest.mpd"), "opus_192",
                              os.path.join(d, "v1", "keys.json"))
            total += wav_frames(out)[0]
        whole = os.path.join(CATALOG, "album", "continuous", "source", "opus_192.wav")
        self.assertEqual(total, wav_frames(whole)[0])


class Seek(Base):
    """--start T gives exactly the frames from T on: FLAC bit-exact, Opus after an 80 ms
    pre-roll from the segment before, whether T is inside a segment or on its edge."""

    def test_seeks(self):
        d = os.path.join(CATALOG, "mid45")
        mpd, keys = os.path.join(d, "v1", "manifest.mpd"), os.path.join(d, "v1", "keys.json")
        for rep, rate, t in (("flac_16_44", 44100, 12.5), ("flac_16_44", 44100, 30.0),
                             ("opus_192", 48000, 33.3), ("opus_192", 48000, 20.0)):
            with self.subTest(rep=rep, t=t):
                src = os.path.join(d, "source", rep + ".wav")
                skip = round(t * rate)
                out = self.decode(mpd, rep, keys, ("--start", str(t)))
                total = wav_frames(src)[0]
                opts = ["--offset", str(skip), "--frames", str(total - skip)]
                if rep.startswith("opus"):
                    opts += ["--snr", "20"]
                self.assert_same(src, out, *opts)


class Hostile(Base):
    """The hostile forms: clear lead as 'seig' groups, 16-byte IVs, subsample senc, tfdt
    v0, several moof per segment, and all at once."""

    def test_hostile_forms(self):
        forms = sorted(os.listdir(os.path.join(CATALOG, "hostile")))
        self.assertIn("all", forms)
        for form in forms:
            d = os.path.join(CATALOG, "hostile", form)
            sub = "v1" if os.path.isdir(os.path.join(d, "v1")) else "."
            mpd = os.path.join(d, sub, "manifest.mpd")
            keys = os.path.join(d, sub, "keys.json")
            with self.subTest(form=form):
                out = self.decode(mpd, "flac_16_44", keys)
                self.assert_same(os.path.join(d, "source", "flac_16_44.wav"), out)
                src = os.path.join(d, "source", "opus_192.wav")
                out = self.decode(mpd, "opus_192", keys)
                self.assert_same(src, out, "--snr", "20", "--frames", str(wav_frames(src)[0]))


class Info(Base):
    def test_json_matches_the_packager(self):
        d = os.path.join(CATALOG, "short12", "v1")
        with open(os.path.join(d, "keys.json")) as f:
            kid = json.load(f)["kid"]
        doc = info(os.path.join(d, "manifest.mpd"))
        sets = doc["adaptation_sets"]
        self.assertEqual({s["track_type"] for s in sets}, {"HD", "SD"})
        ids = {s["id"] for s in sets}
        for s in sets:
            self.assertTrue(set(s["switch_targets"]) <= ids and s["switch_targets"])
            for r in s["representations"]:
                self.assertEqual(r["default_kid"].replace("-", ""), kid)
                self.assertEqual(r["license_url"], "https://127.0.0.1:8443/license")
                self.assertTrue(r["pssh"])
                self.assertGreater(len(r["media_ranges"]), 1)
                # a sidx sits between the init and the first media range
                self.assertGreater(r["media_ranges"][0][0], r["init_range"][1] + 1)
                for a, b in zip(r["media_ranges"], r["media_ranges"][1:]):
                    self.assertEqual(b[0], a[1] + 1)
                size = os.path.getsize(os.path.join(d, os.path.basename(r["base_url"])))
                self.assertEqual(r["media_ranges"][-1][1], size - 1)
        flac = reps(os.path.join(d, "manifest.mpd"), "flac")[0]
        self.assertEqual((flac["sample_rate"], flac["bit_depth"], flac["channels"]),
                         (44100, 16, 2))

    def test_mp4_info(self):
        d = os.path.join(CATALOG, "short12", "v1")
        doc = json.loads(run([AMPPROBE, "info", "--json",
                              os.path.join(d, "opus_192.mp4")]).stdout)
        self.assertEqual([e["fourcc"] for e in doc["sample_entries"]], ["enca", "Opus"])
        self.assertEqual(doc["edit_media_time"], 312)
        frags = doc["fragments"]
        # 12 s of clear lead: no fragment is encrypted
        self.assertEqual(sum(f["encrypted"] for f in frags), 0)
        doc = json.loads(run([AMPPROBE, "info", "--json",
                              os.path.join(CATALOG, "mid45", "v1", "flac_16_44.mp4")]).stdout)
        enc = [f["encrypted"] > 0 for f in doc["fragments"]]
        self.assertEqual(enc, [False, False, False, True, True])


class FfmpegDash(Base):
    """ffmpeg's own clear DASH (one file per rep, SegmentList byte ranges, a sidx per
    segment) decodes to what ffmpeg itself decodes from it."""

    def make(self, codec_args, name):
        d = os.path.join(self.tmp, name)
        os.mkdir(d)
        run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
             "sine=frequency=440:duration=7:sample_rate=48000", "-f", "lavfi", "-i",
             "sine=frequency=1000:duration=7:sample_rate=48000", "-filter_complex",
             "[0:a][1:a]amerge=inputs=2[a]", "-map", "[a]", *codec_args, "-f", "dash",
             "-dash_segment_type", "mp4", "-single_file", "1", "-use_template", "0",
             "-use_timeline", "0", "-seg_duration", "2", "-adaptation_sets",
             "id=0,streams=a", os.path.join(d, "out.mpd")])
        mp4 = [f for f in os.listdir(d) if f.endswith(".mp4")]
        self.assertEqual(len(mp4), 1)
        return os.path.join(d, "out.mpd"), os.path.join(d, mp4[0])

    def ffmpeg_wav(self, mp4, fmt):
        out = os.path.join(self.tmp, "ff.wav")
        run(["ffmpeg", "-v", "error", "-y", "-i", mp4, "-c:a", fmt, out])
        return out

    def test_flac_identical(self):
        mpd, mp4 = self.make(["-c:a", "flac", "-strict", "experimental"], "flac")
        ours = self.decode(mpd)
        self.assert_same(self.ffmpeg_wav(mp4, "pcm_s16le"), ours)

    def test_opus(self):
        mpd, mp4 = self.make(["-c:a", "libopus", "-b:a", "128k"], "opus")
        ours = self.decode(mpd)
        n = wav_frames(ours)[0]
        self.assertEqual(n, 7 * 48000, "priming and end trim")
        # ffmpeg trims the priming but not the padding at the end (docs/media.md §10): compare
        # our frames against the start of its output; its decoder is not libopus, so the
        # match is close, not exact.
        ff = self.ffmpeg_wav(mp4, "pcm_s16le")
        nf, pcm, ch, bits = wav_frames(ff)
        self.assertGreaterEqual(nf, n)
        cut = os.path.join(self.tmp, "ffcut.wav")
        with open(ff, "rb") as f:
            head = f.read()
        data_at = head.index(b"data") + 8
        hdr = bytearray(head[:data_at])
        body = pcm[:n * ch * 2]
        hdr[data_at - 4:data_at] = len(body).to_bytes(4, "little")
        hdr[4:8] = (len(hdr) - 8 + len(body)).to_bytes(4, "little")
        with open(cut, "wb") as f:
            f.write(bytes(hdr) + body)
        self.assert_same(cut, ours, "--snr", "40")


class AlsaFile(Base):
    """Played through ALSA's file plugin, the recorded PCM is the PCM of the WAV output."""

    def alsa_env(self, raw):
        home = os.path.join(self.tmp, "home")
        os.mkdir(home)
        with open(os.path.join(home, ".asoundrc"), "w") as f:
            f.write('pcm.rec { type file slave.pcm "null" file "%s" format "raw" }\n' % raw)
        env = dict(os.environ)
        env["HOME"] = home
        return env

    def record(self, track, rep):
        """Play rep through pcm.rec; return (source frames, source PCM, channels, raw)."""
        d = os.path.join(CATALOG, track)
        raw = os.path.join(self.tmp, "rec.raw")
        run([AMPPROBE, "decode", "--alsa", "rec", "--keys", os.path.join(d, "v1", "keys.json"),
             "--rep", rep, os.path.join(d, "v1", "manifest.mpd")], env=self.alsa_env(raw))
        n, pcm, ch, _ = wav_frames(os.path.join(d, "source", rep + ".wav"))
        with open(raw, "rb") as f:
            return n, pcm, ch, f.read()

    def test_flac16_recorded_exactly(self):
        _, pcm, _, got = self.record("short12", "flac_16_44")
        self.assertEqual(len(got), len(pcm))
        self.assertTrue(got == pcm, "ALSA received other PCM than the source")

    def test_flac24_recorded_exactly(self):
        n, pcm, ch, got = self.record("uhd192", "flac_24_192")
        # The device takes 24-bit audio in a 32-bit container, MSB-aligned (S32_LE).
        self.assertEqual(len(got), n * ch * 4)
        want = bytearray(len(got))
        want[1::4], want[2::4], want[3::4] = pcm[0::3], pcm[1::3], pcm[2::3]
        self.assertTrue(got == bytes(want), "ALSA received other PCM than the source")


if __name__ == "__main__":
    AMPPROBE, CATALOG, SRCDIR, WAVCMP = media_common.set_args(sys.argv[1:4])
    unittest.main(argv=[sys.argv[0], "-v", *sys.argv[4:]])
