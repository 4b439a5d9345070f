#!/usr/bin/env python3
"""The secrets scan: no secret the mock handed out appears in anything the tests wrote.

    scan.py --ledger DIR --out DIR [--min KIND=N]... [--min-files N] [--min-bytes N]
            [--min-debug-lines N] [--debug-topics T,T...] [--self-check]

--ledger holds the mock's ledgers (tools/mock/ampmock/ledger.py: "<kind> <form>
<value>" per line, one file per mock process). --out holds what every test kept
(tests/CMakeLists.txt: AMPD_TEST_OUTPUT=<out>/<test name>, and the harnesses keep their
temp dirs there: tests/integration/testout.py, mockproc_rmtree()). Every regular file
under --out, text or binary, is searched for every secret in every form it could take:

  text secrets (tokens, device codes, URL signatures, license bodies, the SPEKE API
  key): as sent, URL-encoded (quote and quote_plus), JSON-escaped (also with "\\/"),
  in hex, and in base64 and base64url at each of the three alignments it could have
  inside a longer base64 text; a license body also decoded (the license JSON itself,
  raw and JSON-escaped);
  binary secrets (content keys): raw, hex (lower and upper case), base64 and base64url
  at each alignment, and the URL-encoded and JSON-escaped forms of those.

A hit is reported as FILE:OFFSET: KIND (FORM) sha256:<first 12 hex of the secret's
SHA-256>, never the secret itself, and fails the scan. The exclusions, by file name,
with their reasons:

  lwa-tokens.json, the daemon's token file: the one file where the refresh token must
  be (docs/service.md §2, the daemon links again from it after a restart), and
  *.token, the same for a test's driver (report_driver's bearer.token). They must be
  mode 0600; a token file with any other mode is reported as a hit. Nothing else in the
  state directory (the event queue, the saved state) may hold a secret.
  keys.json, a content key store the mock's license module serves from (ampack writes
  one per track into the catalog; a test of the license client writes its own into the
  mock's --root): the input of the key server, not something ampd wrote.

Not part of the scanned tree, by construction: the ledgers (--ledger, outside --out) and
the test catalog (the packager's keys.json are its input, not a test's output).

It cannot pass vacuously: each --min KIND=N must be met by the ledger, at least
--min-files files and --min-bytes bytes must have been searched, the files must hold
--min-debug-lines log lines at debug (where a leak would show) with a line of each of
--debug-topics among them; with --self-check the
patterns made from the real ledger are first shown to find a planted secret. The search
itself is GNU grep -F (Aho-Corasick over all the patterns at once), so the whole tree is
read once; the forms grep cannot hold (a raw key with a newline byte) are found through
their longest newline-free piece and checked in full here.

Exit status: 0 clean, 1 a secret was found, 2 the scan would prove nothing or could not
run.
"""

import argparse
import base64
import binascii
import hashlib
import json
import os
import stat
import subprocess
import sys
import tempfile
import urllib.parse

KINDS = ("access_token", "refresh_token", "device_code", "cdn_sig", "license",
         "content_key", "speke_api_key")
BINARY_KINDS = ("content_key",)
TOKEN_FILE = "lwa-tokens.json"
TOKEN_SUFFIX = ".token"
KEY_STORE = "keys.json"
DEBUG_LINE = rb" debug +([a-z0-9_]+):"  # "12:00:00.000 debug   lwa: ..." (core/log.c)
FORM_MIN = 12        # a form shorter than this is not looked for (none of the kinds makes one)
PIECE_MIN = 8        # a raw key's newline-free piece grep looks for
LEDGER_LINE_MAX = 1 << 20


def fail(msg):
    sys.stderr.write("scan: %s\n" % msg)
    sys.exit(2)


def tag(secret):
    return "sha256:" + hashlib.sha256(secret).hexdigest()[:12]


def read_ledgers(d):
    """{kind: set of bytes} from every *.ledger file under d."""
    out = {k: set() for k in KINDS}
    if not os.path.isdir(d):
        return out
    for name in sorted(os.listdir(d)):
        if not name.endswith(".ledger"):
            continue
        with open(os.path.join(d, name), "rb") as f:
            for line in f:
                if len(line) > LEDGER_LINE_MAX:
                    fail("%s: a line over %d bytes" % (name, LEDGER_LINE_MAX))
                parts = line.rstrip(b"\n").decode("utf-8").split(" ", 2)
                if len(parts) != 3 or parts[0] not in KINDS or parts[1] not in ("s", "x"):
                    fail("%s: not a ledger line: %r..." % (name, line[:20]))
                kind, form, value = parts
                out[kind].add(bytes.fromhex(value) if form == "x" else value.encode("utf-8"))
    return out


