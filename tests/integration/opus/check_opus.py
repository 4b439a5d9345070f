#!/usr/bin/env python3
"""ampd's Opus output against an independent libopus decode, sample for sample.

usage: check_opus.py AMPPROBE CATALOG LIBOPUS

For every Opus rendition of every encrypted set (key variant) of every track in the ampack
catalog (the list is tests/integration/ampack/catalog.jobs), two decodes must be identical:

  ampd       ampprobe decode of the ENCRYPTED rendition through its MPD: ampd's manifest
             parser, mp4 demuxer, CENC decrypt (ClearKey CDM), Opus decoder and the trim of
             the priming (edit list media_time) and of the short last sample.
  reference  the CLEAR twin's packets, taken out of the file by the small box walker of
             check_catalog.py (no code shared with src/media or tools/ampack), decoded by
             libopus itself (LIBOPUS, through ctypes: opus_decode to 16 bit at 48 kHz, the
             dOps channel count and output gain), then the first media_time samples dropped
             and segment_duration samples kept (the elst entry).

Both sides call the same libopus to 16 bit at 48 kHz with the same gain and the same
packets in the same order from a fresh decoder, so the bound is exact: every sample equal.
The reference is also held against the source WAV (length exact, SNR >= 20 dB above
48 kbps), so two equally wrong decodes cannot agree. Controls: one flipped sample and a
different rendition's decode must both be told apart.
"""
import ctypes
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ampack"))
import check_catalog as cc  # noqa: E402  (the catalog list and the independent box walker)

MAX_FRAME = 5760  # 120 ms at 48 kHz, the longest Opus packet
RATE = 48000
RUN_TIMEOUT_S = 600  # one ampprobe run under ASan; a hang is a failure

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


# ---------------------------------------------------------------- the clear twin, by hand

def u32(d, p):
    return struct.unpack(">I", d[p:p + 4])[0]


def opus_track(path):
    """(dOps fields, elst (segment_duration, media_time) in media ticks, packets)."""
    with open(path, "rb") as f:
        d = f.read()
    top = {t: (p, b, e) for t, p, b, e in cc.boxes(d, 0, len(d)) if t != "moof" and t != "mdat"}
    moov = top["moov"]
    mvhd = cc.child(d, moov[1], moov[2], "mvhd")
    movie_ts = u32(d, mvhd[1] + (20 if d[mvhd[1]] == 1 else 12))
    mdhd = cc.path(d, moov[1], moov[2], ["trak", "mdia", "mdhd"])
    media_ts = u32(d, mdhd[1] + (20 if d[mdhd[1]] == 1 else 12))
    stsd = cc.path(d, moov[1], moov[2], ["trak", "mdia", "minf", "stbl", "stsd"])
    entries = list(cc.boxes(d, stsd[1] + 8, stsd[2]))
    if [e[0] for e in entries] != ["Opus"]:
        raise ValueError("%s: sample entries %s, want one Opus" % (path, [e[0] for e in entries]))
    eb, ee = cc.entry_children(d, entries[0][2], entries[0][3])
    dops = cc.child(d, eb, ee, "dOps")
    b = dops[1]
    ver, ch, preskip, in_rate, gain, family = struct.unpack(">BBHIhB", d[b:b + 11])
    elst = cc.path(d, moov[1], moov[2], ["trak", "edts", "elst"])
    ev = d[elst[1]]
    if u32(d, elst[1] + 4) != 1:
        raise ValueError("%s: elst with %d entries" % (path, u32(d, elst[1] + 4)))
    if ev == 1:
        seg_dur, media_time = struct.unpack(">Qq", d[elst[1] + 8:elst[1] + 24])
    else:
        seg_dur, media_time = struct.unpack(">Ii", d[elst[1] + 8:elst[1] + 16])
    seg_dur = seg_dur * media_ts // movie_ts
    # every moof/mdat pair: trun sample sizes, data at moof + data_offset (tfhd 0x020000)
    packets, durations = [], []
    for t, p, bb, e in cc.boxes(d, 0, len(d)):
        if t != "moof":
            continue
        traf = cc.child(d, bb, e, "traf")
        tfhd = cc.child(d, traf[1], traf[2], "tfhd")
        tff = u32(d, tfhd[1]) & 0xffffff
        q = tfhd[1] + 8
        base = p
        if tff & 0x1:
            base = struct.unpack(">Q", d[q:q + 8])[0]
            q += 8
        if tff & 0x2:
            q += 4
        def_dur = def_size = None
        if tff & 0x8:
            def_dur = u32(d, q)
            q += 4
        if tff & 0x10:
            def_size = u32(d, q)
            q += 4
        trun = cc.child(d, traf[1], traf[2], "trun")
        trf = u32(d, trun[1]) & 0xffffff
        cnt = u32(d, trun[1] + 4)
        q = trun[1] + 8
        off = 0
        if trf & 0x1:
            off = struct.unpack(">i", d[q:q + 4])[0]
            q += 4
        if trf & 0x4:
            q += 4
        pos = base + off
        for _ in range(cnt):
            dur, size = def_dur, def_size
            if trf & 0x100:
                dur = u32(d, q)
                q += 4
            if trf & 0x200:
                size = u32(d, q)
                q += 4
            q += 4 * bool(trf & 0x400) + 4 * bool(trf & 0x800)
            packets.append(d[pos:pos + size])
            durations.append(dur)
            pos += size
    dops_fields = {"version": ver, "channels": ch, "preskip": preskip, "gain": gain,
                   "family": family, "input_rate": in_rate}
    return dops_fields, (seg_dur, media_time), packets, durations


