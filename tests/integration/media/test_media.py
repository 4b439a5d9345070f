#!/usr/bin/env python3
"""Integration tests of the media chain through ampprobe, against content we did not
decode ourselves: the ampack catalog (encrypted, with the source PCM), ffmpeg's own clear
DASH, the mock service over TLS, and ALSA's file plugin.

usage: test_media.py AMPPROBE CATALOG SRCDIR [unittest args, e.g. FlacExact]
"""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

AMPPROBE = CATALOG = SRCDIR = None
WAVCMP = None
TRACKS = ["album/t1", "album/t2", "album/t3", "short12", "mid45", "long125", "uhd192"]


# An LD_PRELOAD shim for the -o tests, compiled by the test that uses it (a C compiler is
# required: the test fails without one). SHIM_SWAP_PATH/SHIM_SWAP_LINK: right after the
# first stat() or open() of SHIM_SWAP_PATH returns, rename SHIM_SWAP_LINK (a prepared
# symlink) over it, the swap an attacker with write access to the directory would make
# between a check of the name and its use. SHIM_RANDOM=PATH: getrandom() of 8 bytes gives
# the value 0x0123456789abcdef until PATH has been open()ed, and fails with EIO after that
# (keyed on the open, not on a count, since the TLS library may draw random bytes first).
SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static int swapped, random_tried;

static void maybe_swap(const char *path) {
  const char *p = getenv("SHIM_SWAP_PATH"), *l = getenv("SHIM_SWAP_LINK");
  int e = errno;
  if (!swapped && p && l && path && strcmp(path, p) == 0) {
    swapped = 1;
    if (rename(l, p) != 0)
      _exit(99);
  }
  errno = e;
}

int stat(const char *path, struct stat *st) {
  int (*real)(const char *, struct stat *) = (int (*)(const char *, struct stat *))dlsym(RTLD_NEXT, "stat");
  int r = real(path, st);
  maybe_swap(path);
  return r;
}

static int open_common(const char *sym, const char *path, int flags, int mode) {
  int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, sym);
  int r = real(path, flags, mode);
  const char *t = getenv("SHIM_RANDOM");
  int e = errno;
  if (t && path && strcmp(path, t) == 0)
    random_tried = 1;
  errno = e;
  maybe_swap(path);
  return r;
}

int open(const char *path, int flags, ...) {
  int mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, int);
    va_end(ap);
  }
  return open_common("open", path, flags, mode);
}

int open64(const char *path, int flags, ...) {
  int mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, int);
    va_end(ap);
  }
  return open_common("open64", path, flags, mode);
}

ssize_t getrandom(void *buf, size_t n, unsigned int flags) {
  if (!getenv("SHIM_RANDOM") || (!random_tried && n != 8)) {
    ssize_t (*real)(void *, size_t, unsigned int) = (ssize_t (*)(void *, size_t, unsigned int))dlsym(RTLD_NEXT, "getrandom");
    return real(buf, n, flags);
  }
  if (!random_tried) {
    uint64_t v = 0x0123456789abcdefULL;
    memcpy(buf, &v, 8);
    return 8;
  }
  errno = EIO;
  return -1;
}
"""


def build_shim(tmp):
    """The shim above as tmp/shim.so; the environment that preloads it (ASan's check that
    its runtime comes first in the library list is turned off for the preload)."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise AssertionError("no C compiler (cc) to build the LD_PRELOAD shim")
    src, so = os.path.join(tmp, "shim.c"), os.path.join(tmp, "shim.so")
    with open(src, "w") as f:
        f.write(SHIM_C)
    run([cc, "-shared", "-fPIC", "-O1", "-o", so, src, "-ldl"])
    os.unlink(src)
    env = dict(os.environ, LD_PRELOAD=so)
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    return so, env


def run(args, check=True, env=None, timeout=300):
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p


def info(mpd, extra=()):
    return json.loads(run([AMPPROBE, "info", "--json", *extra, mpd]).stdout)


def reps(mpd, codec):
    return [r for s in info(mpd)["adaptation_sets"] for r in s["representations"]
            if r["codecs"] == codec]


def wav_frames(path):
    """Frames in a WAV's data chunk (16 or 24 bit)."""
    with open(path, "rb") as f:
        data = f.read()
    pos, ch, bits = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if cid == b"fmt ":
            ch = int.from_bytes(data[pos + 10:pos + 12], "little")
            bits = int.from_bytes(data[pos + 22:pos + 24], "little")
        elif cid == b"data":
            return size // (ch * bits // 8), data[pos + 8:pos + 8 + size], ch, bits
        pos += 8 + size + (size & 1)
    raise AssertionError(f"{path}: no data chunk")


