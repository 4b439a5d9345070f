#!/usr/bin/env python3
"""Independent checks of the ampack test catalog (standard library only).

usage: check_catalog.py CATALOG CHECK [AMPACK]

The catalog is read with tools we did not write: ffprobe, ffmpeg, GStreamer, xmllint.
The 'structure' check walks the boxes with the small parser below, which shares no code
with ampack or with ampd's src/media. Layout: tools/ampack/README.md.

What the catalog must hold comes from catalog.jobs (the list make_catalog.sh runs), not from
what is found: every check first compares the catalog's files with that list, then walks
every track, set and rendition it names and fails unless it examined exactly that many.
"""
import array
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

NS = {"d": "urn:mpeg:dash:schema:mpd:2011", "cenc": "urn:mpeg:cenc:2013",
      "amz3p": "urn:amazon:music:3p:music:2020", "dashif": "https://dashif.org/CPS"}
WIDEVINE = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
COMMON_ID = bytes.fromhex("1077efecc0b24d02ace33c1e52e2fb4b")
WIDEVINE_ID = bytes.fromhex(WIDEVINE.replace("-", ""))
CLEAR_LEAD_S = 30
SEGMENT_S = 10
OPUS_FRAME = 960
FLAC_BLOCK = 4096  # ampack's fixed FLAC blocksize

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def ok(msg):
    """The summary of a check: "ok" only when nothing failed before it."""
    print("ok:" if not failures else "checked, with failures:", msg)


# ---------------------------------------------------------------- what the catalog holds

# ampack's rendition ladder and its groups (docs/man/ampack.1, tools/ampack/README.md), in
# ladder order: id -> (codec, rate, bits).
LADDER = {"flac_16_44": ("flac", 44100, 16), "flac_24_96": ("flac", 96000, 24),
          "flac_24_192": ("flac", 192000, 24), "opus_48": ("opus", 48000, 16),
          "opus_192": ("opus", 48000, 16), "opus_320": ("opus", 48000, 16)}
GROUPS = {"hd": ["flac_16_44"], "uhd": ["flac_24_96", "flac_24_192"],
          "sd": ["opus_48", "opus_192", "opus_320"], "all": list(LADDER)}
JOBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalog.jobs")


class Track:
    """One line of catalog.jobs: what ampack was asked to write there."""

    def __init__(self, line):
        words = line.split()
        self.dir, opts = words[0], {}
        i = 1
        while i < len(words):
            if words[i] == "--source-only":
                opts["source-only"] = True
                i += 1
            else:
                opts[words[i][2:]] = words[i + 1]
                i += 2
        want = set()
        for name in opts["reps"].split(","):
            want.update(GROUPS.get(name, [name]))
        unknown = want - set(LADDER)
        if unknown:
            raise ValueError("catalog.jobs %s: unknown renditions %s" % (self.dir, unknown))
        self.reps = [r for r in LADDER if r in want]
        self.seconds = float(opts["seconds"])
        self.source_only = "source-only" in opts
        n = int(opts.get("variants", "0"))
        self.sets = ["v%d" % (i + 1) for i in range(n)] if n else ["."]
        self.hostile = opts["hostile"].split(",") if "hostile" in opts else []

    def frames(self, rep):
        return round(self.seconds * LADDER[rep][1])

    def codec_reps(self, codec):
        return [r for r in self.reps if LADDER[r][0] == codec]

    def files(self):
        """Every file ampack writes for this line, relative to the catalog."""
        out = [os.path.join(self.dir, "source", r + ".wav") for r in self.reps]
        if self.source_only:
            return out
        for s in ["clear"] + self.sets:
            d = os.path.normpath(os.path.join(self.dir, s))
            out.append(os.path.join(d, "manifest.mpd"))
            out += [os.path.join(d, r + ".mp4") for r in self.reps]
            if s != "clear":
                out.append(os.path.join(d, "keys.json"))
        return out


def load_jobs():
    with open(JOBS) as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip() and not ln.startswith("#")]
    jobs = [Track(ln) for ln in lines]
    if len(jobs) < 10:
        raise ValueError("catalog.jobs lists only %d tracks" % len(jobs))
    return jobs


SPEC = {}  # absolute track dir -> Track, filled by main() from catalog.jobs


def need(what, n, want):
    """Every check ends here: it walked exactly what catalog.jobs says the catalog holds."""
    if n != want:
        fail("%s: examined %d, catalog.jobs makes %d" % (what, n, want))


def check_layout(cat):
    """Every file catalog.jobs asks for is there, and nothing else (run before each check)."""
    want = set()
    for t in SPEC.values():
        want.update(t.files())
    have = set()
    for root, _, files in os.walk(cat):
        have.update(os.path.relpath(os.path.join(root, f), cat) for f in files)
    for f in sorted(want - have):
        fail("layout: %s missing" % f)
    for f in sorted(have - want):
        fail("layout: %s not made by catalog.jobs" % f)
    for f in sorted(want & have):
        if os.path.getsize(os.path.join(cat, f)) == 0:
            fail("layout: %s is empty" % f)
    need("layout: files", len(want & have), len(want))
    ok("layout: the %d files of %d catalog.jobs lines" % (len(want & have), len(SPEC)))


# ---------------------------------------------------------------- catalog walking

def tracks(cat):
    """The tracks with source/, clear/ and encrypted sets (not album/continuous)."""
    return sorted(d for d, t in SPEC.items() if not t.source_only)


