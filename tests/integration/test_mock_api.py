#!/usr/bin/env python3
"""The mock's Device API, CDN and session licenses (tools/mock/ampmock/modules/api.py and
license.py; docs/service.md §3-§5, §8, §10) over TLS with the test CA, against the test
catalog that ctest catalog/make builds. Python standard library only.

usage: test_mock_api.py CATALOG_DIR [unittest options]

What the C client will rely on is checked from the outside: references are resolved
with urllib.parse.urljoin (RFC 3986) against the URL each document was fetched from,
track tags are recomputed here, keys and manifests are read from the catalog itself.
"""

import base64
import hashlib
import json
import os
import re
import sys
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

import test_mock as tm  # the Mock process and the TLS client of the mock's self-tests

TRACKS = {"album-t1": "album/t1", "album-t2": "album/t2", "album-t3": "album/t3",
          "short12": "short12", "mid45": "mid45", "long125": "long125",
          "uhd192": "uhd192"}
STATION_ORDER = ["album-t1", "album-t2", "album-t3", "short12", "mid45", "long125", "uhd192"]
DEVICE_ID = "0123456789abcdef0123456789abcdef"
PLAYBACK = (("X-Amzn-Audio-DRMType", "WIDEVINE"),
            ("X-Amzn-Audio-Device-Capability", "STD_RES,HI_FI,HI_RES"),
            ("X-Amzn-Device-Id", DEVICE_ID),
            ("hasExplicit", "true"),
            ("Accept-Language", "en-US"),
            ("User-Agent", "ampd/0.1"),
            ("Accept", "application/json"))
MPD_NS = "{urn:mpeg:dash:schema:mpd:2011}"
AMZ_3P = "{urn:amazon:music:3p:music:2020}"
DASHIF = "{https://dashif.org/CPS}"

W = tm.W  # the test world: tmp, certs, root (the catalog), mock


def tag_of(track):
    return "B0" + hashlib.sha1(track.encode()).hexdigest()[:8].upper()


def catalog_kid(track, variant):
    with open(os.path.join(W["root"], TRACKS[track], variant, "keys.json"), "rb") as f:
        obj = json.loads(f.read())
    return obj["kid"], obj["key"]


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def request(method, url, headers=(), body=None):
    """(status, headers, body) of one request on a new connection; url is a path or an
    https URL on the mock."""
    u = urllib.parse.urlsplit(url)
    if u.scheme:
        assert u.scheme == "https" and u.port == W["mock"].port, url
    target = (u.path or "/") + ("?" + u.query if u.query else "")
    c = tm.connect(W["mock"].port)
    try:
        c.putrequest(method, target, skip_accept_encoding=True)
        for n, v in headers:
            c.putheader(n, v)
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def control(method, path, obj=None):
    body = None if obj is None else json.dumps(obj).encode()
    status, _, data = request(method, path, [("Content-Type", "application/json")], body)
    assert status == 200, (path, status, data)
    return json.loads(data)


def base():
    return "https://localhost:%d" % W["mock"].port


def last_why(path):
    entries = [e for e in control("GET", "/_mock/requests") if e["path"] == path]
    return entries[-1]["why"] if entries else None


def setUpModule():
    root = os.path.realpath(W["catalog"])
    for d in TRACKS.values():
        for v in ("v1", "v2"):
            p = os.path.join(root, d, v, "manifest.mpd")
            if not os.path.isfile(p):
                raise RuntimeError("the test catalog is incomplete: no %s" % p)
    W["root"] = root
    tm.make_tmp("ampmock-api-test-")
    W["mock"] = tm.Mock()


def tearDownModule():
    tm.end_module(check_mock_exit=True)


