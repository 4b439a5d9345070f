#!/usr/bin/env python3
"""Soak bench: the real ampd (release build) against the mock over TLS on loopback,
playing the test catalog's station (endless: its 7 tracks cycle, so every track loads
an audio object, a manifest, a license and posts its events) for a long time, with the
process sampled from /proc. Reuses bench/daemon_bench.py's daemon and mock plumbing.
Not a ctest: it asserts only what must hold whatever the machine's speed (every track
played, every event once, no growth), never a time.

usage: bench/soak.py --mode unpaced|paced [--tracks N] [--duration S] [--seed N]
                     [--fault-every S] [--every S] [--csv FILE] [--build DIR] [--keep]
  --mode unpaced  the pipe backend into /dev/null, as fast as the daemon decodes, until
                  --tracks (default 500) tracks have been played; no faults
  --mode paced    the null backend `sync` (paced from the monotonic clock, like a device)
                  for --duration seconds (default 3600), a fault injected at random
                  (exponential gaps of mean --fault-every s, default 45, at least 10 s;
                  the kind drawn uniformly) from random.Random(--seed) (default 1)
  --every S       sampling period (default 10 s); the unpaced mode also samples at every
                  change of tracks_played (a 500-track run is over in well under a minute)
  --csv FILE      where the samples go (default: the temporary directory, printed)

Each sample: RSS and Private_Dirty (/proc/PID/status, /proc/PID/smaps_rollup), open fds
(/proc/PID/fd), threads (/proc/PID/task), ESTABLISHED TCP connections, the status's
tracks_played, underruns and state.

The faults (each one recoverable: the same recoveries tests/integration/
test_daemon_faults.py checks one at a time):
  drop        the next ranged CDN reply is cut after 600 body bytes (FIN, no close_notify)
  cdn_503     the next 3 ranged CDN requests answer 503
  slow        the next 3 CDN replies wait 2 s before their headers
  throttle    every CDN reply shares 250 kB/s (HD FLAC needs 176 kB/s) for 30 s
  license_503 the next license POST answers 503
  collector_5xx  the next 5 collector POSTs answer 503
  api_401     the next audio object request answers 401 (a token refresh)
  cdn_expiry  sessions made in the next 60 s get a CDN token of 60 s: a track fetched
              ahead at the pace of the output outlives it, often more than once (403, a
              fresh audio object, another KID and its license, on at the same segment)
  audio_expiry  the same with an audio object of 60 s (renewed before the next segment)
20 s lifetimes found that the fetcher failed the track queued behind the one playing
when its fresh session's token ran out while it waited for room (up to
playback.buffer_ahead_s, 30 s): fixed (src/media/fetcher.c, expire()). The hour of
docs/benchmarks.md ran before that fix, with 60 s, above that wait.

At the end (faults cleared, `stop`, the collector given time to drain):
1. every track played: the daemon is alive and never left `playing`/`loading` with an
   error; PLAYBACK_STARTED's trackTags follow the station's cycle with none skipped or
   repeated; every one but the last has its PLAYBACK_FINISHED; tracks_played equals
   their number; no PLAYBACK_ERROR;
2. the collector holds every event exactly once: its non-progress events are exactly
   STARTED, FINISHED, STARTED, ... in order (the last STOPPED or FINISHED), every
   eventId unique;
3. no growth after the first track: samples from the first track on (tracks_played >= 1)
   in two windows of equal size, the first and the last tenth of the run, at least a
   station cycle each (7 tracks unpaced, 297 s paced: what is buffered depends on the
   track playing, so one track is no baseline, and windows of equal size compare maxima
   of as many samples). The last window's maximum and median may exceed the first's, and
   the least-squares fit over everything after the first track may rise over the run, by
   at most: RSS and Private_Dirty +1 MiB (a cycle's maximum varies by about that between
   cycles, allocator state: docs/benchmarks.md; a leak of 2 KiB per track is 1 MiB over
   500 tracks, of 300 B per second 1 MiB over the hour), open fds +2 (a connection
   replaced after a fault or an idle close may overlap its successor for a moment),
   threads +1 (libcurl's resolver thread comes and goes).

bench/soak.py --summarize CSV --mode M prints the growth table of a CSV again.
"""
import argparse
import csv
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import daemon_bench as db  # noqa: E402  (Daemon, setup, /proc readings; test_mock's W)

tm = db.tm
W = db.W

# tools/mock/ampmock/modules/api.py: the catalog tracks in station order
STATION = ("album-t1", "album-t2", "album-t3", "short12", "mid45", "long125", "uhd192")
CYCLE = len(STATION)
TOL = {"rss": 1024, "pd": 1024, "fds": 2, "threads": 1}  # KiB, KiB, count, count


