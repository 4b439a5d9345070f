#!/usr/bin/env python3
"""Write a grown seed (see grow.h): REST with COUNT copies of CHUNK inserted at the first
occurrence of MARKER in REST (or at byte OFFSET when MARKER is a number).

usage: grow_seed.py OUT REST_FILE MARKER COUNT CHUNK
  CHUNK is a Python bytes literal body, e.g. '<SegmentURL mediaRange="0-9"/>\\n'.
"""
import struct
import sys


def main():
    out, rest_file, marker, count, chunk = sys.argv[1:6]
    rest = open(rest_file, 'rb').read()
    if marker.isdigit():
        off = int(marker)
    else:
        off = rest.index(marker.encode())
    chunk_b = chunk.encode('latin-1').decode('unicode_escape').encode('latin-1')
    assert 0 < len(chunk_b) < 65536
    with open(out, 'wb') as f:
        f.write(b'AMPDGROW' + struct.pack('>IIH', off, int(count), len(chunk_b)) + chunk_b + rest)


if __name__ == '__main__':
    main()