def spec(track):
    return SPEC[track]


def enc_sets(track):
    """Encrypted sets of a track: its v1..vN, or the track dir itself."""
    return [os.path.normpath(os.path.join(track, s)) for s in SPEC[track].sets]


def is_hostile(track, form=None):
    h = SPEC[track].hostile
    return bool(h) and (form is None or form in h)


def read_source(track, rep):
    """The source WAV of rep, checked to hold the frames catalog.jobs asks for."""
    rate, ch, bits, pcm = read_wav(os.path.join(track, "source", rep + ".wav"))
    want = SPEC[track].frames(rep)
    if (rate, bits) != LADDER[rep][1:] or ch != 2 or len(pcm) != want * ch * bits // 8:
        raise ValueError("%s/source/%s.wav: %d Hz %d bit %d ch %d bytes, want %d frames" %
                         (track, rep, rate, bits, ch, len(pcm), want))
    return rate, ch, bits, pcm


def read_wav(path):
    with open(path, "rb") as f:
        d = f.read()
    assert d[:4] == b"RIFF" and d[8:12] == b"WAVE", path
    pos, fmt = 12, None
    while pos + 8 <= len(d):
        cid, ln = d[pos:pos + 4], struct.unpack("<I", d[pos + 4:pos + 8])[0]
        if cid == b"fmt ":
            _, ch, rate, _, _, bits = struct.unpack("<HHIIHH", d[pos + 8:pos + 24])
            fmt = (rate, ch, bits)
        elif cid == b"data":
            return fmt[0], fmt[1], fmt[2], d[pos + 8:pos + 8 + ln]
        pos += 8 + ln + (ln & 1)
    raise ValueError(path + ": no data chunk")


def mpd_reps(path):
    root = ET.parse(path).getroot()
    reps = []
    for aset in root.iter("{%s}AdaptationSet" % NS["d"]):
        kid = None
        for cp in aset.findall("d:ContentProtection", NS):
            k = cp.get("{%s}default_KID" % NS["cenc"])
            if k:
                kid = k.replace("-", "").lower()
        for rep in aset.findall("d:Representation", NS):
            sl = rep.find("d:SegmentList", NS)
            init = sl.find("d:Initialization", NS).get("range")
            ranges = [tuple(int(x) for x in s.get("mediaRange").split("-"))
                      for s in sl.findall("d:SegmentURL", NS)]
            reps.append({"id": rep.get("id"), "codecs": rep.get("codecs"),
                         "rate": int(rep.get("audioSamplingRate")),
                         "bandwidth": int(rep.get("bandwidth")),
                         "base": rep.find("d:BaseURL", NS).text, "kid": kid,
                         "init": tuple(int(x) for x in init.split("-")), "ranges": ranges,
                         "aset": aset})
    return root, reps


RUN_TIMEOUT_S = 180  # one external tool run; a hang is a failure, not a stuck test


def run(cmd, stdin=None, check=True):
    try:
        p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError("%s: no result after %d s" % (" ".join(cmd)[:300], RUN_TIMEOUT_S))
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (cmd[0], p.returncode, p.stderr.decode()[-400:]))
    return p


def ff_decode(path, bits, key=None, check=True):
    """Decode with ffmpeg; with a key, from a pipe: ffmpeg 5.1 given a seekable file indexes
    every moof first and uses a later fragment's senc (docs/media.md §10)."""
    fmt = ["-c:a", "pcm_s24le", "-f", "s24le"] if bits == 24 else ["-f", "s16le"]
    if key is None:
        return run(["ffmpeg", "-v", "error", "-i", path] + fmt + ["-"]).stdout
    with open(path, "rb") as f:
        data = f.read()
    return run(["ffmpeg", "-v", "error", "-decryption_key", key, "-i", "-"] + fmt + ["-"],
               stdin=data, check=check).stdout


def snr_db(src, dec, shift=0, step=3):
    """SNR of dec (shift samples late) against every step-th sample of src; -inf when dec
    does not cover all of src, or src is empty (nothing compared is not a pass)."""
    a, b = array.array("h", src), array.array("h", dec)
    if not a or len(a) - 1 + shift >= len(b):
        return float("-inf")
    s = e = 0.0
    for i in range(0, len(a), step):
        j = i + shift
        s += a[i] * a[i]
        e += (a[i] - b[j]) ** 2
    return float("inf") if e == 0 else 10 * math.log10(s / e)


# ---------------------------------------------------------------- checks

def set_reps(track, s):
    """The MPD of set s (a directory) of track, whose renditions must be catalog.jobs's."""
    root, reps = mpd_reps(os.path.join(s, "manifest.mpd"))
    ids = sorted(r["id"] for r in reps)
    if ids != sorted(SPEC[track].reps):
        raise ValueError("%s/manifest.mpd: renditions %s, catalog.jobs asks for %s" %
                         (s, ids, SPEC[track].reps))
    return root, reps


def all_sets(t):
    return [os.path.join(t, "clear")] + enc_sets(t)


def check_xmllint(cat):
    n = 0
    for t in tracks(cat):
        for s in all_sets(t):
            p = run(["xmllint", "--noout", os.path.join(s, "manifest.mpd")], check=False)
            if p.returncode != 0:
                fail("xmllint %s: %s" % (s, p.stderr.decode()))
            n += 1
    need("xmllint: manifests", n, sum(len(all_sets(t)) for t in tracks(cat)))
    ok("xmllint: %d manifests well-formed" % n)