def track_tag(track):
    return "B0" + hashlib.sha1(track.encode()).hexdigest()[:8].upper()


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- faults -----------------------------------------------------------------------------

def rule(r):
    st, out = tm.fetch_json("POST", "/_mock/faults", r)
    assert st == 200, (st, out)
    return out["id"]


class Injector:
    """Draws the next fault and its time from a seeded RNG; undoes the timed ones."""

    KINDS = ("drop", "cdn_503", "slow", "throttle", "license_503", "collector_5xx",
             "api_401", "cdn_expiry", "audio_expiry")

    def __init__(self, seed, mean_s, t0):
        self.rng = random.Random(seed)
        self.mean = mean_s
        self.next_at = t0 + self._gap()
        self.undo = []  # (time, callable)
        self.done = []  # (t, kind)
        self.rules = []
        self.last = {}  # kind: the id of its latest rule
        self.gone = {}  # id: hits of the rules replaced

    def _gap(self):
        return max(10.0, self.rng.expovariate(1.0 / self.mean))

    def add(self, kind, rid):
        """A new rule of kind replaces one of the same kind not used up yet: two left
        pending would make a longer burst than the daemon promises to ride out (the
        license client retries a 503 once, a 401 gets one refresh: the first paced hour
        lost a track to two license_503 rules pending together across a long track)."""
        old = self.last.get(kind)
        if old is not None:
            self.gone.update({f["id"]: f["hits"] for f in tm.fetch_json(
                "GET", "/_mock/faults")[1] if f["id"] == old})
            tm.fetch("DELETE", "/_mock/faults/%d" % old)
        self.last[kind] = rid
        self.rules.append(rid)

    def tick(self, now, t0):
        for u in [u for u in self.undo if u[0] <= now]:
            u[1]()
            self.undo.remove(u)
        if now < self.next_at:
            return
        kind = self.rng.choice(self.KINDS)
        self.next_at = now + self._gap()
        if kind == "drop":
            self.add(kind, rule({"path": "/cdn/*", "method": "GET",
                                    "header": {"name": "range"},
                                    "close_after_bytes": 600, "count": 1}))
        elif kind == "cdn_503":
            self.add(kind, rule({"path": "/cdn/*", "header": {"name": "range"},
                                    "status": 503, "count": 3}))
        elif kind == "slow":
            self.add(kind, rule({"path": "/cdn/*", "delay_ms": 2000, "count": 3}))
        elif kind == "throttle":
            tm.fetch_json("POST", "/_mock/throttle", {"path": "/cdn/*", "rate_bps": 250000})
            self.undo.append((now + 30, lambda: tm.fetch("DELETE", "/_mock/throttle")))
        elif kind == "license_503":
            self.add(kind, rule({"path": "/license/*", "method": "POST", "status": 503,
                                    "count": 1}))
        elif kind == "collector_5xx":
            self.add(kind, rule({"path": "/collector/*", "status": 503, "count": 5}))
        elif kind == "api_401":
            self.add(kind, rule({"path": "/api/audio/*", "status": 401, "count": 1}))
        elif kind in ("cdn_expiry", "audio_expiry"):
            key = "cdn_token_lifetime" if kind == "cdn_expiry" else "audio_lifetime"
            tm.fetch_json("POST", "/_mock/api/config", {key: 60})
            self.undo.append((now + 60, lambda: tm.fetch_json(
                "POST", "/_mock/api/config", {key: 300})))
        self.done.append((now - t0, kind))

    def clear(self):
        for u in self.undo:
            u[1]()
        self.undo = []
        tm.fetch("DELETE", "/_mock/faults")
        tm.fetch("DELETE", "/_mock/throttle")
        tm.fetch_json("POST", "/_mock/api/config", {"audio_lifetime": 300,
                                                    "cdn_token_lifetime": 300})

    def hits(self):
        faults = tm.fetch_json("GET", "/_mock/faults")[1]
        out = dict(self.gone)
        out.update({f["id"]: f["hits"] for f in faults})
        return out


# ---- the run ----------------------------------------------------------------------------

FIELDS = ("t_s", "why", "tracks_played", "state", "underruns", "rss_kib",
          "private_dirty_kib", "fds", "threads", "tcp_established", "faults")


def sample(d, st, t, why, nfaults):
    pid = d.pid
    rss, pd = db.mem_sample(pid)
    return {"t_s": round(t, 2), "why": why, "tracks_played": st.get("tracks_played", 0),
            "state": st.get("state"), "underruns": st.get("underruns", 0),
            "rss_kib": rss, "private_dirty_kib": pd,
            "fds": len(os.listdir("/proc/%d/fd" % pid)),
            "threads": len(os.listdir("/proc/%d/task" % pid)),
            "tcp_established": db.tcp_established(pid), "faults": nfaults}


