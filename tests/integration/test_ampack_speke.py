#!/usr/bin/env python3
"""ampack --speke against the mock's SPEKE v2.0 key provider (docs/speke.md §11) over TLS
with the test CA. Python standard library plus the openssl command.

usage: test_ampack_speke.py AMPACK [unittest options]

- The keys ampack writes (keys.json) are the provider's (HMAC of contentId and KID, as
  docs/speke.md §5 says, computed here), the KIDs ampack's own, one request per key
  variant; the PSSH boxes in each init segment and in the MPD are exactly the ones the
  provider signals (made here with the mock's own functions and compared byte for byte).
- With content key encryption (a certificate and key made here with openssl), the output
  is byte-identical to the run with keys in the clear: the keys were decrypted right.
- A provider that refuses or lies ends ampack with one line on stderr and exit status 1:
  a wrong API key (403), a 422 whose message is shown bounded and sanitised, a reply for a
  KID not asked for, one without the key, a non-XML reply, a provider whose certificate
  is not trusted, a delivery key that is not RSA or not the certificate's. No line holds a key or the API key.
"""

import base64
import hashlib
import hmac
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest
import uuid
import xml.etree.ElementTree as ET

import test_mock as tm
import test_mock_speke as ms  # the mock's SPEKE defaults

sys.path.insert(0, os.path.join(tm.REPO, "tools", "mock"))
from ampmock.modules import speke as mock_speke  # noqa: E402  the mock's PSSH functions

W = tm.W
API_KEY, SECRET, PATH = ms.API_KEY, ms.SECRET, ms.PATH
TRACK = "speke-test"
CPIX = "{urn:dashif:org:cpix}"


def setUpModule():
    tm.make_tmp("ampack-speke-test-")
    W["root"] = os.path.join(W["tmp"], "root")
    os.makedirs(W["root"])
    W["enc_key"] = os.path.join(W["tmp"], "enc.key")
    W["enc_pem"] = os.path.join(W["tmp"], "enc.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    W["enc_key"], "-out", W["enc_pem"], "-days", "2", "-subj",
                    "/CN=ampack speke test"], check=True, capture_output=True, timeout=60)
    W["mock"] = tm.Mock()


def tearDownModule():
    tm.end_module(check_mock_exit=True)


def url(port=None):
    return "https://127.0.0.1:%d%s" % (port or W["mock"].port, PATH)


def ampack(out, *extra, api_key=API_KEY, ca=True, variants=2):
    env = dict(os.environ)
    env["AMPACK_SPEKE_API_KEY"] = api_key
    cmd = [W["ampack"], "--out", out, "--signal", "mix", "--seed", "5", "--seconds", "35",
           "--reps", "hd", "--track-id", TRACK, "--variants", str(variants), "--speke", url(),
           "--license-url", "https://127.0.0.1:8443/license"]
    if ca:
        cmd += ["--speke-ca", os.path.join(W["certs"], "ca.pem")]
    p = subprocess.run(cmd + list(extra), env=env, capture_output=True, timeout=300)
    return p.returncode, p.stderr.decode(errors="replace")


def provider_key(kid_hex):
    return hmac.new(SECRET, TRACK.encode() + b"\n" + kid_hex.encode(),
                    hashlib.sha256).hexdigest()[:32]


def boxes(d, start, end):
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", d[start:start + 8])
        if size < 8 or start + size > end:
            raise ValueError("bad box at %d" % start)
        yield kind.decode("latin-1"), start, start + size
        start += size


def moov_pssh(path):
    with open(path, "rb") as f:
        d = f.read()
    moov = [b for b in boxes(d, 0, len(d)) if b[0] == "moov"][0]
    return [d[s:e] for k, s, e in boxes(d, moov[1] + 8, moov[2]) if k == "pssh"]


def mpd_pssh(path):
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011", "cenc": "urn:mpeg:cenc:2013"}
    root = ET.parse(path).getroot()
    out = {}
    for cp in root.iter("{%s}ContentProtection" % ns["d"]):
        p = cp.find("cenc:pssh", ns)
        if p is not None:
            out.setdefault(cp.get("schemeIdUri"), set()).add(base64.b64decode(p.text))
    return out


