#!/usr/bin/env python3
"""The mock's SPEKE v2.0 key provider (tools/mock/ampmock/modules/speke.py, docs/speke.md)
over TLS with the test CA. Python standard library plus the openssl command; the SigV4
tests (SpekeSigV4Test) also sign with botocore and aws-requests-auth, Debian's packages for
/usr/bin/python3 (scripts/deps.sh), which is why ctest runs this file with that python3.

usage: test_mock_speke.py [unittest options]

The replies are read back from the outside: PSSH boxes are parsed here per ISO/IEC
23001-7, the Widevine data as protobuf, the PlayReady header object as its records, and
encrypted content keys are decrypted with the private key this test made.
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import unittest
import uuid
import xml.etree.ElementTree as ET

import test_mock as tm  # the Mock process and the TLS client of the mock's self-tests

W = tm.W
PATH = "/speke/v2.0/copyProtection"
API_KEY = "ampmock-speke-test"        # the mock's default --speke-api-key
SECRET = b"ampmock-speke-secret"      # the mock's default --speke-secret
CPIX_NS = "urn:dashif:org:cpix"
C = "{%s}" % CPIX_NS
P = "{urn:ietf:params:xml:ns:keyprov:pskc}"
E = "{http://www.w3.org/2001/04/xmlenc#}"
WIDEVINE = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
PLAYREADY = "9a04f079-9840-4286-ab92-e65be0885f95"
FAIRPLAY = "94ce86fb-07ff-4f43-adb8-93d2fa968ca2"
COMMON = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
CATALOG_KID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
CATALOG_KEY = "00112233445566778899aabbccddeeff"


def setUpModule():
    tm.make_tmp("ampmock-speke-test-")
    W["root"] = os.path.join(W["tmp"], "root")
    os.makedirs(os.path.join(W["root"], "t", "v1"))
    with open(os.path.join(W["root"], "t", "v1", "keys.json"), "w") as f:
        json.dump({"kid": CATALOG_KID, "key": CATALOG_KEY}, f)
    W["mock"] = tm.Mock()


def tearDownModule():
    tm.end_module(check_mock_exit=True)


def new_kid():
    return str(uuid.uuid4())


def cpix(content_id="song-1", version="2.3", keys=(), drms=None, rules=None, periods=(),
         cert_b64=None):
    """A request document. keys: [(kid, scheme or None)]; drms: [(kid, system, [child
    tags or (tag, playlist)])]; rules: [(kid, track type, period id or None, (min, max))];
    periods: [(id, index)]. Without drms, each key gets a common-system PSSH; without
    rules, each key an audio rule of its own (SPEKE asks for both lists)."""
    if drms is None:
        drms = [(kid, COMMON, ["PSSH"]) for kid, _ in keys]
    if rules is None:
        rules = [(kid, "AUDIO_%d" % i, None, (1, 2)) for i, (kid, _) in enumerate(keys)]
    attrs = {}
    if content_id is not None:
        attrs["contentId"] = content_id
    if version is not None:
        attrs["version"] = version
    root = ET.Element(C + "CPIX", attrs)
    if cert_b64 is not None:
        dd = ET.SubElement(ET.SubElement(root, C + "DeliveryDataList"), C + "DeliveryData",
                           {"id": "ampack-test"})
        x = ET.SubElement(ET.SubElement(dd, C + "DeliveryKey"),
                          "{http://www.w3.org/2000/09/xmldsig#}X509Data")
        ET.SubElement(x, "{http://www.w3.org/2000/09/xmldsig#}X509Certificate").text = cert_b64
    ckl = ET.SubElement(root, C + "ContentKeyList")
    for kid, scheme in keys:
        a = {"kid": kid}
        if scheme is not None:
            a["commonEncryptionScheme"] = scheme
        ET.SubElement(ckl, C + "ContentKey", a)
    dl = ET.SubElement(root, C + "DRMSystemList")
    for kid, system, children in drms:
        d = ET.SubElement(dl, C + "DRMSystem", {"kid": kid, "systemId": system})
        for ch in children:
            if isinstance(ch, tuple):
                ET.SubElement(d, C + ch[0], {"playlist": ch[1]})
            else:
                ET.SubElement(d, C + ch)
    if periods:
        pl = ET.SubElement(root, C + "ContentKeyPeriodList")
        for pid, idx in periods:
            ET.SubElement(pl, C + "ContentKeyPeriod", {"id": pid, "index": str(idx)})
    rl = ET.SubElement(root, C + "ContentKeyUsageRuleList")
    for kid, ttype, pid, chans in rules:
        r = ET.SubElement(rl, C + "ContentKeyUsageRule", {"kid": kid, "intendedTrackType": ttype})
        if pid is not None:
            ET.SubElement(r, C + "KeyPeriodFilter", {"periodId": pid})
        ET.SubElement(r, C + "AudioFilter", {"minChannels": str(chans[0]),
                                             "maxChannels": str(chans[1])})
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def post(body, headers=None, port=None):
    h = {"X-Api-Key": API_KEY, "X-Speke-Version": "2.0", "Content-Type": "application/xml",
         "X-Speke-User-Agent": "ampack-test/1"}
    for k, v in (headers or {}).items():
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    return tm.fetch("POST", PATH, body, h, port=port)


def derived(content_id, kid):
    return hmac.new(SECRET, content_id.encode() + b"\n" + uuid.UUID(kid).hex.encode(),
                    hashlib.sha256).digest()[:16]


def parse_pssh(box):
    """(version, system id str, [kids], data) of one whole 'pssh' box."""
    size = int.from_bytes(box[:4], "big")
    assert size == len(box) and box[4:8] == b"pssh", box[:8]
    version, pos = box[8], 12
    system = str(uuid.UUID(bytes=box[pos:pos + 16]))
    pos += 16
    kids = []
    if version == 1:
        n = int.from_bytes(box[pos:pos + 4], "big")
        pos += 4
        kids = [box[pos + 16 * i:pos + 16 * (i + 1)] for i in range(n)]
        pos += 16 * n
    dlen = int.from_bytes(box[pos:pos + 4], "big")
    data = box[pos + 4:pos + 4 + dlen]
    assert pos + 4 + dlen == size, "pssh data length"
    return version, system, kids, data


def protobuf_fields(data):
    """[(field number, value)] of length-delimited and varint fields."""
    out, pos = [], 0
    while pos < len(data):
        tag, pos = varint(data, pos)
        field, wt = tag >> 3, tag & 7
        if wt == 0:
            v, pos = varint(data, pos)
        elif wt == 2:
            n, pos = varint(data, pos)
            v, pos = data[pos:pos + n], pos + n
        else:
            raise AssertionError("wire type %d" % wt)
        out.append((field, v))
    return out


def varint(data, pos):
    v, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, pos


def playready_kids(pro):
    """The KIDs (16 bytes, big-endian UUID order) of a PlayReady header object."""
    assert int.from_bytes(pro[:4], "little") == len(pro)
    assert int.from_bytes(pro[4:6], "little") == 1
    assert int.from_bytes(pro[6:8], "little") == 1
    n = int.from_bytes(pro[8:10], "little")
    xml = pro[10:10 + n].decode("utf-16-le")
    assert 10 + n == len(pro)
    root = ET.fromstring(xml)
    ns = "{http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader}"
    out = []
    for k in root.iter(ns + "KID"):
        le = base64.b64decode(k.get("VALUE"))
        out.append(uuid.UUID(bytes_le=le).bytes)
    return out


def keys_of(doc):
    return {ck.get("kid"): base64.b64decode(ck.find(C + "Data/" + P + "Secret/" + P
                                                    + "PlainValue").text)
            for ck in doc.iter(C + "ContentKey")}


def drm(doc, kid, system):
    for d in doc.iter(C + "DRMSystem"):
        if d.get("kid") == kid and d.get("systemId") == system:
            return d
    raise AssertionError("no DRMSystem %s %s" % (kid, system))


def make_cert(alg):
    """(private key PEM path, base64 DER certificate) of a new self-signed certificate."""
    d = tempfile.mkdtemp(dir=W["tmp"])
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.der")
    newkey = ["-newkey", "rsa:2048"] if alg == "rsa" else \
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-subj", "/CN=ampack-test",
                    "-days", "1", "-keyout", key, "-outform", "DER", "-out", cert]
                   + newkey, check=True, capture_output=True, timeout=60)
    with open(cert, "rb") as f:
        return key, base64.b64encode(f.read()).decode()


def rsa_decrypt(parent, key_pem):
    """The RSA-OAEP EncryptedValue under parent, decrypted with the openssl command."""
    ev = parent.find(P + "EncryptedValue")
    assert ev.find(E + "EncryptionMethod").get("Algorithm") == \
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
    ct = base64.b64decode(ev.find(E + "CipherData/" + E + "CipherValue").text)
    return subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey", key_pem,
                           "-pkeyopt", "rsa_padding_mode:oaep"], input=ct,
                          check=True, capture_output=True, timeout=60).stdout


def decrypt_keys(doc, key_pem):
    """{kid: content key} of a reply encrypted for key_pem's certificate (docs/speke.md
    §6): the document and MAC keys decrypted with the private key, each key's MAC
    checked, each key AES-256-CBC decrypted with the openssl command."""
    dd = doc.find(C + "DeliveryDataList/" + C + "DeliveryData")
    doc_key = rsa_decrypt(dd.find(C + "DocumentKey/" + C + "Data/" + P + "Secret"), key_pem)
    mac_key = rsa_decrypt(dd.find(C + "MACMethod/" + C + "Key"), key_pem)
    assert (len(doc_key), len(mac_key)) == (32, 64), (len(doc_key), len(mac_key))
    got = {}
    for ck in doc.iter(C + "ContentKey"):
        secret = ck.find(C + "Data/" + P + "Secret")
        ev = secret.find(P + "EncryptedValue")
        assert ev.find(E + "EncryptionMethod").get("Algorithm") == \
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
        value = base64.b64decode(ev.find(E + "CipherData/" + E + "CipherValue").text)
        mac = base64.b64decode(secret.find(P + "ValueMAC").text)
        assert mac == hmac.new(mac_key, value, hashlib.sha512).digest(), "ValueMAC"
        got[ck.get("kid")] = subprocess.run(
            ["openssl", "enc", "-d", "-aes-256-cbc", "-K", doc_key.hex(), "-iv",
             value[:16].hex()], input=value[16:], check=True, capture_output=True,
            timeout=60).stdout
    return got


class SpekeCase(unittest.TestCase):
    """What every SPEKE test shares (also test_speke_conformance.py); holds no test."""

    def setUp(self):
        tm.fetch("POST", "/_mock/speke/reset", b"{}", {"Content-Type": "application/json"})

    def tearDown(self):
        self.assertNotIn("Traceback", W["mock"].stderr())

    def ok(self, body):
        st, h, data = post(body)
        self.assertEqual(st, 200, data)
        self.assertEqual(h["Content-Type"], "application/xml")
        self.assertEqual(h["X-Speke-Version"], "2.0")
        self.assertEqual(h["X-Speke-User-Agent"], "ampmock-speke/1.0")
        return ET.fromstring(data)

    def check_pssh(self, box, system, kid):
        version, sid, kids, data = parse_pssh(box)
        self.assertEqual(sid, system)
        raw = uuid.UUID(kid).bytes
        if system == COMMON:
            self.assertEqual((version, kids, data), (1, [raw], b""))
        elif system == WIDEVINE:
            self.assertEqual(version, 0)
            self.assertEqual([v for f, v in protobuf_fields(data) if f == 2], [raw])
        elif system == PLAYREADY:
            self.assertEqual(playready_kids(data), [raw])


class SpekeTest(SpekeCase):
    def test_vod(self):
        stereo, multi = new_kid(), new_kid()
        body = cpix("vod-1", keys=[(stereo, "cbcs"), (multi, "cbcs")],
                    drms=[(stereo, WIDEVINE, ["PSSH", "ContentProtectionData",
                                              ("HLSSignalingData", "media"),
                                              ("HLSSignalingData", "master")]),
                          (stereo, PLAYREADY, ["PSSH", "ContentProtectionData",
                                               "SmoothStreamingProtectionHeaderData"]),
                          (stereo, FAIRPLAY, [("HLSSignalingData", "media"),
                                              ("HLSSignalingData", "master")]),
                          (stereo, COMMON, ["PSSH"]),
                          (multi, WIDEVINE, ["PSSH"]), (multi, COMMON, [])],
                    rules=[(stereo, "STEREO_AUDIO", None, (1, 2)),
                           (multi, "MULTICHANNEL_AUDIO", None, (3, 8))])
        doc = self.ok(body)
        self.assertEqual(doc.get("contentId"), "vod-1")
        keys = keys_of(doc)
        self.assertEqual(set(keys), {stereo, multi})
        for kid, key in keys.items():
            self.assertEqual(len(key), 16)
            self.assertEqual(key, derived("vod-1", kid))
        self.assertNotEqual(keys[stereo], keys[multi])
        self.assertEqual(keys_of(self.ok(body)), keys)  # stable across calls
        types = [r.get("intendedTrackType") for r in doc.iter(C + "ContentKeyUsageRule")]
        self.assertEqual(types, ["STEREO_AUDIO", "MULTICHANNEL_AUDIO"])

        for kid, system in ((stereo, WIDEVINE), (stereo, PLAYREADY), (stereo, COMMON),
                            (multi, WIDEVINE), (multi, COMMON)):
            with self.subTest(kid=kid, system=system):
                d = drm(doc, kid, system)
                box = base64.b64decode(d.find(C + "PSSH").text)
                self.check_pssh(box, system, kid)
        wv = drm(doc, stereo, WIDEVINE)
        box = base64.b64decode(wv.find(C + "PSSH").text)
        cpd = base64.b64decode(wv.find(C + "ContentProtectionData").text).decode()
        frag = ET.fromstring("<r>%s</r>" % cpd)
        self.assertEqual(base64.b64decode(frag.find("{urn:mpeg:cenc:2013}pssh").text), box)
        hls = {h.get("playlist"): base64.b64decode(h.text).decode()
               for h in wv.findall(C + "HLSSignalingData")}
        self.assertTrue(hls["media"].startswith("#EXT-X-KEY:METHOD=SAMPLE-AES,"), hls)
        self.assertTrue(hls["master"].startswith("#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,"))
        self.assertIn('KEYFORMAT="urn:uuid:%s"' % WIDEVINE, hls["media"])
        self.assertIn('URI="data:text/plain;base64,%s"' % base64.b64encode(box).decode(),
                      hls["media"])
        pr = drm(doc, stereo, PLAYREADY)
        pro = base64.b64decode(pr.find(C + "SmoothStreamingProtectionHeaderData").text)
        self.assertEqual(playready_kids(pro), [uuid.UUID(stereo).bytes])
        cpd = base64.b64decode(pr.find(C + "ContentProtectionData").text).decode()
        frag = ET.fromstring("<r>%s</r>" % cpd)
        self.assertEqual(base64.b64decode(frag.find("{urn:microsoft:playready}pro").text), pro)
        fp = drm(doc, stereo, FAIRPLAY)
        media = [base64.b64decode(h.text).decode() for h in fp.findall(C + "HLSSignalingData")
                 if h.get("playlist") == "media"]
        self.assertEqual(len(media), 1)
        self.assertIn('URI="skd://%s"' % uuid.UUID(stereo).hex, media[0])
        self.assertIn('KEYFORMAT="com.apple.streamingkeydelivery"', media[0])
        # a DRMSystem that names nothing gets PSSH, ContentProtectionData and both HLS
        tags = sorted(c.tag[len(C):] + (c.get("playlist") or "")
                      for c in drm(doc, multi, COMMON))
        self.assertEqual(tags, ["ContentProtectionData", "HLSSignalingDatamaster",
                                "HLSSignalingDatamedia", "PSSH"])

        # the license module grants the same key for the KID
        token = tm.issue_token()
        kid_b64 = base64.urlsafe_b64encode(uuid.UUID(stereo).bytes).rstrip(b"=").decode()
        chal = base64.b64encode(json.dumps({"kids": [kid_b64], "type": "temporary"})
                                .encode()).decode()
        st, _, data = tm.fetch("POST", "/license/catalog",
                               json.dumps({"licenseChallenge": chal}),
                               {"Authorization": "Bearer " + token,
                                "Content-Type": "application/json",
                                "x-amz-music-asin": "B0TEST", "x-amz-music-rid": "r",
                                "Cookie": "rid=r"})
        self.assertEqual(st, 200, data)
        lic = json.loads(base64.b64decode(json.loads(data)["license"]))
        k = lic["keys"][0]["k"]
        self.assertEqual(base64.urlsafe_b64decode(k + "=" * (-len(k) % 4)), keys[stereo])

    def test_live_two_periods(self):
        k1, k2 = new_kid(), new_kid()
        body = cpix("live-1", keys=[(k1, "cenc"), (k2, "cenc")],
                    drms=[(k1, WIDEVINE, ["PSSH"]), (k1, COMMON, ["PSSH"]),
                          (k2, WIDEVINE, ["PSSH"]), (k2, COMMON, ["PSSH"])],
                    periods=[("keyPeriod_1", 1), ("keyPeriod_2", 2)],
                    rules=[(k1, "AUDIO", "keyPeriod_1", (1, 2)),
                           (k2, "AUDIO", "keyPeriod_2", (1, 2))])
        doc = self.ok(body)
        keys = keys_of(doc)
        self.assertEqual([len(keys[k1]), len(keys[k2])], [16, 16])
        self.assertNotEqual(keys[k1], keys[k2])
        self.assertEqual(keys_of(self.ok(body)), keys)
        periods = [(p.get("id"), p.get("index")) for p in doc.iter(C + "ContentKeyPeriod")]
        self.assertEqual(periods, [("keyPeriod_1", "1"), ("keyPeriod_2", "2")])
        for kid in (k1, k2):
            for system in (WIDEVINE, COMMON):
                with self.subTest(kid=kid, system=system):
                    box = base64.b64decode(drm(doc, kid, system).find(C + "PSSH").text)
                    self.check_pssh(box, system, kid)
        hls_cenc = cpix("live-1", keys=[(k1, "cenc")],
                        drms=[(k1, WIDEVINE, [("HLSSignalingData", "media")])])
        d = drm(self.ok(hls_cenc), k1, WIDEVINE)
        line = base64.b64decode(d.find(C + "HLSSignalingData").text).decode()
        self.assertTrue(line.startswith("#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,"), line)

    def test_catalog_kid_gets_the_catalog_key(self):
        kid = str(uuid.UUID(CATALOG_KID))
        doc = self.ok(cpix("cat-1", keys=[(kid, "cbcs")]))
        self.assertEqual(keys_of(doc)[kid], bytes.fromhex(CATALOG_KEY))

    def test_content_key_encryption(self):
        key_pem, cert = make_cert("rsa")
        k1, k2 = new_kid(), new_kid()
        doc = self.ok(cpix("enc-1", keys=[(k1, "cbcs"), (k2, "cbcs")], cert_b64=cert))
        self.assertIsNone(doc.find(".//" + P + "PlainValue"))

        got = decrypt_keys(doc, key_pem)
        self.assertEqual(got, {k1: derived("enc-1", k1), k2: derived("enc-1", k2)})
        self.assertEqual(got, keys_of(self.ok(cpix("enc-1", keys=[(k1, "cbcs"),
                                                                  (k2, "cbcs")]))))
        _, ec_cert = make_cert("ec")
        st, _, data = post(cpix("enc-1", keys=[(k1, "cbcs")], cert_b64=ec_cert))
        self.assertEqual((st, data), (422, b"DeliveryKey must be a 2048-bit RSA certificate\n"))

    def test_content_key_encryption_without_openssl(self):
        _, cert = make_cert("rsa")
        mock = tm.Mock("--speke-openssl", os.path.join(W["tmp"], "no-such-openssl"))
        try:
            st, _, data = post(cpix("enc-2", keys=[(new_kid(), "cbcs")], cert_b64=cert),
                               port=mock.port)
            self.assertEqual((st, data), (422, b"content key encryption not supported\n"))
            st, _, _ = post(cpix("enc-2", keys=[(new_kid(), "cbcs")]), port=mock.port)
            self.assertEqual(st, 200)  # plain keys still served
        finally:
            self.assertEqual(mock.stop(), 0)

    def test_errors(self):
        kid = new_kid()
        other = new_kid()
        self.ok(cpix("owner-a", keys=[(other, "cenc")]))
        cases = [
            ("no contentId", cpix(None, keys=[(kid, "cenc")]), {},
             422, "Missing CPIX@contentId"),
            ("no CPIX version", cpix(version=None, keys=[(kid, "cenc")]), {},
             422, "Missing CPIX@version"),
            ("CPIX 2.4", cpix(version="2.4", keys=[(kid, "cenc")]), {},
             422, "Unsupported CPIX@version"),
            ("no scheme", cpix(keys=[(kid, None)]), {},
             422, "Missing ContentKey@commonEncryptionScheme for KID %s" % kid),
            ("mixed schemes", cpix(keys=[(kid, "cenc"), (new_kid(), "cbcs")]), {},
             422, "Non compliant ContentKey@commonEncryptionScheme combination"),
            ("unknown scheme", cpix(keys=[(kid, "abcd")]), {},
             422, "Non compliant ContentKey@commonEncryptionScheme combination"),
            ("no SPEKE version", cpix(keys=[(kid, "cenc")]), {"X-Speke-Version": None},
             422, "Unsupported SPEKE version"),
            ("SPEKE 1.0", cpix(keys=[(kid, "cenc")]), {"X-Speke-Version": "1.0"},
             422, "Unsupported SPEKE version"),
            ("no api key", cpix(keys=[(kid, "cenc")]), {"X-Api-Key": None}, 403, "Forbidden"),
            ("wrong api key", cpix(keys=[(kid, "cenc")]), {"X-Api-Key": "nope"},
             403, "Forbidden"),
            ("unknown DRM system", cpix(keys=[(kid, "cenc")], drms=[(kid, str(uuid.UUID(
                int=1)), ["PSSH"])]), {}, 422,
             "Unsupported DRMSystem@systemId %s" % uuid.UUID(int=1)),
            ("KID of another contentId", cpix("owner-b", keys=[(other, "cenc")]), {},
             422, "KID %s belongs to another contentId" % other),
            ("rule for no key", cpix(keys=[(kid, "cenc")], rules=[(other, "AUDIO", None,
                                                                   (1, 2))]), {},
             422, "ContentKeyUsageRule@kid %s is not a ContentKey" % other),
            ("unknown period", cpix(keys=[(kid, "cenc")], periods=[("p1", 1)],
                                    rules=[(kid, "AUDIO", "p9", (1, 2))]), {},
             422, "KeyPeriodFilter@periodId p9 is not a ContentKeyPeriod"),
            ("bad KID", cpix(keys=[("not-a-uuid", "cenc")]), {}, 422, "Invalid ContentKey@kid"),
            ("KID twice", cpix(keys=[(kid, "cenc"), (kid, "cenc")]), {}, 422,
             "Duplicate ContentKey@kid %s" % kid),
            ("no keys", cpix(keys=[]), {}, 422, "Missing ContentKeyList"),
            ("not CPIX", b'<?xml version="1.0"?><CPIX contentId="a" version="2.3"/>', {},
             422, "Not a CPIX document"),
            ("FairPlay with cenc", cpix(keys=[(kid, "cenc")], drms=[(kid, FAIRPLAY, [])]), {},
             422, "FairPlay needs commonEncryptionScheme cbcs"),
            ("Smooth for Widevine", cpix(keys=[(kid, "cenc")], drms=[(
                kid, WIDEVINE, ["SmoothStreamingProtectionHeaderData"])]), {},
             422, "SmoothStreamingProtectionHeaderData is PlayReady only"),
            ("HLS without playlist", cpix(keys=[(kid, "cenc")], drms=[(
                kid, WIDEVINE, ["HLSSignalingData"])]), {},
             422, "HLSSignalingData@playlist must be media or master"),
            ("DRM system for no key", cpix(keys=[(kid, "cenc")], drms=[(other, WIDEVINE, [])]),
             {}, 422, "DRMSystem@kid %s is not a ContentKey" % other),
            ("channels reversed", cpix(keys=[(kid, "cenc")], rules=[(kid, "AUDIO", None,
                                                                     (6, 2))]), {},
             422, "AudioFilter@minChannels above maxChannels"),
            ("period without rule", cpix(keys=[(kid, "cenc"), (new_kid(), "cenc")],
                                         periods=[("p1", 1)],
                                         rules=[(kid, "AUDIO", "p1", (1, 2))]), {},
             422, "Every ContentKey needs a ContentKeyUsageRule"),
            ("not XML", b"<cpix:CPIX", {}, 400, None),
            ("UTF-16", cpix(keys=[(kid, "cenc")]).decode().encode("utf-16"), {}, 400,
             "body is not UTF-8 XML"),
            ("XML type", cpix(keys=[(kid, "cenc")]), {"Content-Type": "text/plain"},
             415, None),
            ("DOCTYPE", b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', {},
             400, None),
            ("too large", b" " * (1024 * 1024 + 1), {}, 413, None),
        ]
        for name, body, headers, status, message in cases:
            with self.subTest(name):
                st, h, data = post(body, headers)
                self.assertEqual(st, status, data)
                if message is not None:
                    self.assertEqual(data.decode(), message + "\n")
                self.assertEqual(h["X-Speke-User-Agent"], "ampmock-speke/1.0")
        # the refusals issued nothing for kid: another contentId may still have it
        self.assertEqual(keys_of(self.ok(cpix("owner-b", keys=[(kid, "cenc")])))[kid],
                         derived("owner-b", kid))


SIGV4_ID = "AKIDAMPMOCKSPEKETEST"
SIGV4_SECRET = "ampmock-speke-sigv4-secret"
SIGV4_REGION = "us-east-1"


class SpekeSigV4Test(unittest.TestCase):
    """The second auth mode, --speke-sigv4 ID:SECRET (docs/speke.md §8): every request
    signed with AWS SigV4 for execute-api. The requests are signed here by two signers
    that are not the mock's: botocore's SigV4Auth and aws-requests-auth (the one the SPEKE
    verification suite signs with); a missing package is an error, not a skip."""

    @classmethod
    def setUpClass(cls):
        import botocore.auth  # noqa: F401  (python3-botocore, scripts/deps.sh)
        import botocore.awsrequest  # noqa: F401
        import botocore.credentials  # noqa: F401
        import requests  # noqa: F401  (python3-requests)
        from aws_requests_auth.aws_auth import AWSRequestsAuth  # noqa: F401
        cls.mock = tm.Mock("--speke-sigv4", "%s:%s" % (SIGV4_ID, SIGV4_SECRET))

    @classmethod
    def tearDownClass(cls):
        assert cls.mock.stop() == 0, "mock exit status"

    def tearDown(self):
        self.assertNotIn("Traceback", self.mock.stderr())

    def url(self):
        return "https://localhost:%d%s" % (self.mock.port, PATH)

    def botocore_headers(self, body, secret=SIGV4_SECRET, when=None):
        """The headers botocore's SigV4Auth signs body with (at when, a naive UTC
        datetime; default now)."""
        import types
        from unittest import mock as um
        import botocore.auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        req = AWSRequest(method="POST", url=self.url(), data=body,
                         headers={"X-Speke-Version": "2.0", "Content-Type": "application/xml",
                                  "X-Speke-User-Agent": "ampack-test/1"})
        signer = botocore.auth.SigV4Auth(Credentials(SIGV4_ID, secret), "execute-api",
                                         SIGV4_REGION)
        if when is None:
            signer.add_auth(req)
        else:  # botocore reads the time as datetime.datetime.utcnow() of its module
            clock = types.SimpleNamespace(datetime=types.SimpleNamespace(utcnow=lambda: when))
            with um.patch.object(botocore.auth, "datetime", clock):
                signer.add_auth(req)
        return dict(req.headers.items())

    def requests_auth_headers(self, body):
        """The headers aws-requests-auth adds, as the verification suite uses it."""
        import requests
        from aws_requests_auth.aws_auth import AWSRequestsAuth
        prep = requests.Request("POST", self.url(), data=body,
                                headers={"x-speke-version": "2.0",
                                         "Content-type": "application/xml"}).prepare()
        AWSRequestsAuth(aws_access_key=SIGV4_ID, aws_secret_access_key=SIGV4_SECRET,
                        aws_host="localhost:%d" % self.mock.port, aws_region=SIGV4_REGION,
                        aws_service="execute-api")(prep)
        return dict(prep.headers.items())

    def send(self, body, headers):
        return tm.fetch("POST", PATH, body, headers, port=self.mock.port)

    def body(self):
        return cpix("sigv4-1", keys=[(new_kid(), "cenc")])

    def assert_granted(self, st, data):
        self.assertEqual(st, 200, data)
        self.assertEqual(len(list(keys_of(ET.fromstring(data)).values())[0]), 16)

    def assert_forbidden(self, st, h, data):
        self.assertEqual((st, data), (403, b"Forbidden\n"))
        self.assertEqual(h["X-Speke-User-Agent"], "ampmock-speke/1.0")

    def test_signed_by_botocore_is_granted(self):
        body = self.body()
        st, _, data = self.send(body, self.botocore_headers(body))
        self.assert_granted(st, data)

    def test_signed_by_aws_requests_auth_is_granted(self):
        body = self.body()
        st, _, data = self.send(body, self.requests_auth_headers(body))
        self.assert_granted(st, data)

    def test_wrong_secret(self):
        body = self.body()
        self.assert_forbidden(*self.send(body, self.botocore_headers(body, "not-the-secret")))

    def test_tampered_body(self):
        body = self.body()
        tampered = body.replace(b'contentId="sigv4-1"', b'contentId="sigv4-2"')
        self.assertNotEqual(tampered, body)
        # aws-requests-auth also sends the body's hash (X-Amz-Content-Sha256): the mock
        # hashes the body it got instead of believing that header
        for name, headers in (("botocore", self.botocore_headers(body)),
                              ("aws-requests-auth", self.requests_auth_headers(body))):
            with self.subTest(name):
                self.assert_forbidden(*self.send(tampered, headers))

    def test_stale_date(self):
        import datetime
        body = self.body()
        old = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - \
            datetime.timedelta(minutes=20)
        headers = self.botocore_headers(body, when=old)
        self.assertTrue(headers["X-Amz-Date"].startswith(old.strftime("%Y%m%dT%H")))
        self.assert_forbidden(*self.send(body, headers))

    def test_missing_or_garbled_headers(self):
        body = self.body()
        good = self.botocore_headers(body)
        auth = good["Authorization"]
        cases = [
            ("no Authorization", {"Authorization": None}),
            ("no X-Amz-Date", {"X-Amz-Date": None}),
            ("garbled X-Amz-Date", {"X-Amz-Date": "yesterday"}),
            ("garbled Authorization", {"Authorization": auth.replace("Credential=", "Cred=")}),
            ("other access key id", {"Authorization": auth.replace(SIGV4_ID, "AKIDOTHER")}),
            ("host not signed", {"Authorization": auth.replace("host;", "")}),
            ("signature flipped", {"Authorization": auth[:-1] + ("0" if auth[-1] != "0"
                                                                  else "1")}),
            ("the API key instead", {"Authorization": None, "X-Amz-Date": None,
                                     "X-Api-Key": API_KEY}),
        ]
        issued = self.issued()
        for name, change in cases:
            with self.subTest(name):
                h = dict(good)
                for k, v in change.items():
                    if v is None:
                        h.pop(k, None)
                    else:
                        h[k] = v
                self.assert_forbidden(*self.send(body, h))
        # the refusals were made before the body was read: nothing was issued
        self.assertEqual(self.issued(), issued)

    def issued(self):
        _, _, data = tm.fetch("GET", "/_mock/speke", port=self.mock.port)
        return json.loads(data)["issued"]


if __name__ == "__main__":
    unittest.main(argv=sys.argv, verbosity=2)