class Libopus:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.opus_decoder_create.restype = ctypes.c_void_p
        self.lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int,
                                                 ctypes.POINTER(ctypes.c_int)]
        self.lib.opus_decode.restype = ctypes.c_int
        self.lib.opus_decode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32,
                                         ctypes.POINTER(ctypes.c_int16), ctypes.c_int,
                                         ctypes.c_int]
        self.lib.opus_decoder_ctl.restype = ctypes.c_int
        self.lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
        self.lib.opus_get_version_string.restype = ctypes.c_char_p

    def decode(self, packets, channels, gain):
        """Every packet, in order, from a fresh decoder: interleaved 16-bit PCM bytes."""
        err = ctypes.c_int(0)
        dec = self.lib.opus_decoder_create(RATE, channels, ctypes.byref(err))
        if not dec or err.value != 0:
            raise RuntimeError("opus_decoder_create: %d" % err.value)
        try:
            OPUS_SET_GAIN_REQUEST = 4034
            r = self.lib.opus_decoder_ctl(ctypes.c_void_p(dec), ctypes.c_int(OPUS_SET_GAIN_REQUEST),
                                          ctypes.c_int(gain))
            if r != 0:
                raise RuntimeError("OPUS_SET_GAIN: %d" % r)
            buf = (ctypes.c_int16 * (MAX_FRAME * channels))()
            out = []
            for i, pkt in enumerate(packets):
                n = self.lib.opus_decode(dec, pkt, len(pkt), buf, MAX_FRAME, 0)
                if n <= 0:
                    raise RuntimeError("opus_decode packet %d: %d" % (i, n))
                out.append(ctypes.string_at(buf, n * channels * 2))
            return b"".join(out)
        finally:
            self.lib.opus_decoder_destroy(dec)


# ---------------------------------------------------------------- comparing