def tree(d):
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                out[os.path.relpath(os.path.join(root, f), d)] = fh.read()
    return out


class AmpackSpekeTest(unittest.TestCase):
    def setUp(self):
        tm.fetch("DELETE", "/_mock/faults")
        tm.fetch("POST", "/_mock/speke/reset")

    def speke_state(self):
        return tm.fetch_json("GET", "/_mock/speke")[1]

    def test_keys_and_pssh_are_the_providers(self):
        out = os.path.join(W["tmp"], "clear-keys")
        rc, err = ampack(out)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(self.speke_state(), {"requests": 2, "issued": 2, "kids": 2})
        kids = set()
        for v in ("v1", "v2"):
            with open(os.path.join(out, v, "keys.json")) as f:
                k = json.load(f)
            kids.add(k["kid"])
            self.assertEqual(k["key"], provider_key(k["kid"]), v)
            kid = bytes.fromhex(k["kid"])
            want = [mock_speke.system_pssh(mock_speke.WIDEVINE, kid, TRACK, "cenc"),
                    mock_speke.system_pssh(mock_speke.COMMON, kid, TRACK, "cenc")]
            self.assertEqual(moov_pssh(os.path.join(out, v, "flac_16_44.mp4")), want, v)
            self.assertEqual(mpd_pssh(os.path.join(out, v, "manifest.mpd")),
                             {"urn:uuid:" + mock_speke.WIDEVINE: {want[0]},
                              "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e": {want[1]}}, v)
            # ampack's own Widevine box says provider "ampack": this one is the mock's
            self.assertNotIn(b"ampack", want[0])
        self.assertEqual(len(kids), 2)
        # the request ampack sent: what docs/speke.md §11 says it asks for
        log = [e for e in tm.log_entries() if e.get("path") == PATH]
        self.assertEqual([e["status"] for e in log][-2:], [200, 200])

    def test_content_key_encryption_gives_the_same_output(self):
        plain, enc = os.path.join(W["tmp"], "cke-plain"), os.path.join(W["tmp"], "cke-enc")
        self.assertEqual(ampack(plain), (0, ""))
        rc, err = ampack(enc, "--speke-cert", W["enc_pem"], "--speke-key", W["enc_key"])
        self.assertEqual((rc, err), (0, ""))
        a, b = tree(plain), tree(enc)
        self.assertEqual(sorted(a), sorted(b))
        self.assertGreater(len(a), 8)
        for f in a:
            self.assertEqual(a[f], b[f], f)

    def fails(self, why, *extra, **kw):
        out = tempfile.mkdtemp(dir=W["tmp"])
        rc, err = ampack(out, *extra, **kw)
        self.assertEqual(rc, 1, err)
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("ampack: SPEKE: "), err)
        self.assertIn(why, lines[0])
        self.assertNotIn(API_KEY, err)
        for v in ("v1", "v2"):  # no encrypted set was written
            self.assertFalse(os.path.exists(os.path.join(out, v, "keys.json")))
        return lines[0]

    def test_refusals_and_lies_are_one_line(self):
        self.fails("answered HTTP 403: Forbidden", api_key="wrong-key")
        tm.add_fault({"path": PATH, "status": 422, "content_type": "text/plain",
                      "body": "KID \x1b[31m belongs\x7f to " + "x" * 300 + "\nsecond line"})
        line = self.fails("answered HTTP 422: KID ?[31m belongs? to xxx")
        self.assertLess(len(line), 200)
        self.assertNotIn("second line", line)
        tm.fetch("DELETE", "/_mock/faults")
        tm.add_fault({"path": PATH, "status": 200, "content_type": "text/html",
                      "body": "<html>hello</html>"})
        self.fails("the reply is not application/xml")
        self.assertEqual(self.speke_state()["issued"], 0)  # every answer above was a fault

    def lying(self, mutate, why):
        """The provider's real reply for variant 1, changed by mutate, served by a fault."""
        tm.fetch("DELETE", "/_mock/faults")
        good = os.path.join(W["tmp"], "lying-good")
        self.assertEqual(ampack(good, variants=1), (0, ""))
        with open(os.path.join(good, "v1", "keys.json")) as f:
            kid = str(uuid.UUID(json.load(f)["kid"]))
        # the same document the provider answers, asked here over the same route
        req = ('<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" contentId="%s" version="2.3">'
               '<cpix:ContentKeyList><cpix:ContentKey kid="%s" commonEncryptionScheme="cenc"/>'
               '</cpix:ContentKeyList><cpix:DRMSystemList>'
               '<cpix:DRMSystem kid="%s" systemId="%s"><cpix:PSSH/></cpix:DRMSystem>'
               '<cpix:DRMSystem kid="%s" systemId="%s"><cpix:PSSH/></cpix:DRMSystem>'
               '</cpix:DRMSystemList><cpix:ContentKeyUsageRuleList>'
               '<cpix:ContentKeyUsageRule kid="%s" intendedTrackType="AUDIO">'
               '<cpix:AudioFilter minChannels="1" maxChannels="2"/></cpix:ContentKeyUsageRule>'
               '</cpix:ContentKeyUsageRuleList></cpix:CPIX>'
               % (TRACK, kid, kid, mock_speke.WIDEVINE, kid, mock_speke.COMMON, kid))
        st, _, body = tm.fetch("POST", PATH, req.encode(),
                               {"X-Api-Key": API_KEY, "X-Speke-Version": "2.0",
                                "Content-Type": "application/xml"})
        self.assertEqual(st, 200)
        bad = mutate(body.decode(), kid)
        self.assertNotEqual(bad, body.decode())
        tm.add_fault({"path": PATH, "status": 200, "content_type": "application/xml",
                      "body": bad})
        return self.fails(why, variants=1)

    def test_lying_replies(self):
        other = str(uuid.uuid4())
        self.lying(lambda b, kid: b.replace('ContentKey kid="%s"' % kid,
                                            'ContentKey kid="%s"' % other),
                   "which was not asked for")
        self.lying(lambda b, kid: b.replace("<pskc:PlainValue>", "<pskc:Nothing>")
                   .replace("</pskc:PlainValue>", "</pskc:Nothing>"),
                   "ContentKey without a PlainValue")
        self.lying(lambda b, kid: b.replace('contentId="%s"' % TRACK, 'contentId="other"'),
                   "another contentId")
        self.lying(lambda b, kid: b.replace("<cpix:PSSH>AAAA", "<cpix:PSSH>AAAB", 1),
                   "PSSH is not a whole pssh box")
        self.lying(lambda b, kid: b[:len(b) // 2], "not well-formed XML")

    def test_bad_arguments(self):
        base = [W["ampack"], "--out", os.path.join(W["tmp"], "args"), "--signal", "mix",
                "--seconds", "35", "--reps", "hd"]
        env = dict(os.environ, AMPACK_SPEKE_API_KEY=API_KEY)
        cases = [(["--speke", url().replace("https:", "http:")], "https:// URL"),
                 (["--speke", url(), "--speke-cert", W["enc_pem"]], "go together"),
                 (["--speke-ca", W["enc_pem"]], "go with --speke")]
        for extra, why in cases:
            p = subprocess.run(base + extra, env=env, capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 2, extra)
            self.assertIn(why, p.stderr.decode(), extra)
        env.pop("AMPACK_SPEKE_API_KEY")
        p = subprocess.run(base + ["--speke", url()], env=env, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("AMPACK_SPEKE_API_KEY", p.stderr.decode())
        self.assertEqual(self.speke_state()["requests"], 0)

    def test_bad_delivery_key(self):
        """A key that is not RSA, or not the certificate's: one line, nothing written."""
        self.fails("the private key is not an RSA key", "--speke-cert", W["enc_pem"],
                   "--speke-key", os.path.join(W["certs"], "server.key"))
        other = os.path.join(tm.REPO, "tests", "data", "cpix", "delivery.key")
        self.fails("the DocumentKey does not decrypt", "--speke-cert", W["enc_pem"],
                   "--speke-key", other)

    def test_untrusted_provider(self):
        self.fails("TLS", ca=False)
        self.assertEqual(self.speke_state()["requests"], 0)


if __name__ == "__main__":
    W["ampack"] = sys.argv.pop(1)
    unittest.main()
