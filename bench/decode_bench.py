#!/usr/bin/env python3
"""Decode benchmark: ampd's full chain (ampprobe: demux, ClearKey decrypt, FLAC decode,
trim) on encrypted content against ffmpeg decoding the clear twin of the same files, in
the same run. Reports CPU time (user+sys) and peak RSS of each, the median of N runs.

usage: bench/decode_bench.py [--build DIR] [--runs N] [--keep DIR]
  --build DIR  a configured release build (default build/default; built here if needed)

Both write raw PCM to /dev/null, so neither pays for disk. Not a test: it asserts
nothing. Figures go into docs/benchmarks.md.
"""
import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = [
    # name, ampack signal, reps, seconds, ffmpeg output format. "mix" (tones, sweep, some
    # noise) compresses like music; "noisy" is the worst case for FLAC (about 1:1).
    ("HD FLAC 16/44.1, 600 s, mix", "mix", "flac_16_44", 600, "s16le"),
    ("HD FLAC 16/44.1, 300 s, noisy", "noisy", "flac_16_44", 300, "s16le"),
    ("UHD FLAC 24/192, 120 s, mix", "mix", "flac_24_192", 120, "s32le"),
    ("UHD FLAC 24/192, 120 s, noisy", "noisy", "flac_24_192", 120, "s32le"),
]


def measure(args):
    """CPU seconds (user+sys) and peak RSS (KiB) of one child run."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execvp(args[0], args)
    os.close(w)
    os.close(r)
    _, status, ru = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(args)}")
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "default"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep")
    a = ap.parse_args()

    if not os.path.exists(os.path.join(a.build, "CMakeCache.txt")):
        subprocess.run(["cmake", "--preset", "default"], cwd=ROOT, check=True)
    subprocess.run(["cmake", "--build", a.build, "-j", str(os.cpu_count()), "--target",
                    "ampprobe", "ampack", "ampd_cdm_clearkey"], check=True,
                   stdout=subprocess.DEVNULL)
    ampprobe = os.path.join(a.build, "tools", "ampprobe", "ampprobe")
    ampack = os.path.join(a.build, "tools", "ampack", "ampack")
    work = a.keep or tempfile.mkdtemp(prefix="ampd-bench-")
    os.makedirs(work, exist_ok=True)

    cpu = "unknown cpu"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ffv = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{cpu}; {ffv.splitlines()[0]}")
    print(f"median of {a.runs} runs; CPU = user+sys seconds; RSS = peak resident set\n")
    print("| content | ampd chain CPU | ffmpeg CPU | ampd/ffmpeg | ampd RSS | ffmpeg RSS |")
    print("|---|---|---|---|---|---|")
    for name, signal, rep, secs, fmt in CASES:
        d = os.path.join(work, f"{signal}-{rep}-{secs}")
        if not os.path.exists(os.path.join(d, "manifest.mpd")):
            subprocess.run([ampack, "--out", d, "--signal", signal, "--seconds", str(secs),
                            "--seed", "9", "--reps", rep, "--track-id", "bench"], check=True,
                           stdout=subprocess.DEVNULL)
        ours = [ampprobe, "decode", "--keys", os.path.join(d, "keys.json"), "-o", "/dev/null",
                os.path.join(d, "manifest.mpd")]
        theirs = ["ffmpeg", "-nostdin", "-v", "error", "-threads", "1", "-i",
                  os.path.join(d, "clear", rep + ".mp4"), "-f", fmt, "-y", "/dev/null"]
        o = [measure(ours) for _ in range(a.runs)]
        t = [measure(theirs) for _ in range(a.runs)]
        oc, tc = statistics.median(x[0] for x in o), statistics.median(x[0] for x in t)
        orss, trss = statistics.median(x[1] for x in o), statistics.median(x[1] for x in t)
        print(f"| {name} | {oc:.2f} s | {tc:.2f} s | {oc / tc:.2f} | {orss / 1024:.1f} MiB "
              f"| {trss / 1024:.1f} MiB |")
    if not a.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
