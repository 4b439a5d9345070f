#!/usr/bin/env python3
"""Daemon benchmark: the real ampd (release build) against the mock service over TLS on
loopback (the test catalog), driven through its control socket. Prints figures for
docs/benchmarks.md; asserts nothing (not a test).

usage: bench/daemon_bench.py [--build DIR] [--runs N] [--only LIST] [--cpu-s S]
                             [--idle-s S] [--tracks N] [--rss-max-s S] [--keep]
  --build DIR  a configured release build (default build/default; the targets and the
               test catalog are built here if missing)
  --runs N     runs of each time-to-first-audio case (default 15)
  --only LIST  comma list of: ttfa, gapless, cpu (with the idle windows), rss (default:
               all, in that order)
  --cpu-s S    the playing window of "cpu" (default 60); --idle-s the idle one (30)
  --tracks N   tracks of the "rss" run (default 200; docs/benchmarks.md used 1000),
               at most --rss-max-s seconds (600)
  --keep       keep the temporary directory (logs, configs) and print its path

1. ttfa: `play REF` written to the control socket -> the first PCM byte read from the
   pipe backend's FIFO; a fresh daemon each run (linked from its token file, no open
   connection), with 0 and 50 ms of delay per request (a mock fault rule on "/*"). Beside
   it the floor: the same requests the daemon made before its first byte (read from the
   mock's request log), replayed in sequence by http.client, each on a fresh connection.
2. gapless: the album (3 tracks) through the pipe backend into a FIFO of one page that
   the bench drains at exactly the sample rate, like a device: how far the daemon fell
   behind the device clock around each track boundary; then the album through the null
   backend in sync mode: wall time from "playing" to "stopped" against the content.
3. cpu: the album (HD FLAC 16/44.1) through the null sync backend; over a window of
   --cpu-s seconds: CPU % of one core (utime+stime), context switches per second summed
   over the threads (voluntary+involuntary, /proc/PID/task/*/status), per thread, and
   Private_Dirty / RSS. idle: the same for a linked daemon playing nothing.
4. rss: the station (endless) through the pipe backend to /dev/null (unpaced), RSS and
   Private_Dirty sampled at every track change.
"""
import argparse
import html
import http.client
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ITEST = os.path.join(ROOT, "tests", "integration")
sys.path.insert(0, ITEST)
import test_mock as tm  # noqa: E402  (the Mock class and the fetch helpers)

