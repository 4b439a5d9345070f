"""The Device API over the test catalog, and its CDN (docs/service.md §3-§5, §10).

The catalog is the mock's --root as ctest catalog/make writes it (tools/ampack/README.md
"Test catalog"): album/t1 album/t2 album/t3 short12 mid45 long125 uhd192, and the SPEKE
album speke/t1 speke/t2 (container "speke", in no navigation node), each with v1/
and v2/ (manifest.mpd, <rep>.mp4, keys.json). A track's id is its directory with "/"
made "-" (album-t1, ...). Every reference in a document is local ("#name") or relative
to the document's URL, except the collectors (absolute https).

Device API (every route first checks the playback headers of §5: 401 for the bearer,
400 for another header; the request log records why):
  GET /api/                              the root node: Albums, Playlists, Stations
  GET /api/nav/albums|playlists|stations a node listing playable containers
  GET /api/containers/<cid>              chunk 0 of album, playlist or station
  GET /api/containers/<cid>/chunks/<n>   chunk n (station: any n up to STATION_CHUNKS_MAX)
  GET /api/audio/<track>                 a new playback session: the bare audio object
                                         (§4); "conflict" answers 409 with a report
  GET /api/errors/unavailable            200, the general error report of "unavailable"
Chunk pointers: first/last name this chunk's first and last track (local), prev the
track before the first (null at the start of an album or playlist), next the track
after the last, in the next chunk document by a relative URL (null at the end). With
"hasExplicit: false" the explicit track (mid45) is left out of every listing.

CDN (the session's headers, then the signature, then exp on the mock's clock; 403 with
the reason in the request log otherwise):
  GET|HEAD /cdn/<rid>/manifest.mpd?exp=&sig=   the variant's manifest, license URLs
            set to https://host/license/<rid>, each BaseURL signed (same exp)
  GET|HEAD /cdn/<rid>/<rep>.mp4?exp=&sig=      the variant's file, byte ranges as files.py
  GET|HEAD /cdn/images/<name>.png              a 1x1 PNG (image.uri), no checks
sig = hex HMAC-SHA256 over "<path>\\n<exp>" with a secret made at start-up.

Test controls (under /_mock/, never faulted, never logged):
  GET  /_mock/api/state    {"counts": {route: n}, "config": {...}, "sessions": [{"rid",
                           "track", "variant", "kid", "created", "refused": {"manifest",
                           "segment", "license"}}]} (oldest first)
  POST /_mock/api/config   {"audio_lifetime": s, "cdn_token_lifetime": s} (any subset,
                           1..1e9 s; defaults 300 and 300): for sessions made from now on;
                           also {"cdn_host": "name[:port]", "cdn_host_count": n}: the
                           audio objects' uri names that host instead of the request's
                           Host, for the next n sessions (0 or absent: until cleared with
                           "cdn_host": ""), so a test can make the CDN a name that does
                           not resolve or a port nothing listens on
  POST /_mock/api/reset    {}: no sessions, counters 0, default config, rotation restarts

Bounds: at most SESSIONS_MAX sessions (the oldest is dropped, its URLs then answer 403),
a manifest of at most MANIFEST_MAX bytes, station chunks 0..STATION_CHUNKS_MAX; the
counters are one per route name. The license module (license.py) reads the sessions
from app.state["api"] under app.lock.
"""

import collections
import hashlib
import hmac
import json
import os
import posixpath
import re
import secrets
import struct
import zlib
from xml.sax.saxutils import escape

from .. import auth, files
from ..router import HttpError, Response

NAME = "api"
SESSIONS_MAX = 4096
MANIFEST_MAX = 1 << 20
STATION_CHUNKS_MAX = 1_000_000
LIFETIME_MAX = 1_000_000_000
DEFAULT_CONFIG = {"audio_lifetime": 300, "cdn_token_lifetime": 300}
CDN_HOST_RE = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")
VARIANTS = ("v1", "v2")

# The catalog tracks, in station order: (id, directory, title, isExplicit).
TRACKS = (
    ("album-t1", "album/t1", "Mix Part One", False),
    ("album-t2", "album/t2", "Mix Part Two", False),
    ("album-t3", "album/t3", "Mix Part Three", False),
    ("short12", "short12", "Short Twelve", False),
    ("mid45", "mid45", "Mid Forty-Five (Explicit)", True),
    ("long125", "long125", "Long One-Two-Five", False),
    ("uhd192", "uhd192", "Ultra HD 192", False),
)
# The album ampack packaged with keys from the SPEKE key provider (docs/speke.md §12):
# served like the others, but in no navigation node and not in the station (a client
# reaches it by the reference of its container, /api/containers/speke), so the trees the
# other tests browse stay as they are.
SPEKE_TRACKS = (
    ("speke-t1", "speke/t1", "Keys From SPEKE One", False),
    ("speke-t2", "speke/t2", "Keys From SPEKE Two", False),
)
CATALOG = {t[0]: {"dir": t[1], "title": t[2], "explicit": t[3]} for t in TRACKS + SPEKE_TRACKS}
# Tracks that are not in the catalog: one with an error report, one whose audio is a 409.
SPECIAL = {"unavailable": "Unavailable Track", "conflict": "Too Many Streams Track"}

