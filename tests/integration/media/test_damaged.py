#!/usr/bin/env python3
"""Damaged content must not pass as a good decode: ampprobe on ampack content that was cut,
stripped of segments, looped, or given the wrong key exits non-zero with a message that
says what is wrong, and leaves no WAV behind (src/media/pipeline.h: the timeline checks).

usage: test_damaged.py AMPPROBE CATALOG [unittest args, e.g. Damaged.test_wrong_key]
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

AMPPROBE = CATALOG = None
SEGMENT_URL = re.compile(r'\s*<SegmentURL mediaRange="(\d+)-(\d+)"/>\n')


def run(args, timeout=300):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


class Damaged(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ampd-damaged-")
        self.out = os.path.join(self.tmp, "out.wav")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def decode(self, src, *extra):
        return run([AMPPROBE, "decode", "-o", self.out, *extra, src])

    def expect_fail(self, p, *needles):
        # Exactly 1, ampprobe's exit status for a failed decode: 0 would be a damaged input
        # passed as good, a negative code a death by a signal.
        self.assertEqual(p.returncode, 1, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        for n in needles:
            self.assertIn(n, lines[0])
        self.assertFalse(os.path.exists(self.out), "a failed decode left a WAV behind")

    def fragments(self, mp4):
        doc = json.loads(run([AMPPROBE, "info", "--json", mp4]).stdout)
        return doc["init_size"], doc["fragments"]

    def cut(self, src, n):
        dst = os.path.join(self.tmp, "cut.mp4")
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read(n))
        return dst

    def rep_block(self, mpd_text, rep):
        """The text of one Representation element."""
        start = mpd_text.index(f'<Representation id="{rep}"')
        end = mpd_text.index("</Representation>", start)
        return start, end

    def write_mpd(self, d, text):
        """An MPD in the scratch dir whose BaseURLs still name the catalog's files."""
        for name in os.listdir(d):
            if name.endswith(".mp4"):
                os.symlink(os.path.join(d, name), os.path.join(self.tmp, name))
        path = os.path.join(self.tmp, "manifest.mpd")
        with open(path, "w") as f:
            f.write(text)
        return path

    def edit_segments(self, d, rep, edit):
        """The MPD of d with rep's SegmentURL lines replaced by edit(list of lines)."""
        with open(os.path.join(d, "manifest.mpd")) as f:
            text = f.read()
        start, end = self.rep_block(text, rep)
        block = text[start:end]
        lines = [m.group(0) for m in SEGMENT_URL.finditer(block)]
        self.assertEqual(len(lines), 5, "mid45 has 5 segments of 10 s")
        first = block.index(lines[0])
        last = block.index(lines[-1]) + len(lines[-1])
        block = block[:first] + "".join(edit(lines)) + block[last:]
        return self.write_mpd(d, text[:start] + block + text[end:])

    def test_intact_controls(self):
        """The undamaged inputs the tests below start from decode, whole."""
        d = os.path.join(CATALOG, "mid45", "clear")
        for src in (os.path.join(d, "flac_16_44.mp4"), os.path.join(d, "manifest.mpd"),
                    self.edit_segments(d, "flac_16_44", lambda l: l)):
            p = self.decode(src, "--rep", "flac_16_44") if src.endswith(".mpd") else \
                self.decode(src)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("1984500 frames", p.stderr)  # 45 s at 44.1 kHz
            os.unlink(self.out)

    def test_cut_at_fragment_boundary(self):
        """A file cut after its 2nd of 5 fragments is 20 s long; its own sidx says 45 s."""
        src = os.path.join(CATALOG, "mid45", "clear", "flac_16_44.mp4")
        _, frags = self.fragments(src)
        self.assertEqual(len(frags), 5)
        cut = self.cut(src, frags[1]["offset"] + frags[1]["size"])
        p = self.decode(cut)
        self.expect_fail(p, "ends at 20.", "of 45.000 s declared", "before its declared duration")

    def test_cut_after_init(self):
        """Only the init segment, and the init plus the sidx: no media at all."""
        src = os.path.join(CATALOG, "mid45", "clear", "opus_192.mp4")
        init, frags = self.fragments(src)
        for n in (init, frags[0]["offset"]):
            with self.subTest(bytes=n):
                p = self.decode(self.cut(src, n))
                self.expect_fail(p, "no moof+mdat fragment to decode")

    def test_mpd_missing_segment_urls(self):
        """The last two SegmentURLs gone: 30 s listed of a 45 s mediaPresentationDuration."""
        d = os.path.join(CATALOG, "mid45", "clear")
        mpd = self.edit_segments(d, "flac_16_44", lambda l: l[:3])
        p = self.decode(mpd, "--rep", "flac_16_44")
        self.expect_fail(p, "ends at 30.", "of 45.000 s declared")

    def test_mpd_missing_middle_segment(self):
        """The 3rd SegmentURL gone: the 4th does not follow on from the 2nd."""
        d = os.path.join(CATALOG, "mid45", "clear")
        mpd = self.edit_segments(d, "opus_192", lambda l: l[:2] + l[3:])
        p = self.decode(mpd, "--rep", "opus_192")
        self.expect_fail(p, "segment 3", "not continuous")

    def test_repeated_segment(self):
        """One segment listed 100 000 times (1 000 000 s of audio, 4 GiB of WAV if it were
        played): refused at its second copy."""
        d = os.path.join(CATALOG, "mid45", "clear")
        # without indentation, 100 000 lines fit the manifest parser's 4 MiB bound
        mpd = self.edit_segments(d, "opus_48", lambda l: [l[0].strip() + "\n"] * 100000)
        p = self.decode(mpd, "--rep", "opus_48")
        self.expect_fail(p, "segment 2 ", "not continuous")

    def test_wrong_key(self):
        """The right KID with another key: the CDM decrypts, the codec refuses the result,
        and the message names decryption."""
        d = os.path.join(CATALOG, "mid45", "v1")
        with open(os.path.join(d, "keys.json")) as f:
            keys = json.load(f)
        keys["key"] = "%032x" % (int(keys["key"], 16) ^ 1)
        bad = os.path.join(self.tmp, "keys.json")
        with open(bad, "w") as f:
            json.dump(keys, f)
        for rep in ("flac_16_44", "opus_192"):
            with self.subTest(rep=rep):
                p = self.decode(os.path.join(d, "manifest.mpd"), "--rep", rep, "--keys", bad)
                # segments 1-3 are the clear lead; 4 is the first encrypted one
                self.expect_fail(p, "segment 4", "decrypted data does not decode",
                                 "wrong key")

    def test_flipped_byte(self):
        """CENC has no integrity: one flipped bit in an encrypted sample decrypts to one
        flipped bit of the coded audio. FLAC's frame CRC catches it; Opus has no checksum
        and decodes it to a short glitch (docs/media.md §9, pipeline.h)."""
        d = os.path.join(CATALOG, "mid45", "v1")
        keys = os.path.join(d, "keys.json")
        for rep in ("flac_16_44", "opus_192"):
            src = os.path.join(d, rep + ".mp4")
            frag = self.fragments(src)[1][3]  # the first encrypted fragment
            with open(src, "rb") as f:
                data = bytearray(f.read())
            data[frag["offset"] + frag["size"] - 5000] ^= 0x10  # inside its mdat
            bad = os.path.join(self.tmp, rep + ".mp4")
            with open(bad, "wb") as f:
                f.write(data)
            with self.subTest(rep=rep):
                p = self.decode(bad, "--keys", keys)
                if rep.startswith("flac"):
                    self.expect_fail(p, "decrypted data does not decode")
                    continue
                self.assertEqual(p.returncode, 0, p.stderr)
                with open(self.out, "rb") as f:
                    glitched = f.read()
                good = os.path.join(self.tmp, "good.wav")
                self.assertEqual(run([AMPPROBE, "decode", "-o", good, "--keys", keys,
                                      src]).returncode, 0)
                with open(good, "rb") as f:
                    clean = f.read()
                self.assertEqual(len(glitched), len(clean))
                diff = [i for i in range(0, len(clean), 4) if clean[i:i + 4] != glitched[i:i + 4]]
                self.assertTrue(diff, "the flipped bit changed nothing")
                # the damage stays within a few packets (4 bytes a frame: 16-bit stereo)
                self.assertLess((diff[-1] - diff[0]) // 4, 48000 // 10, "not a short glitch")


if __name__ == "__main__":
    AMPPROBE, CATALOG = (os.path.abspath(a) for a in sys.argv[1:3])
    unittest.main(argv=[sys.argv[0], "-v", *sys.argv[3:]])