def differ(a, b, ch):
    """None if a == b, else a one-line account of where 16-bit PCM a and b differ."""
    if a == b:
        return None
    if len(a) != len(b):
        return "%d vs %d frames" % (len(a) // (2 * ch), len(b) // (2 * ch))
    x, y = memoryview(a).cast("h"), memoryview(b).cast("h")
    bad = [i for i in range(len(x)) if x[i] != y[i]]
    worst = max(abs(x[i] - y[i]) for i in bad)
    return "%d of %d samples differ, the first at frame %d, by up to %d" % (
        len(bad), len(x), bad[0] // ch, worst)


def reference(lib, track, rep, source):
    """libopus decode of track/clear/<rep>.mp4, trimmed as its elst says; held to the source."""
    dops, (seg_dur, media_time), packets, durations = opus_track(
        os.path.join(track, "clear", rep + ".mp4"))
    ch = dops["channels"]
    if dops["version"] != 0 or dops["family"] != 0 or ch != 2:
        raise ValueError("%s/%s: dOps %s (this reference handles family 0 stereo)" %
                         (track, rep, dops))
    if media_time != dops["preskip"]:
        raise ValueError("%s/%s: elst media_time %d, dOps PreSkip %d" %
                         (track, rep, media_time, dops["preskip"]))
    pcm = lib.decode(packets, ch, dops["gain"])
    if sum(durations) != media_time + seg_dur or len(pcm) // (2 * ch) < media_time + seg_dur:
        raise ValueError("%s/%s: %d packets last %d, decode %d frames, elst wants %d+%d" %
                         (track, rep, len(packets), sum(durations), len(pcm) // (2 * ch),
                          media_time, seg_dur))
    ref = pcm[media_time * ch * 2:(media_time + seg_dur) * ch * 2]
    _, sch, _, src = source
    if len(ref) != len(src):
        raise ValueError("%s/%s: reference %d frames, source %d" %
                         (track, rep, len(ref) // (2 * ch), len(src) // (2 * sch)))
    return ref, ch, len(packets)


def ampprobe_decode(ampprobe, mpd, keys, rep, out):
    p = subprocess.run([ampprobe, "decode", "-o", out, "--rep", rep, "--keys", keys, mpd],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=RUN_TIMEOUT_S)
    if p.returncode != 0:
        raise RuntimeError("ampprobe decode %s --rep %s: exit %d: %s" %
                           (mpd, rep, p.returncode, p.stderr.decode()[-400:]))
    rate, ch, bits, pcm = cc.read_wav(out)
    if (rate, ch, bits) != (RATE, 2, 16):
        raise ValueError("%s: ampprobe wrote %d Hz %d ch %d bit" % (out, rate, ch, bits))
    return pcm


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    ampprobe, cat, libpath = sys.argv[1:]
    lib = Libopus(libpath)
    print("reference: %s (%s)" % (lib.lib.opus_get_version_string().decode(), libpath))
    jobs = cc.load_jobs()
    for t in jobs:
        cc.SPEC[os.path.join(cat, t.dir)] = t
    tmp = tempfile.mkdtemp(prefix="ampd-opus-")
    n = frames = 0
    want = sum(len(t.codec_reps("opus")) * len(t.sets) for t in jobs if not t.source_only)
    decoded = {}
    try:
        for t in jobs:
            if t.source_only:
                continue
            track = os.path.join(cat, t.dir)
            for rep, s in [(r, os.path.normpath(os.path.join(track, v)))
                           for r in t.codec_reps("opus") for v in t.sets]:
                try:
                    source = cc.read_source(track, rep)
                    ref, ch, npk = reference(lib, track, rep, source)
                    snr = cc.snr_db(source[3], ref)
                    bound = 20.0 if rep != "opus_48" else 3.0  # 48 kbps: alignment only
                    if snr < bound:
                        fail("%s/%s: the reference is %.1f dB from the source (< %.0f)" %
                             (t.dir, rep, snr, bound))
                    ours = ampprobe_decode(ampprobe, os.path.join(s, "manifest.mpd"),
                                           os.path.join(s, "keys.json"), rep,
                                           os.path.join(tmp, "out.wav"))
                except (RuntimeError, ValueError, OSError, KeyError, TypeError,
                        struct.error, subprocess.TimeoutExpired) as e:
                    fail("%s/%s: %s" % (t.dir, rep, e))
                    continue
                why = differ(ours, ref, ch)
                if why:
                    fail("%s/%s (%s): ampd differs from libopus: %s" %
                         (t.dir, rep, os.path.relpath(s, cat), why))
                # control: the comparison sees one flipped sample
                mid = (len(ours) // 4) * 2
                flipped = ours[:mid] + struct.pack("<h", struct.unpack("<h", ours[mid:mid + 2])[0] ^ 1) + ours[mid + 2:]
                if differ(flipped, ref, ch) is None:
                    fail("%s/%s: one flipped sample is not seen" % (t.dir, rep))
                if s == os.path.normpath(os.path.join(track, t.sets[0])):
                    decoded.setdefault(t.dir, {})[rep] = (ours, ref)
                print("   %s %s: %d packets, %d frames, identical to libopus; "
                      "reference SNR %.1f dB" % (os.path.relpath(s, cat), rep, npk,
                                                 len(ref) // (2 * ch), snr))
                n += 1
                frames += len(ref) // (2 * ch)
        # control: another rendition of the same track (same length) is told apart
        controls = 0
        for reps in decoded.values():
            ids = sorted(reps)
            for a, b in zip(ids, ids[1:]):
                if differ(reps[a][0], reps[b][1], 2) is None:
                    fail("ampd's %s equals the reference of %s" % (a, b))
                controls += 1
        if controls < 1:
            fail("no track with two Opus renditions for the cross-rendition control")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if n != want:
        fail("compared %d encrypted Opus files, catalog.jobs makes %d" % (n, want))
    if want < 10:
        fail("catalog.jobs makes only %d encrypted Opus files" % want)
    print("opus: %d encrypted files, %d frames (%.0f s) compared with libopus; %d failure(s)"
          % (n, frames, frames / RATE, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