CONTAINERS = {
    "album": {"title": "Test Album", "artist": "ampack", "chunks": (("album-t1", "album-t2"),
                                                                   ("album-t3",))},
    "playlist": {"title": "Test Playlist", "artist": "Various",
                 "chunks": (("short12", "mid45", "unavailable"),
                            ("conflict", "long125", "uhd192"))},
    "station": {"title": "Test Station", "artist": "Various", "chunks": None},
    "speke": {"title": "SPEKE Album", "artist": "ampack", "chunks": (("speke-t1", "speke-t2"),)},
}
NAV = {"albums": ("Albums", ("album",)), "playlists": ("Playlists", ("playlist",)),
       "stations": ("Stations", ("station",))}

UNAVAILABLE_REPORT = {
    "terse": "Unavailable",
    "brief": "This track is not available.",
    "explanation": "The rights holder has withdrawn this track in your region.",
    "choices": [{"label": "OK", "ref": "../"}],
}
CONFLICT_REPORT = {
    "terse": "Too many streams",
    "brief": "Your account is playing on another device.",
    "explanation": "Your subscription allows one stream at a time. Stop the other "
                   "device or play here.",
    "choices": [{"label": "Play here", "ref": "../audio/conflict"},
                {"label": "Cancel", "ref": "../"}],
}

_CHUNK_PATH = re.compile(r"^([a-z]+)(?:/chunks/(0|[1-9][0-9]{0,6}))?$")
_REP = re.compile(r"^[A-Za-z0-9_]{1,64}\.mp4$")
_RID = re.compile(r"^[0-9a-f]{32}$")
_EXP = re.compile(r"^[0-9]{1,12}$")
_SIG = re.compile(r"^[0-9a-f]{64}$")
_DURATION = re.compile(rb'mediaPresentationDuration="PT([0-9]+(?:\.[0-9]+)?)S"')
# The license URL elements (any prefix) and BaseURL of a catalog manifest.
_LICENSE_EL = re.compile(r"(<((?:[A-Za-z_][\w.-]*:)?(?:LicenseUrl|Laurl))(?:\s[^>]*)?>)"
                         r"[^<]*(</\2>)")
_BASEURL = re.compile(r"(<((?:[A-Za-z_][\w.-]*:)?BaseURL)(?:\s[^>]*)?>)([^<]*)(</\2>)")


def track_tag(track):
    """A stable ASIN-like tag: B0 and 8 upper-case hex digits of sha1(track id)."""
    return "B0" + hashlib.sha1(track.encode()).hexdigest()[:8].upper()


def relative(base, target):
    """A relative reference from the document at path base to path target."""
    d = posixpath.relpath(posixpath.dirname(target), posixpath.dirname(base))
    name = posixpath.basename(target)
    return name if d == "." else d + "/" + name


def _png_1x1():
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x80\x80\x80")) + chunk(b"IEND", b""))


PNG = _png_1x1()


