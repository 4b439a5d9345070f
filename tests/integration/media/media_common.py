#!/usr/bin/env python3
"""What the media integration tests share (test_media.py: the decodes checked against
source PCM, ffmpeg and ALSA; test_media_errors.py: bad input and the mock service over
TLS): ampprobe and the catalog given on the command line, running ampprobe, reading WAV
and MP4 boxes, an LD_PRELOAD shim, and the test case base class.

Each test module calls set_args(sys.argv[1:4]) (AMPPROBE CATALOG SRCDIR) before it runs.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import testout  # noqa: E402  (tests/integration/testout.py: outputs kept for the scan)

AMPPROBE = CATALOG = SRCDIR = None
WAVCMP = None
# speke/: the album whose keys and pssh boxes came from the SPEKE key provider (docs/speke.md §12)
TRACKS = ["album/t1", "album/t2", "album/t3", "short12", "mid45", "long125", "uhd192", "speke/t1",
          "speke/t2"]


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
        testout.remove_tmp(self.tmp)

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



def set_args(argv):
    """Set AMPPROBE, CATALOG, SRCDIR (absolute) and WAVCMP from AMPPROBE CATALOG SRCDIR;
    returns the four, for the test module's own globals."""
    global AMPPROBE, CATALOG, SRCDIR, WAVCMP
    AMPPROBE, CATALOG, SRCDIR = (os.path.abspath(a) for a in argv)
    WAVCMP = os.path.join(SRCDIR, "tests", "integration", "media", "wavcmp.py")
    return AMPPROBE, CATALOG, SRCDIR, WAVCMP
