#!/usr/bin/env python3
"""The second half of scripts/demo.sh: the mock, the daemon, linking, browsing, playing.

usage: demo_play.py --out DIR --ampd BIN --ampctl BIN --cdm-dir DIR
                    [--alsa DEVICE | --speed N]

DIR holds catalog/ and certs/ (made by demo.sh). Prints what a person would see. Without
--alsa the daemon plays into its pipe backend, a FIFO that this script reads at N times
the real rate (the device's pace: the audio clock, what `ampctl watch` shows, moves at
it) and writes as DIR/played.wav; then it compares that WAV's PCM with the source's bit
for bit.
"""

import argparse
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK = os.path.join(HERE, "..", "tools", "mock", "ampmock.py")
GUARD_S = 300


def start_mock(out):
    port_file = os.path.join(out, "mock.port")
    log = open(os.path.join(out, "mock.log"), "wb")
    proc = subprocess.Popen([sys.executable, MOCK, "--certs", os.path.join(out, "certs"),
                             "--root", os.path.join(out, "catalog"), "--port", "0",
                             "--port-file", port_file, "--max-lifetime", "900",
                             "--parent-pid", str(os.getpid())],
                            stdout=subprocess.DEVNULL, stderr=log)
    end = time.monotonic() + 30
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > end:
            sys.exit("demo: the mock did not start (see %s/mock.log)" % out)
        time.sleep(0.05)
    with open(port_file, encoding="ascii") as f:
        return proc, int(f.read())