def b64_aligned(raw):
    """The base64 and base64url texts that encode raw wherever it sits in a longer
    base64 text: for each of the 3 alignments, only the characters made of raw's bits."""
    out = set()
    n = len(raw)
    for i in range(3):
        std = base64.b64encode(b"\0" * i + raw).decode("ascii")
        first, last = -(-8 * i // 6), 8 * (i + n) // 6
        out.add(("base64@%d" % i, std[first:last]))
        out.add(("base64url@%d" % i, std[first:last].replace("+", "-").replace("/", "_")))
    return out


def escapes(name, s):
    """A text form and its URL-encoded and JSON-escaped variants."""
    out = {(name, s)}
    out.add((name + "+url", urllib.parse.quote(s, safe="")))
    out.add((name + "+url", urllib.parse.quote_plus(s, safe="")))
    j = json.dumps(s)[1:-1]
    out.add((name + "+json", j))
    out.add((name + "+json", j.replace("/", "\\/")))
    return out


def forms(kind, secret):
    """[(form name, bytes)] of one secret."""
    out = set()
    if kind in BINARY_KINDS:
        out.add(("raw", secret))
        out.add(("hex", secret.hex().encode()))
        out.add(("HEX", secret.hex().upper().encode()))
        for name, s in b64_aligned(secret):
            out |= {(n, v.encode()) for n, v in escapes(name, s)}
    else:
        text = secret.decode("utf-8", "replace")
        out |= {(n, v.encode()) for n, v in escapes("text", text)}
        out.add(("hex", secret.hex().encode()))
        for name, s in b64_aligned(secret):
            out |= {(n, v.encode()) for n, v in escapes(name, s)}
        if kind == "license":
            try:
                body = base64.b64decode(secret, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                body = None
            if body:
                out |= {(n, v.encode()) for n, v in escapes("decoded", body)}
    return sorted(f for f in out if len(f[1]) >= FORM_MIN)


def piece(pattern):
    """The part of pattern grep looks for: pattern itself, or for one holding a newline
    byte its longest newline-free piece (None when that is too short to look for)."""
    if b"\n" not in pattern:
        return pattern
    best = max(pattern.split(b"\n"), key=len)
    return best if len(best) >= PIECE_MIN else None


class Patterns:
    def __init__(self, ledger):
        self.by_piece = {}   # piece -> [(kind, form, full pattern, secret)]
        self.count = 0
        for kind in KINDS:
            for secret in ledger[kind]:
                for form, pat in forms(kind, secret):
                    p = piece(pat)
                    if p is None:
                        continue
                    self.by_piece.setdefault(p, []).append((kind, form, pat, secret))
                    self.count += 1

    def write(self, path):
        with open(path, "wb") as f:
            for p in sorted(self.by_piece):
                f.write(p + b"\n")


def grep(patfile, paths):
    """[(path bytes, offset, matched bytes)] for every match of patfile in paths."""
    if not paths:
        return []
    r = subprocess.run(["grep", "-rFaobHZ", "-D", "skip", "--exclude=" + TOKEN_FILE,
                        "--exclude=*" + TOKEN_SUFFIX, "--exclude=" + KEY_STORE, "-f", patfile,
                        "--"] + paths,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, LC_ALL="C"), check=False)
    if r.returncode not in (0, 1):
        fail("grep failed (%d): %s" % (r.returncode, r.stderr.decode(errors="replace")[:500]))
    out = []
    for line in r.stdout.split(b"\n"):
        if not line:
            continue
        path, _, rest = line.partition(b"\0")
        off, _, match = rest.partition(b":")
        out.append((path, int(off), match))
    return out


def hits_of(patterns, matches):
    """[(path, offset, kind, form, secret)] of the matches that are whole secrets."""
    hits = []
    for path, off, match in matches:
        for kind, form, pat, secret in patterns.by_piece.get(match, ()):
            if pat != match:  # found by a piece: the whole form must be there
                at = pat.index(match)
                with open(path, "rb") as f:
                    f.seek(max(0, off - at))
                    if off < at or f.read(len(pat)) != pat:
                        continue
                off -= at
            hits.append((path.decode(errors="replace"), off, kind, form, secret))
            break
    return hits


def walk(out):
    """(files, bytes, token files) of the regular files under out (links not followed)."""
    files = size = 0
    tokens = []
    for dirpath, _dirs, names in os.walk(out):
        for name in names:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            if name == TOKEN_FILE or name.endswith(TOKEN_SUFFIX):
                tokens.append((p, stat.S_IMODE(st.st_mode)))
                continue
            if name == KEY_STORE:
                continue
            files += 1
            size += st.st_size
    return files, size, tokens


def debug_lines(out):
    """{topic: debug lines} of every file under out."""
    r = subprocess.run(["grep", "-rhoaE", "-D", "skip", DEBUG_LINE.decode(), "--", out],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, LC_ALL="C"), check=False)
    if r.returncode not in (0, 1):
        fail("grep failed (%d): %s" % (r.returncode, r.stderr.decode(errors="replace")[:500]))
    topics = {}
    for line in r.stdout.split(b"\n"):
        t = line.split()[-1].rstrip(b":").decode() if line.strip() else None
        if t:
            topics[t] = topics.get(t, 0) + 1
    return topics


