#!/usr/bin/env python3
"""SPEKE v2.0 conformance of the mock's key provider (tools/mock/ampmock/modules/speke.py),
over TLS with the test CA, case for case against the SPEKE v2 verification test suite that
AWS publishes with its SPEKE reference server (docs/speke.md §10 names it, lists its cases
and this file's test for each). Python standard library plus the openssl command.

usage: test_speke_conformance.py [unittest options]

That suite cannot run here (it needs pip packages, AWS request signing and the network),
so this file asks what it asks with request documents of its own, built in the shape the
suite's generator gives them: per test case a set of keys with their intendedTrackType,
per DRM system combination one DRMSystem per key asking for PSSH, ContentProtectionData
(not for FairPlay) and both HLS playlists, a VideoFilter or AudioFilter per rule, and in
the live form one ContentKeyPeriod that every rule names in a KeyPeriodFilter. Every test
method names in its docstring the case(s) of that suite it mirrors.

Where that suite only checks that an element is there, this file reads it: every PSSH box
is parsed (box type, version, system ID, KIDs, the system data), the ContentProtectionData
fragments and HLS lines are taken apart, and the keys are checked for length and value.
"""

import base64
import io
import re
import sys
import unittest
import uuid
import xml.etree.ElementTree as ET

import test_mock_speke as ms  # the SPEKE helpers: post(), parse_pssh(), SpekeCase, ...

C, P = ms.C, ms.P
WIDEVINE, PLAYREADY, FAIRPLAY = ms.WIDEVINE, ms.PLAYREADY, ms.FAIRPLAY
CENC_NS = "{urn:mpeg:cenc:2013}"
MSPR_NS = "{urn:microsoft:playready}"
PR_NS = "{http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader}"

# The suite's DRM system combinations (its request files 1..7 per test case).
COMBOS = {
    "widevine": (WIDEVINE,),
    "playready": (PLAYREADY,),
    "fairplay": (FAIRPLAY,),
    "widevine_playready": (WIDEVINE, PLAYREADY),
    "widevine_fairplay": (WIDEVINE, FAIRPLAY),
    "playready_fairplay": (PLAYREADY, FAIRPLAY),
    "widevine_playready_fairplay": (WIDEVINE, PLAYREADY, FAIRPLAY),
}

# The suite's test cases: the intendedTrackType of each key (the MediaConvert / MediaPackage
# SPEKE v2 presets: PRESET_VIDEO_n with PRESET_AUDIO_m).
CASES = {
    1: ("VIDEO", "AUDIO"),
    2: ("SD", "HD", "UHD", "STEREO_AUDIO", "MULTICHANNEL_AUDIO"),
    3: ("SD", "HD1", "HD2", "UHD1", "UHD2", "STEREO_AUDIO", "MULTICHANNEL_AUDIO_3_6",
        "MULTICHANNEL_AUDIO_7"),
    4: ("SD+HD1", "HD2", "UHD1", "UHD2", "STEREO_AUDIO", "MULTICHANNEL_AUDIO"),
    5: ("SD", "HD"),                            # PRESET_VIDEO_2, audio UNENCRYPTED
    6: ("STEREO_AUDIO", "MULTICHANNEL_AUDIO"),  # video UNENCRYPTED, PRESET_AUDIO_2
}

# The filter of each track type (pixel counts and channel counts of the presets).
FILTERS = {
    "SD": ("VideoFilter", {"maxPixels": "589824"}),
    "HD": ("VideoFilter", {"minPixels": "589825"}),
    "HD1": ("VideoFilter", {"minPixels": "589825", "maxPixels": "921600"}),
    "HD2": ("VideoFilter", {"minPixels": "921601", "maxPixels": "2073600"}),
    "SD+HD1": ("VideoFilter", {"maxPixels": "921600"}),
    "UHD": ("VideoFilter", {"minPixels": "2073601"}),
    "UHD1": ("VideoFilter", {"minPixels": "2073601", "maxPixels": "8847360"}),
    "UHD2": ("VideoFilter", {"minPixels": "8847361"}),
    "STEREO_AUDIO": ("AudioFilter", {"maxChannels": "2"}),
    "MULTICHANNEL_AUDIO": ("AudioFilter", {"minChannels": "3"}),
    "MULTICHANNEL_AUDIO_3_6": ("AudioFilter", {"minChannels": "3", "maxChannels": "6"}),
    "MULTICHANNEL_AUDIO_7": ("AudioFilter", {"minChannels": "7"}),
    "VIDEO": ("VideoFilter", {}),
    "AUDIO": ("AudioFilter", {}),
}


def setUpModule():
    ms.setUpModule()


def tearDownModule():
    ms.tearDownModule()