def run(a):
    paced = a.mode == "paced"
    tm.fetch_json("POST", "/_mock/reset", {})
    d = db.Daemon("soak-" + a.mode, "null" if paced else "pipe",
                  "sync" if paced else "/dev/null").start()
    d.wait_linked()
    rows = []
    bad = []  # states with an error seen on the way
    d.request("play", ref=W["refs"]["Stations"])
    t0 = time.monotonic()
    inj = Injector(a.seed, a.fault_every, t0) if paced else None
    next_tick = t0
    last_n = -1
    last_bad = None  # (state, error) last reported: a lasting error is one line
    st = {}
    while True:
        now = time.monotonic()
        if d.proc.poll() is not None:
            bad.append("ampd exited with %s" % d.proc.returncode)
            break
        st = d.status()
        n = st.get("tracks_played", 0)
        seen = (st.get("state"), st.get("error"))
        if (st.get("error") or st.get("state") in ("stopped", "error")) and seen != last_bad:
            bad.append("t=%.1f s: %s" % (now - t0, {k: st.get(k) for k in (
                "state", "error", "tracks_played")}))
            if st.get("state") in ("stopped", "error"):
                break
        last_bad = seen
        nf = len(inj.done) if inj else 0
        if now >= next_tick:
            rows.append(sample(d, st, now - t0, "tick", nf))
            next_tick += a.every
        elif not paced and n != last_n:
            rows.append(sample(d, st, now - t0, "track", nf))
        last_n = n
        if inj:
            inj.tick(now, t0)
        if (not paced and n >= a.tracks) or (paced and now - t0 >= a.duration):
            break
        time.sleep(0.02 if not paced else 0.5)
    elapsed = time.monotonic() - t0
    rows.append(sample(d, st, elapsed, "end", len(inj.done) if inj else 0))
    hits = {}
    if inj:
        hits = inj.hits()
        inj.clear()
    alive = d.proc.poll() is None
    if alive:
        d.request("stop")
        d.wait(lambda s: s.get("state") == "stopped", "stopped")
        final = d.status()
    else:
        final = st
    # the collector drains its queue: every STARTED has its FINISHED or STOPPED
    end = time.monotonic() + 120
    while True:
        evs = tm.fetch_json("GET", "/_mock/collector")[1]
        kinds = [e["eventType"] for e in evs["events"] if e["eventType"] != "PLAYBACK_PROGRESS"]
        opened = kinds.count("PLAYBACK_STARTED")
        closed = kinds.count("PLAYBACK_FINISHED") + kinds.count("PLAYBACK_STOPPED")
        if (opened and closed >= opened) or time.monotonic() > end:
            break
        time.sleep(0.5)
    pid_rows = rows
    d.stop()
    return dict(rows=pid_rows, bad=bad, final=final, elapsed=elapsed, evs=evs, inj=inj,
                hits=hits, alive=alive, log=d.log.name)


# ---- checks and summary -----------------------------------------------------------------

def slope(xs, ys):
    if len(xs) < 3:
        return float("nan")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