def check_ffprobe(cat):
    n = 0
    for t in tracks(cat):
        for s in all_sets(t):
            _, reps = set_reps(t, s)
            for r in reps:
                f = os.path.join(s, r["base"])
                out = run(["ffprobe", "-v", "error", "-show_entries",
                           "stream=codec_name,sample_rate,channels", "-of", "json", f]).stdout
                st = json.loads(out)["streams"]
                if (len(st) != 1 or st[0]["codec_name"] != r["codecs"] or
                        int(st[0]["sample_rate"]) != r["rate"] or st[0]["channels"] != 2):
                    fail("ffprobe %s: %s" % (f, st))
                n += 1
    need("ffprobe: files", n, sum(len(all_sets(t)) * len(spec(t).reps) for t in tracks(cat)))
    ok("ffprobe: %d files read with the codec, rate and channels the MPD states" % n)


def check_flac(cat):
    n = 0
    for t in tracks(cat):
        _, reps = set_reps(t, os.path.join(t, "clear"))
        for r in reps:
            if r["codecs"] != "flac":
                continue
            _, _, bits, pcm = read_source(t, r["id"])
            dec = ff_decode(os.path.join(t, "clear", r["base"]), bits)
            if dec != pcm:
                fail("flac %s/clear/%s: ffmpeg PCM differs from the source (%d vs %d bytes)"
                     % (t, r["base"], len(dec), len(pcm)))
            n += 1
    need("flac: clear FLAC files", n, sum(len(spec(t).codec_reps("flac")) for t in tracks(cat)))
    ok("flac: %d clear FLAC files decode bit-identical to their source" % n)


def check_opus(cat):
    n = 0
    for t in tracks(cat):
        _, reps = set_reps(t, os.path.join(t, "clear"))
        for r in reps:
            if r["codecs"] != "opus":
                continue
            _, ch, _, pcm = read_source(t, r["id"])
            dec = ff_decode(os.path.join(t, "clear", r["base"]), 16)
            frames, dframes = len(pcm) // (2 * ch), len(dec) // (2 * ch)
            # ffmpeg trims the priming but plays the last packet whole (docs/media.md §10)
            if not frames <= dframes < frames + OPUS_FRAME:
                fail("opus %s/%s: %d decoded frames for %d source frames" %
                     (t, r["id"], dframes, frames))
            snr = snr_db(pcm, dec)
            # 48 kbps codes a narrower band (the sweep reaches 16 kHz): only alignment is
            # checked there (a misaligned decode measures about -3 dB)
            bound = 20.0 if r["id"] != "opus_48" else 3.0
            if snr < bound:
                fail("opus %s/%s: SNR %.1f dB < %.0f dB" % (t, r["id"], snr, bound))
            print("   %s/%s: SNR %.1f dB, +%d frames at the end" %
                  (os.path.relpath(t, cat), r["id"], snr, dframes - frames))
            n += 1
    need("opus: clear Opus files", n, sum(len(spec(t).codec_reps("opus")) for t in tracks(cat)))
    ok("opus: %d clear Opus files decode to the source (aligned, SNR checked)" % n)


def check_decrypt(cat):
    n = controls = 0
    # form B: ffmpeg 5.1 decrypts the clear lead too (docs/media.md §10); ampack/hostile checks it
    todo = [t for t in tracks(cat) if not is_hostile(t, "seig")]
    for t in todo:
        seconds = spec(t).seconds
        for s in enc_sets(t):
            with open(os.path.join(s, "keys.json")) as f:
                key = json.load(f)["key"]
            _, reps = set_reps(t, s)
            for r in reps:
                f = os.path.join(s, r["base"])
                clear = os.path.join(t, "clear", r["base"])
                _, ch, bits, pcm = read_source(t, r["id"])
                if r["codecs"] == "flac":
                    want = pcm
                else:
                    want = ff_decode(clear, 16)
                    if len(want) < len(pcm):
                        fail("decrypt %s: the clear twin decodes to %d bytes, source %d" %
                             (clear, len(want), len(pcm)))
                dec = ff_decode(f, bits, key)
                if dec != want:
                    fail("decrypt %s: PCM differs (%d vs %d bytes)" % (f, len(dec), len(want)))
                # control: past the clear lead the file must really be encrypted
                if seconds > CLEAR_LEAD_S:
                    with open(f, "rb") as a, open(clear, "rb") as b:
                        ea, cb = a.read(), b.read()
                    last = r["ranges"][-1]
                    if cb.find(ea[last[1] - 4096:last[1] - 2048]) >= 0:
                        fail("decrypt %s: the last segment is not encrypted" % f)
                    bad = "00" * 16
                    p = run(["ffmpeg", "-v", "quiet", "-decryption_key", bad, "-i", "-", "-f",
                             "s16le" if bits == 16 else "s24le", "-"], stdin=ea, check=False)
                    if p.stdout == want:
                        fail("decrypt %s: a wrong key gives the right PCM" % f)
                    controls += 1
                n += 1
    need("decrypt: encrypted files", n, sum(len(enc_sets(t)) * len(spec(t).reps) for t in todo))
    need("decrypt: wrong-key controls", controls,
         sum(len(enc_sets(t)) * len(spec(t).reps) for t in todo
             if spec(t).seconds > CLEAR_LEAD_S))
    ok("decrypt: %d encrypted files decode (piped ffmpeg -decryption_key) to the clear PCM; "
       "%d past the clear lead do not with a wrong key" % (n, controls))