def request(tracks, systems, live=True, scheme=None, content_id=None):
    """A CPIX 2.3 request in the suite's shape: one ContentKey per track type, one
    DRMSystem per (system, key), one rule per key. Returns (document bytes, [kids]).
    scheme: cbcs when FairPlay is among the systems, else cenc (as the suite picks it).
    An ALL rule holds an attribute-less VideoFilter and AudioFilter."""
    if scheme is None:
        scheme = "cbcs" if FAIRPLAY in systems else "cenc"
    kids = [str(uuid.uuid4()) for _ in tracks]
    root = ET.Element(C + "CPIX", {"contentId": content_id or "conf-" + str(uuid.uuid4()),
                                   "version": "2.3"})
    ckl = ET.SubElement(root, C + "ContentKeyList")
    for kid in kids:
        ET.SubElement(ckl, C + "ContentKey", {"kid": kid, "commonEncryptionScheme": scheme})
    dl = ET.SubElement(root, C + "DRMSystemList")
    for system in systems:
        for kid in kids:
            d = ET.SubElement(dl, C + "DRMSystem", {"kid": kid, "systemId": system})
            ET.SubElement(d, C + "PSSH")  # also for FairPlay: the suite asks it there too
            if system != FAIRPLAY:
                ET.SubElement(d, C + "ContentProtectionData")
            for playlist in ("media", "master"):
                ET.SubElement(d, C + "HLSSignalingData", {"playlist": playlist})
    period = "keyPeriod_" + str(uuid.uuid4())
    if live:
        pl = ET.SubElement(root, C + "ContentKeyPeriodList")
        ET.SubElement(pl, C + "ContentKeyPeriod", {"id": period, "index": "0"})
    rl = ET.SubElement(root, C + "ContentKeyUsageRuleList")
    for kid, track in zip(kids, tracks):
        r = ET.SubElement(rl, C + "ContentKeyUsageRule", {"kid": kid,
                                                          "intendedTrackType": track})
        if live:
            ET.SubElement(r, C + "KeyPeriodFilter", {"periodId": period})
        if track == "ALL":
            ET.SubElement(r, C + "VideoFilter")
            ET.SubElement(r, C + "AudioFilter")
        else:
            tag, attrs = FILTERS[track]
            ET.SubElement(r, C + tag, attrs)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True), kids