def mock_post(out, port, path, obj):
    ctx = ssl.create_default_context(cafile=os.path.join(out, "certs", "ca.pem"))
    c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=30)
    body = json.dumps(obj).encode()
    c.request("POST", path, body, {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def ctl(args, sock, *cmd):
    r = subprocess.run([args.ampctl, "-s", sock, "--json"] + list(cmd), capture_output=True,
                       timeout=60, check=False)
    if r.returncode != 0:
        sys.exit("demo: ampctl %s failed: %s%s" % (" ".join(cmd), r.stdout.decode(),
                                                  r.stderr.decode()))
    reply = json.loads(r.stdout.decode().strip().splitlines()[-1])
    return reply.get("result", reply)


def wav_pcm(path):
    with open(path, "rb") as f:
        data = f.read()
    off = 12
    while off + 8 <= len(data):
        size = int.from_bytes(data[off + 4:off + 8], "little")
        if data[off:off + 4] == b"data":
            return data[off + 8:off + 8 + size]
        off += 8 + size + (size & 1)
    sys.exit("demo: no data chunk in %s" % path)


class FifoToWav:
    """Reads the daemon's FIFO at speed x the real rate (16-bit stereo, 44.1 kHz) into a
    WAV file, until the daemon closes it."""

    RATE, BYTES_PER_FRAME = 44100, 4

    def __init__(self, fifo, wav_path, speed):
        self.fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the daemon opens the writer
        os.set_blocking(self.fd, True)
        self.wav = wave.open(wav_path, "wb")
        self.wav.setnchannels(2)
        self.wav.setsampwidth(2)
        self.wav.setframerate(self.RATE)
        self.rate = self.RATE * self.BYTES_PER_FRAME * speed  # bytes a second
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        chunk = max(4, int(self.rate / 20) // 4 * 4)  # 50 ms of it
        t0, got = time.monotonic(), 0
        while not self.stop:
            data = os.read(self.fd, chunk)
            if not data:  # the writer closed it (and there is a writer only once opened)
                if got:
                    break
                time.sleep(0.05)
                continue
            self.wav.writeframesraw(data)
            got += len(data)
            ahead = got / self.rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)

    def close(self):
        self.stop = True
        self.thread.join(timeout=30)
        os.close(self.fd)
        self.wav.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--ampd", required=True)
    ap.add_argument("--ampctl", required=True)
    ap.add_argument("--cdm-dir", required=True)
    ap.add_argument("--alsa")
    ap.add_argument("--speed", type=float, default=4.0,
                    help="read the FIFO at this many times the real rate (default 4)")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    mock, port = start_mock(out)
    state, run = os.path.join(out, "state"), os.path.join(out, "run")
    os.makedirs(state, mode=0o700, exist_ok=True)
    os.makedirs(run, mode=0o700, exist_ok=True)
    fifo, played = os.path.join(out, "play.fifo"), os.path.join(out, "played.wav")
    if not args.alsa:
        os.mkfifo(fifo, 0o600)
    output = ("backend = alsa\ndevice = %s\n" % args.alsa) if args.alsa else (
        "backend = pipe\ndevice = S16:%s\n" % fifo)
    conf = os.path.join(out, "ampd.conf")
    with open(conf, "w", encoding="ascii") as f:
        f.write("[service]\nlwa_url = https://localhost:%d/lwa\napi_url = https://localhost:%d/api/\n"
                "client_id = amzn1.application-oa2-client.ampdtest\nca_file = %s\n"
                "capabilities = STD_RES,HI_FI\n[output]\n%s"
                "[paths]\nstate_dir = %s\nruntime_dir = %s\ncdm_dir = %s\ncdm = clearkey\n"
                % (port, port, os.path.join(out, "certs", "ca.pem"), output, state, run,
                   os.path.abspath(args.cdm_dir)))
    sock = os.path.join(run, "control")
    log = open(os.path.join(out, "ampd.log"), "wb")
    print("== ampd -c %s" % conf)
    daemon = subprocess.Popen([args.ampd, "-c", conf], stdout=log, stderr=subprocess.STDOUT)
    reader, watch = None, None
    try:
        end = time.monotonic() + 30
        while not os.path.exists(sock):
            if daemon.poll() is not None or time.monotonic() > end:
                sys.exit("demo: ampd did not start (see %s/ampd.log)" % out)
            time.sleep(0.05)
        print("== ampctl login")
        link = ctl(args, sock, "login")
        print("   go to %s and type %s" % (link["verification_uri"], link["user_code"]))
        print("   (the demo approves the code at the mock, as the phone would)")
        mock_post(out, port, "/_mock/lwa/approve", {"user_code": link["user_code"]})
        end = time.monotonic() + 60
        while ctl(args, sock, "status").get("link") != "linked":
            if time.monotonic() > end:
                sys.exit("demo: not linked")
            time.sleep(0.2)
        print("   linked")
        print("== ampctl browse")
        root = ctl(args, sock, "browse")
        for item in root["items"]:
            print("   %s" % item["title"])
        albums = [i for i in root["items"] if i["title"] == "Albums"][0]
        section = ctl(args, sock, "browse", albums["ref"])
        album = [i for i in section["items"] if i["playable"]][0]
        if not args.alsa:
            print("== playing into %s (read at %g x the real rate) as %s" % (
                fifo, args.speed, played))
            reader = FifoToWav(fifo, played, args.speed)
        print("== ampctl play (%s), with ampctl watch" % album["title"])
        sys.stdout.flush()
        watch = subprocess.Popen([args.ampctl, "-s", sock, "watch"])
        ctl(args, sock, "play", album["ref"])
        end = time.monotonic() + GUARD_S
        while True:
            st = ctl(args, sock, "status")
            if st["state"] in ("stopped", "error") or time.monotonic() > end:
                break
            time.sleep(0.2)
        watch.terminate()
        watch.wait(timeout=30)
        watch = None
        print()
        if st["state"] != "stopped" or st.get("error"):
            sys.exit("demo: playback ended with %s %s (see %s/ampd.log)" % (
                st["state"], st.get("error", ""), out))
        print("   %d tracks played, %d underruns" % (st["tracks_played"], st["underruns"]))
    finally:
        if watch:
            watch.terminate()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        if reader:
            reader.close()
        mock.terminate()
        mock.wait(timeout=30)
    if args.alsa:
        return 0
    print("== %s compared with the source PCM (album/continuous: the three tracks end to end)"
          % played)
    want = wav_pcm(os.path.join(out, "catalog", "album", "continuous", "source",
                                "flac_16_44.wav"))
    got = wav_pcm(played)
    frames = len(want) // 4
    if got != want:
        print("   DIFFERENT: %d bytes played, %d in the source" % (len(got), len(want)))
        return 1
    print("   identical: %d frames (%.1f s), gapless across the three tracks" % (
        frames, frames / 44100.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
