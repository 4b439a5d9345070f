#!/usr/bin/env python3
"""wavcmp.py A.wav B.wav [--exact | --snr DB] [--frames N]

Compare the PCM of two WAV files (PCM or WAVE_FORMAT_EXTENSIBLE, 16 or 24 bits) by their
data chunks, not their headers. --exact (the default): same format and identical samples.
--snr DB: same format and frame count, and a signal-to-noise ratio of B against A of at
least DB. --frames N also requires both to hold exactly N frames. --offset N compares B
against A from A's frame N on (A seeked). Exit 0 when it holds;
otherwise one line saying where they differ, and exit 1.
"""
import math
import struct
import sys


def read_wav(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    pos, fmt, pcm = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            tag, ch, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            fmt = (tag, ch, rate, bits)
        elif cid == b"data":
            pcm = body
        pos += 8 + size + (size & 1)
    if fmt is None or pcm is None:
        raise ValueError(f"{path}: no fmt or data chunk")
    tag, ch, rate, bits = fmt
    if tag not in (1, 0xFFFE) or bits not in (16, 24):
        raise ValueError(f"{path}: unsupported format tag {tag:#x} / {bits} bits")
    return ch, rate, bits, pcm


def samples(bits, pcm):
    if bits == 16:
        return struct.unpack(f"<{len(pcm) // 2}h", pcm)
    out = []
    for i in range(0, len(pcm) - 2, 3):
        v = pcm[i] | pcm[i + 1] << 8 | pcm[i + 2] << 16
        out.append(v - (1 << 24) if v & 0x800000 else v)
    return out


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    a, b = read_wav(argv[1]), read_wav(argv[2])
    mode, snr_min, frames, offset = "exact", None, None, 0
    i = 3
    while i < len(argv):
        if argv[i] == "--exact":
            mode = "exact"
        elif argv[i] == "--snr":
            mode, snr_min = "snr", float(argv[i + 1])
            i += 1
        elif argv[i] == "--offset":
            offset = int(argv[i + 1])
            i += 1
        elif argv[i] == "--frames":
            frames = int(argv[i + 1])
            i += 1
        i += 1
    if offset:
        fb = (a[2] // 8) * a[0]
        a = (a[0], a[1], a[2], a[3][offset * fb:])
    if a[:3] != b[:3]:
        print(f"format differs: {a[:3]} vs {b[:3]} (channels, rate, bits)")
        return 1
    ch, _, bits, _ = a
    fa, fb = len(a[3]) // (ch * bits // 8), len(b[3]) // (ch * bits // 8)
    if fa != fb:
        print(f"frame count differs: {fa} vs {fb}")
        return 1
    if frames is not None and fa != frames:
        print(f"expected {frames} frames, both have {fa}")
        return 1
    if mode == "exact":
        if a[3] != b[3]:
            first = next(i for i in range(len(a[3])) if a[3][i] != b[3][i])
            print(f"PCM differs from byte {first} (frame {first // (ch * bits // 8)})")
            return 1
        print(f"identical: {fa} frames, {ch} ch, {bits} bit")
        return 0
    sa, sb = samples(bits, a[3]), samples(bits, b[3])
    sig = sum(x * x for x in sa)
    err = sum((x - y) ** 2 for x, y in zip(sa, sb))
    snr = math.inf if err == 0 else 10 * math.log10(sig / err) if sig else -math.inf
    if snr < snr_min:
        print(f"SNR {snr:.1f} dB below {snr_min} dB")
        return 1
    print(f"SNR {snr:.1f} dB >= {snr_min} dB over {fa} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