def edit(body, fn):
    """body with fn(root) applied."""
    root = ET.fromstring(body)
    fn(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def remove_all(tag, kids=None):
    """An edit that removes every element tag (with kids: only those with such a kid)."""
    def fn(root):
        for parent in list(root.iter()):
            for child in parent.findall(C + tag):
                if kids is None or child.get("kid") in kids:
                    parent.remove(child)
    return fn


def hls_attrs(line, tag):
    """The attribute list of one HLS tag line (RFC 8216 §4.2) as a dict; quoted values
    keep their quotes, so that a test can tell a quoted-string from an enumerated one."""
    assert line.endswith("\n") and line.count("\n") == 1, repr(line)
    head, sep, rest = line[:-1].partition(":")
    assert (head, sep) == (tag, ":"), line
    out = {}
    pos = 0
    pat = re.compile(r'([A-Z0-9-]+)=("[^"\r\n]*"|[^",\s]+)(,|$)')
    while pos < len(rest):
        m = pat.match(rest, pos)
        assert m, "HLS attribute list at %r" % rest[pos:]
        assert m.group(1) not in out, "attribute %s twice" % m.group(1)
        out[m.group(1)] = m.group(2)
        pos = m.end()
    return out


class ConformanceTest(ms.SpekeCase):

    # --- what every reply is checked for -------------------------------------------

    def check_reply(self, body, kids, tracks, systems, scheme, live):
        """The suite's validate_* assertions on one reply, plus the signalling read down
        to its bytes. Returns {kid: key}."""
        doc = self.ok(body)  # 200, Content-Type, X-Speke-Version 2.0, X-Speke-User-Agent
        req = ET.fromstring(body)
        # root: CPIX, contentId and version 2.3 kept, no deprecated CPIX@id
        self.assertEqual(doc.tag, C + "CPIX")
        self.assertEqual(doc.get("contentId"), req.get("contentId"))
        self.assertEqual(doc.get("version"), "2.3")
        self.assertNotIn("id", doc.attrib)
        # exactly one of each mandatory list
        names = [c.tag for c in doc]
        for tag in ("ContentKeyList", "DRMSystemList", "ContentKeyUsageRuleList"):
            self.assertEqual(names.count(C + tag), 1, tag)
        self.assertEqual(names.count(C + "ContentKeyPeriodList"), 1 if live else 0)

        # ContentKeyList: the request's keys, in order, each with one 16-byte key
        cks = doc.findall(C + "ContentKeyList/" + C + "ContentKey")
        self.assertEqual([ck.get("kid") for ck in cks], kids)
        keys = {}
        for ck in cks:
            self.assertEqual(ck.get("commonEncryptionScheme"), scheme)
            self.assertEqual(len(ck.findall(C + "Data")), 1)
            self.assertEqual(len(ck.findall(C + "Data/" + P + "Secret")), 1)
            pv = ck.find(C + "Data/" + P + "Secret/" + P + "PlainValue")
            key = base64.b64decode(pv.text, validate=True)
            self.assertEqual(len(key), 16)
            keys[ck.get("kid")] = key
        self.assertEqual(len(set(keys.values())), len(kids), "one key per KID")
        for kid, key in keys.items():
            self.assertEqual(key, ms.derived(doc.get("contentId"), kid))

        # DRMSystemList: one per (system, key), system IDs and KIDs unchanged
        ds = doc.findall(C + "DRMSystemList/" + C + "DRMSystem")
        self.assertEqual(sorted((d.get("systemId"), d.get("kid")) for d in ds),
                         sorted((s, k) for s in systems for k in kids))
        for d in ds:
            with self.subTest(system=d.get("systemId"), kid=d.get("kid")):
                self.check_drm(d, d.get("systemId"), d.get("kid"), scheme)

        # ContentKeyUsageRuleList: the request's rules unchanged, filters kept
        rules = doc.findall(C + "ContentKeyUsageRuleList/" + C + "ContentKeyUsageRule")
        self.assertEqual([(r.get("kid"), r.get("intendedTrackType")) for r in rules],
                         list(zip(kids, tracks)))
        want = [[(c.tag, dict(c.attrib)) for c in r]
                for r in req.iter(C + "ContentKeyUsageRule")]
        self.assertEqual([[(c.tag, dict(c.attrib)) for c in r] for r in rules], want)
        if live:
            pid = req.find(C + "ContentKeyPeriodList/" + C + "ContentKeyPeriod").get("id")
            self.assertEqual([(p.get("id"), p.get("index")) for p in
                              doc.iter(C + "ContentKeyPeriod")], [(pid, "0")])
        return keys

    def check_drm(self, d, system, kid, scheme):
        raw = uuid.UUID(kid).bytes
        tags = [c.tag[len(C):] for c in d]
        self.assertNotIn("SmoothStreamingProtectionHeaderData", tags)  # not asked for
        hls = {}
        for h in d.findall(C + "HLSSignalingData"):
            self.assertNotIn(h.get("playlist"), hls)
            hls[h.get("playlist")] = base64.b64decode(h.text, validate=True).decode()
        self.assertEqual(sorted(hls), ["master", "media"])
        media = hls_attrs(hls["media"], "#EXT-X-KEY")
        master = hls_attrs(hls["master"], "#EXT-X-SESSION-KEY")
        # RFC 8216 §4.3.4.5: a session key's METHOD, KEYFORMAT and KEYFORMATVERSIONS
        # match the EXT-X-KEY of the same URI; METHOD is not NONE
        for attr in ("METHOD", "KEYFORMAT", "KEYFORMATVERSIONS", "URI", "KEYID"):
            self.assertEqual(media.get(attr), master.get(attr), attr)
        self.assertEqual(media["METHOD"], "SAMPLE-AES" if scheme == "cbcs"
                         else "SAMPLE-AES-CTR")
        self.assertEqual(media["KEYID"], "0x" + raw.hex())
        self.assertEqual(media["KEYFORMATVERSIONS"], '"1"')

        if system == FAIRPLAY:
            self.assertEqual(tags.count("PSSH") + tags.count("ContentProtectionData"), 0)
            self.assertEqual(media["KEYFORMAT"], '"com.apple.streamingkeydelivery"')
            self.assertEqual(media["URI"], '"skd://%s"' % raw.hex())
            return

        self.assertEqual((tags.count("PSSH"), tags.count("ContentProtectionData")), (1, 1))
        pssh_text = d.find(C + "PSSH").text
        box = base64.b64decode(pssh_text, validate=True)
        version, sid, box_kids, data = ms.parse_pssh(box)  # also checks size and 'pssh'
        self.assertEqual(sid, system)
        self.assertEqual((version, box_kids), (0, []))
        cpd = base64.b64decode(d.find(C + "ContentProtectionData").text,
                               validate=True).decode()
        frag = ET.fromstring("<r>%s</r>" % cpd)
        self.assertEqual(frag.find(CENC_NS + "pssh").text, pssh_text)
        self.assertEqual(media["URI"], '"data:text/plain;base64,%s"' % pssh_text)
        if system == WIDEVINE:
            fields = ms.protobuf_fields(data)
            self.assertEqual([v for f, v in fields if f == 2], [raw])
            self.assertEqual([v for f, v in fields if f == 9],
                             [int.from_bytes(scheme.encode(), "big")])
            self.assertEqual([c.tag for c in frag], [CENC_NS + "pssh"])
            self.assertEqual(media["KEYFORMAT"], '"urn:uuid:%s"' % WIDEVINE)
        else:
            self.assertEqual(ms.playready_kids(data), [raw])
            hdr = ET.fromstring(data[10:].decode("utf-16-le"))
            self.assertEqual((hdr.tag, hdr.get("version")), (PR_NS + "WRMHEADER", "4.3.0.0"))
            algs = [k.get("ALGID") for k in hdr.iter(PR_NS + "KID")]
            self.assertEqual(algs, ["AESCBC" if scheme in ("cbcs", "cbc1") else "AESCTR"])
            self.assertEqual([c.tag for c in frag], [MSPR_NS + "pro", CENC_NS + "pssh"])
            self.assertEqual(base64.b64decode(frag.find(MSPR_NS + "pro").text), data)
            self.assertEqual(media["KEYFORMAT"], '"com.microsoft.playready"')

    def refused(self, body, status, message, headers=None):
        st, h, data = ms.post(body, headers)
        self.assertEqual((st, data.decode(errors="replace")), (status, message + "\n"))
        self.assertEqual(h["X-Speke-Version"], "2.0")
        self.assertEqual(h["X-Speke-User-Agent"], "ampmock-speke/1.0")

    def run_case(self, n):
        for live in (True, False):
            for combo, systems in COMBOS.items():
                with self.subTest(case="test_case_%d_%s" % (n, combo), live=live):
                    body, kids = request(CASES[n], systems, live)
                    scheme = "cbcs" if FAIRPLAY in systems else "cenc"
                    self.check_reply(body, kids, CASES[n], systems, scheme, live)

    # --- test_basic_checks.py --------------------------------------------------------

    def test_basic_checks(self):
        """test_status_code, test_speke_v2_headers, test_speke_v2_elements_have_not_changed:
        the suite's generic request (two Widevine keys, VIDEO and AUDIO, attribute-less
        filters, no key period) is answered 200 with the SPEKE v2 headers and nothing
        of the request is dropped or changed."""
        body, kids = request(("VIDEO", "AUDIO"), (WIDEVINE,), live=False)
        keys = self.check_reply(body, kids, ("VIDEO", "AUDIO"), (WIDEVINE,), "cenc", False)
        self.assertEqual(len(keys), 2)
        # the charset, where a Content-Type names one, is UTF-8
        st, h, _ = ms.post(body)
        ctype = h["Content-Type"].lower()
        self.assertEqual(st, 200)
        self.assertTrue(ctype.startswith("application/xml"))
        self.assertTrue("charset" not in ctype or "charset=utf-8" in ctype, ctype)

    def test_same_request_twice(self):
        """test_sending_same_request_sent_twice_to_keyserver_without_key_rotation: the
        same document asked twice gets the same keys."""
        body, kids = request(("VIDEO", "AUDIO"), (WIDEVINE,), live=False)
        first = ms.keys_of(self.ok(body))
        self.assertEqual(sorted(first), sorted(kids))
        self.assertEqual(ms.keys_of(self.ok(body)), first)
        # that suite finds the keys by the literal text "<pskc:PlainValue>", not by
        # namespace: the reply uses that prefix
        _, _, data = ms.post(body)
        self.assertEqual(data.count(b"<pskc:PlainValue>"), 2)

    def test_speke_v1_style_request(self):
        """test_speke_v1_style_request_with_proper_response_received: one key for every
        track (intendedTrackType ALL, an attribute-less VideoFilter and AudioFilter, one
        key period) is a valid SPEKE v2 request."""
        for live in (True, False):
            with self.subTest(live=live):
                body, kids = request(("ALL",), (WIDEVINE,), live)
                self.check_reply(body, kids, ("ALL",), (WIDEVINE,), "cenc", live)

    # --- test_check_mandatory_elements.py ----------------------------------------------

    def test_mandatory_elements(self):
        """test_cpix_root_in_response, test_cpix_content_key_list_in_response,
        test_drm_system_list_in_response, test_content_key_usage_rule_list_in_response:
        the reply declares the cpix and pskc namespaces, its root is a CPIX 2.3 with
        contentId and without id, it holds each mandatory list once, each with at least
        one child, and each ContentKey one Data/Secret with its value."""
        body, kids = request(("VIDEO", "AUDIO"), (WIDEVINE,), live=True)
        st, _, data = ms.post(body)
        self.assertEqual(st, 200, data)
        declared = {uri for _, (_, uri) in ET.iterparse(io.BytesIO(data),
                                                        events=["start-ns"])}
        self.assertTrue({"urn:dashif:org:cpix", "urn:ietf:params:xml:ns:keyprov:pskc"}
                        <= declared, declared)
        self.check_reply(body, kids, ("VIDEO", "AUDIO"), (WIDEVINE,), "cenc", True)

    # --- test_case_1..4 (presets, seven DRM system combinations) ----------------------

    def test_case_1(self):
        """test_case_1_widevine, test_case_1_playready, test_case_1_fairplay,
        test_case_1_widevine_playready, test_case_1_widevine_fairplay,
        test_case_1_playready_fairplay, test_case_1_widevine_playready_fairplay
        (PRESET_VIDEO_1 + PRESET_AUDIO_1: two keys), live and VOD; also the older partner
        suite's test_dash_widevine_no_rotation, test_dash_playready_no_rotation,
        test_dash_widevine_playready_no_rotation (no SmoothStreamingProtectionHeaderData
        unless asked)."""
        self.run_case(1)

    def test_case_2(self):
        """test_case_2_widevine ... test_case_2_widevine_playready_fairplay (the same
        seven combinations; PRESET_VIDEO_3 + PRESET_AUDIO_2: five keys), live and VOD."""
        self.run_case(2)

    def test_case_3(self):
        """test_case_3_widevine ... test_case_3_widevine_playready_fairplay
        (PRESET_VIDEO_5 + PRESET_AUDIO_3: eight keys), live and VOD."""
        self.run_case(3)

    def test_case_4(self):
        """test_case_4_widevine ... test_case_4_widevine_playready_fairplay
        (PRESET_VIDEO_8 + PRESET_AUDIO_2: six keys, one of them SD+HD1), live and VOD."""
        self.run_case(4)

    def test_case_5_and_6_presets(self):
        """test_case_6_widevine ... test_case_6_widevine_playready_fairplay of
        test_case_6_preset_video_unencrypted_a_2.py (two audio keys, no video key: every
        rule of the reply an audio rule), and the same seven for the suite's
        test_case_5_p_v_2_a_unencrypted requests (two video keys, no audio key), live
        and VOD."""
        for n, other in ((5, "AudioFilter"), (6, "VideoFilter")):
            self.run_case(n)
            body, _ = request(CASES[n], (WIDEVINE,), live=False)
            doc = self.ok(body)
            self.assertEqual(len(list(doc.iter(C + "ContentKeyUsageRule"))), 2)
            self.assertEqual(list(doc.iter(C + other)), [])

    # --- test_case_5_and_6_preset_2_unencrypted.py ------------------------------------

    def test_case_5_and_6_unencrypted(self):
        """test_case_5_widevine_preset_video_2_audio_unencrypted,
        test_case_5_widevine_playready_preset_video_2_audio_unencrypted,
        test_case_5_widevine_playready_fairplay_preset_video_2_audio_unencrypted,
        test_case_6_widevine_video_unencrypted_preset_audio_2,
        test_case_6_widevine_playready_video_unencrypted_preset_audio_2,
        test_case_6_widevine_playready_fairplay_video_unencrypted_preset_audio_2:
        a four-key request (SD, HD, STEREO_AUDIO, MULTICHANNEL_AUDIO) with the audio
        (case 5) or the video (case 6) keys taken out of all three lists is answered for
        the two keys left, and the reply names none of the keys taken out."""
        tracks = ("SD", "HD", "STEREO_AUDIO", "MULTICHANNEL_AUDIO")
        for combo in ("widevine", "widevine_playready", "widevine_playready_fairplay"):
            systems = COMBOS[combo]
            for case, keep in ((5, (0, 1)), (6, (2, 3))):
                with self.subTest(case=case, combo=combo):
                    body, kids = request(tracks, systems, live=True)
                    gone = [k for i, k in enumerate(kids) if i not in keep]
                    for tag in ("ContentKey", "DRMSystem", "ContentKeyUsageRule"):
                        body = edit(body, remove_all(tag, gone))
                    left = [kids[i] for i in keep]
                    scheme = "cbcs" if FAIRPLAY in systems else "cenc"
                    self.check_reply(body, left, tuple(tracks[i] for i in keep), systems,
                                     scheme, True)
                    _, _, data = ms.post(body)
                    for kid in gone:
                        self.assertNotIn(kid.encode(), data)

    # --- test_drm_system_specific_system_id_elements.py -------------------------------

    def test_widevine_pssh_cpd(self):
        """test_widevine_pssh_cpd_no_rotation (partner suite:
        test_dash_widevine_pssh_cpd_no_rotation): a Widevine DRMSystem's
        ContentProtectionData is one cenc:pssh element holding the same box as PSSH."""
        body, kids = request(("VIDEO", "AUDIO"), (WIDEVINE,), live=False)
        doc = self.ok(body)
        for kid in kids:
            d = ms.drm(doc, kid, WIDEVINE)
            cpd = ET.fromstring(base64.b64decode(d.find(C + "ContentProtectionData").text))
            self.assertEqual(cpd.tag, CENC_NS + "pssh")
            self.assertEqual(cpd.text, d.find(C + "PSSH").text)
            self.check_drm(d, WIDEVINE, kid, "cenc")

    def test_playready_pssh_cpd(self):
        """test_dash_playready_pssh_cpd_no_rotation (in both suites): a PlayReady DRMSystem's
        ContentProtectionData holds a cenc:pssh with the same box as PSSH (and the
        mspr:pro header object before it)."""
        body, kids = request(("VIDEO", "AUDIO"), (PLAYREADY,), live=False)
        doc = self.ok(body)
        for kid in kids:
            d = ms.drm(doc, kid, PLAYREADY)
            cpd = base64.b64decode(d.find(C + "ContentProtectionData").text).decode()
            pssh = ET.fromstring("<cpd>%s</cpd>" % cpd).find(CENC_NS + "pssh")
            self.assertEqual(pssh.text, d.find(C + "PSSH").text)
            self.check_drm(d, PLAYREADY, kid, "cenc")

    def test_playready_pssh_hls(self):
        """test_playready_pssh_hlssignalingdata_no_rotation (and the older partner suite's
        test_cmaf_playready_pssh_hlssignallingdata_no_rotation): a PlayReady DRMSystem
        asking for PSSH and both playlists gets a PSSH and two HLSSignalingData, an
        EXT-X-KEY and an EXT-X-SESSION-KEY agreeing on METHOD, KEYFORMAT
        (com.microsoft.playready), KEYFORMATVERSIONS and URI."""
        body, kids = request(("VIDEO", "AUDIO"), (PLAYREADY,), live=False)
        body = edit(body, remove_all("ContentProtectionData"))
        doc = self.ok(body)
        for kid in kids:
            d = ms.drm(doc, kid, PLAYREADY)
            self.assertEqual(sorted(c.tag[len(C):] + (c.get("playlist") or "") for c in d),
                             ["HLSSignalingDatamaster", "HLSSignalingDatamedia", "PSSH"])
            media = hls_attrs(base64.b64decode(
                d.find(C + "HLSSignalingData[@playlist='media']").text).decode(), "#EXT-X-KEY")
            master = hls_attrs(base64.b64decode(
                d.find(C + "HLSSignalingData[@playlist='master']").text).decode(),
                "#EXT-X-SESSION-KEY")
            self.assertNotEqual(master["METHOD"], "NONE")
            for attr in ("METHOD", "KEYFORMAT", "KEYFORMATVERSIONS", "URI"):
                self.assertEqual(media[attr], master[attr])
            self.assertEqual(media["KEYFORMAT"], '"com.microsoft.playready"')
            _, sid, _, data = ms.parse_pssh(base64.b64decode(d.find(C + "PSSH").text))
            self.assertEqual((sid, ms.playready_kids(data)), (PLAYREADY, [uuid.UUID(kid).bytes]))

    def test_fairplay_hls(self):
        """test_fairplay_hlssignalingdata_no_rotation: a FairPlay DRMSystem (asked, like
        the suite asks it, for a PSSH too) gets no PSSH and two HLSSignalingData with the
        same skd:// URI, METHOD, KEYFORMAT (com.apple.streamingkeydelivery) and
        KEYFORMATVERSIONS."""
        body, kids = request(("VIDEO", "AUDIO"), (FAIRPLAY,), live=True)
        doc = self.ok(body)
        for kid in kids:
            d = ms.drm(doc, kid, FAIRPLAY)
            self.assertIsNone(d.find(C + "PSSH"))
            self.assertIsNone(d.find(C + "ContentProtectionData"))
            self.assertEqual(len(d.findall(C + "HLSSignalingData")), 2)
            self.check_drm(d, FAIRPLAY, kid, "cbcs")

    # --- test_negative_cases.py -------------------------------------------------------

    def test_empty_request(self):
        """test_empty_request: an empty body is an error."""
        st, h, data = ms.post(b"")
        self.assertEqual(st, 400, data)
        self.assertTrue(data.startswith(b"not well-formed XML"), data)
        self.assertEqual(h["X-Speke-User-Agent"], "ampmock-speke/1.0")

    def test_wrong_version(self):
        """test_wrong_version_status_code: a CPIX@version other than 2.3 is an error."""
        body, _ = request(("VIDEO", "AUDIO"), (WIDEVINE,), live=False)
        self.refused(edit(body, lambda r: r.set("version", "4.0")), 422,
                     "Unsupported CPIX@version")

    def test_mandatory_elements_missing(self):
        """test_mandatory_elements_missing_in_request, each of its six parameters:
        ContentKeyList, DRMSystemList, ContentKeyUsageRuleList, ContentKey, DRMSystem,
        ContentKeyUsageRule taken out of the generic request: each is an error."""
        body, _ = request(("VIDEO", "AUDIO"), (WIDEVINE,), live=False)
        cases = [("ContentKeyList", "Missing ContentKeyList"),
                 ("DRMSystemList", "Missing DRMSystemList"),
                 ("ContentKeyUsageRuleList", "Missing ContentKeyUsageRuleList"),
                 ("ContentKey", "Missing ContentKeyList"),
                 ("DRMSystem", "Missing DRMSystemList"),
                 ("ContentKeyUsageRule", "Missing ContentKeyUsageRuleList")]
        for tag, message in cases:
            with self.subTest(tag):
                self.refused(edit(body, remove_all(tag)), 422, message)

    def test_filters_missing(self):
        """test_both_mandatory_filter_elements_missing_in_request: rules without any
        VideoFilter or AudioFilter are an error."""
        body, kids = request(("VIDEO", "AUDIO"), (WIDEVINE,), live=False)
        body = edit(edit(body, remove_all("VideoFilter")), remove_all("AudioFilter"))
        self.refused(body, 422, "ContentKeyUsageRule for KID %s needs an AudioFilter or a "
                     "VideoFilter" % kids[0])

    def test_mandatory_attributes_missing(self):
        """test_missing_mandatory_attributes_in_request, each of its three parameters
        (ContentKey kid and commonEncryptionScheme, DRMSystem kid and systemId,
        ContentKeyUsageRule kid and intendedTrackType, each pair taken out together),
        and each of the six attributes alone: each is an error."""
        body, kids = request(("VIDEO", "AUDIO"), (WIDEVINE,), live=False)
        cases = [("ContentKey", ("kid", "commonEncryptionScheme"), "Invalid ContentKey@kid"),
                 ("DRMSystem", ("kid", "systemId"), "Invalid DRMSystem@kid"),
                 ("ContentKeyUsageRule", ("kid", "intendedTrackType"),
                  "Invalid ContentKeyUsageRule@kid"),
                 ("ContentKey", ("kid",), "Invalid ContentKey@kid"),
                 ("ContentKey", ("commonEncryptionScheme",),
                  "Missing ContentKey@commonEncryptionScheme for KID %s" % kids[0]),
                 ("DRMSystem", ("kid",), "Invalid DRMSystem@kid"),
                 ("DRMSystem", ("systemId",), "Missing DRMSystem@systemId"),
                 ("ContentKeyUsageRule", ("kid",), "Invalid ContentKeyUsageRule@kid"),
                 ("ContentKeyUsageRule", ("intendedTrackType",),
                  "Missing ContentKeyUsageRule@intendedTrackType for KID %s" % kids[0])]

        def drop(tag, attrs):
            def fn(root):
                for el in root.iter(C + tag):
                    for a in attrs:
                        el.attrib.pop(a, None)
            return fn
        for tag, attrs, message in cases:
            with self.subTest(tag=tag, attrs=attrs):
                self.refused(edit(body, drop(tag, attrs)), 422, message)

    def test_fairplay_cenc(self):
        """test_common_encryption_scheme_for_fairplay_should_not_be_cenc."""
        body, _ = request(("VIDEO", "AUDIO"), (FAIRPLAY,), live=True, scheme="cenc")
        self.refused(body, 422, "FairPlay needs commonEncryptionScheme cbcs")

    def test_shared_presets(self):
        """test_video_preset_2_and_shared_audio_preset_request_expect_4xx,
        test_shared_video_preset_and_audio_preset_2_request_expect_4xx: ALL (the SHARED
        preset) next to other rules, or twice, is an error; so is an ALL rule whose
        filters are not one attribute-less VideoFilter and AudioFilter."""
        tracks = ("SD", "HD", "STEREO_AUDIO", "MULTICHANNEL_AUDIO")

        def retype(index_type):
            def fn(root):
                rules = list(root.iter(C + "ContentKeyUsageRule"))
                for i, t in index_type.items():
                    rules[i].set("intendedTrackType", t)
            return fn
        body, _ = request(tracks, (WIDEVINE,), live=False)
        # shared audio: SD, HD, then ALL for both audio keys (filters with channel counts)
        self.refused(edit(body, retype({2: "ALL", 3: "ALL"})), 422,
                     "Duplicate ContentKeyUsageRule@intendedTrackType ALL")
        # shared video: ALL for both video keys (filters with pixel counts)
        self.refused(edit(body, retype({0: "ALL", 1: "ALL"})), 422,
                     "Duplicate ContentKeyUsageRule@intendedTrackType ALL")
        # one ALL among other rules, with the right filters: still an error
        body, _ = request(("ALL", "STEREO_AUDIO"), (WIDEVINE,), live=False)
        self.refused(body, 422, "intendedTrackType ALL must be the only ContentKeyUsageRule")
        # ALL alone, filters with attributes or one missing: an error
        body, _ = request(("ALL",), (WIDEVINE,), live=False)

        def pixel_filter(root):
            next(root.iter(C + "VideoFilter")).set("maxPixels", "589824")
        for fn in (pixel_filter, remove_all("AudioFilter")):
            with self.subTest(fn=fn):
                self.refused(edit(body, fn), 422, "intendedTrackType ALL needs one "
                             "VideoFilter and one AudioFilter, without attributes")

    # --- beyond that suite: what SPEKE v2.0 asks and the suite leaves out -------------

    def test_duplicate_track_type(self):
        """Not in the suite (it checks only that the first two rules differ): SPEKE v2's
        encryption contract makes intendedTrackType unique; in a live request unique
        per key period (two periods may each have their AUDIO key)."""
        body, _ = request(("STEREO_AUDIO", "STEREO_AUDIO"), (WIDEVINE,), live=False)
        self.refused(body, 422, "Duplicate ContentKeyUsageRule@intendedTrackType "
                     "STEREO_AUDIO")
        body, kids = request(("AUDIO", "AUDIO"), (WIDEVINE,), live=True)

        def second_period(root):
            pl = root.find(C + "ContentKeyPeriodList")
            ET.SubElement(pl, C + "ContentKeyPeriod", {"id": "p-next", "index": "1"})
            rules = list(root.iter(C + "ContentKeyUsageRule"))
            rules[1].find(C + "KeyPeriodFilter").set("periodId", "p-next")
        keys = ms.keys_of(self.ok(edit(body, second_period)))
        self.assertEqual(sorted(keys), sorted(kids))

    def test_content_key_encryption(self):
        """Not in the suite: SPEKE v2 content key encryption. The test case 1 request
        with a DeliveryDataList for a 2048-bit RSA certificate made here gets no key in
        the clear; decrypted with the certificate's private key (openssl), every key is
        the one the same request gets in the clear, and the signalling is unchanged."""
        key_pem, cert = ms.make_cert("rsa")
        for combo in ("widevine", "widevine_playready_fairplay"):
            with self.subTest(combo=combo):
                systems = COMBOS[combo]
                body, kids = request(CASES[1], systems, live=True)
                scheme = "cbcs" if FAIRPLAY in systems else "cenc"
                clear = self.check_reply(body, kids, CASES[1], systems, scheme, True)

                def add_delivery(root):
                    ddl = ET.Element(C + "DeliveryDataList")
                    dd = ET.SubElement(ddl, C + "DeliveryData", {"id": "conformance"})
                    x = ET.SubElement(ET.SubElement(dd, C + "DeliveryKey"),
                                      "{http://www.w3.org/2000/09/xmldsig#}X509Data")
                    ET.SubElement(x, "{http://www.w3.org/2000/09/xmldsig#}"
                                  "X509Certificate").text = cert
                    root.insert(0, ddl)
                doc = self.ok(edit(body, add_delivery))
                self.assertIsNone(doc.find(".//" + P + "PlainValue"))
                got = ms.decrypt_keys(doc, key_pem)
                self.assertEqual(got, clear)
                for d in doc.iter(C + "DRMSystem"):
                    self.check_drm(d, d.get("systemId"), d.get("kid"), scheme)

    def test_version_header(self):
        """Not in the suite as a negative case: a request without X-Speke-Version 2.0 is
        refused with the SPEKE message, and the reply still names the provider."""
        body, _ = request(("VIDEO", "AUDIO"), (WIDEVINE,), live=False)
        st, h, data = ms.post(body, {"X-Speke-Version": "1.0"})
        self.assertEqual((st, data), (422, b"Unsupported SPEKE version\n"))
        self.assertEqual(h["X-Speke-User-Agent"], "ampmock-speke/1.0")


if __name__ == "__main__":
    unittest.main(argv=sys.argv, verbosity=2)