def check(a, r):
    fails = list(r["bad"])
    evs = r["evs"]["events"]
    final = r["final"]
    if not r["alive"]:
        fails.append("the daemon died")
    started = [e["event"].get("trackTag") for e in evs if e["eventType"] == "PLAYBACK_STARTED"]
    pool = [t for t in STATION if track_tag(t) in set(started)] if started else list(STATION)
    want = [track_tag(pool[i % len(pool)]) for i in range(len(started))]
    if started != want:
        i = next((i for i, (x, y) in enumerate(zip(started, want)) if x != y),
                 min(len(started), len(want)))
        names = {track_tag(t): t for t in STATION}
        near = [(e["collector"].rsplit("/", 1)[-1], e["eventType"][9:],
                 names.get(e["event"].get("trackTag")), e["event"].get("eventTimestamp"))
                for e in evs if e["eventType"] != "PLAYBACK_PROGRESS"][max(0, 2 * i - 4):2 * i + 4]
        fails.append("STARTED trackTags leave the station's cycle at event %d: %s, want %s; "
                     "the events there: %s" % (
                         i, [names.get(x, x) for x in started[max(0, i - 3):i + 3]],
                         [names.get(x, x) for x in want[max(0, i - 3):i + 3]], near))
    kinds = [e["eventType"] for e in evs if e["eventType"] != "PLAYBACK_PROGRESS"]
    pattern = ["PLAYBACK_STARTED", "PLAYBACK_FINISHED"] * len(started)
    if kinds[-1:] == ["PLAYBACK_STOPPED"]:
        pattern[-1] = "PLAYBACK_STOPPED"
    if kinds != pattern:
        i = next((i for i, (x, y) in enumerate(zip(kinds, pattern)) if x != y),
                 min(len(kinds), len(pattern)))
        fails.append("events are not STARTED/FINISHED in turn at %d: %s" % (
            i, kinds[max(0, i - 2):i + 3]))
    ids = [e["eventId"] for e in evs]
    if len(ids) != len(set(ids)):
        fails.append("%d eventIds held twice" % (len(ids) - len(set(ids))))
    finished = kinds.count("PLAYBACK_FINISHED")
    if final.get("tracks_played") != finished:
        fails.append("tracks_played %s but %d PLAYBACK_FINISHED" % (
            final.get("tracks_played"), finished))
    if a.mode == "unpaced" and finished < a.tracks:
        fails.append("only %d tracks played" % finished)
    if "PLAYBACK_ERROR" in kinds:
        fails.append("PLAYBACK_ERROR events: %d" % kinds.count("PLAYBACK_ERROR"))

    growth, gfails = grow(a.mode, r["rows"])
    return fails + gfails, started, kinds, growth