def peak_rss(args):
    """Run args to its end; (its peak resident set in KiB, its stderr). stdout is dropped
    and stderr goes to a file, so no pipe can fill while we wait."""
    with tempfile.TemporaryFile() as errf:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=errf)
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        errf.seek(0)
        return ru.ru_maxrss, errf.read().decode()


def boxes(data, start=0, end=None):
    """(type, offset, size) of the boxes in data[start:end] (32-bit sizes only)."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos:pos + 4], "big")
        out.append((data[pos + 4:pos + 8], pos, size))
        pos += size
    return out


def first_trun(data):
    """Offset of the first trun box of the first moof, and its flags."""
    moof = [b for b in boxes(data) if b[0] == b"moof"][0]
    traf = [b for b in boxes(data, moof[1] + 8, moof[1] + moof[2]) if b[0] == b"traf"][0]
    trun = [b for b in boxes(data, traf[1] + 8, traf[1] + traf[2]) if b[0] == b"trun"][0]
    return moof[1], trun[1], int.from_bytes(data[trun[1] + 8:trun[1] + 12], "big") & 0xffffff


def trun_size_fields(data):
    """Offsets of the sample_size fields of the first trun (flag 0x200 must be set)."""
    _, t, flags = first_trun(data)
    assert flags & 0x200, "trun without sample sizes"
    count = int.from_bytes(data[t + 12:t + 16], "big")
    pos = t + 16 + (4 if flags & 1 else 0) + (4 if flags & 4 else 0)
    per = 4 * bin(flags & 0xf00).count("1")
    pos += 4 if flags & 0x100 else 0
    return [pos + i * per for i in range(count)]


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ampd-media-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def decode(self, src, rep=None, keys=None, extra=()):
        out = os.path.join(self.tmp, f"{rep or 'out'}.wav")
        args = [AMPPROBE, "decode", "-o", out]
        if rep:
            args += ["--rep", rep]
        if keys:
            args += ["--keys", keys]
        run(args + list(extra) + [src])
        return out

    def assert_same(self, a, b, *opts):
        p = run([sys.executable, WAVCMP, a, b, *opts], check=False)
        self.assertEqual(p.returncode, 0, f"{a} vs {b}: {p.stdout.strip()}")


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


class Errors(Base):
    """Bad input gives a one-line error and a non-zero status, never a crash."""

    def expect_fail(self, args, needle, code=1, stdin=None):
        """ampprobe exits with exactly `code` (1: the input failed, 2: usage; a signal
        death is a negative returncode and fails this too) and one stderr line with needle."""
        p = subprocess.run([AMPPROBE, *args], capture_output=True, text=True, timeout=300,
                           stdin=stdin)
        self.assertEqual(p.returncode, code, p.stderr)
        self.assertIn(needle, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        return p

    def test_encrypted_without_keys(self):
        mpd = os.path.join(CATALOG, "mid45", "v1", "manifest.mpd")
        out = os.path.join(self.tmp, "x.wav")
        self.expect_fail(["decode", "-o", out, mpd], "needs --key")
        self.assertFalse(os.path.exists(out))

    def test_other_variants_key(self):
        d = os.path.join(CATALOG, "mid45")
        out = os.path.join(self.tmp, "x.wav")
        self.expect_fail(["decode", "-o", out, "--keys", os.path.join(d, "v1", "keys.json"),
                          os.path.join(d, "v2", "manifest.mpd")], "no key for this KID")
        self.assertFalse(os.path.exists(out), "a failed decode left a WAV behind")

    def test_truncated_mp4(self):
        src = os.path.join(CATALOG, "short12", "clear", "flac_16_44.mp4")
        with open(src, "rb") as f:
            data = f.read()
        for cut in (10, 600, len(data) // 2, len(data) - 7):
            bad = os.path.join(self.tmp, "cut.mp4")
            with open(bad, "wb") as f:
                f.write(data[:cut])
            p = run([AMPPROBE, "decode", "-o", os.path.join(self.tmp, "y.wav"), bad], check=False)
            self.assertEqual(p.returncode, 1, f"cut at {cut}: {p.stderr}")

    def test_garbage_mpd(self):
        bad = os.path.join(self.tmp, "bad.mpd")
        with open(bad, "w") as f:
            f.write("<MPD xmlns='urn:mpeg:dash:schema:mpd:2011'><Period><Adapt")
        self.expect_fail(["info", bad], "ampprobe: ")

    def test_plain_http_refused(self):
        self.expect_fail(["info", "http://127.0.0.1:1/x.mpd"], "TLS policy")

    def test_missing_file(self):
        self.expect_fail(["info", os.path.join(self.tmp, "nope.mpd")], "No such file")


    # ---- -o: never remove or replace what this run did not create ----

    def failing_decode(self, out):
        """A decode that fails after the output is opened (the v2 key is refused only
        once the init is parsed; a damaged first fragment fails after that)."""
        src = os.path.join(CATALOG, "short12", "clear", "flac_16_44.mp4")
        with open(src, "rb") as f:
            data = bytearray(f.read())
        _, trun, _ = first_trun(data)
        data[trun + 12:trun + 16] = b"\x7f\xff\xff\xff"  # sample count past the box
        bad = os.path.join(self.tmp, "bad.mp4")
        with open(bad, "wb") as f:
            f.write(data)
        return self.expect_fail(["decode", "-o", out, bad], "fragment")

    def test_failed_decode_keeps_an_existing_file(self):
        out = os.path.join(self.tmp, "precious.wav")
        with open(out, "wb") as f:
            f.write(b"not ours to delete")
        self.failing_decode(out)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"not ours to delete")
        self.assertEqual(os.listdir(self.tmp), ["bad.mp4", "precious.wav"],
                         "a temporary file was left behind")

    def test_failed_decode_keeps_a_device_and_a_symlink_to_it(self):
        dev = os.path.join(self.tmp, "null")
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a copy of /dev/null
        link = os.path.join(self.tmp, "link.wav")
        os.symlink(dev, link)
        for out in (dev, link):
            with self.subTest(out=out):
                self.failing_decode(out)
                self.assertTrue(stat.S_ISCHR(os.stat(dev).st_mode), "the device is gone")
                self.assertTrue(os.path.islink(link), "the symlink is gone")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["bad.mp4", "link.wav", "null"])

    def test_decode_through_a_symlink_replaces_its_target(self):
        d = os.path.join(CATALOG, "short12", "clear")
        target = os.path.join(self.tmp, "target.wav")
        with open(target, "wb") as f:
            f.write(b"old")
        link = os.path.join(self.tmp, "link.wav")
        os.symlink(target, link)
        run([AMPPROBE, "decode", "-o", link, os.path.join(d, "flac_16_44.mp4")])
        self.assertTrue(os.path.islink(link))
        self.assert_same(os.path.join(CATALOG, "short12", "source", "flac_16_44.wav"), target)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["link.wav", "target.wav"])

    def test_every_output_kind(self):
        """A decode that succeeds, into each kind of -o target: a regular file and a
        symlink to one are replaced whole by a new file (a new inode: never written in
        place); a device, a fifo and a symlink to either are written in place and stay
        what they were; nothing is left beside them."""
        src = os.path.join(CATALOG, "short12", "clear", "flac_16_44.mp4")
        want = os.path.join(CATALOG, "short12", "source", "flac_16_44.wav")
        ref = os.path.join(self.tmp, "ref.wav")
        run([AMPPROBE, "decode", "-o", ref, src])
        with open(ref, "rb") as f:
            ref_bytes = f.read()
        data_at = ref_bytes.index(b"data") + 8
        d = os.path.join(self.tmp, "out")

        def fresh():
            shutil.rmtree(d, ignore_errors=True)
            os.mkdir(d)

        # a regular file, and a symlink to one
        for through_link in (False, True):
            with self.subTest(kind="symlink to regular" if through_link else "regular"):
                fresh()
                target = os.path.join(d, "target.wav")
                with open(target, "wb") as f:
                    f.write(b"old bytes, longer than nothing" * 100)
                old_ino = os.stat(target).st_ino
                out = target
                if through_link:
                    out = os.path.join(d, "link.wav")
                    os.symlink(target, out)
                run([AMPPROBE, "decode", "-o", out, src])
                self.assertNotEqual(os.stat(target).st_ino, old_ino, "written in place")
                self.assert_same(want, target)
                if through_link:
                    self.assertTrue(os.path.islink(out), "the symlink was replaced")
                self.assertEqual(sorted(os.listdir(d)),
                                 ["link.wav", "target.wav"] if through_link else ["target.wav"])
        # a device (a copy of /dev/null), and a symlink to it
        for through_link in (False, True):
            with self.subTest(kind="symlink to device" if through_link else "device"):
                fresh()
                dev = os.path.join(d, "null")
                os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
                out = dev
                if through_link:
                    out = os.path.join(d, "link.wav")
                    os.symlink(dev, out)
                run([AMPPROBE, "decode", "-o", out, src])
                self.assertTrue(stat.S_ISCHR(os.stat(dev).st_mode), "the device is gone")
                if through_link:
                    self.assertTrue(os.path.islink(out), "the symlink was replaced")
                self.assertEqual(sorted(os.listdir(d)),
                                 ["link.wav", "null"] if through_link else ["null"])
        # a fifo, and a symlink to one: the reader gets the WAV of a pipe (sizes unpatched)
        for through_link in (False, True):
            with self.subTest(kind="symlink to fifo" if through_link else "fifo"):
                fresh()
                fifo = os.path.join(d, "fifo")
                os.mkfifo(fifo)
                out = fifo
                if through_link:
                    out = os.path.join(d, "link.wav")
                    os.symlink(fifo, out)
                with tempfile.TemporaryFile() as errf:
                    # started before the reader opens: its open waits for one
                    proc = subprocess.Popen([AMPPROBE, "decode", "-o", out, src],
                                            stdout=subprocess.DEVNULL, stderr=errf)
                    with open(fifo, "rb") as f:
                        got = f.read()
                    rc = proc.wait(timeout=300)
                    errf.seek(0)
                    self.assertEqual(rc, 0, errf.read().decode())
                self.assertEqual(len(got), len(ref_bytes))
                self.assertEqual(got[4:8], b"\xff\xff\xff\xff")
                self.assertTrue(got[data_at:] == ref_bytes[data_at:], "the PCM differs")
                self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode), "the fifo is gone")
                if through_link:
                    self.assertTrue(os.path.islink(out), "the symlink was replaced")
                self.assertEqual(sorted(os.listdir(d)),
                                 ["fifo", "link.wav"] if through_link else ["fifo"])

    def test_device_swapped_for_a_symlink_is_not_followed_into_a_file(self):
        """-o names a device; right after ampprobe first stat()s or open()s that name, a
        preloaded shim renames a symlink to a regular file (the victim) over it. The old
        code stat()ed the name, then opened it again, and wrote the WAV into the start of
        the victim in place; now the decision is made on the opened fd (fstat), so the
        bytes go to the device and the victim is untouched."""
        _, env = build_shim(self.tmp)
        src = os.path.join(CATALOG, "short12", "clear", "flac_16_44.mp4")
        victim = os.path.join(self.tmp, "victim")
        body = b"precious: root must not write into me\n" * 4096
        with open(victim, "wb") as f:
            f.write(body)
        dev = os.path.join(self.tmp, "null")
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        swap = os.path.join(self.tmp, "swap")
        os.symlink(victim, swap)
        env.update(SHIM_SWAP_PATH=dev, SHIM_SWAP_LINK=swap)
        p = run([AMPPROBE, "decode", "-o", dev, src], check=False, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        # the swap did happen (the shim ran), and the victim is as it was
        self.assertEqual(os.readlink(dev), victim)
        with open(victim, "rb") as f:
            self.assertTrue(f.read() == body, "the WAV was written into the victim")

    def test_temp_name_failure_removes_nothing(self):
        """The first temporary-file name beside the target already exists (someone else's
        file: EEXIST) and the next getrandom() fails: the decode fails, and that existing
        file is still there (the old make_tmp returned with the failed candidate's name
        still set, and outfile_abort() unlinked it)."""
        _, env = build_shim(self.tmp)
        src = os.path.join(CATALOG, "short12", "clear", "flac_16_44.mp4")
        d = os.path.join(self.tmp, "out")
        os.mkdir(d)
        theirs = os.path.join(d, ".x.wav.0123456789abcdef.tmp")
        env["SHIM_RANDOM"] = theirs
        with open(theirs, "wb") as f:
            f.write(b"not ours")
        p = run([AMPPROBE, "decode", "-o", os.path.join(d, "x.wav"), src], check=False,
                env=env)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot create a temporary file beside it", p.stderr)
        self.assertEqual(os.listdir(d), [".x.wav.0123456789abcdef.tmp"])
        with open(theirs, "rb") as f:
            self.assertEqual(f.read(), b"not ours")

    # ---- bounded reads ----

    def test_oversized_manifest_refused_without_reading_it(self):
        """A 900 MiB (sparse) input that starts like an MPD is refused at the 4 MiB manifest
        bound (src/media/manifest.h MANIFEST_MAX_BYTES). The bound asserted on the peak RSS
        is 256 MiB: reading the input whole takes 900 MiB resident (the old code peaked at
        910 MB), while what is asserted here is a 64 KiB read chunk plus the 4 MiB bound
        plus the ASan runtime (about 30 MiB)."""
        big = os.path.join(self.tmp, "big.mpd")
        with open(big, "wb") as f:
            f.write(b"<MPD>")
            f.truncate(900 << 20)
        rss, err = peak_rss([AMPPROBE, "info", big])
        self.assertLess(rss, 256 << 10, f"peak RSS {rss} KiB")
        self.assertIn("a manifest is at most 4194304 bytes", err)

    def test_oversized_fragment_refused_at_its_header(self):
        """A moof claiming 2 GiB is refused from its header, at the 32 MiB fragment bound."""
        src = os.path.join(CATALOG, "short12", "clear", "flac_16_44.mp4")
        with open(src, "rb") as f:
            data = bytearray(f.read())
        moof = [b for b in boxes(data) if b[0] == b"moof"][0][1]
        data[moof:moof + 4] = (2 << 30).to_bytes(4, "big")
        bad = os.path.join(self.tmp, "huge.mp4")
        with open(bad, "wb") as f:
            f.write(data)
        self.expect_fail(["info", bad], f"the fragment box at byte {moof} (2147483648 bytes) "
                         f"is past the bound of {32 << 20} bytes")

    # ---- messages that say what is wrong ----

    def test_range_past_the_end_of_a_local_file(self):
        """A local media file shorter than its manifest says: named as such, not as a
        connection that closed."""
        d = os.path.join(CATALOG, "short12", "clear")
        mine = os.path.join(self.tmp, "clear")
        shutil.copytree(d, mine)
        mp4 = os.path.join(mine, "flac_16_44.mp4")
        size = os.path.getsize(mp4)
        os.truncate(mp4, size - 100)
        p = self.expect_fail(["decode", "--rep", "flac_16_44", "-o",
                              os.path.join(self.tmp, "x.wav"),
                              os.path.join(mine, "manifest.mpd")],
                             f"the file ends at byte {size - 100}, inside the range")
        self.assertNotIn("connection", p.stderr)

    def test_empty_keys_file(self):
        keys = os.path.join(self.tmp, "keys.txt")
        with open(keys, "w") as f:
            f.write("\n\n")
        mpd = os.path.join(CATALOG, "mid45", "v1", "manifest.mpd")
        p = self.expect_fail(["decode", "--keys", keys, "-o", os.path.join(self.tmp, "x.wav"),
                              mpd], "the keys file holds no keys", code=2)
        self.assertNotIn("needs --key", p.stderr)

    def test_mp4_on_a_pipe(self):
        """info on a pipe reads it (no 'not a fragmented MP4' for want of a size)."""
        src = os.path.join(CATALOG, "short12", "v1", "opus_192.mp4")
        with open(src, "rb") as f:
            p = subprocess.run([AMPPROBE, "info", "--json", "/dev/stdin"], input=f.read(),
                               capture_output=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["edit_media_time"], 312)

    def test_damaged_moof(self):
        """A moof that does not parse is named as a malformed moof; one whose sample sizes
        were shifted (it parses, the samples do not decode) says the sizes may be damaged."""
        src = os.path.join(CATALOG, "short12", "clear", "flac_16_44.mp4")
        with open(src, "rb") as f:
            data = bytearray(f.read())
        moof = first_trun(data)[0]
        out = os.path.join(self.tmp, "x.wav")
        self.failing_decode(out)  # sample count past the trun
        p = self.expect_fail(["decode", "-o", out, os.path.join(self.tmp, "bad.mp4")],
                             f"fragment 1 at byte {moof}: its moof is malformed")
        self.assertNotIn("decode error", p.stderr)
        a, b = trun_size_fields(data)[:2]
        sa, sb = int.from_bytes(data[a:a + 4], "big"), int.from_bytes(data[b:b + 4], "big")
        data[a:a + 4], data[b:b + 4] = (sa - 7).to_bytes(4, "big"), (sb + 7).to_bytes(4, "big")
        shifted = os.path.join(self.tmp, "shifted.mp4")
        with open(shifted, "wb") as f:
            f.write(data)
        self.expect_fail(["decode", "-o", out, shifted],
                         f"fragment 1 at byte {moof}: a sample does not decode: the mdat, or "
                         "the sample sizes in its moof, are damaged")
        self.assertFalse(os.path.exists(out))

    def test_wrong_key_value(self):
        """The right KID with a wrong key decrypts to noise: the message names the key as a
        cause, not only damage."""
        d = os.path.join(CATALOG, "mid45", "v1")
        with open(os.path.join(d, "keys.json")) as f:
            k = json.load(f)
        keys = os.path.join(self.tmp, "keys.txt")
        with open(keys, "w") as f:
            f.write("%s:%s\n" % (k["kid"], "%032x" % (int(k["key"], 16) ^ 1)))
        out = os.path.join(self.tmp, "x.wav")
        self.expect_fail(["decode", "--keys", keys, "--rep", "flac_16_44", "-o", out,
                          os.path.join(d, "manifest.mpd")],
                         "does not decode: the mdat, or the sample sizes in its moof, are "
                         "damaged, or a content key is wrong")
        self.assertFalse(os.path.exists(out))

    def test_init_segment_alone(self):
        """An MP4 without a fragment is refused, and leaves no WAV (it used to give a WAV
        of 0 frames and exit 0)."""
        src = os.path.join(CATALOG, "short12", "clear", "flac_16_44.mp4")
        with open(src, "rb") as f:
            data = f.read()
        moov = [b for b in boxes(data) if b[0] == b"moov"][0]
        init = os.path.join(self.tmp, "init.mp4")
        with open(init, "wb") as f:
            f.write(data[:moov[1] + moov[2]])
        out = os.path.join(self.tmp, "x.wav")
        self.expect_fail(["decode", "-o", out, init], "no moof+mdat fragment to decode")
        self.assertFalse(os.path.exists(out))

    def test_urls_redacted_in_errors(self):
        """A signed URL with user:password@ is quoted by scheme, host and path only, in
        info's output and in the error of a failed fetch, also with --verbose."""
        mpd = os.path.join(self.tmp, "signed.mpd")
        with open(mpd, "w") as f:
            f.write("""<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT1S"
     profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">
 <Period><AdaptationSet contentType="audio" mimeType="audio/mp4">
  <Representation id="r" codecs="flac" bandwidth="1000" audioSamplingRate="44100">
   <BaseURL>https://alice:hunter2pw@127.0.0.1:1/media/a.mp4?X-Amz-Signature=SECRET#frag</BaseURL>
   <SegmentList><Initialization range="0-99"/><SegmentURL mediaRange="100-199"/></SegmentList>
  </Representation></AdaptationSet></Period></MPD>
""")
        for args in (["info", mpd], ["info", "--json", mpd]):
            p = run([AMPPROBE, *args])
            self.assertIn("https://127.0.0.1:1/media/a.mp4", p.stdout)
            for secret in ("SECRET", "hunter2pw", "alice", "frag"):
                self.assertNotIn(secret, p.stdout + p.stderr)
        p = subprocess.run([AMPPROBE, "decode", "-v", "-o", os.path.join(self.tmp, "x.wav"),
                            mpd], capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("ampprobe: https://127.0.0.1:1/media/a.mp4: init range", p.stderr)
        for secret in ("SECRET", "hunter2pw", "alice"):
            self.assertNotIn(secret, p.stdout + p.stderr)


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


class Https(Base):
    """The same decode from the mock service over real TLS, fetching exactly the byte
    ranges of the manifest."""

    def setUp(self):
        super().setUp()
        self.certs = os.path.join(self.tmp, "certs")
        run(["bash", os.path.join(SRCDIR, "tools", "mock", "testca.sh"), self.certs])
        self.ca = os.path.join(self.certs, "ca.pem")
        self.mocks = []
        self.base = self.start_mock(CATALOG)
        self.mock = self.mocks[0]

    def start_mock(self, root):
        """Start a mock serving root; returns its https base URL."""
        port_file = os.path.join(self.tmp, f"port{len(self.mocks)}")
        mock = subprocess.Popen(
            [sys.executable, os.path.join(SRCDIR, "tools", "mock", "ampmock.py"), "--certs",
             self.certs, "--root", root, "--port", "0", "--port-file", port_file],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.mocks.append(mock)
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file):
            self.assertIsNone(mock.poll(), "the mock exited")
            self.assertLess(time.monotonic(), deadline, "the mock did not start")
            time.sleep(0.05)
        with open(port_file) as f:
            return f"https://localhost:{int(f.read())}"

    def tearDown(self):
        for mock in self.mocks:
            mock.send_signal(signal.SIGTERM)
            mock.wait(timeout=10)
        super().tearDown()

    def test_oversized_manifest_body_refused(self):
        """An https body of 900 MiB that starts like an MPD is refused at the 4 MiB manifest
        bound as it streams in; peak RSS stays under 256 MiB (see the local-file test in
        Errors for why that bound cannot pass when the body is held whole)."""
        root = os.path.join(self.tmp, "root")
        os.mkdir(root)
        with open(os.path.join(root, "big.mpd"), "wb") as f:
            f.write(b"<MPD>")
            f.truncate(900 << 20)
        base = self.start_mock(root)
        rss, err = peak_rss([AMPPROBE, "info", "--ca", self.ca, base + "/files/big.mpd"])
        self.assertLess(rss, 256 << 10, f"peak RSS {rss} KiB")
        self.assertIn("a manifest is at most 4194304 bytes", err)

    def requests(self):
        import ssl
        import urllib.request
        ctx = ssl.create_default_context(cafile=self.ca)
        with urllib.request.urlopen(self.base + "/_mock/requests", context=ctx) as r:
            return json.load(r)

    def test_decode_over_tls(self):
        d = os.path.join(CATALOG, "mid45")
        url = self.base + "/files/mid45/v1/manifest.mpd"
        doc = info(url, ("--ca", self.ca))
        rep = [r for s in doc["adaptation_sets"] for r in s["representations"]
               if r["id"] == "flac_16_44"][0]
        self.assertTrue(rep["base_url"].startswith(self.base + "/files/mid45/v1/"))
        out = self.decode(url, "flac_16_44", os.path.join(d, "v1", "keys.json"),
                          ("--ca", self.ca))
        self.assert_same(os.path.join(d, "source", "flac_16_44.wav"), out)
        ranges = [r.get("range") for r in self.requests()
                  if r["path"].endswith("flac_16_44.mp4")]
        want = ["bytes=%d-%d" % tuple(rep["init_range"])]
        want += ["bytes=%d-%d" % (a, b) for a, b in rep["media_ranges"]]
        self.assertEqual(ranges, want)

    def test_signed_urls_redacted(self):
        """The input URL with user:password@ and a signed query, fetched and refused
        (404), is named without them, in info's output, errors and --verbose lines."""
        auth = self.base.replace("https://", "https://alice:hunter2pw@")
        sig = "?X-Amz-Signature=SECRET&X-Amz-Credential=SECRET2"
        ok = auth + "/files/mid45/v1/manifest.mpd" + sig
        p = run([AMPPROBE, "info", "-v", "--json", "--ca", self.ca, ok])
        doc = json.loads(p.stdout)
        url = doc["adaptation_sets"][0]["representations"][0]["base_url"]
        self.assertTrue(url.startswith(self.base + "/files/mid45/v1/"), url)
        bad = auth + "/files/mid45/v1/nope.mpd" + sig
        p = subprocess.run([AMPPROBE, "info", "-v", "--ca", self.ca, bad], capture_output=True,
                           text=True, timeout=300)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(self.base + "/files/mid45/v1/nope.mpd: ", p.stderr)
        for out in (p.stdout + p.stderr, json.dumps(doc)):
            for secret in ("SECRET", "hunter2pw", "alice"):
                self.assertNotIn(secret, out)
        paths = [r["path"] for r in self.requests()]
        self.assertIn("/files/mid45/v1/nope.mpd", paths, "the refused fetch was not made")

    def test_unknown_ca_refused(self):
        p = run([AMPPROBE, "info", self.base + "/files/mid45/v1/manifest.mpd"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("TLS", p.stderr)


if __name__ == "__main__":
    AMPPROBE, CATALOG, SRCDIR = (os.path.abspath(a) for a in sys.argv[1:4])
    WAVCMP = os.path.join(SRCDIR, "tests", "integration", "media", "wavcmp.py")
    unittest.main(argv=[sys.argv[0], "-v", *sys.argv[4:]])