def register(app):
    secret = secrets.token_bytes(32)
    st = app.state.setdefault("api", {
        "sessions": collections.OrderedDict(),  # rid -> session dict
        "counts": {},
        "config": dict(DEFAULT_CONFIG),
        "rotation": {},   # track -> sessions made
        "made": 0,        # sessions made (even: expires in s, odd: in ms)
        "cdn_host": "",   # the audio objects' uri host instead of Host ("": Host)
        "cdn_host_left": None,  # sessions cdn_host still applies to (None: all)
    })
    durations = {}  # track -> seconds, read once from its v1 manifest (len(CATALOG) at most)

    def count(name):
        with app.lock:
            st["counts"][name] = st["counts"].get(name, 0) + 1

    def refuse(req, status, why):
        req.why = why
        return Response.json({"message": why}, status)

    def duration(track):
        with app.lock:
            if track in durations:
                return durations[track]
        path = os.path.join(app.args.root, CATALOG[track]["dir"], "v1", "manifest.mpd")
        try:
            with open(path, "rb") as f:
                m = _DURATION.search(f.read(4096))
        except OSError:
            m = None
        secs = float(m.group(1)) if m else None
        with app.lock:
            durations[track] = secs
        return secs

    def sign(path, exp):
        return hmac.new(secret, ("%s\n%d" % (path, exp)).encode(), hashlib.sha256).hexdigest()

    def signed_query(path, exp):
        sig = sign(path, exp)
        app.ledger.record("cdn_sig", sig)
        return "exp=%d&sig=%s" % (exp, sig)

    # ---- documents

    def definition(req, track, base):
        if track in CATALOG:
            c = CATALOG[track]
            album = ("Test Album" if track.startswith("album-") else
                     "SPEKE Album" if track.startswith("speke-") else "Test Singles")
            d = {"title": c["title"], "trackTag": track_tag(track),
                 "artist": {"name": "ampack"}, "album": {"name": album}}
            secs = duration(track)
            if secs is not None:
                d["duration"] = secs
        else:
            d = {"title": SPECIAL[track], "trackTag": track_tag(track),
                 "artist": {"name": "Nobody"}, "album": {"name": "Test Singles"}}
        d["image"] = {"uri": "%s/cdn/images/%s.png" % (req.base_url, track)}
        d["isExplicit"] = track in CATALOG and CATALOG[track]["explicit"]
        if track == "unavailable":
            d["autoSkipOnError"] = True
            d["error"] = relative(base, "/api/errors/unavailable")
        else:
            d["autoSkipOnError"] = False
            d["audio"] = relative(base, "/api/audio/" + track)
        return d

    def listed(req, tracks):
        if auth.has_explicit(req):
            return list(tracks)
        return [t for t in tracks if not (t in CATALOG and CATALOG[t]["explicit"])]

    def station_tracks(req, n):
        pool = listed(req, [t[0] for t in TRACKS])
        return [pool[(2 * n) % len(pool)], pool[(2 * n + 1) % len(pool)]]

    def chunk_tracks(req, cid, n):
        """The tracks of chunk n of cid as listed, and whether chunk n+1 exists; None when
        there is no chunk n."""
        chunks = CONTAINERS[cid]["chunks"]
        if chunks is None:
            if n > STATION_CHUNKS_MAX:
                return None
            return station_tracks(req, n), n < STATION_CHUNKS_MAX
        if n >= len(chunks):
            return None
        return listed(req, chunks[n]), n + 1 < len(chunks)

    def chunk_path(cid, n):
        return "/api/containers/%s/chunks/%d" % (cid, n)

    def chunk_doc(req, cid, n):
        got = chunk_tracks(req, cid, n)
        if got is None:
            raise HttpError(404, "no chunk %d of %s" % (n, cid))
        tracks, more = got
        base = req.path
        name = "chunk%d" % n
        instances, defs, refs = {}, {}, []
        for i, track in enumerate(tracks):
            iid = "%s-c%d-%d" % (cid, n, i)
            instances["ti-" + iid] = {
                "trackDefinition": "#td-" + track,
                "playbackEventCollector": "%s/collector/%s" % (req.base_url, iid)}
            defs["td-" + track] = definition(req, track, base)
            refs.append("#ti-" + iid)
        prev = None
        if n > 0:
            before = chunk_tracks(req, cid, n - 1)[0]
            target = "/api/containers/" + cid if n == 1 else chunk_path(cid, n - 1)
            prev = {"chunk": relative(base, target), "indexWithinChunk": len(before) - 1}
        nxt = None
        if more:
            nxt = {"chunk": relative(base, chunk_path(cid, n + 1)), "indexWithinChunk": 0}
        desc = {"title": CONTAINERS[cid]["title"], "trackInstances": refs,
                "firstTrackPointer": {"chunk": "#" + name, "indexWithinChunk": 0},
                "lastTrackPointer": {"chunk": "#" + name, "indexWithinChunk": len(refs) - 1},
                "prevTrackPointer": prev, "nextTrackPointer": nxt}
        return {"result": "#" + name, "trackContainerChunkDescriptions": {name: desc},
                "trackInstances": instances, "trackDefinitions": defs}

    def root_doc(req):
        return {"result": "#root",
                "navigationNodeDescriptions": {"root": {
                    "title": "Amazon Music (mock)",
                    "items": ["#albums", "#playlists", "#stations"]}},
                "navigationNodeSummaries": {
                    k: {"title": NAV[k][0], "ref": relative(req.path, "/api/nav/" + k),
                        "playable": False} for k in ("albums", "playlists", "stations")}}

    def nav_doc(req, node):
        title, cids = NAV[node]
        return {"result": "#" + node,
                "navigationNodeDescriptions": {node: {"title": title,
                                                      "items": ["#" + c for c in cids]}},
                "navigationNodeSummaries": {
                    c: {"title": CONTAINERS[c]["title"],
                        "description": "by " + CONTAINERS[c]["artist"],
                        "ref": relative(req.path, "/api/containers/" + c), "playable": True}
                    for c in cids}}

    # ---- sessions

    def new_session(req, track):
        c = CATALOG[track]
        with app.lock:
            k = st["rotation"].get(track, 0)
            st["rotation"][track] = k + 1
            made = st["made"]
            st["made"] = made + 1
            cfg = dict(st["config"])
            host = st["cdn_host"]
            if host and st["cdn_host_left"] is not None:
                st["cdn_host_left"] -= 1
                if st["cdn_host_left"] <= 0:
                    st["cdn_host"], st["cdn_host_left"] = "", None
        variant = VARIANTS[k % len(VARIANTS)]
        vdir = os.path.join(app.args.root, c["dir"], variant)
        try:
            with open(os.path.join(vdir, "keys.json"), "rb") as f:
                kid = bytes.fromhex(json.loads(f.read(4096).decode())["kid"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise HttpError(503, "catalog track %s %s unreadable: %s"
                            % (track, variant, type(e).__name__)) from None
        rid = secrets.token_hex(16)
        now = app.now()
        exp = int(now + cfg["cdn_token_lifetime"])
        cookie = "rid=" + rid
        s = {"rid": rid, "track": track, "variant": variant, "dir": vdir, "kid": kid,
             "created": now, "exp": exp,
             "key": [("x-amz-music-asin", track_tag(track)), ("x-amz-music-rid", rid),
                     ("Cookie", cookie)],
             "manifest": [("x-amz-music-rid", rid), ("Cookie", cookie)],
             "segment": [("x-amz-music-rid", rid), ("Cookie", cookie)],
             "refused": {"manifest": 0, "segment": 0, "license": 0}}
        with app.lock:
            sessions = st["sessions"]
            while len(sessions) >= SESSIONS_MAX:
                sessions.popitem(last=False)
            sessions[rid] = s
        path = "/cdn/%s/manifest.mpd" % rid
        expires = now + cfg["audio_lifetime"]
        return {
            "uri": "%s%s?%s" % ("https://" + host if host else req.base_url, path,
                                signed_query(path, exp)),
            "expires": int(expires) if made % 2 == 0 else int(expires * 1000),
            "headers": {
                "key": [{"name": n, "value": v} for n, v in s["key"]],
                "manifestHeaders": {n: v for n, v in s["manifest"]},
                "audioSegmentHeaders": [{"name": n, "value": v} for n, v in s["segment"]],
            }}

    # ---- Device API routes

    def api(req):
        refusal = auth.check_playback_headers(app, req)
        if refusal is not None:
            count("refused")
            return refusal
        rest = req.rest
        if rest == "":
            count("root")
            return Response.json(root_doc(req))
        if rest.startswith("nav/") and rest[4:] in NAV:
            count("nav")
            return Response.json(nav_doc(req, rest[4:]))
        if rest.startswith("containers/"):
            m = _CHUNK_PATH.match(rest[len("containers/"):])
            if not m or m.group(1) not in CONTAINERS:
                raise HttpError(404, "no such container")
            count("container")
            return Response.json(chunk_doc(req, m.group(1), int(m.group(2) or 0)))
        if rest.startswith("audio/"):
            track = rest[len("audio/"):]
            count("audio")
            if track == "conflict":
                req.why = "conflict: too many streams"
                return Response.json(CONFLICT_REPORT, 409)
            if track not in CATALOG:
                raise HttpError(404, "no audio for %s" % track)
            return Response.json(new_session(req, track))
        if rest == "errors/unavailable":
            count("error")
            return Response.json(UNAVAILABLE_REPORT)
        raise HttpError(404, "no such Device API path")

    # ---- CDN

    def cdn_refuse(req, s, kind, why):
        if s is not None:
            with app.lock:
                s["refused"][kind] += 1
        return refuse(req, 403, why)

    def cdn_check(req, rid, kind):
        """The session, or a 403 Response."""
        with app.lock:
            s = st["sessions"].get(rid)
        if s is None:
            return None, refuse(req, 403, "unknown session")
        bad = auth.session_header_mismatch(req, s[kind])
        if bad is not None:
            return s, cdn_refuse(req, s, kind, "session header missing or wrong: %s" % bad)
        exp, sig = req.param("exp", ""), req.param("sig", "")
        if len(req.params.get("exp", ())) != 1 or len(req.params.get("sig", ())) != 1 \
                or not _EXP.match(exp) or not _SIG.match(sig) \
                or not hmac.compare_digest(sig, sign(req.path, int(exp))):
            return s, cdn_refuse(req, s, kind, "bad signature")
        if int(exp) <= app.now():
            return s, cdn_refuse(req, s, kind, "token expired")
        return s, None

    def manifest(req, s, rid):
        path = os.path.join(s["dir"], "manifest.mpd")
        try:
            with open(path, "rb") as f:
                data = f.read(MANIFEST_MAX + 1)
        except OSError:
            raise HttpError(404, "manifest missing") from None
        if len(data) > MANIFEST_MAX:
            raise HttpError(500, "manifest too large")
        text = data.decode("utf-8")
        exp = int(req.param("exp"))
        lic = escape("%s/license/%s" % (req.base_url, rid))
        text = _LICENSE_EL.sub(lambda m: m.group(1) + lic + m.group(3), text)

        def base_url(m):
            name = m.group(3)
            if not _REP.match(name):
                return m.group(0)
            q = signed_query("/cdn/%s/%s" % (rid, name), exp)
            return m.group(1) + escape(name + "?" + q) + m.group(4)

        text = _BASEURL.sub(base_url, text)
        return Response(200, text.encode("utf-8"), None, "application/dash+xml")

    def cdn(req):
        rest = req.rest
        if rest.startswith("images/"):
            name = rest[len("images/"):]
            if not name.endswith(".png") or name[:-4] not in CATALOG and name[:-4] not in SPECIAL:
                raise HttpError(404, "no such image")
            count("image")
            return Response(200, PNG, None, "image/png")
        rid, _, name = rest.partition("/")
        if not _RID.match(rid) or not (name == "manifest.mpd" or _REP.match(name)):
            raise HttpError(404, "no such CDN path")
        kind = "manifest" if name == "manifest.mpd" else "segment"
        count(kind)
        s, refusal = cdn_check(req, rid, kind)
        if refusal is not None:
            return refusal
        if kind == "manifest":
            return manifest(req, s, rid)
        req.rest = name
        return files.make_handler(s["dir"])(req)

    # ---- controls

    def state(req):
        with app.lock:
            sessions = [{"rid": s["rid"], "track": s["track"], "variant": s["variant"],
                         "kid": s["kid"].hex(), "created": s["created"],
                         "refused": dict(s["refused"])} for s in st["sessions"].values()]
            cfg = dict(st["config"], cdn_host=st["cdn_host"],
                       cdn_host_left=st["cdn_host_left"])
            return Response.json({"counts": dict(st["counts"]), "config": cfg,
                                  "sessions": sessions})

    def config(req):
        obj = req.json()
        keys = set(DEFAULT_CONFIG) | {"cdn_host", "cdn_host_count"}
        if not isinstance(obj, dict) or set(obj) - keys:
            raise HttpError(400, "config takes %s" % ", ".join(sorted(keys)))
        lifetimes = {k: v for k, v in obj.items() if k in DEFAULT_CONFIG}
        for k, v in lifetimes.items():
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= LIFETIME_MAX:
                raise HttpError(400, "%s: seconds in 1..%d" % (k, LIFETIME_MAX))
        host = obj.get("cdn_host")
        count = obj.get("cdn_host_count", 0)
        if host is not None and (not isinstance(host, str) or
                                 (host and not CDN_HOST_RE.match(host))):
            raise HttpError(400, "cdn_host: a host name or address, optionally :port")
        if "cdn_host_count" in obj and host is None or isinstance(count, bool) or \
                not isinstance(count, int) or not 0 <= count <= SESSIONS_MAX:
            raise HttpError(400, "cdn_host_count: 0..%d, with cdn_host" % SESSIONS_MAX)
        with app.lock:
            st["config"].update(lifetimes)
            if host is not None:
                st["cdn_host"] = host
                st["cdn_host_left"] = count if host and count else None
        return state(req)

    def reset(req):
        with app.lock:
            st["sessions"].clear()
            st["counts"].clear()
            st["rotation"].clear()
            st["made"] = 0
            st["config"] = dict(DEFAULT_CONFIG)
            st["cdn_host"], st["cdn_host_left"] = "", None
        return state(req)

    app.on_reset(reset)
    app.route(("GET", "HEAD"), "/api/", api, prefix=True)
    app.route(("GET", "HEAD"), "/cdn/", cdn, prefix=True)
    app.route("GET", "/_mock/api/state", state)
    app.route("POST", "/_mock/api/config", config)
    app.route("POST", "/_mock/api/reset", reset)

