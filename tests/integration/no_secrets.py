#!/usr/bin/env python3
"""No secret in any log: run the cloud integration tests with debug logging and look
for every secret they used in everything they logged.

    no_secrets.py CATALOG_DIR CMD [ARGS...] [:: CMD [ARGS...]]...

Each command (a test binary and its arguments) runs with AMPD_LOG=debug and
AMPD_TEST_SECRETS_DIR set; its stdout and stderr are kept. At teardown the shared test
harness (tests/integration/http_harness.c) writes what the mock handed that test (access
and refresh tokens, device codes, license bodies and their content keys) and copies the
log files the test wrote. The content keys of the catalog (every keys.json) are added, in
hex, base64 and base64url. Then every secret is looked for in every output and log file,
and any hit fails the test.

It cannot pass vacuously: every command must pass, the logs must hold debug lines from
the cloud modules, each kind of secret must have been seen, and a self-check first shows
that a log holding a secret is caught.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile

MIN_COUNTS = {"token": 4, "code": 1, "license": 1, "key": 1}
MIN_DEBUG_LINES = 100
MODULES = ("lwa", "license", "report", "api")  # topics whose debug lines must show


def key_forms(raw):
    """A content key as it could appear in a log: hex, base64, base64url."""
    return {raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def catalog_keys(catalog):
    out = set()
    for dirpath, _dirs, names in os.walk(catalog):
        if "keys.json" in names:
            with open(os.path.join(dirpath, "keys.json"), encoding="ascii") as f:
                out.add(bytes.fromhex(json.load(f)["key"]))
    return out


def read_secrets(dirpath):
    """{kind: set of strings} from the harness's *.secrets files."""
    found = {k: set() for k in MIN_COUNTS}
    keys = set()
    for name in os.listdir(dirpath):
        if not name.endswith(".secrets"):
            continue
        with open(os.path.join(dirpath, name), encoding="utf-8") as f:
            for line in f:
                kind, _, value = line.rstrip("\n").partition(" ")
                if kind == "key64":
                    keys.add(b64url_decode(value))
                elif kind in found and value:
                    found[kind].add(value)
    return found, keys


def scan(files, secrets):
    """[(file, line number, kind)] for every secret found in files."""
    hits = []
    for path in files:
        with open(path, "rb") as f:
            data = f.read().decode("utf-8", "replace")
        for kind, values in secrets.items():
            for v in values:
                if len(v) < 8:
                    continue
                at = data.find(v)
                if at >= 0:
                    hits.append((path, data.count("\n", 0, at) + 1, kind))
    return hits


def self_check(dirpath):
    """The scan must see a secret in a log, in any of its forms."""
    probe = os.path.join(dirpath, "selfcheck.txt")
    raw = bytes(range(16))
    forms = sorted(key_forms(raw))
    with open(probe, "w", encoding="utf-8") as f:
        f.write("12:00:00.000 debug   api: token Atza|selfcheck-secret in a line\n")
        f.write("a key: %s\n" % forms[0])
    hits = scan([probe], {"token": {"Atza|selfcheck-secret"}, "key": {forms[0]}})
    os.unlink(probe)
    if len(hits) != 2:
        sys.exit("no_secrets: the self-check failed: %r" % hits)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    catalog, rest = argv[1], argv[2:]
    cmds, cur = [], []
    for a in rest:
        if a == "::":
            cmds.append(cur)
            cur = []
        else:
            cur.append(a)
    cmds.append(cur)
    cmds = [c for c in cmds if c]
    with tempfile.TemporaryDirectory(prefix="ampd-nosecrets-") as d:
        self_check(d)
        env = dict(os.environ, AMPD_LOG="debug", AMPD_TEST_SECRETS_DIR=d)
        outputs = []
        for i, cmd in enumerate(cmds):
            out = os.path.join(d, "output-%d-%s.txt" % (i, os.path.basename(cmd[0])))
            with open(out, "wb") as f:
                r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                                   timeout=600, check=False)
            outputs.append(out)
            if r.returncode != 0:
                sys.stdout.write(open(out, encoding="utf-8", errors="replace").read()[-4000:])
                sys.exit("no_secrets: %s failed (exit %d)" % (cmd[0], r.returncode))
        found, keys = read_secrets(d)
        keys |= catalog_keys(catalog)
        found["key"] = set()
        for k in keys:
            found["key"] |= key_forms(k)
        for body in list(found["license"]):  # the decoded license JSON as well
            found["license"].add(base64.b64decode(body).decode("utf-8", "replace"))
        for kind, n in MIN_COUNTS.items():
            if len(found[kind]) < n:
                sys.exit("no_secrets: only %d secrets of kind %s were used (need %d): the "
                         "scan would prove nothing" % (len(found[kind]), kind, n))
        logs = outputs + [os.path.join(d, n) for n in os.listdir(d) if n.endswith(".log")]
        debug_lines, topics = 0, set()
        for path in logs:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.split()
                    if "debug" in parts[:3]:
                        debug_lines += 1
                        i = parts.index("debug")
                        if i + 1 < len(parts):
                            topics.add(parts[i + 1].rstrip(":"))
        missing = [m for m in MODULES if m not in topics]
        if debug_lines < MIN_DEBUG_LINES or missing:
            sys.exit("no_secrets: %d debug lines, topics %s missing: the logs were not "
                     "at debug" % (debug_lines, missing))
        hits = scan(logs, found)
        for path, line, kind in hits:
            print("SECRET (%s) in %s line %d" % (kind, os.path.basename(path), line))
        print("no_secrets: %d commands, %d log files, %d debug lines; %d tokens, %d device "
              "codes, %d licenses, %d key forms looked for: %d found" % (
                  len(cmds), len(logs), debug_lines, len(found["token"]), len(found["code"]),
                  len(found["license"]), len(found["key"]), len(hits)))
        return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