W = tm.W
GUARD_S = 120
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
F_SETPIPE_SZ = 1031
HD_BYTES_PER_S = 44100 * 2 * 2  # S16 stereo
# the album's tracks (tests/integration/ampack/catalog.jobs): 37 + 24.5 + 18.5 s
ALBUM_S = (37.0, 24.5, 18.5)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Daemon:
    """One ampd process with its own config; the state dir (the token file) is shared."""

    def __init__(self, name, backend, device, extra=""):
        self.dir = os.path.join(W["tmp"], name)
        os.makedirs(os.path.join(self.dir, "run"), mode=0o700, exist_ok=True)
        self.sock = os.path.join(self.dir, "run", "control")
        port = W["mock"].port
        self.conf = os.path.join(self.dir, "ampd.conf")
        with open(self.conf, "w", encoding="ascii") as f:
            f.write("[service]\n"
                    "lwa_url = https://localhost:%d/lwa\n"
                    "api_url = https://localhost:%d/api/\n"
                    "client_id = amzn1.application-oa2-client.ampdtest\n"
                    "ca_file = %s\n"
                    "capabilities = STD_RES,HI_FI\n"
                    "[output]\nbackend = %s\ndevice = %s\n%s"
                    "[paths]\nstate_dir = %s\nruntime_dir = %s\ncdm_dir = %s\ncdm = clearkey\n"
                    "[log]\nlevel = info\n" % (
                        port, port, os.path.join(W["certs"], "ca.pem"), backend, device,
                        extra, W["state"], os.path.join(self.dir, "run"), W["cdm_dir"]))
        self.log = open(os.path.join(self.dir, "ampd.log"), "ab")
        self.proc = None

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.proc = subprocess.Popen([W["ampd"], "-c", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        end = time.monotonic() + GUARD_S
        while not self._listening():
            if self.proc.poll() is not None:
                raise SystemExit("ampd exited: %s (log %s)" % (self.proc.returncode,
                                                              self.log.name))
            if time.monotonic() > end:
                raise SystemExit("ampd: no control socket")
            time.sleep(0.01)
        return self

    def _listening(self):
        """The socket file appears at bind(), before listen(): connect to know."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.connect(self.sock)
            return True
        except (FileNotFoundError, ConnectionRefusedError):
            return False
        finally:
            s.close()

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def request(self, cmd, **args):
        """One request on a new connection to the control socket: the result."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.settimeout(60)
        s.connect(self.sock)
        s.sendall(json.dumps(dict(id=1, cmd=cmd, **args)).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        s.close()
        reply = json.loads(buf.split(b"\n", 1)[0])
        if not reply.get("ok"):
            raise SystemExit("ampd %s: %s" % (cmd, reply))
        return reply["result"]

    def status(self):
        return self.request("status")

    def wait(self, pred, what, guard=GUARD_S, step=0.05):
        end = time.monotonic() + guard
        while True:
            st = self.status()
            if pred(st):
                return st
            if time.monotonic() > end:
                raise SystemExit("ampd: waited for %s; status %s" % (what, st))
            time.sleep(step)

    def wait_linked(self):
        return self.wait(lambda st: st.get("link") == "linked", "linked")


class Subscriber:
    """A `subscribe` connection read on a thread: (monotonic time, event) pairs."""

    def __init__(self, d):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.s.connect(d.sock)
        self.s.sendall(b'{"id":1,"cmd":"subscribe"}\n')
        self.events = []
        self.f = self.s.makefile("rb")
        first = json.loads(self.f.readline())
        assert first.get("ok"), first
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        for line in self.f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            self.events.append((time.monotonic(), ev))

    def close(self):
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.s.close()


# ---- /proc readings ---------------------------------------------------------------------

def read_kv(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k.strip()] = v.strip()
    except OSError:
        pass
    return out


def task_sample(pid):
    """{tid: (comm, cpu_ticks, voluntary, involuntary)} of every thread alive now."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "stat") as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rindex(")") + 2:].split()
        comm = st[st.index("(") + 1:st.rindex(")")]
        ticks = int(rest[11]) + int(rest[12])  # utime, stime (fields 14, 15)
        kv = read_kv(base + "status")
        out[int(tid)] = (comm, ticks, int(kv.get("voluntary_ctxt_switches", 0)),
                         int(kv.get("nonvoluntary_ctxt_switches", 0)))
    return out


def mem_sample(pid):
    """(RSS KiB, Private_Dirty KiB)."""
    rss = int(read_kv("/proc/%d/status" % pid).get("VmRSS", "0 kB").split()[0])
    pd = int(read_kv("/proc/%d/smaps_rollup" % pid).get("Private_Dirty", "0 kB").split()[0])
    return rss, pd


def dirty_by_mapping(pid):
    """Private_Dirty KiB by kind of mapping: heap, anonymous, stacks, files."""
    out = {}
    kind = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            p = line.split()
            if "-" in p[0] and ":" not in p[0]:
                name = p[5] if len(p) > 5 else ""
                kind = ("heap" if name == "[heap]" else "stack" if name.startswith("[stack")
                        else "anonymous (malloc arenas, thread stacks, mmap)" if not name
                        else "other" if name.startswith("[") else "files")
            elif p[0] == "Private_Dirty:":
                out[kind] = out.get(kind, 0) + int(p[1])
    return out


def tcp_established(pid):
    """TCP connections of the process in state ESTABLISHED."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    n = 0
    for name in ("tcp", "tcp6"):
        with open("/proc/%d/net/%s" % (pid, name)) as f:
            next(f)
            for line in f:
                p = line.split()
                if p[3] == "01" and p[9] in inodes:
                    n += 1
    return n


def thread_names(pid, sample):
    """Label the threads: the main (loop) thread, then media and output (created in that
    order by the player's engine), any other (libcurl's resolver) 'other'."""
    names = {}
    others = sorted(t for t in sample if t != pid)
    for i, t in enumerate(others):
        names[t] = ("media", "output")[i] if i < 2 else "other"
    names[pid] = "loop"
    return names


def window(pid, seconds, every=1.0, on_tick=None):
    """CPU and context switches of pid's threads over `seconds`; memory sampled each
    `every` seconds. A thread that ends inside the window counts up to its last sample."""
    t0 = time.monotonic()
    first = task_sample(pid)
    last = dict(first)
    mem = [mem_sample(pid)]
    while time.monotonic() - t0 < seconds:
        time.sleep(min(every, seconds - (time.monotonic() - t0)) if seconds else 0)
        s = task_sample(pid)
        last.update(s)
        mem.append(mem_sample(pid))
        if on_tick:
            on_tick()
    el = time.monotonic() - t0
    names = thread_names(pid, first)
    per = {}
    for tid, (comm, ticks, vol, inv) in last.items():
        c0 = first.get(tid, (comm, 0, 0, 0))
        name = names.get(tid, "other")
        a = per.setdefault(name, [0, 0, 0])
        a[0] += ticks - c0[1]
        a[1] += vol - c0[2]
        a[2] += inv - c0[3]
    return el, per, mem


def print_window(title, el, per, mem):
    tot = [sum(v[i] for v in per.values()) for i in range(3)]
    print("%s: %.1f s window" % (title, el))
    print("| thread | CPU % of a core | voluntary ctxsw/s | involuntary ctxsw/s |")
    print("|---|---|---|---|")
    for name in ("loop", "media", "output", "other"):
        if name in per:
            v = per[name]
            print("| %s | %.3f | %.1f | %.1f |" % (name, 100.0 * v[0] / CLK_TCK / el,
                                                  v[1] / el, v[2] / el))
    print("| **all** | **%.3f** | **%.1f** | **%.1f** |" % (
        100.0 * tot[0] / CLK_TCK / el, tot[1] / el, tot[2] / el))
    rss = [m[0] for m in mem]
    pd = [m[1] for m in mem]
    print("wakeups (all context switches): %.1f /s; RSS %.1f..%.1f MiB (end %.1f); "
          "Private_Dirty %.1f..%.1f MiB (end %.1f)\n" % (
              (tot[1] + tot[2]) / el, min(rss) / 1024, max(rss) / 1024, rss[-1] / 1024,
              min(pd) / 1024, max(pd) / 1024, pd[-1] / 1024))
    return (tot[1] + tot[2]) / el, 100.0 * tot[0] / CLK_TCK / el


# ---- the world --------------------------------------------------------------------------

def setup(build):
    W["ampd"] = os.path.join(build, "ampd")
    W["ampctl"] = os.path.join(build, "tools", "ampctl", "ampctl")
    W["cdm_dir"] = os.path.join(build, "cdm", "clearkey")
    W["root"] = os.path.realpath(os.path.join(build, "catalog"))
    W["tmp"] = tempfile.mkdtemp(prefix="ampd-daemon-bench-")
    W["certs"] = os.path.join(W["tmp"], "certs")
    W["state"] = os.path.join(W["tmp"], "state")
    os.makedirs(W["state"], mode=0o700)
    subprocess.run(["bash", tm.TESTCA, W["certs"]], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    W["mock"] = tm.Mock("--max-lifetime", "0", "--parent-pid", str(os.getpid()))
    W["ctx"] = tm.client_ctx()
    # link once; every later daemon starts linked from the token file
    d = Daemon("link", "null", "default").start()
    code = d.request("login")["user_code"]
    st, _ = tm.fetch_json("POST", "/_mock/lwa/approve", {"user_code": code})
    assert st == 200, st
    d.wait_linked()
    root = d.request("browse")
    refs = {}
    for item in root["items"]:
        sec = d.request("browse", ref=item["ref"])
        for it in sec["items"]:
            if it["playable"]:
                refs[item["title"]] = it["ref"]
    d.stop()
    W["refs"] = refs  # {"Albums": album ref, "Playlists": ..., "Stations": ...}


def mock_seq():
    """The request log's next seq (entries after the ones there now)."""
    entries = tm.log_entries()
    return entries[-1]["seq"] if entries else 0


def stop_draining(d, fd):
    """SIGTERM the daemon while reading its FIFO: ampd does not exit while its output
    thread is blocked in write(2) on a full pipe (see docs/benchmarks.md)."""
    t_stop = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    while d.proc.poll() is None and time.monotonic() - t_stop < 30:
        select.select([fd], [], [], 0.01)
        try:
            os.read(fd, 1 << 20)
        except BlockingIOError:
            pass
    d.stop()
    while True:  # empty for the next run
        try:
            if not os.read(fd, 1 << 20):
                break
        except BlockingIOError:
            break


# ---- 1. time to first audio -------------------------------------------------------------

RID = re.compile(r"/cdn/([0-9a-f]{32})/manifest\.mpd\?([^\"\s]*)")


def chain_before_first_audio(entries, t_first_wall):
    """The daemon's requests on the way to its first PCM byte: every /api/ and /cdn/
    request that arrived before it, up to the first media request (/cdn/<rid>/<rep>.mp4).
    The license POST (parallel to the segment) and the collector are left out."""
    chain = []
    for e in entries:
        if e["time"] > t_first_wall:
            break
        if e["path"].startswith("/api/") or e["path"].startswith("/cdn/"):
            chain.append(e)
            if e["path"].endswith(".mp4"):
                break
    return chain


def replay(chain, keepalive=False):
    """The chain again, in sequence, each request on a fresh TLS connection (or all on
    one with keepalive): seconds from the first connect to the last body byte. The
    session parts (rid, the signed queries) are taken from the new replies."""
    old_rid = new_rid = None
    queries = {}
    conn = None
    t0 = time.monotonic()
    for e in chain:
        path, query = e["path"], e["query"]
        if old_rid:
            path = path.replace(old_rid, new_rid)
            query = queries.get(os.path.basename(path), query)
        headers = {k: (v.replace(old_rid, new_rid) if old_rid else v)
                   for k, v in e["headers"].items()
                   if k not in ("host", "content-length", "connection")}
        if conn is None or not keepalive:
            if conn:
                conn.close()
            conn = http.client.HTTPSConnection("localhost", W["mock"].port, context=W["ctx"],
                                               timeout=30)
        conn.request(e["method"], path + ("?" + query if query else ""), headers=headers)
        r = conn.getresponse()
        body = r.read()
        if r.status != e["status"] or (path.startswith("/cdn/") and
                                       len(body) != e["content_length"]):
            raise SystemExit("replay %s: %d %d bytes, the daemon had %s %s" % (
                e["path"], r.status, len(body), e["status"], e["content_length"]))
        if e["path"].startswith("/api/audio/"):
            m = RID.search(body.decode())
            old_rid = next(x["path"].split("/")[2] for x in chain
                           if x["path"].startswith("/cdn/"))
            new_rid = m.group(1)
            queries["manifest.mpd"] = html.unescape(m.group(2))
        elif path.endswith("manifest.mpd"):
            for base in re.findall(r"<BaseURL>([^<]*)</BaseURL>", body.decode()):
                p, _, q = html.unescape(base).partition("?")
                queries[os.path.basename(p)] = q
    conn.close()
    return time.monotonic() - t0


def ttfa_once(fifo_fd, ref, delay_ms):
    # The run before was stopped mid-track: its playback events wait in the durable
    # queue, and a new daemon would post them at start and keep that connection open.
    # Fresh means no connection: drop the queue (the bench's scratch state only).
    q = os.path.join(W["state"], "events.evq")
    if os.path.exists(q):
        os.unlink(q)
    d = Daemon("ttfa", "pipe", W["fifo"]).start()
    d.wait_linked()
    end = time.monotonic() + 10
    while tcp_established(d.pid) and time.monotonic() < end:
        time.sleep(0.05)
    conns = tcp_established(d.pid)
    seq = mock_seq()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    s.connect(d.sock)
    t0w, t0 = time.time(), time.monotonic()
    s.sendall(json.dumps({"id": 1, "cmd": "play", "ref": ref}).encode() + b"\n")
    t_reply = None
    first = b""
    while not first:
        r, _, _ = select.select([fifo_fd, s], [], [], GUARD_S)
        now = time.monotonic()
        if not r:
            raise SystemExit("no audio within %d s" % GUARD_S)
        if s in r and t_reply is None:
            s.recv(65536)
            t_reply = now
        if fifo_fd in r:
            first = os.read(fifo_fd, 65536)
            t1 = now
    s.close()
    stop_draining(d, fifo_fd)
    entries = tm.log_entries(seq)
    chain = chain_before_first_audio(entries, t0w + (t1 - t0))
    return {"ttfa": t1 - t0, "reply": (t_reply or t1) - t0, "conns_before": conns,
            "chain": chain, "entries": entries, "first": first, "t0w": t0w}


def shape(entries):
    """What the daemon asked and got, without the session parts."""
    # (an audio object's length varies: its expiry alternates seconds and milliseconds)
    return [(e["method"], re.sub(r"[0-9a-f]{32}", "RID", e["path"]), e["range"], e["status"],
             None if e["path"].startswith("/api/audio/") else e["content_length"])
            for e in entries]


def spread(xs):
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4) if len(xs) >= 4 else (xs[0], 0, xs[-1])
    return "%.1f ms (min %.1f, IQR %.1f–%.1f, max %.1f)" % (
        1e3 * statistics.median(xs), 1e3 * xs[0], 1e3 * q[0], 1e3 * q[2], 1e3 * xs[-1])


def bench_ttfa(runs):
    fifo = W["fifo"] = os.path.join(W["tmp"], "ttfa.fifo")
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)  # a reader from the start
    ref = W["refs"]["Albums"]
    print("## 1. Time to first audio (`play` -> first PCM byte out of the pipe backend)\n")
    shapes = {}
    for delay in (0, 50):
        tm.fetch("DELETE", "/_mock/faults")
        rule = None
        if delay:
            rule = tm.add_fault({"path": "/*", "delay_ms": delay})
        res, fl, fk = [], [], []
        for i in range(runs):
            r = ttfa_once(fd, ref, delay)
            res.append(r)
            fl.append(replay(r["chain"]))
            fk.append(replay(r["chain"], keepalive=True))
        shapes[delay] = (shape(res[-1]["chain"]), res[-1]["first"][:4096],
                         [e["fault"] for e in res[-1]["entries"]])
        c = res[-1]
        print("delay %d ms per request (%s), %d runs, a fresh daemon each (TCP connections "
              "open at play: %s):" % (delay, "rule %s" % json.dumps(rule) if rule else "no rule",
                                      runs, sorted(set(x["conns_before"] for x in res))))
        print("- the daemon's requests before its first byte (last run; ms after `play`, "
              "arrival at the mock):")
        for e in c["entries"]:
            if e["time"] > c["t0w"] + c["ttfa"] + 0.05:
                break
            print("  - %6.1f ms conn %s %s %s%s -> %s, %s bytes%s" % (
                1e3 * (e["time"] - c["t0w"]), e["conn"], e["method"],
                re.sub(r"[0-9a-f]{32}", "RID", e["path"]),
                " " + e["range"] if e["range"] else "", e["status"], e["content_length"],
                "" if e in c["chain"] else " (not in the floor)"))
        ttfa = [x["ttfa"] for x in res]
        floor = statistics.median(fl)
        print("- play reply: %s" % spread([x["reply"] for x in res]))
        print("- **time to first audio: %s**" % spread(ttfa))
        print("- floor, the %d requests in sequence, each on a fresh TLS connection "
              "(http.client): %s" % (len(c["chain"]), spread(fl)))
        print("- the same on one kept-alive connection: %s" % spread(fk))
        print("- target floor + 30 ms = %.1f ms: %s (median %.1f ms over the floor)\n" % (
            1e3 * (floor + 0.030), "met" if statistics.median(ttfa) <= floor + 0.030 else
            "NOT met", 1e3 * (statistics.median(ttfa) - floor)))
    tm.fetch("DELETE", "/_mock/faults")
    same = shapes[0][0] == shapes[50][0] and shapes[0][1] == shapes[50][1]
    print("delay-only rule changes nothing in the answers: %s (same requests, statuses, "
          "lengths and first 4 KiB of PCM; faults applied with the rule: %s)\n" % (
              "yes" if same else "NO", sorted(set(map(str, shapes[50][2])))))
    os.close(fd)


# ---- 2. gapless -------------------------------------------------------------------------

def wav_pcm(path):
    with open(path, "rb") as f:
        data = f.read()
    off = 12
    while off + 8 <= len(data):
        size = int.from_bytes(data[off + 4:off + 8], "little")
        if data[off:off + 4] == b"data":
            return data[off + 8:off + 8 + size]
        off += 8 + size + (size & 1)
    raise SystemExit("%s: no data chunk" % path)


def bench_gapless(pipe_bytes=32768, tick_s=0.002):
    want = wav_pcm(os.path.join(W["root"], "album", "continuous", "source", "flac_16_44.wav"))
    rate = HD_BYTES_PER_S
    bounds = [int(sum(ALBUM_S[:i]) * rate) for i in (1, 2)]
    fifo = os.path.join(W["tmp"], "gapless.fifo")
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    import fcntl
    import termios
    import array
    pipe_bytes = fcntl.fcntl(fd, F_SETPIPE_SZ, pipe_bytes)
    d = Daemon("gapless", "pipe", fifo).start()
    d.wait_linked()
    d.request("play", ref=W["refs"]["Albums"])
    r, _, _ = select.select([fd], [], [], GUARD_S)
    t_start = time.monotonic()
    got = bytearray()
    shortfalls = []  # (offset in bytes, lag ms) when the pipe held less than was due
    fills = []  # (offset, bytes left in the pipe after the read)
    max_late = 0.0
    last = t_start
    nb = array.array("i", [0])
    while len(got) < len(want) and time.monotonic() - t_start < sum(ALBUM_S) + 30:
        time.sleep(tick_s)
        now = time.monotonic()
        max_late = max(max_late, now - last)
        last = now
        due = min(len(want), int((now - t_start) * rate) & ~3)
        need = due - len(got)
        if need <= 0:
            continue
        ask = min(need, pipe_bytes)
        try:
            data = os.read(fd, ask)
        except BlockingIOError:
            data = b""
        got += data
        fcntl.ioctl(fd, termios.FIONREAD, nb, True)
        fills.append((len(got), nb[0]))
        if len(data) < ask:
            shortfalls.append((len(got), 1e3 * (due - len(got)) / rate))
    wall = time.monotonic() - t_start
    st = d.status()
    stop_draining(d, fd)
    os.close(fd)

    def near(off, b):
        return abs(off - b) < 2 * rate

    def ms(n):
        return 1e3 * n / rate

    # the fill level is meaningful once the pipe was full and while there is more to come
    body = [f for f in fills if rate <= f[0] <= len(want) - pipe_bytes - rate]
    print("## 2. Gapless: the album's 3 tracks as a device sees them\n")
    print("pipe backend into a FIFO of %d bytes (%.0f ms of 16/44.1 stereo, about a device "
          "buffer) drained by the bench at exactly 176400 B/s from the first byte, every "
          "%.0f ms (the reader woke at worst %.1f ms apart):" % (
              pipe_bytes, ms(pipe_bytes), 1e3 * tick_s, 1e3 * max_late))
    print("- PCM received: %d of %d bytes, %s the source" % (
        len(got), len(want), "bit-exact to" if bytes(got) == want else "DIFFERENT from"))
    print("- wall time from the first byte to the last: %.3f s for %.3f s of audio" % (
        wall, len(want) / rate))
    print("- reads that found less in the pipe than was due (a starved device): %d%s" % (
        len(shortfalls), "" if not shortfalls else ", the worst %.1f ms behind at %.2f s" % (
            max(s[1] for s in shortfalls), max(shortfalls, key=lambda s: s[1])[0] / rate)))
    for i, b in enumerate(bounds):
        f = [x[1] for x in body if near(x[0], b)]
        print("- boundary %d (t%d->t%d at %.1f s): the pipe held at least %.1f ms within "
              "±2 s (median %.1f ms)" % (i + 1, i + 1, i + 2, b / rate, ms(min(f)),
                                         ms(statistics.median(f))))
    f = [x[1] for x in body if not any(near(x[0], b) for b in bounds)]
    print("- elsewhere: at least %.1f ms (median %.1f ms)" % (ms(min(f)),
                                                          ms(statistics.median(f))))
    print("- the daemon's status at the end: underruns %s, tracks_played %s\n" % (
        st.get("underruns"), st.get("tracks_played")))

    # the same through the null backend paced in real time
    d = Daemon("gapless-null", "null", "sync").start()
    d.wait_linked()
    sub = Subscriber(d)
    t_play = time.monotonic()
    d.request("play", ref=W["refs"]["Albums"])
    st = d.wait(lambda s: s.get("state") in ("stopped", "error") and
                s.get("tracks_played", 0) >= 3, "the album played", guard=sum(ALBUM_S) + 60,
                step=0.2)
    sub.close()
    d.stop()
    evs = sub.events
    playing = [t for t, e in evs if e.get("state") == "playing"]
    stopped = [t for t, e in evs if e.get("state") == "stopped"]
    titles = []
    for t, e in evs:
        if e.get("event") == "player" and e.get("state") == "playing" and (
                not titles or titles[-1][1] != e.get("title")):
            titles.append((t, e.get("title")))
    print("null backend, device `sync` (paced from the monotonic clock; its clock stops "
          "while it starves, so any gap lengthens the play):")
    if playing and stopped:
        # the first `playing` comes with the position the device clock had reached then
        p0 = next(e.get("position_ms", 0) for t, e in evs if e.get("state") == "playing")
        print("- `play` -> first `playing` event %.1f ms (at position %d ms); first `playing` "
              "-> `stopped`: %.3f s for the %.3f s of audio left (excess %.1f ms, the final "
              "drain included)" % (
                  1e3 * (playing[0] - t_play), p0, stopped[-1] - playing[0],
                  sum(ALBUM_S) - p0 / 1e3,
                  1e3 * (stopped[-1] - playing[0] - sum(ALBUM_S) + p0 / 1e3)))
        for (t, title), expect in zip(titles, (0.0, ALBUM_S[0], ALBUM_S[0] + ALBUM_S[1])):
            print("  - track \"%s\" playing at %.3f s, %+.1f ms from its place in the "
                  "content" % (title, t - playing[0] + p0 / 1e3,
                               1e3 * (t - playing[0] + p0 / 1e3 - expect)))
    print("- underruns %s, tracks_played %s\n" % (st.get("underruns"), st.get("tracks_played")))
    W["null_events"] = evs


# ---- 3. CPU, wakeups, memory ------------------------------------------------------------

def bench_cpu(play_s, idle_s):
    print("## 3. CPU, wakeups and memory\n")
    res = {}
    d = Daemon("idle", "null", "sync").start()
    d.wait_linked()
    time.sleep(1.0)
    el, per, mem = window(d.pid, idle_s)
    print("Idle: linked (from the token file), nothing played since start; `status` not "
          "asked during the window.")
    res["idle"] = print_window("idle", el, per, mem)
    d.stop()

    d = Daemon("cpu", "null", "sync").start()
    d.wait_linked()
    d.request("play", ref=W["refs"]["Albums"])
    st = d.wait(lambda s: s.get("state") == "playing", "playing")
    print("Playing: the album, %s %d-bit %d Hz, null backend `sync` (real time); the "
          "window starts 3 s after `playing` and covers the track changes at 37 and 61.5 s "
          "and the fetches of the next tracks." % (st.get("codec"), st.get("bits"),
                                                   st.get("rate")))
    time.sleep(3.0)
    peak = [0, {}]

    def on_tick():
        pd = dirty_by_mapping(d.pid)
        if sum(pd.values()) > peak[0]:
            peak[0], peak[1] = sum(pd.values()), pd
    el, per, mem = window(d.pid, min(play_s, sum(ALBUM_S) - 5), on_tick=on_tick)
    res["play"] = print_window("playing", el, per, mem)
    print("Private_Dirty at its peak (/proc/PID/smaps): %s\n" % ", ".join(
        "%s %.1f MiB" % (k, v / 1024) for k, v in sorted(peak[1].items(), key=lambda x: -x[1])))
    st = d.wait(lambda s: s.get("state") in ("stopped", "error"), "the end",
                guard=sum(ALBUM_S) + 60, step=0.5)
    time.sleep(1.0)
    el, per, mem = window(d.pid, idle_s)
    print("Idle after playing: the album has ended (state %s), the device is still open "
          "until output.idle_close_s (30 s)." % st.get("state"))
    res["after"] = print_window("idle after play", el, per, mem)
    d.stop()
    return res


# ---- 4. RSS over many tracks ------------------------------------------------------------

def bench_rss(tracks, max_s):
    print("## 4. Memory over many tracks\n")
    d = Daemon("rss", "pipe", "/dev/null").start()
    d.wait_linked()
    d.request("play", ref=W["refs"]["Stations"])
    t0 = time.monotonic()
    samples = []  # (tracks_played, rss KiB, private dirty KiB, seconds)
    last = -1
    st = {}
    while time.monotonic() - t0 < max_s:
        st = d.status()
        n = st.get("tracks_played", 0)
        if n != last:
            rss, pd = mem_sample(d.pid)
            samples.append((n, rss, pd, time.monotonic() - t0))
            last = n
        if n >= tracks or st.get("state") in ("stopped", "error"):
            break
        time.sleep(0.02)
    d.stop()
    print("The station (endless; its 7 tracks cycle; HD FLAC, uhd192 as opus_320 with "
          "STD_RES,HI_FI) through the "
          "pipe backend to /dev/null, as fast as the daemon goes; RSS and Private_Dirty "
          "when `tracks_played` changes (status polled every 20 ms).")
    print("- %d tracks in %.1f s (state at the end: %s%s)" % (
        samples[-1][0], samples[-1][3], st.get("state"),
        ", " + st.get("error", "") if st.get("error") else ""))
    # RSS depends on where in the 7-track cycle it is sampled (what is buffered then):
    # compare blocks of 70 tracks (10 cycles): their median and maximum
    print("| tracks played | RSS MiB median / max | Private_Dirty MiB median / max |")
    print("|---|---|---|")
    print("| 0 (linked, before play) | %.1f | %.1f |" % (samples[0][1] / 1024,
                                                       samples[0][2] / 1024))
    blocks = []
    top = samples[-1][0]
    for lo in range(1, top + 1, 70):
        blk = [x for x in samples if lo <= x[0] < lo + 70]
        if len(blk) < 35:
            continue
        blocks.append(blk)
    show = blocks if len(blocks) <= 8 else blocks[:3] + blocks[len(blocks) // 2:][:1] + \
        blocks[-3:]
    for blk in show:
        r = [x[1] for x in blk]
        p = [x[2] for x in blk]
        print("| %d–%d | %.1f / %.1f | %.1f / %.1f |" % (
            blk[0][0], blk[-1][0], statistics.median(r) / 1024, max(r) / 1024,
            statistics.median(p) / 1024, max(p) / 1024))
    a = [x for x in samples if x[0] >= 10]
    if len(a) > 2:
        n = [x[0] for x in a]
        r = [x[1] for x in a]
        mn, mr = statistics.fmean(n), statistics.fmean(r)
        slope = sum((x - mn) * (y - mr) for x, y in zip(n, r)) / sum((x - mn) ** 2 for x in n)
        print("- least-squares slope of RSS over tracks %d..%d: %+.2f KiB per track "
              "(%+.0f KiB over the run)\n" % (n[0], n[-1], slope, slope * (n[-1] - n[0])))
    return samples


# ---- main -------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "default"))
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--only", default="ttfa,gapless,cpu,rss")
    ap.add_argument("--cpu-s", type=float, default=60)
    ap.add_argument("--idle-s", type=float, default=30)
    ap.add_argument("--tracks", type=int, default=200)
    ap.add_argument("--rss-max-s", type=float, default=600)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    only = a.only.split(",")

    if not os.path.exists(os.path.join(a.build, "CMakeCache.txt")):
        subprocess.run(["cmake", "--preset", "default"], cwd=ROOT, check=True)
    subprocess.run(["cmake", "--build", a.build, "-j", "2", "--target", "ampd", "ampctl",
                    "ampd_cdm_clearkey", "ampack"], check=True, stdout=subprocess.DEVNULL)
    if not os.path.exists(os.path.join(a.build, "catalog", "album", "t1")):
        subprocess.run(["ctest", "--test-dir", a.build, "-R", "catalog/make"], check=True,
                       stdout=subprocess.DEVNULL)
    cpu = "unknown cpu"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print("machine: %s, nproc %d, %s; %s; load average at start %s" % (
        platform.machine(), os.cpu_count(), cpu, platform.release(), " ".join(load)))
    print("build: %s (CMAKE_BUILD_TYPE %s)\n" % (a.build, build_type(a.build)))
    setup(a.build)
    try:
        if "ttfa" in only:
            bench_ttfa(a.runs)
        if "gapless" in only:
            bench_gapless()
        if "cpu" in only:
            bench_cpu(a.cpu_s, a.idle_s)
        if "rss" in only:
            bench_rss(a.tracks, a.rss_max_s)
    finally:
        W["mock"].stop()
        if a.keep:
            print("kept", W["tmp"])
        else:
            shutil.rmtree(W["tmp"], ignore_errors=True)


def build_type(build):
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith("CMAKE_BUILD_TYPE:"):
                return line.split("=", 1)[1].strip()
    return "?"


if __name__ == "__main__":
    sys.exit(main())