def windows(mode, rows):
    """The baseline and the last window: after the first track (tracks_played >= 1), the
    first and last W tracks (unpaced; W = a tenth of the run, at least a cycle) or the first
    and last L seconds (paced; L = a tenth of the run, at least a cycle's 297 s)."""
    after = [x for x in rows if x["tracks_played"] >= 1]
    if not after:
        return [], [], after
    if mode == "unpaced":
        n0, n1 = after[0]["tracks_played"], after[-1]["tracks_played"]
        w = max(CYCLE, (n1 - n0) // 10)
        first = [x for x in after if x["tracks_played"] < n0 + w]
        last = [x for x in after if x["tracks_played"] > n1 - w]
    else:
        t0, t1 = after[0]["t_s"], after[-1]["t_s"]
        w = max(297.0, (t1 - t0) / 10)
        first = [x for x in after if x["t_s"] < t0 + w]
        last = [x for x in after if x["t_s"] > t1 - w]
    if first and last and first[-1]["t_s"] >= last[0]["t_s"]:
        return [], [], after  # too short a run: the windows overlap
    return first, last, after


COLS = (("rss", "rss_kib"), ("pd", "private_dirty_kib"), ("fds", "fds"), ("threads", "threads"))


def grow(mode, rows):
    """{key: (first max, first median, last max, last median, overall max, fitted growth)}
    and what exceeds the tolerance: the last window's maximum and median against the first
    window's, and the least-squares fit over everything after the first track."""
    first, last, after = windows(mode, rows)
    if not first or not last:
        return {}, ["the run is too short for a baseline and a last window (%d samples after "
                    "the first track)" % len(after)]
    x = [r["tracks_played"] if mode == "unpaced" else r["t_s"] for r in after]
    out, fails = {}, []
    for key, col in COLS:
        fm, fmed = max(r[col] for r in first), statistics.median(r[col] for r in first)
        lm, lmed = max(r[col] for r in last), statistics.median(r[col] for r in last)
        sl = slope(x, [r[col] for r in after])
        fit = sl * (x[-1] - x[0])
        out[key] = (fm, fmed, lm, lmed, max(r[col] for r in after), sl)
        for what, d in (("maximum", lm - fm), ("median", lmed - fmed), ("fitted growth", fit)):
            if d > TOL[key]:
                fails.append("%s grew: %s +%.1f over the run (tolerance +%s)" % (
                    key, what, d, TOL[key]))
    return out, fails


def print_growth(mode, rows, growth):
    first, last, after = windows(mode, rows)
    unit = "track" if mode == "unpaced" else "hour"
    span = ("tracks %d-%d" % (first[0]["tracks_played"], first[-1]["tracks_played"]),
            "tracks %d-%d" % (last[0]["tracks_played"], last[-1]["tracks_played"]))
    if mode == "paced":
        span = ("%.0f-%.0f s" % (first[0]["t_s"], first[-1]["t_s"]),
                "%.0f-%.0f s" % (last[0]["t_s"], last[-1]["t_s"]))
    print("\n| | first window (%s) max / median | last window (%s) max / median | max after "
          "the first track | least-squares slope per %s | tolerance |" % (span[0], span[1], unit))
    print("|---|---|---|---|---|---|")
    k = 1 if mode == "unpaced" else 3600
    for key, name in (("rss", "RSS"), ("pd", "Private_Dirty"), ("fds", "open fds"),
                      ("threads", "threads")):
        fm, fmed, lm, lmed, om, sl = growth[key]
        if key in ("rss", "pd"):
            print("| %s | %.2f / %.2f MiB | %.2f / %.2f MiB | %.2f MiB | %+.3f KiB | +%.0f MiB |"
                  % (name, fm / 1024, fmed / 1024, lm / 1024, lmed / 1024, om / 1024, sl * k,
                     TOL[key] / 1024))
        else:
            print("| %s | %d / %g | %d / %g | %d | %+.4f | +%d |" % (
                name, fm, fmed, lm, lmed, om, sl * k, TOL[key]))


def summary(a, r, fails, started, kinds, growth, csv_path):
    rows = r["rows"]
    final = r["final"]
    print("## soak, %s\n" % a.mode)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print("- %.1f s, %d tracks played (%d PLAYBACK_STARTED), underruns %s, state at the "
          "end %s; load average at the end %s" % (
              r["elapsed"], final.get("tracks_played", 0), len(started),
              final.get("underruns"), final.get("state"), load))
    ev = r["evs"]
    print("- collector: %d events (%d progress), %d POSTs, %d resends of a recorded "
          "event" % (len(ev["events"]), sum(1 for e in ev["events"]
                                             if e["eventType"] == "PLAYBACK_PROGRESS"),
                     ev["posts"], ev["duplicates"]))
    if r["inj"]:
        counts = {}
        for _, k in r["inj"].done:
            counts[k] = counts.get(k, 0) + 1
        fired = sum(1 for h in r["hits"].values() if h)
        print("- faults injected (seed %d, mean gap %.0f s): %d: %s; of the %d fault rules "
              "%d matched a request" % (a.seed, a.fault_every, len(r["inj"].done), ", ".join(
                  "%s %d" % kv for kv in sorted(counts.items())), len(r["hits"]), fired))
        print("- fault times (s): " + ", ".join("%.0f %s" % x for x in r["inj"].done))
    print("- samples: %d (%s)" % (len(rows), csv_path))
    if growth:
        print_growth(a.mode, rows, growth)
    print("\n%s" % ("**PASS**: every track played, every event once, no growth" if not fails
                    else "**FAIL**:\n" + "\n".join("- " + f for f in fails)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("unpaced", "paced"), required=True)
    ap.add_argument("--build", default=os.path.join(db.ROOT, "build", "default"))
    ap.add_argument("--tracks", type=int, default=500)
    ap.add_argument("--duration", type=float, default=3600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fault-every", type=float, default=45)
    ap.add_argument("--every", type=float, default=10)
    ap.add_argument("--csv")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--summarize", metavar="CSV")
    a = ap.parse_args()
    if a.summarize:
        with open(a.summarize, newline="") as f:
            rows = [{k: (v if k in ("why", "state") else float(v) if "." in v else int(v))
                     for k, v in row.items()} for row in csv.DictReader(f)]
        growth, fails = grow(a.mode, rows)
        if growth:
            print_growth(a.mode, rows, growth)
        print("\n%s" % ("no growth" if not fails else "\n".join("- " + f for f in fails)))
        return 1 if fails else 0
    subprocess.run(["cmake", "--build", a.build, "-j", "2", "--target", "ampd", "ampctl",
                    "ampd_cdm_clearkey", "ampack"], check=True, stdout=subprocess.DEVNULL)
    if not os.path.exists(os.path.join(a.build, "catalog", "album", "t1")):
        subprocess.run(["ctest", "--test-dir", a.build, "-R", "catalog/make"], check=True,
                       stdout=subprocess.DEVNULL)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print("build %s (CMAKE_BUILD_TYPE %s); nproc %d; load average at start %s; %s\n" % (
        os.path.relpath(a.build, db.ROOT), db.build_type(a.build), os.cpu_count(), load,
        " ".join(sys.argv[1:])))
    db.setup(a.build)
    fails = ["the run did not finish"]
    try:
        r = run(a)
        csv_path = a.csv or os.path.join(W["tmp"], "soak-%s.csv" % a.mode)
        with open(csv_path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(r["rows"])
        fails, started, kinds, growth = check(a, r)
        summary(a, r, fails, started, kinds, growth, csv_path)
        if fails:
            print("daemon log: %s" % r["log"])
    finally:
        W["mock"].stop()
        if a.keep or (a.csv is None) or fails:
            print("kept", W["tmp"])
        else:
            shutil.rmtree(W["tmp"], ignore_errors=True)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
