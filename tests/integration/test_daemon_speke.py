#!/usr/bin/env python3
"""The SPEKE album end to end (issue 12, docs/speke.md §12): the catalog's speke/t1 and
speke/t2, packaged by ampack with keys and PSSH boxes from the mock's SPEKE v2.0 key
provider (content key encryption), played by the real daemon (driven by ampctl) against
the mock over TLS, through the ClearKey CDM into the pipe backend, like any other album
(test_daemon_faults.py's FaultTest: a reset mock and a fresh linked daemon). Python
standard library only.

usage: test_daemon_speke.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]

- The two tracks come out gapless and bit-exact: the file equals speke/t1's source PCM
  followed by speke/t2's (one continuous signal cut at 33 s), across each clear lead and
  the encrypted segments, so every key the license server granted decrypted its track.
- The keys are the provider's: each keys.json the catalog holds for the album is what
  docs/speke.md §5 derives from the contentId and KID, and what the mock's provider of
  this test run issues again for that KID (asked here over SPEKE); the licenses the
  daemon got carry exactly the KIDs of the variants it played; the manifests and init
  segments the CDN served carry the provider's PSSH boxes (the mock's own functions make
  them here), not ampack's own. (That the daemon's log holds none of the album's keys or
  licenses is secrets/scan's to show: the mocks of the catalog build and of this test
  record them in the suite's ledger, and this test's outputs are kept for the scan.)
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import unittest
import uuid
import xml.etree.ElementTree as ET

import test_daemon as td
import test_daemon_faults as tdf
import test_mock as tm

sys.path.insert(0, os.path.join(tm.REPO, "tools", "mock"))
from ampmock.modules import speke as mock_speke  # noqa: E402  the mock's PSSH functions

W = tm.W
TRACKS = ("speke-t1", "speke-t2")
SECRET = b"ampmock-speke-secret"  # the mock's default --speke-secret (make_catalog.sh too)
API_KEY = "ampmock-speke-test"
NS = {"d": "urn:mpeg:dash:schema:mpd:2011", "cenc": "urn:mpeg:cenc:2013"}

setUpModule = tdf.setUpModule
tearDownModule = tdf.tearDownModule


def keys_of(track):
    out = {}
    for v in ("v1", "v2"):
        with open(os.path.join(W["root"], "speke", track[6:], v, "keys.json")) as f:
            k = json.load(f)
        out[v] = (k["kid"], k["key"])
    return out


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TestSpekeAlbum(tdf.FaultTest):
    def speke_ref(self):
        """The SPEKE album's container: in no navigation node (api.py), so its reference
        is the album's with the container id changed."""
        ref = self.container_ref("Albums")
        self.assertIn("/api/containers/album", ref)
        return ref.replace("/api/containers/album", "/api/containers/speke")

    def test_speke_album_gapless_bit_exact(self):
        seq = tdf.last_seq()
        self.d.ctl("play", self.speke_ref())
        st = self.d.wait_state(("stopped", "error"))
        self.assert_clean_end(st, tracks=2)
        want = tdf.source_pcm("speke", "t1") + tdf.source_pcm("speke", "t2")
        got = self.played()
        self.assertEqual(len(got), len(want))
        self.assertGreater(len(want), 60 * 44100 * 4)
        self.assertTrue(got == want, "the played PCM differs from the source")

        # the licenses: only the KIDs of the album's variants, each with the catalog key
        keys = {t: keys_of(t) for t in TRACKS}
        by_kid = {bytes.fromhex(kid): bytes.fromhex(key)
                  for t in TRACKS for kid, key in keys[t].values()}
        granted = tm.fetch_json("GET", "/_mock/license/granted")[1]["licenses"]
        got_keys = set()
        for lic in granted:
            body = json.loads(base64.b64decode(lic["license"]))
            for k in body.get("keys", []):
                kid = base64.urlsafe_b64decode(k["kid"] + "==")
                self.assertIn(kid, by_kid)
                self.assertEqual(base64.urlsafe_b64decode(k["k"] + "=="), by_kid[kid])
                got_keys.add(kid)
        self.assertEqual(len(got_keys), 2, granted)  # one variant of each track

        # the manifests the CDN served: the provider's Widevine and W3C boxes
        cdn = [e for e in tdf.requests_since(seq) if e["path"].endswith("/manifest.mpd")
               and e["status"] == 200]
        self.assertEqual(len(cdn), 2, cdn)
        for t in TRACKS:
            for v, (kid, _) in keys[t].items():
                raw = bytes.fromhex(kid)
                want_wv = mock_speke.system_pssh(mock_speke.WIDEVINE, raw, t, "cenc")
                want_cm = mock_speke.system_pssh(mock_speke.COMMON, raw, t, "cenc")
                d = os.path.join(W["root"], "speke", t[6:], v)
                root = ET.parse(os.path.join(d, "manifest.mpd")).getroot()
                boxes = {base64.b64decode(p.text) for p in root.iter("{%s}pssh" % NS["cenc"])}
                self.assertEqual(boxes, {want_wv, want_cm}, d)
                with open(os.path.join(d, "flac_16_44.mp4"), "rb") as f:
                    init = f.read(4096)
                self.assertIn(want_wv, init)
                self.assertIn(want_cm, init)

    def test_keys_are_the_providers(self):
        """Each key of the album is docs/speke.md §5's derivation, and the provider of this
        run issues it again: the catalog and the key provider agree."""
        tm.fetch("POST", "/_mock/speke/reset")
        for t in TRACKS:
            for v, (kid, key) in keys_of(t).items():
                mac = hmac.new(SECRET, t.encode() + b"\n" + kid.encode(), hashlib.sha256)
                self.assertEqual(key, mac.hexdigest()[:32], (t, v))
                u = str(uuid.UUID(kid))
                req = ('<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" contentId="%s" '
                       'version="2.3"><cpix:ContentKeyList><cpix:ContentKey kid="%s" '
                       'commonEncryptionScheme="cenc"/></cpix:ContentKeyList>'
                       '<cpix:DRMSystemList><cpix:DRMSystem kid="%s" systemId="%s">'
                       '<cpix:PSSH/></cpix:DRMSystem></cpix:DRMSystemList>'
                       '<cpix:ContentKeyUsageRuleList><cpix:ContentKeyUsageRule kid="%s" '
                       'intendedTrackType="AUDIO"><cpix:AudioFilter/></cpix:ContentKeyUsageRule>'
                       '</cpix:ContentKeyUsageRuleList></cpix:CPIX>'
                       % (t, u, u, mock_speke.COMMON, u))
                st, _, body = tm.fetch("POST", "/speke/v2.0/copyProtection", req.encode(),
                                       {"X-Api-Key": API_KEY, "X-Speke-Version": "2.0",
                                        "Content-Type": "application/xml"})
                self.assertEqual(st, 200, body)
                pv = ET.fromstring(body).find(
                    ".//{urn:ietf:params:xml:ns:keyprov:pskc}PlainValue")
                self.assertEqual(base64.b64decode(pv.text).hex(), key, (t, v))


if __name__ == "__main__":
    W["catalog"], W["ampd"], W["ampctl"], W["cdm_dir"] = sys.argv[1:5]
    del sys.argv[1:5]
    unittest.main()