def self_check(patterns, ledger):
    """Plant one secret of each kind (its first form) in a file and find it."""
    with tempfile.TemporaryDirectory(prefix="ampd-scan-check-") as d:
        planted = []
        for kind in KINDS:
            if not ledger[kind]:
                continue
            secret = min(ledger[kind])
            form, pat = forms(kind, secret)[0]
            p = os.path.join(d, "%s.txt" % kind)
            with open(p, "wb") as f:
                f.write(b"a log line before\nat " + pat + b" in a line\n")
            planted.append(kind)
        pf = os.path.join(d, "patterns")
        patterns.write(pf)
        found = {h[2] for h in hits_of(patterns, grep(pf, [d]))}
        if found != set(planted):
            fail("self-check: planted %s, found %s" % (sorted(planted), sorted(found)))
    return planted


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ledger", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--min", action="append", default=[], metavar="KIND=N")
    ap.add_argument("--min-files", type=int, default=1)
    ap.add_argument("--min-bytes", type=int, default=1)
    ap.add_argument("--min-debug-lines", type=int, default=0)
    ap.add_argument("--debug-topics", default="", metavar="T,T...")
    ap.add_argument("--self-check", action="store_true")
    a = ap.parse_args(argv)

    ledger = read_ledgers(a.ledger)
    mins = {}
    for m in a.min:
        kind, _, n = m.partition("=")
        if kind not in KINDS or not n.isdigit():
            fail("--min %s: KIND=N with KIND one of %s" % (m, ", ".join(KINDS)))
        mins[kind] = int(n)
    short = ["%s %d < %d" % (k, len(ledger[k]), n) for k, n in mins.items()
             if len(ledger[k]) < n]
    if short:
        fail("the ledger holds too few secrets (%s): did the tests run, with "
             "AMPD_TEST_LEDGER_DIR set?" % ", ".join(short))
    if not os.path.isdir(a.out):
        fail("no output directory %s" % a.out)
    files, size, tokens = walk(a.out)
    if files < a.min_files or size < a.min_bytes:
        fail("%d files, %d bytes under %s (need %d, %d): the tests kept nothing to scan"
             % (files, size, a.out, a.min_files, a.min_bytes))

    topics = debug_lines(a.out)
    missing = [t for t in a.debug_topics.split(",") if t and t not in topics]
    if sum(topics.values()) < a.min_debug_lines or missing:
        fail("%d debug lines (need %d), no debug line from %s: the tests did not log at debug"
             % (sum(topics.values()), a.min_debug_lines, missing))

    patterns = Patterns(ledger)
    if a.self_check:
        self_check(patterns, ledger)
    with tempfile.TemporaryDirectory(prefix="ampd-scan-") as d:
        pf = os.path.join(d, "patterns")
        patterns.write(pf)
        entries = sorted(os.path.join(a.out, n) for n in os.listdir(a.out))
        hits = hits_of(patterns, grep(pf, entries)) if patterns.count else []
    for path, off, kind, form, secret in hits:
        print("SECRET %s:%d: %s (%s) %s" % (path, off, kind, form, tag(secret)))
    bad_modes = [(p, m) for p, m in tokens if m != 0o600]
    for p, m in bad_modes:
        print("SECRET %s: token file of mode %04o (must be 0600)" % (p, m))
    print("scan: %d files, %d bytes, %d debug lines (%d topics) (%d token files of mode "
          "0600 not searched); %d patterns from %s: %d hits"
          % (files, size, sum(topics.values()), len(topics), len(tokens) - len(bad_modes),
             patterns.count,
             ", ".join("%d %s" % (len(ledger[k]), k) for k in KINDS),
             len(hits) + len(bad_modes)))
    return 1 if hits or bad_modes else 0


if __name__ == "__main__":
    sys.exit(main())