def gst_launch(args, out):
    p = run(["gst-launch-1.0", "-q"] + args + ["!", "audioconvert", "!",
                                               "audio/x-raw,format=S16LE", "!", "filesink",
                                               "location=" + out], check=False)
    if p.returncode != 0:
        raise RuntimeError("gst-launch: " + p.stderr.decode()[-400:])
    with open(out, "rb") as f:
        return f.read()


def gst_plays_flac(t):
    """A track's FLAC is played through its MPD when its lowest FLAC rendition is at most
    48 kHz or it has no Opus (decided from catalog.jobs, not from the MPD)."""
    hd = spec(t).codec_reps("flac")
    return bool(hd) and (LADDER[hd[0]][1] <= 48000 or not spec(t).codec_reps("opus"))


def check_gst(cat):
    """GStreamer plays the clear MPDs (dashdemux). connection-speed pins the rendition."""
    tmp = tempfile.mkdtemp(prefix="ampack-gst-")
    n = windows = 0
    todo = [t for t in tracks(cat) if not is_hostile(t)]
    try:
        for t in todo:
            mpd = os.path.join(t, "clear", "manifest.mpd")
            _, reps = set_reps(t, os.path.join(t, "clear"))
            hd = sorted((r for r in reps if r["codecs"] == "flac"), key=lambda r: r["bandwidth"])
            sd = sorted((r for r in reps if r["codecs"] == "opus"), key=lambda r: r["bandwidth"])
            out = os.path.join(tmp, "out.raw")
            if gst_plays_flac(t):
                r = hd[0]
                kbps = r["bandwidth"] // 1000 + 1
                # HD is the first AdaptationSet (audio_00); SD, if any, goes to a fakesink
                pads = ["d.audio_00", "!", "queue", "!", "decodebin"]
                if sd:
                    pads = ["d.audio_01", "!", "queue", "!", "fakesink", "async=false"] + pads
                dec = gst_launch(["filesrc", "location=" + mpd, "!", "dashdemux",
                                  "connection-speed=%d" % kbps, "bitrate-limit=1.0", "name=d"] + pads, out)
                _, _, bits, pcm = read_source(t, r["id"])
                if bits == 16 and dec != pcm:
                    fail("gst %s: %s PCM differs from the source" % (mpd, r["id"]))
                if bits == 24 and len(dec) * 3 != len(pcm) * 2:
                    fail("gst %s: %s length differs" % (mpd, r["id"]))
                n += 1
            if sd:
                r = sd[-1] if len(sd) == 1 else sd[1]
                kbps = r["bandwidth"] // 1000 + 1
                pads = ["d.audio_00", "!", "queue", "!", "fakesink", "async=false",
                        "d.audio_01"] if hd else ["d.audio_00"]
                dec = gst_launch(["filesrc", "location=" + mpd, "!", "dashdemux",
                                  "connection-speed=%d" % kbps, "bitrate-limit=1.0", "name=d"] + pads +
                                 ["!", "queue", "!", "decodebin"], out)
                _, ch, _, pcm = read_source(t, r["id"])
                frames = len(pcm) // (2 * ch)
                packets = (frames + 312 + OPUS_FRAME - 1) // OPUS_FRAME
                # dashdemux hands qtdemux fragments without the edit list: it plays every
                # decoded sample, priming and padding included (as for ffmpeg's own DASH
                # output); compare with the priming skipped.
                if len(dec) // (2 * ch) != packets * OPUS_FRAME:
                    fail("gst %s: %s: %d frames, expected %d" %
                         (mpd, r["id"], len(dec) // 4, packets * OPUS_FRAME))
                snr = snr_db(pcm, dec, shift=312 * ch)
                # dashdemux may start on the lowest SD rendition whatever connection-speed
                # says (seen with 1.22), so the full SNR bound holds only with a single SD
                # rendition; with several, every 10 s window must still be aligned.
                if len(sd) == 1 and snr < 20.0:
                    fail("gst %s: %s SNR %.1f dB" % (mpd, r["id"], snr))
                win = SEGMENT_S * 48000 * ch
                seen = 0
                for a in range(0, len(pcm) // 2, win):
                    w = snr_db(pcm[2 * a:2 * (a + win)], dec[2 * a:], shift=312 * ch)
                    if w < 3.0:
                        fail("gst %s: window at %d s misaligned (%.1f dB)" %
                             (mpd, a // (48000 * ch), w))
                    seen += 1
                need("gst %s: 10 s windows" % mpd, seen, math.ceil(spec(t).seconds / SEGMENT_S))
                windows += seen
                # the file alone (qtdemux applies elst and the short last sample): exact length
                f = os.path.join(t, "clear", r["base"])
                dec = gst_launch(["uridecodebin", "uri=file://" + os.path.abspath(f)], out)
                if len(dec) != len(pcm):
                    fail("gst %s: %d bytes, source %d" % (f, len(dec), len(pcm)))
                snr2 = snr_db(pcm, dec)
                if snr2 < 20.0:
                    fail("gst %s: SNR %.1f dB" % (f, snr2))
                print("   %s: %s via MPD SNR %.1f dB; file alone exact length, SNR %.1f dB" %
                      (os.path.relpath(t, cat), r["id"], snr, snr2))
                n += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    need("gst: renditions played", n, sum(gst_plays_flac(t) + bool(spec(t).codec_reps("opus"))
                                          for t in todo))
    ok("gst: %d clear renditions played by GStreamer (%d Opus windows aligned)" % (n, windows))


def check_seams(cat):
    album = os.path.join(cat, "album")
    whole_t = SPEC[os.path.join(album, "continuous")]
    parts_t = [os.path.join(album, t) for t in ("t1", "t2", "t3")]
    n = 0
    for rep in whole_t.reps:
        whole = read_source(os.path.join(album, "continuous"), rep)[3]
        parts = b"".join(read_source(t, rep)[3] for t in parts_t)
        if parts != whole:
            fail("seams: album %s sources do not concatenate to the continuous signal" % rep)
        n += 1
    codecs = sorted({LADDER[r][0] for r in whole_t.reps})
    if codecs != ["flac", "opus"]:
        fail("seams: catalog.jobs gives album/continuous %s, want FLAC and Opus" % codecs)
    ok("seams: album t1+t2+t3 sources equal the continuous %.0f s signal, %d renditions" %
       (whole_t.seconds, n))


# ---------------------------------------------------------------- box walking

def boxes(d, start, end):
    pos = start
    while pos + 8 <= end:
        size, typ = struct.unpack(">I4s", d[pos:pos + 8])
        hdr = 8
        if size == 1:
            size, hdr = struct.unpack(">Q", d[pos + 8:pos + 16])[0], 16
        if size < hdr or pos + size > end:
            raise ValueError("bad box at %d" % pos)
        yield typ.decode("latin1"), pos, pos + hdr, pos + size
        pos += size
    if pos != end:
        raise ValueError("trailing bytes at %d" % pos)


def child(d, start, end, name):
    for t, p, b, e in boxes(d, start, end):
        if t == name:
            return p, b, e
    return None


def path(d, start, end, names):
    r = (start, start, end)
    for n in names:
        r = child(d, r[1], r[2], n)
        if r is None:
            return None
    return r


def entry_children(d, b, e):
    return b + 28, e  # AudioSampleEntry fields are 28 bytes


def check_file(f, r, keys, hostile, clear_twin):
    with open(f, "rb") as fh:
        d = fh.read()
    top = list(boxes(d, 0, len(d)))
    names = [t for t, *_ in top]
    if names[:3] != ["ftyp", "moov", "sidx"]:
        raise ValueError("top boxes start %s" % names[:3])
    if r["init"] != (0, top[1][3] - 1):
        raise ValueError("Initialization range %s, moov ends at %d" % (r["init"], top[1][3]))
    # sidx: references = the MPD's media ranges
    _, sp, sb, se = top[2]
    ver = d[sb]
    ts = struct.unpack(">I", d[sb + 8:sb + 12])[0]
    q = sb + 12 + (16 if ver else 8)
    count = struct.unpack(">H", d[q + 2:q + 4])[0]
    pos = se
    for k in range(count):
        ref, dur, sap = struct.unpack(">III", d[q + 4 + 12 * k:q + 16 + 12 * k])
        if (pos, pos + ref - 1) != r["ranges"][k]:
            raise ValueError("sidx ref %d: %d+%d vs MPD %s" % (k, pos, ref, r["ranges"][k]))
        pos += ref
    if count != len(r["ranges"]) or pos != len(d) or ts != r["rate"]:
        raise ValueError("sidx count/end/timescale")
    moov = top[1]
    stsd = path(d, moov[2], moov[3], ["trak", "mdia", "minf", "stbl", "stsd"])
    n_entries = struct.unpack(">I", d[stsd[1] + 4:stsd[1] + 8])[0]
    entries = list(boxes(d, stsd[1] + 8, stsd[2]))
    codec = "fLaC" if r["codecs"] == "flac" else "Opus"
    form_b = "seig" in hostile
    ivs = 16 if "iv16" in hostile else 8
    if clear_twin:
        if [e[0] for e in entries] != [codec] or child(d, moov[2], moov[3], "pssh"):
            raise ValueError("clear twin: entries %s" % [e[0] for e in entries])
    else:
        want = ["enca"] if form_b else ["enca", codec]
        if [e[0] for e in entries] != want or n_entries != len(want):
            raise ValueError("entries %s, want %s" % ([e[0] for e in entries], want))
        eb, ee = entry_children(d, entries[0][2], entries[0][3])
        frma = path(d, eb, ee, ["sinf", "frma"])
        schm = path(d, eb, ee, ["sinf", "schm"])
        tenc = path(d, eb, ee, ["sinf", "schi", "tenc"])
        if d[frma[1]:frma[1] + 4] != codec.encode() or d[schm[1] + 4:schm[1] + 8] != b"cenc":
            raise ValueError("frma/schm")
        tb = tenc[1] + 4
        if d[tb + 2] != 1 or d[tb + 3] != ivs or d[tb + 4:tb + 20].hex() != keys["kid"]:
            raise ValueError("tenc %s" % d[tb:tb + 20].hex())
        if r["kid"] != keys["kid"]:
            raise ValueError("MPD default_KID %s != keys.json kid" % r["kid"])
        systems = [d[b + 4:b + 20] for t, p, b, e in boxes(d, moov[2], moov[3]) if t == "pssh"]
        if systems != [WIDEVINE_ID, COMMON_ID]:
            raise ValueError("pssh systems %s" % systems)
        if keys["kid"] not in d[moov[2]:moov[3]].hex():
            raise ValueError("KID not in the pssh boxes")
    if r["codecs"] == "opus":
        elst = path(d, moov[2], moov[3], ["trak", "edts", "elst"])
        if not elst or struct.unpack(">q", d[elst[1] + 16:elst[1] + 24])[0] != 312:
            raise ValueError("Opus elst media_time")
    # fragments
    t_expect, seq, iv_prev, n_enc = 0, 0, None, 0
    for k, (a, b) in enumerate(r["ranges"]):
        seg_start = t_expect
        parts = list(boxes(d, a, b + 1))
        if [t for t, *_ in parts][0] != "moof" or len(parts) % 2:
            raise ValueError("segment %d: %s" % (k, [t for t, *_ in parts]))
        if "multimoof" in hostile and len(parts) != 4:
            raise ValueError("segment %d: %d moof, want 2" % (k, len(parts) // 2))
        encrypted = not clear_twin and seg_start >= CLEAR_LEAD_S * r["rate"]
        for (mt, mp, mb, me), (dt, dp, db, de) in zip(parts[0::2], parts[1::2]):
            if mt != "moof" or dt != "mdat":
                raise ValueError("segment %d: moof/mdat pairs" % k)
            mfhd = child(d, mb, me, "mfhd")
            s = struct.unpack(">I", d[mfhd[1] + 4:mfhd[1] + 8])[0]
            if s != seq + 1:
                raise ValueError("mfhd sequence %d after %d" % (s, seq))
            seq = s
            traf = child(d, mb, me, "traf")
            tfhd = child(d, traf[1], traf[2], "tfhd")
            flags = struct.unpack(">I", d[tfhd[1]:tfhd[1] + 4])[0] & 0xffffff
            if not flags & 0x020000 or not flags & 2:
                raise ValueError("tfhd flags %x" % flags)
            sdi = struct.unpack(">I", d[tfhd[1] + 8:tfhd[1] + 12])[0]
            tfdt = child(d, traf[1], traf[2], "tfdt")
            tv = d[tfdt[1]]
            if tv != (0 if "tfdt0" in hostile else 1):
                raise ValueError("tfdt version %d" % tv)
            base = struct.unpack(">Q" if tv else ">I", d[tfdt[1] + 4:tfdt[1] + (12 if tv else 8)])[0]
            if base != t_expect:
                raise ValueError("tfdt %d, expected %d" % (base, t_expect))
            trun = child(d, traf[1], traf[2], "trun")
            tf = struct.unpack(">I", d[trun[1]:trun[1] + 4])[0] & 0xffffff
            cnt, off = struct.unpack(">Ii", d[trun[1] + 4:trun[1] + 12])
            if tf != 0x301 or mp + off != db:
                raise ValueError("trun flags %x, data at %d, mdat data at %d" % (tf, mp + off, db))
            sizes = []
            for i in range(cnt):
                du, sz = struct.unpack(">II", d[trun[1] + 12 + 8 * i:trun[1] + 20 + 8 * i])
                t_expect += du
                sizes.append(sz)
            if sum(sizes) != de - db:
                raise ValueError("trun sizes %d, mdat %d" % (sum(sizes), de - db))
            senc = child(d, traf[1], traf[2], "senc")
            sbgp = child(d, traf[1], traf[2], "sbgp")
            if not encrypted:
                if senc or child(d, traf[1], traf[2], "saio"):
                    raise ValueError("clear fragment with senc/saio")
                if not clear_twin and form_b:
                    sgpd = child(d, traf[1], traf[2], "sgpd")
                    if not sbgp or not sgpd or d[sgpd[1] + 4:sgpd[1] + 8] != b"seig" or \
                            d[sgpd[1] + 16 + 2] != 0 or sdi != 1:
                        raise ValueError("form B clear fragment without seig isProtected=0")
                elif not clear_twin and sdi != 2:
                    raise ValueError("form A clear fragment with sample description %d" % sdi)
                continue
            n_enc += 1
            if sdi != 1 or not senc:
                raise ValueError("encrypted fragment: sdi %d, senc %s" % (sdi, bool(senc)))
            sflags = struct.unpack(">I", d[senc[1]:senc[1] + 4])[0] & 0xffffff
            scount = struct.unpack(">I", d[senc[1] + 4:senc[1] + 8])[0]
            saio = child(d, traf[1], traf[2], "saio")
            saiz = child(d, traf[1], traf[2], "saiz")
            so = struct.unpack(">I", d[saio[1] + 8:saio[1] + 12])[0]
            if scount != cnt or mp + so != senc[0] + 16:
                raise ValueError("senc count %d/%d, saio -> %d, senc IVs at %d" %
                                 (scount, cnt, mp + so, senc[0] + 16))
            sub = "subsample" in hostile
            if sflags != (2 if sub else 0) or d[saiz[1] + 4] != (ivs + 14 if sub else ivs):
                raise ValueError("senc flags %d, saiz size %d" % (sflags, d[saiz[1] + 4]))
            q = senc[1] + 8
            for i in range(cnt):
                iv = int.from_bytes(d[q:q + 8], "big")
                if iv_prev is not None and iv != iv_prev + 1:
                    raise ValueError("IV %x after %x" % (iv, iv_prev))
                iv_prev = iv
                q += ivs
                if sub:
                    ns = struct.unpack(">H", d[q:q + 2])[0]
                    tot = 0
                    for j in range(ns):
                        c, p_ = struct.unpack(">HI", d[q + 2 + 6 * j:q + 8 + 6 * j])
                        tot += c + p_
                    if tot != sizes[i]:
                        raise ValueError("subsamples cover %d of %d" % (tot, sizes[i]))
                    q += 2 + 6 * ns
            if q != senc[2]:
                raise ValueError("senc length")
        if t_expect - seg_start > SEGMENT_S * r["rate"] + 4096 and k < len(r["ranges"]) - 1:
            raise ValueError("segment %d lasts %d" % (k, t_expect - seg_start))
    return n_enc, len(r["ranges"]), t_expect


def check_structure(cat):
    n = enc_total = 0
    for t in tracks(cat):
        hostile = spec(t).hostile
        for s in all_sets(t):
            clear = s.endswith("clear")
            keys = None
            if not clear:
                with open(os.path.join(s, "keys.json")) as f:
                    keys = json.load(f)
                if sorted(keys) != ["key", "kid"] or len(keys["kid"]) != 32 or \
                        len(keys["key"]) != 32:
                    fail("keys.json %s: %s" % (s, keys))
            _, reps = set_reps(t, s)
            for r in reps:
                f = os.path.join(s, r["base"])
                try:
                    n_enc, n_seg, dur = check_file(f, r, keys, hostile, clear)
                except (ValueError, TypeError, IndexError, struct.error) as e:
                    fail("structure %s: %s" % (f, e))
                    continue
                # what catalog.jobs asks for: one segment per started 10 s, the source's
                # frames (+ the priming for Opus), and in an encrypted set every fragment of
                # the segments that start at or after the 30 s clear lead encrypted
                sp = spec(t)
                opus = r["codecs"] == "opus"
                want_dur = sp.frames(r["id"]) + (312 if opus else 0)
                want_seg = math.ceil(sp.seconds / SEGMENT_S)
                moofs = 2 if "multimoof" in hostile else 1
                want_enc = 0 if clear else moofs * max(0, want_seg - CLEAR_LEAD_S // SEGMENT_S)
                if (n_seg, dur, n_enc) != (want_seg, want_dur, want_enc):
                    fail("structure %s: %d segments, %d ticks, %d encrypted fragments; want "
                         "%d, %d, %d" % (f, n_seg, dur, n_enc, want_seg, want_dur, want_enc))
                n += 1
                enc_total += n_enc
    need("structure: files", n, sum(len(all_sets(t)) * len(spec(t).reps) for t in tracks(cat)))
    ok("structure: %d files: init range, sidx = MPD ranges, stsd/sinf/tenc/pssh, clear lead, "
       "senc/saiz/saio, tfdt, trun, IVs; %d encrypted fragments" % (n, enc_total))


def check_keys(cat):
    """Variants: same audio, different KID and key; MPD signalling matches."""
    n = n_aset = n_init = 0
    for t in tracks(cat):
        sets = enc_sets(t)
        seen = set()
        for s in sets:
            with open(os.path.join(s, "keys.json")) as f:
                k = json.load(f)
            if (k["kid"] in seen or k["key"] in seen):
                fail("keys %s: KID or key repeats across variants" % s)
            seen.update((k["kid"], k["key"]))
            root, reps = set_reps(t, s)
            for aset in root.iter("{%s}AdaptationSet" % NS["d"]):
                n_aset += 1
                cps = {cp.get("schemeIdUri"): cp for cp in aset.findall("d:ContentProtection", NS)}
                wv = cps.get("urn:uuid:" + WIDEVINE)
                ck = cps.get("urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e")
                if wv is None or wv.find("cenc:pssh", NS) is None or \
                        wv.find("amz3p:LicenseUrl", NS) is None:
                    fail("keys %s: Widevine ContentProtection incomplete" % s)
                    continue
                import base64
                box = base64.b64decode(wv.find("cenc:pssh", NS).text)
                if box[4:8] != b"pssh" or box[12:28] != WIDEVINE_ID or bytes.fromhex(k["kid"]) \
                        not in box:
                    fail("keys %s: Widevine pssh" % s)
                if ck is None or ck.find("dashif:Laurl", NS) is None:
                    fail("keys %s: ClearKey ContentProtection with dashif:Laurl missing" % s)
                props = {p.get("schemeIdUri"): p.get("value")
                         for p in aset.findall("d:SupplementalProperty", NS)}
                pl = props.get("urn:mpeg:mpegB:cicp:ProgramLoudness", "")
                if not pl.endswith(" LUFS") or not -40 < float(pl.split()[0]) < 0:
                    fail("keys %s: ProgramLoudness %r" % (s, pl))
            for r in reps:
                with open(os.path.join(s, r["base"]), "rb") as f:
                    init = f.read(r["init"][1] + 1)
                if bytes.fromhex(k["kid"]) not in init:
                    fail("keys %s/%s: KID not in the init segment" % (s, r["id"]))
                n_init += 1
            n += 1
    need("keys: sets", n, sum(len(enc_sets(t)) for t in tracks(cat)))
    # one AdaptationSet per codec (HD FLAC, SD Opus), each rendition's init segment
    need("keys: AdaptationSets", n_aset,
         sum(len(enc_sets(t)) * len({LADDER[r][0] for r in spec(t).reps}) for t in tracks(cat)))
    need("keys: init segments", n_init,
         sum(len(enc_sets(t)) * len(spec(t).reps) for t in tracks(cat)))
    ok("keys: %d sets: keys.json matches MPD default_KID, pssh and tenc; variants differ" % n)


def check_determinism(cat, ampack):
    tmp = tempfile.mkdtemp(prefix="ampack-det-")
    try:
        # short12 as make_catalog.sh made it (the same catalog.jobs line)
        with open(JOBS) as f:
            line = [ln for ln in f.read().splitlines() if ln.startswith("short12 ")][0]
        args = line.split()[1:] + ["--license-url", "https://127.0.0.1:8443/license"]
        for d in ("a", "b"):
            run([ampack, "--out", os.path.join(tmp, d)] + args)
        made = set()
        for root, _, files in os.walk(os.path.join(tmp, "a")):
            made.update(os.path.relpath(os.path.join(root, f), tmp) for f in files)
        want = {os.path.join("a", os.path.relpath(f, "short12"))
                for f in Track(line).files()}
        if made != want:
            fail("determinism: ampack wrote %s, catalog.jobs asks for %s" %
                 (sorted(made)[:10], sorted(want)[:10]))
        for d in ("b", os.path.join(cat, "short12")):
            p = run(["diff", "-r", os.path.join(tmp, "a"), os.path.join(tmp, d)], check=False)
            if p.returncode != 0:
                fail("determinism: output differs from %s: %s" % (d, p.stdout.decode()[:400]))
        # --wav: the catalog's own source WAV packages to the same files
        m = os.path.join(cat, "mid45")
        w = os.path.join(tmp, "wav")
        run([ampack, "--out", w, "--wav", os.path.join(m, "source", "flac_24_96.wav"),
             "--reps", "flac_24_96", "--track-id", "mid45", "--seed", "45", "--variants", "2"])
        n = 0
        for f in ("clear/flac_24_96.mp4", "v1/flac_24_96.mp4", "v2/flac_24_96.mp4",
                  "v2/keys.json", "source/flac_24_96.wav"):
            with open(os.path.join(w, f), "rb") as a, open(os.path.join(m, f), "rb") as b:
                if a.read() != b.read():
                    fail("determinism: --wav gives a different %s" % f)
            n += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ok("determinism: two runs (%d files each) and the catalog's short12 are byte-identical; "
       "--wav of a catalog source reproduces its %d files" % (len(made), n))


def check_hostile(cat):
    """Hostile forms ffmpeg can read: decrypt bit-exact; form B: the encrypted part is right."""
    n = 0
    todo = [t for t in tracks(cat) if is_hostile(t)]
    for t in todo:
        with open(os.path.join(t, "keys.json")) as f:
            key = json.load(f)["key"]
        rate, ch, bits, pcm = read_source(t, "flac_16_44")
        seig = is_hostile(t, "seig")
        dec = ff_decode(os.path.join(t, "flac_16_44.mp4"), 16, key, check=not seig)
        if not seig:
            if dec != pcm:
                fail("hostile %s: decrypted FLAC differs" % t)
        else:
            # ffmpeg 5.1 'decrypts' the form B clear lead (docs/media.md §10); after it the PCM
            # must still match the source, aligned from the end. The first encrypted sample is
            # the first FLAC frame (fixed blocksize) that starts at or after the clear lead.
            first = -(-CLEAR_LEAD_S * rate // FLAC_BLOCK) * FLAC_BLOCK
            tail = (len(pcm) // (ch * 2) - first) * ch * 2
            if tail <= 0 or dec[-tail:] != pcm[-tail:]:
                fail("hostile %s: encrypted part of form B differs" % t)
        n += 1
    need("hostile: hostile FLAC files", n, len(todo))
    if len(todo) != 6:  # catalog.jobs: the five forms one at a time, and all at once
        fail("hostile: catalog.jobs makes %d hostile tracks, want 6" % len(todo))
    ok("hostile: %d hostile FLAC files decrypt right with ffmpeg" % n)


CHECKS = {"xmllint": check_xmllint, "ffprobe": check_ffprobe, "flac": check_flac,
          "opus": check_opus, "decrypt": check_decrypt, "gst": check_gst, "seams": check_seams,
          "structure": check_structure, "keys": check_keys, "hostile": check_hostile}


def main():
    if len(sys.argv) < 3 or (sys.argv[2] not in CHECKS and sys.argv[2] != "determinism"):
        print(__doc__)
        print("checks:", " ".join(list(CHECKS) + ["determinism"]))
        return 2
    cat = sys.argv[1]
    if not os.path.isdir(cat):
        print("no catalog at", cat)
        return 1
    try:
        for t in load_jobs():
            SPEC[os.path.join(cat, t.dir)] = t
        check_layout(cat)
        if sys.argv[2] == "determinism":
            check_determinism(cat, sys.argv[3])
        else:
            CHECKS[sys.argv[2]](cat)
    except (RuntimeError, ValueError, OSError, KeyError) as e:
        fail("%s: %s" % (sys.argv[2], e))
    print("%s: %d failure(s)" % (sys.argv[2], len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
