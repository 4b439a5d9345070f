#!/usr/bin/env python3
"""check_catalog.py must fail when it has less to walk than catalog.jobs makes.

usage: selftest.py CATALOG AMPACK

Runs check_catalog.py on an empty directory (every check), on a copy of the catalog (hard
links) with one track, one key variant and one hostile form taken away, and on a copy whose
mid45/v1 MPD lost its opus_48 Representation (all files still there; the cheap checks that
read MPDs): every run must exit 1 and name what is missing, none may end in "ok: CHECK:".
"""
import re
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "check_catalog.py")
ALL = ["xmllint", "ffprobe", "flac", "opus", "decrypt", "gst", "seams", "structure", "keys",
       "hostile", "determinism"]
CHEAP = ["xmllint", "ffprobe", "flac", "seams", "structure", "keys", "hostile"]
GONE = ["long125", os.path.join("mid45", "v2"), os.path.join("hostile", "tfdt0")]

failures = []


def expect_fail(cat, check, ampack, needles):
    args = [sys.executable, CHECK, cat, check] + ([ampack] if check == "determinism" else [])
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    out = p.stdout.decode()
    bad = []
    if p.returncode != 1:
        bad.append("exit %d" % p.returncode)
    bad += ["no %r" % n for n in needles if n not in out]
    if ("\nok: %s:" % check) in "\n" + out:
        bad.append("an 'ok: %s:' line" % check)
    if bad:
        failures.append("%s on %s: %s" % (check, cat, ", ".join(bad)))
        print("FAIL: %s on %s: %s\n%s" % (check, cat, ", ".join(bad), out[-600:]))
    else:
        print("ok: %s on %s fails (%s)" % (check, os.path.basename(cat), out.splitlines()[-1]))


def main():
    cat, ampack = sys.argv[1:3]
    # next to the catalog: the copies are hard links, which need the same file system
    tmp = tempfile.mkdtemp(prefix="ampack-self-", dir=os.path.dirname(os.path.abspath(cat)))
    try:
        empty = os.path.join(tmp, "empty")
        os.mkdir(empty)
        for c in ALL:
            expect_fail(empty, c, ampack, ["FAIL: layout: album/t1/clear/manifest.mpd missing",
                                           "FAIL: layout: files: examined 0"])
        cut = os.path.join(tmp, "cut")
        shutil.copytree(cat, cut, copy_function=os.link)
        for g in GONE:
            shutil.rmtree(os.path.join(cut, g))
        for c in CHEAP:
            expect_fail(cut, c, ampack, ["FAIL: layout: %s/" % g for g in GONE])
        lost = os.path.join(tmp, "lost")
        shutil.copytree(cat, lost, copy_function=os.link)
        mpd = os.path.join(lost, "mid45", "v1", "manifest.mpd")
        with open(mpd) as f:
            text = f.read()
        cut_text = re.sub(r'<Representation id="opus_48".*?</Representation>\s*', "", text,
                          flags=re.S)
        if cut_text == text:
            failures.append("selftest: no opus_48 Representation in %s" % mpd)
        os.unlink(mpd)  # a hard link: write a new file, leave the catalog alone
        with open(mpd, "w") as f:
            f.write(cut_text)
        for c in ("ffprobe", "structure", "keys"):
            expect_fail(lost, c, ampack, ["catalog.jobs asks for"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("selftest: %d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