class ApiTest(unittest.TestCase):
    def setUp(self):
        control("POST", "/_mock/api/reset", {})
        control("POST", "/_mock/license/reset", {})
        control("POST", "/_mock/lwa/config", {"token_lifetime": 3600})
        request("DELETE", "/_mock/faults")
        request("DELETE", "/_mock/requests")
        self.token = control("POST", "/_mock/lwa/issue", {})["access_token"]

    def tearDown(self):
        self.assertNotIn("Traceback", W["mock"].stderr())

    # ---- helpers

    def headers(self, explicit="true", drop=None):
        out = [("Authorization", "Bearer " + self.token)]
        out += [(n, explicit if n == "hasExplicit" else v) for n, v in PLAYBACK]
        return [h for h in out if h[0] != drop]

    def get_json(self, url, explicit="true", status=200):
        url = urllib.parse.urljoin(base() + "/", url)
        st, _, body = request("GET", url, self.headers(explicit))
        self.assertEqual(st, status, (url, body))
        return url, json.loads(body) if status in (200, 409) else None

    def check_chunk_doc(self, url, doc):
        """The shape of docs/service.md §3 as src/cloud/apidoc.h reads it; returns the
        chunk description and [(instance, definition)] in play order."""
        res = doc["result"]
        self.assertTrue(res.startswith("#"))
        chunk = doc["trackContainerChunkDescriptions"][res[1:]]
        out = []
        for ref in chunk["trackInstances"]:
            self.assertTrue(ref.startswith("#"))
            inst = doc["trackInstances"][ref[1:]]
            self.assertTrue(inst["trackDefinition"].startswith("#"))
            d = doc["trackDefinitions"][inst["trackDefinition"][1:]]
            col = urllib.parse.urlsplit(inst["playbackEventCollector"])
            self.assertEqual((col.scheme, col.netloc), ("https", "localhost:%d" %
                                                        W["mock"].port))
            self.assertRegex(col.path, r"^/collector/[A-Za-z0-9-]+$")
            for k in ("title", "trackTag"):
                self.assertIsInstance(d[k], str)
            self.assertIsInstance(d["artist"]["name"], str)
            self.assertIsInstance(d["album"]["name"], str)
            self.assertTrue(d["image"]["uri"].startswith("https://"))
            self.assertIsInstance(d["isExplicit"], bool)
            self.assertIsInstance(d["autoSkipOnError"], bool)
            out.append((inst, d))
        n = len(out)
        self.assertGreater(n, 0)
        self.assertEqual(chunk["firstTrackPointer"], {"chunk": res, "indexWithinChunk": 0})
        self.assertEqual(chunk["lastTrackPointer"], {"chunk": res, "indexWithinChunk": n - 1})
        for p in ("prevTrackPointer", "nextTrackPointer"):
            ptr = chunk[p]
            if ptr is not None:
                self.assertFalse(ptr["chunk"].startswith("#"))
                self.assertFalse(urllib.parse.urlsplit(ptr["chunk"]).scheme, "not relative")
        return chunk, out

    def walk(self, url, explicit="true", most=20):
        """Follow nextTrackPointer from url: [(url, [(instance, definition)])]."""
        chunks = []
        while url is not None and len(chunks) < most:
            url, doc = self.get_json(url, explicit)
            chunk, tracks = self.check_chunk_doc(url, doc)
            chunks.append((url, tracks))
            nxt = chunk["nextTrackPointer"]
            if nxt is not None:
                self.assertEqual(nxt["indexWithinChunk"], 0)
            url = None if nxt is None else urllib.parse.urljoin(url, nxt["chunk"])
        return chunks

    def track_ids(self, chunks):
        by_tag = {tag_of(t): t for t in list(TRACKS) + ["unavailable", "conflict"]}
        return [[by_tag[d["trackTag"]] for _, d in tracks] for _, tracks in chunks]

    def audio(self, track):
        url, obj = self.get_json("/api/audio/" + track)
        self.assertNotIn("result", obj)  # the bare audio object, not a document
        return obj

    # ---- the playback headers

    def test_every_route_refuses_a_missing_playback_header(self):
        routes = ["/api/", "/api/nav/albums", "/api/nav/playlists", "/api/nav/stations",
                  "/api/containers/album", "/api/containers/album/chunks/1",
                  "/api/containers/playlist", "/api/containers/playlist/chunks/1",
                  "/api/containers/station", "/api/containers/station/chunks/7",
                  "/api/audio/album-t1", "/api/audio/conflict", "/api/errors/unavailable"]
        names = ["Authorization"] + [n for n, _ in PLAYBACK]
        for path in routes:
            for name in names:
                with self.subTest(path=path, missing=name):
                    st, _, _ = request("GET", path, self.headers(drop=name))
                    self.assertEqual(st, 401 if name == "Authorization" else 400)
                    why = last_why(path)
                    self.assertIn("bearer" if name == "Authorization" else name, why)
            with self.subTest(path=path, missing=None):
                st, _, _ = request("GET", path, self.headers())
                self.assertEqual(st, 409 if path.endswith("conflict") else 200)
        # a malformed value is as bad as a missing one
        bad = [(n, "HI_FI, STD_RES" if n == "X-Amzn-Audio-Device-Capability" else v)
               for n, v in self.headers()]
        self.assertEqual(request("GET", "/api/", bad)[0], 400)
        # only the one audio fetch with every header made a session
        self.assertEqual(len(control("GET", "/_mock/api/state")["sessions"]), 1)

    def test_made_up_and_expired_tokens_are_refused(self):
        made_up = [("Authorization", "Bearer Atza|made-up")] + self.headers()[1:]
        self.assertEqual(request("GET", "/api/", made_up)[0], 401)
        control("POST", "/_mock/lwa/config", {"token_lifetime": 60})
        self.token = control("POST", "/_mock/lwa/issue", {})["access_token"]
        self.assertEqual(request("GET", "/api/", self.headers())[0], 200)
        control("POST", "/_mock/clock", {"advance": 61})
        for path in ("/api/", "/api/containers/album", "/api/audio/short12"):
            with self.subTest(path=path):
                self.assertEqual(request("GET", path, self.headers())[0], 401)
                self.assertIn("expired", last_why(path))

    # ---- documents

    def test_root_and_navigation(self):
        url, root = self.get_json("/api/")
        self.assertEqual(root["result"], "#root")
        node = root["navigationNodeDescriptions"]["root"]
        self.assertEqual(node["items"], ["#albums", "#playlists", "#stations"])
        want = {"#albums": "album", "#playlists": "playlist", "#stations": "station"}
        for item in node["items"]:
            s = root["navigationNodeSummaries"][item[1:]]
            self.assertIs(s["playable"], False)
            self.assertFalse(urllib.parse.urlsplit(s["ref"]).scheme, "relative")
            nurl, nav = self.get_json(urllib.parse.urljoin(url, s["ref"]))
            self.assertEqual(nurl, base() + "/api/nav/" + item[1:])
            n = nav["navigationNodeDescriptions"][nav["result"][1:]]
            self.assertEqual(len(n["items"]), 1)
            c = nav["navigationNodeSummaries"][n["items"][0][1:]]
            self.assertIs(c["playable"], True)
            curl, doc = self.get_json(urllib.parse.urljoin(nurl, c["ref"]))
            self.assertEqual(curl, base() + "/api/containers/" + want[item])
            self.check_chunk_doc(curl, doc)

    def test_album_walks_across_two_chunks(self):
        chunks = self.walk("/api/containers/album")
        self.assertEqual([u for u, _ in chunks],
                         [base() + "/api/containers/album",
                          base() + "/api/containers/album/chunks/1"])
        self.assertEqual(self.track_ids(chunks), [["album-t1", "album-t2"], ["album-t3"]])
        # prev of chunk 1 is the last track of chunk 0, by a relative URL
        _, doc = self.get_json("/api/containers/album/chunks/1")
        prev = doc["trackContainerChunkDescriptions"][doc["result"][1:]]["prevTrackPointer"]
        self.assertEqual(urllib.parse.urljoin(chunks[1][0], prev["chunk"]), chunks[0][0])
        self.assertEqual(prev["indexWithinChunk"], 1)
        # the definitions: audio by a relative reference, durations of the catalog
        for url, tracks in chunks:
            for _, d in tracks:
                track = {tag_of(t): t for t in TRACKS}[d["trackTag"]]
                self.assertEqual(urllib.parse.urljoin(url, d["audio"]),
                                 base() + "/api/audio/" + track)
                with open(os.path.join(W["root"], TRACKS[track], "v1", "manifest.mpd")) as f:
                    m = re.search(r'mediaPresentationDuration="PT([0-9.]+)S"', f.read())
                self.assertAlmostEqual(d["duration"], float(m.group(1)))
                self.assertIs(d["isExplicit"], False)
        collectors = [i["playbackEventCollector"] for _, t in chunks for i, _ in t]
        self.assertEqual(len(set(collectors)), 3)

    def test_station_goes_on(self):
        chunks = self.walk("/api/containers/station", most=5)
        self.assertEqual(len(chunks), 5)  # the walk stopped at 5, not at a null pointer
        ids = self.track_ids(chunks)
        self.assertEqual([len(c) for c in ids], [2] * 5)
        flat = [t for c in ids for t in c]
        self.assertEqual(flat, [STATION_ORDER[i % 7] for i in range(10)])
        self.assertEqual(chunks[4][0], base() + "/api/containers/station/chunks/4")
        collectors = [i["playbackEventCollector"] for _, t in chunks for i, _ in t]
        self.assertEqual(len(set(collectors)), 10)
        # far down the chain it still names the next chunk
        url, doc = self.get_json("/api/containers/station/chunks/999999")
        nxt = doc["trackContainerChunkDescriptions"][doc["result"][1:]]["nextTrackPointer"]
        self.assertEqual(urllib.parse.urljoin(url, nxt["chunk"]),
                         base() + "/api/containers/station/chunks/1000000")
        self.get_json("/api/containers/album/chunks/2", status=404)

    def test_has_explicit_false_hides_mid45(self):
        shown = self.track_ids(self.walk("/api/containers/playlist", "true"))
        self.assertEqual(shown, [["short12", "mid45", "unavailable"],
                                 ["conflict", "long125", "uhd192"]])
        hidden = self.track_ids(self.walk("/api/containers/playlist", "false"))
        self.assertEqual(hidden, [["short12", "unavailable"], ["conflict", "long125", "uhd192"]])
        st_true = [t for c in self.track_ids(self.walk("/api/containers/station", "true", 4))
                   for t in c]
        st_false = [t for c in self.track_ids(self.walk("/api/containers/station", "false", 4))
                    for t in c]
        self.assertIn("mid45", st_true)
        self.assertNotIn("mid45", st_false)
        self.assertEqual(set(st_false), set(TRACKS) - {"mid45"})
        _, doc = self.get_json("/api/containers/playlist")
        defs = {d["trackTag"]: d for d in doc["trackDefinitions"].values()}
        self.assertIs(defs[tag_of("mid45")]["isExplicit"], True)

    def test_playlist_error_track_and_conflict(self):
        url, doc = self.get_json("/api/containers/playlist")
        defs = {d["trackTag"]: d for d in doc["trackDefinitions"].values()}
        un = defs[tag_of("unavailable")]
        self.assertIs(un["autoSkipOnError"], True)
        self.assertNotIn("audio", un)
        eurl, report = self.get_json(urllib.parse.urljoin(url, un["error"]))
        self.assertEqual(eurl, base() + "/api/errors/unavailable")
        for k in ("terse", "brief", "explanation"):
            self.assertIsInstance(report[k], str)
        self.assertTrue(all(set(c) == {"label", "ref"} for c in report["choices"]))
        _, doc1 = self.get_json("/api/containers/playlist/chunks/1")
        conflict = {d["trackTag"]: d for d in doc1["trackDefinitions"].values()}[
            tag_of("conflict")]
        aurl = urllib.parse.urljoin(base() + "/api/containers/playlist/chunks/1",
                                    conflict["audio"])
        _, report = self.get_json(aurl, status=409)
        self.assertEqual(set(report), {"terse", "brief", "explanation", "choices"})
        self.assertGreater(len(report["choices"]), 0)
        self.get_json("/api/audio/no-such-track", status=404)
        self.assertEqual(control("GET", "/_mock/api/state")["sessions"], [])

    # ---- sessions

    def test_two_audio_fetches_are_two_sessions(self):
        a, b = self.audio("album-t1"), self.audio("album-t1")
        ra = a["headers"]["manifestHeaders"]["x-amz-music-rid"]
        rb = b["headers"]["manifestHeaders"]["x-amz-music-rid"]
        self.assertRegex(ra, r"^[0-9a-f]{32}$")
        self.assertNotEqual(ra, rb)
        for obj, rid in ((a, ra), (b, rb)):
            u = urllib.parse.urlsplit(obj["uri"])
            self.assertEqual(u.path, "/cdn/%s/manifest.mpd" % rid)
            self.assertEqual(obj["headers"]["key"],
                             [{"name": "x-amz-music-asin", "value": tag_of("album-t1")},
                              {"name": "x-amz-music-rid", "value": rid},
                              {"name": "Cookie", "value": "rid=" + rid}])
            self.assertEqual(obj["headers"]["manifestHeaders"],
                             {"x-amz-music-rid": rid, "Cookie": "rid=" + rid})
            self.assertEqual(obj["headers"]["audioSegmentHeaders"],
                             [{"name": "x-amz-music-rid", "value": rid},
                              {"name": "Cookie", "value": "rid=" + rid}])
        # one in epoch seconds, the next in milliseconds, both about now + 300 s
        now = control("GET", "/_mock/clock")["now"]
        self.assertLess(abs(a["expires"] - (now + 300)), 30)
        self.assertLess(abs(b["expires"] / 1000 - (now + 300)), 30)
        sessions = {s["rid"]: s for s in control("GET", "/_mock/api/state")["sessions"]}
        self.assertEqual((sessions[ra]["variant"], sessions[rb]["variant"]), ("v1", "v2"))
        self.assertEqual(sessions[ra]["kid"], catalog_kid("album-t1", "v1")[0])
        self.assertEqual(sessions[rb]["kid"], catalog_kid("album-t1", "v2")[0])
        self.assertNotEqual(sessions[ra]["kid"], sessions[rb]["kid"])
        c = self.audio("album-t1")
        rc = c["headers"]["manifestHeaders"]["x-amz-music-rid"]
        state = {s["rid"]: s for s in control("GET", "/_mock/api/state")["sessions"]}
        self.assertEqual(state[rc]["variant"], "v1")
        # the audio lifetime is the test's to set
        control("POST", "/_mock/api/config", {"audio_lifetime": 5000})
        d = self.audio("short12")  # the fourth session: seconds again
        now = control("GET", "/_mock/clock")["now"]
        self.assertLess(abs(d["expires"] / 1000 - (now + 5000)), 30)

    def session(self, track="album-t1"):
        obj = self.audio(track)
        rid = obj["headers"]["manifestHeaders"]["x-amz-music-rid"]
        seg = [(h["name"], h["value"]) for h in obj["headers"]["audioSegmentHeaders"]]
        key = [(h["name"], h["value"]) for h in obj["headers"]["key"]]
        return {"obj": obj, "rid": rid, "uri": obj["uri"],
                "manifest": list(obj["headers"]["manifestHeaders"].items()),
                "segment": seg, "key": key}

    def refused(self, rid):
        return {s["rid"]: s for s in control("GET", "/_mock/api/state")["sessions"]}[rid][
            "refused"]

    def cdn_refused(self, url, headers, why):
        st, _, _ = request("GET", url, headers)
        self.assertEqual(st, 403)
        self.assertIn(why, last_why(urllib.parse.urlsplit(url).path))

    def test_cdn_manifest_and_ranges(self):
        a, b = self.session(), self.session()
        st, h, body = request("GET", a["uri"], a["manifest"])
        self.assertEqual(st, 200, body)
        self.assertEqual(h["Content-Type"], "application/dash+xml")
        self.assertEqual(request("HEAD", a["uri"], a["manifest"])[:1], (200,))
        with open(os.path.join(W["root"], "album/t1/v1/manifest.mpd"), "rb") as f:
            orig = f.read()
        got, want = body.decode().split("\n"), orig.decode().split("\n")
        self.assertEqual(len(got), len(want))
        changed = [i for i in range(len(got)) if got[i] != want[i]]
        self.assertEqual(len(changed), 6)  # 2 x (LicenseUrl, Laurl, BaseURL)
        for i in changed:
            self.assertRegex(want[i], r"<(amz-music:LicenseUrl|dashif:Laurl|BaseURL)>")
        mpd = ET.fromstring(body)
        lic = [e.text for e in mpd.iter(AMZ_3P + "LicenseUrl")] + \
              [e.text for e in mpd.iter(DASHIF + "Laurl")]
        self.assertEqual(lic, [base() + "/license/" + a["rid"]] * 4)
        bases = [e.text for e in mpd.iter(MPD_NS + "BaseURL")]
        self.assertEqual(len(bases), 2)
        exp = urllib.parse.parse_qs(urllib.parse.urlsplit(a["uri"]).query)["exp"][0]
        for rel in bases:
            url = urllib.parse.urljoin(a["uri"], rel)
            path = urllib.parse.urlsplit(url).path
            rep = path.rsplit("/", 1)[1]
            self.assertEqual(path, "/cdn/%s/%s" % (a["rid"], rep))
            self.assertEqual(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["exp"],
                             [exp])
            with open(os.path.join(W["root"], "album/t1/v1", rep), "rb") as f:
                data = f.read()
            st, h, got = request("GET", url, a["segment"] + [("Range", "bytes=100-1099")])
            self.assertEqual((st, got), (206, data[100:1100]))
            self.assertEqual(h["Content-Range"], "bytes 100-1099/%d" % len(data))
            st, h, got = request("HEAD", url, a["segment"])
            self.assertEqual((st, h["Content-Length"]), (200, str(len(data))))
            st, _, got = request("GET", url, a["segment"])
            self.assertEqual((st, got), (200, data))
            # the same signature is not good for the other session, nor without headers
            self.cdn_refused(url, [], "session header missing or wrong")
            self.cdn_refused(url, b["segment"], "session header missing or wrong")
            other = url.replace("/cdn/%s/" % a["rid"], "/cdn/%s/" % b["rid"])
            self.cdn_refused(other, b["segment"], "bad signature")
        # a signature is for one path: another rep's name with it is refused
        u0, u1 = (urllib.parse.urljoin(a["uri"], r) for r in bases)
        swapped = u0.split("?")[0] + "?" + u1.split("?")[1]
        self.cdn_refused(swapped, a["segment"], "bad signature")
        self.assertEqual(self.refused(a["rid"])["segment"], 5)  # 2 per rep, the swap
        self.assertEqual(self.refused(b["rid"])["segment"], 2)  # A's signatures

    def test_cdn_refuses_the_manifest(self):
        a, b = self.session(), self.session()
        self.cdn_refused(a["uri"], [], "session header missing or wrong: x-amz-music-rid")
        self.cdn_refused(a["uri"], b["manifest"], "session header missing or wrong")
        self.cdn_refused(a["uri"], a["manifest"][:1], "session header missing or wrong: Cookie")
        self.cdn_refused(a["uri"], [("x-amz-music-rid", a["rid"]), ("Cookie", "rid=x")],
                         "Cookie")
        sig = urllib.parse.parse_qs(urllib.parse.urlsplit(a["uri"]).query)["sig"][0]
        flipped = a["uri"].replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
        self.cdn_refused(flipped, a["manifest"], "bad signature")
        exp = urllib.parse.parse_qs(urllib.parse.urlsplit(a["uri"]).query)["exp"][0]
        later = a["uri"].replace("exp=" + exp, "exp=%d" % (int(exp) + 1000))
        self.cdn_refused(later, a["manifest"], "bad signature")
        self.cdn_refused(a["uri"].split("?")[0], a["manifest"], "bad signature")
        self.cdn_refused(a["uri"].replace(a["rid"], "f" * 32), a["manifest"], "unknown session")
        self.assertEqual(self.refused(a["rid"])["manifest"], 7)
        self.assertEqual(request("GET", a["uri"], a["manifest"])[0], 200)
        # a cookie header with more cookies in it is fine
        more = [("x-amz-music-rid", a["rid"]), ("Cookie", "a=b; rid=%s; c=d" % a["rid"])]
        self.assertEqual(request("GET", a["uri"], more)[0], 200)

    def test_cdn_token_expires_on_the_mock_clock(self):
        control("POST", "/_mock/api/config", {"cdn_token_lifetime": 30})
        a = self.session()
        st, _, body = request("GET", a["uri"], a["manifest"])
        self.assertEqual(st, 200)
        seg = urllib.parse.urljoin(a["uri"],
                                   next(ET.fromstring(body).iter(MPD_NS + "BaseURL")).text)
        self.assertEqual(request("GET", seg, a["segment"] + [("Range", "bytes=0-9")])[0], 206)
        control("POST", "/_mock/clock", {"advance": 31})
        self.cdn_refused(a["uri"], a["manifest"], "token expired")
        self.cdn_refused(seg, a["segment"], "token expired")
        # a fresh audio object works again
        b = self.session()
        self.assertEqual(request("GET", b["uri"], b["manifest"])[0], 200)

    # ---- licenses

    def license(self, url, kid_hex, headers):
        ch = json.dumps({"kids": [b64url(bytes.fromhex(kid_hex))], "type": "temporary"})
        body = json.dumps({"licenseChallenge": base64.b64encode(ch.encode()).decode()})
        hdrs = [("Content-Type", "application/json"), ("User-Agent", "ampd/0.1")] + headers
        st, _, data = request("POST", url, hdrs, body.encode())
        return st, json.loads(data)

    def test_license_grants_only_the_sessions_key(self):
        a, b = self.session(), self.session()
        bearer = [("Authorization", "Bearer " + self.token)]
        _, _, body = request("GET", a["uri"], a["manifest"])
        lic_url = next(ET.fromstring(body).iter(DASHIF + "Laurl")).text
        self.assertEqual(lic_url, base() + "/license/" + a["rid"])
        kid_a, key_a = catalog_kid("album-t1", "v1")
        kid_b, _ = catalog_kid("album-t1", "v2")
        st, out = self.license(lic_url, kid_a, bearer + a["key"])
        self.assertEqual(st, 200, out)
        lic = json.loads(base64.b64decode(out["license"]))
        self.assertEqual(lic["keys"], [{"kty": "oct", "kid": b64url(bytes.fromhex(kid_a)),
                                        "k": b64url(bytes.fromhex(key_a))}])
        path = "/license/" + a["rid"]
        st, out = self.license(lic_url, kid_b, bearer + a["key"])
        self.assertEqual(st, 403)
        self.assertEqual(last_why(path), "KID of another session")
        st, out = self.license(lic_url, kid_a, bearer + b["key"])
        self.assertEqual(st, 403)
        self.assertIn("key header missing or wrong", last_why(path))
        for i in range(3):  # each key header left out in turn
            with self.subTest(without=a["key"][i][0]):
                st, _ = self.license(lic_url, kid_a, bearer + a["key"][:i] + a["key"][i + 1:])
                self.assertEqual(st, 403)
                self.assertIn(a["key"][i][0], last_why(path))
        self.assertEqual(self.refused(a["rid"])["license"], 5)
        st, _ = self.license(lic_url, kid_a, [("Authorization", "Bearer Atza|made-up")]
                             + a["key"])
        self.assertEqual(st, 401)
        st, _ = self.license(base() + "/license/" + "e" * 32, kid_a, bearer + a["key"])
        self.assertEqual(st, 403)
        self.assertEqual(last_why("/license/" + "e" * 32), "unknown session")
        # B's own URL grants B's key; the catalog path grants either
        st, _ = self.license(base() + "/license/" + b["rid"], kid_b, bearer + b["key"])
        self.assertEqual(st, 200)
        for kid in (kid_a, kid_b):
            st, _ = self.license(base() + "/license/catalog", kid, bearer + a["key"])
            self.assertEqual(st, 200)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: test_mock_api.py CATALOG_DIR [unittest options]")
    W["catalog"] = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
