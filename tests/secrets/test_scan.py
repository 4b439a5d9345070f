#!/usr/bin/env python3
"""The secrets scan (tests/secrets/scan.py) on planted secrets: it must fail on each kind
of secret in each of its forms, pass on a tree without one, and refuse to pass when it
would prove nothing. The last test plants what the real mock issued, through its ledger.

usage: test_scan.py SOURCE_DIR [unittest options]
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scan  # noqa: E402

SRC = None  # the source tree (argv[1])
SECRETS = {  # one of each kind, as the mock makes them
    "access_token": b"Atza|IwEBIPlanted-access-token_0123456789abcdefghijklmnopqrstuvwxyz",
    "refresh_token": b"Atzr|IwEBIPlanted+refresh/token=0123456789abcdefghijklmnopqrstuv",
    "device_code": b"PlantedDeviceCode-0123456789abcdef",
    "cdn_sig": b"3f1d" * 16,
    "license": base64.b64encode(json.dumps(
        {"keys": [{"kty": "oct", "kid": "AAECAwQFBgcICQoLDA0ODw", "k": "planted-key-b64url00"}],
         "type": "temporary"}, separators=(",", ":")).encode()),
    "content_key": bytes([0x10, 0x0a, 0xfe, 0x00, 0x22, 0x5c, 0x2f, 0x0d,
                          0x80, 0x81, 0x0a, 0x3a, 0x25, 0x2b, 0x7f, 0x01]),  # \n, ", \, /
    "speke_api_key": b"planted-speke-api-key-0123",
}
INNOCENT = (b"12:00:00.000 debug   lwa: token refreshed (expires in 3600 s)\n"
            b"12:00:00.001 info    api: GET https://localhost/cdn/x/manifest.mpd\n")


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def write_ledger(d, secrets):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "ampmock-1.ledger"), "w", encoding="utf-8") as f:
        for kind, v in secrets.items():
            if kind in scan.BINARY_KINDS:
                f.write("%s x %s\n" % (kind, v.hex()))
            else:
                f.write("%s s %s\n" % (kind, v.decode()))


def run_scan(ledger, out, *extra):
    r = subprocess.run([sys.executable, os.path.join(HERE, "scan.py"), "--ledger", ledger,
                        "--out", out] + list(extra), capture_output=True, timeout=120,
                       check=False)
    return r.returncode, r.stdout + r.stderr


class Planted(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ampd-scan-test-")
        self.ledger = os.path.join(self.tmp, "ledger")
        self.out = os.path.join(self.tmp, "out")
        write_ledger(self.ledger, SECRETS)
        # A tree like a test's: logs, a binary file, state with the token file (0600,
        # the one place a refresh token may be), a FIFO and a link out of the tree.
        write(os.path.join(self.out, "t1", "d1", "ampd.log"), INNOCENT * 50)
        write(os.path.join(self.out, "t1", "d1", "played.raw"), bytes(range(256)) * 64)
        write(os.path.join(self.out, "t1", "d1", "state", "lwa-tokens.json"),
              b'{"refresh_token": "%s"}\n' % SECRETS["refresh_token"], 0o600)
        write(os.path.join(self.out, "t1", "root", "keys.json"),
              b'{"kid": "00", "key": "%s"}\n' % SECRETS["content_key"].hex().encode())
        write(os.path.join(self.out, "t1", "bearer.token"), SECRETS["access_token"], 0o600)
        os.mkfifo(os.path.join(self.out, "t1", "d1", "fifo"))
        write(os.path.join(self.tmp, "elsewhere"), SECRETS["access_token"])
        os.symlink(os.path.join(self.tmp, "elsewhere"), os.path.join(self.out, "t1", "link"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assertNoSecretIn(self, report):
        for kind, secret in SECRETS.items():
            for form, pat in scan.forms(kind, secret):
                self.assertNotIn(pat, report, "the report shows %s (%s)" % (kind, form))

    def test_clean_tree_passes(self):
        rc, report = run_scan(self.ledger, self.out, "--self-check", "--min-debug-lines=50",
                              "--debug-topics=lwa", *["--min=%s=1" % k for k in SECRETS])
        self.assertEqual(rc, 0, report)
        self.assertIn(b"scan: 2 files, ", report)
        self.assertIn(b"50 debug lines (1 topics)", report)
        self.assertIn(b"(2 token files of mode 0600 not searched)", report)
        self.assertIn(b": 0 hits", report)

    def test_every_kind_in_every_form_is_found(self):
        planted = {}
        for kind, secret in SECRETS.items():
            for i, (form, pat) in enumerate(scan.forms(kind, secret)):
                name = "%s-%d.log" % (kind, i)
                before = INNOCENT + b"12:00:01.000 debug   x: at "
                write(os.path.join(self.out, "t2", name), before + pat + b" here\n" + INNOCENT)
                planted[name] = (kind, form, len(before))
        forms_per_kind = {k: sum(1 for v in planted.values() if v[0] == k) for k in SECRETS}
        self.assertGreaterEqual(forms_per_kind["content_key"], 20, forms_per_kind)
        self.assertGreaterEqual(forms_per_kind["access_token"], 20, forms_per_kind)
        rc, report = run_scan(self.ledger, self.out)
        self.assertEqual(rc, 1, report)
        self.assertNoSecretIn(report)
        found = {}
        for line in report.decode().splitlines():
            if line.startswith("SECRET "):
                where, kind = line[len("SECRET "):].split(": ", 1)
                path, off = where.rsplit(":", 1)
                found[os.path.basename(path)] = (kind.split(" ")[0], int(off))
        for name, (kind, form, off) in planted.items():
            self.assertIn(name, found, "%s in form %s was not found" % (kind, form))
            # a form may hold a shorter one (the license's decoded JSON, a key's JSON
            # escape): the kind reported is then that of the longest match at the offset
            self.assertEqual(found[name][1], off, (name, form))
        self.assertEqual(set(found), set(planted))

    def test_planted_in_binary_and_state_files(self):
        key = SECRETS["content_key"]
        write(os.path.join(self.out, "t3", "state", "saved.state"),
              bytes(300) + key + bytes(300))  # raw, across its \n bytes
        ev = b'{"eventType":"PLAYBACK_STARTED","sig":"'
        write(os.path.join(self.out, "t3", "state", "events.queue"),
              ev + SECRETS["cdn_sig"] + b'"}\n')
        rc, report = run_scan(self.ledger, self.out)
        self.assertEqual(rc, 1, report)
        self.assertIn(b"saved.state:300: content_key (raw)", report)
        self.assertIn(b"events.queue:%d: cdn_sig (text)" % len(ev), report)
        self.assertNoSecretIn(report)

    def test_token_file_must_be_0600(self):
        for name, mode in (("d1/state/lwa-tokens.json", 0o644), ("bearer.token", 0o640)):
            os.chmod(os.path.join(self.out, "t1", name), mode)
            rc, report = run_scan(self.ledger, self.out)
            self.assertEqual(rc, 1, report)
            self.assertIn(b"%s: token file of mode %04o" % (name.encode(), mode), report)

    def test_thin_ledger_or_empty_tree_fails(self):
        rc, report = run_scan(self.ledger, self.out, "--min", "access_token=2")
        self.assertEqual(rc, 2, report)
        self.assertIn(b"too few secrets (access_token 1 < 2)", report)
        rc, report = run_scan(os.path.join(self.tmp, "no-ledger"), self.out,
                              "--min", "access_token=1")
        self.assertEqual(rc, 2, report)
        empty = os.path.join(self.tmp, "empty")
        os.mkdir(empty)
        rc, report = run_scan(self.ledger, empty)
        self.assertEqual(rc, 2, report)
        self.assertIn(b"kept nothing to scan", report)
        rc, report = run_scan(self.ledger, self.out, "--min-bytes", str(1 << 30))
        self.assertEqual(rc, 2, report)
        rc, report = run_scan(self.ledger, self.out, "--min-debug-lines=51")
        self.assertEqual(rc, 2, report)
        rc, report = run_scan(self.ledger, self.out, "--debug-topics=lwa,api")
        self.assertEqual(rc, 2, report)
        self.assertIn(b"no debug line from ['api']", report)


class ThroughTheMock(unittest.TestCase):
    """What the real mock hands out reaches its ledger, and a log holding it fails."""

    def test_issued_token_in_a_log_fails(self):
        sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
        import test_mock as tm
        tmp = tempfile.mkdtemp(prefix="ampd-scan-mock-")
        self.addCleanup(shutil.rmtree, tmp, True)
        ledger = os.path.join(tmp, "ledger")
        os.mkdir(ledger)
        tm.W["tmp"] = tmp
        tm.W["certs"] = os.path.join(tmp, "certs")
        tm.W["root"] = os.path.join(tmp, "root")
        os.mkdir(tm.W["root"])
        subprocess.run(["bash", tm.TESTCA, tm.W["certs"]], check=True, timeout=60,
                       capture_output=True)
        mock = tm.W["mock"] = tm.Mock("--secrets-ledger",
                                      os.path.join(ledger, "ampmock-x.ledger"))
        try:
            status, tokens = tm.fetch_json("POST", "/_mock/lwa/issue", {})
            self.assertEqual(status, 200)
        finally:
            self.assertEqual(mock.stop(), 0)
        out = os.path.join(tmp, "out")
        write(os.path.join(out, "t", "ampd.log"), INNOCENT)
        mins = ["--min", "access_token=1", "--min", "refresh_token=1",
                "--min", "speke_api_key=1"]
        rc, report = run_scan(ledger, out, *mins)
        self.assertEqual(rc, 0, report)
        line = b"12:00:02.000 debug   lwa: refreshed with "
        write(os.path.join(out, "t", "ampd.log"),
              INNOCENT + line + tokens["refresh_token"].encode() + b"\n")
        rc, report = run_scan(ledger, out, *mins)
        self.assertEqual(rc, 1, report)
        self.assertIn(b"ampd.log:%d: refresh_token (text)" % (len(INNOCENT) + len(line)),
                      report)
        self.assertNotIn(tokens["refresh_token"].encode(), report)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    SRC = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
