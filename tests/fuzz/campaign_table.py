#!/usr/bin/env python3
"""campaign_table.py LEDGER OPEN_TSV DOC: the fuzz campaign's tables in DOC.

Reads the ledger scripts/fuzz.sh appends to (tests/fuzz/campaign.tsv, one row per run and
harness) and OPEN_TSV (per harness: regression inputs in its corpus, how many still fail
it, their names, corpus files, corpus KiB; scripts/fuzz.sh replays them), and rewrites
what is between the markers <!-- fuzz-campaign:begin --> and <!-- fuzz-campaign:end -->
of DOC: per harness the cumulative minutes and executions of every run so far, the last
run's cov/ft, the corpus and the findings; then one line per run.
"""
import csv
import os
import sys

BEGIN = "<!-- fuzz-campaign:begin -->"
END = "<!-- fuzz-campaign:end -->"
TARGET_MIN = 30  # minutes per harness the campaign must reach (issue "ampd survives")


def main(ledger, open_tsv, doc):
    rows = []
    try:
        with open(ledger, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except FileNotFoundError:
        pass
    state = {}
    with open(open_tsv) as f:
        for line in f:
            name, total, n_open, names, files, kib = line.rstrip("\n").split("\t")
            state[name] = (int(total), int(n_open), names, int(files), int(kib))

    per = {}
    runs = {}
    for r in rows:
        h = per.setdefault(r["harness"], {"runs": 0, "secs": 0, "execs": 0, "last": None, "found": 0})
        h["runs"] += 1
        h["secs"] += int(r["seconds"])
        h["execs"] += int(r["execs"])
        h["last"] = r
        if r["findings"] != "-":
            h["found"] += len(r["findings"].split(","))
        run = runs.setdefault((r["date_utc"], r["commit"]), {"n": 0, "secs": 0, "execs": 0, "found": 0,
                                                            "status": set()})
        run["n"] += 1
        run["secs"] += int(r["seconds"])
        run["execs"] += int(r["execs"])
        run["found"] += 0 if r["findings"] == "-" else len(r["findings"].split(","))
        run["status"].add(r["status"])

    out = [BEGIN, ""]
    out.append("| harness | runs | minutes | executions | cov | ft | corpus (files, KiB) "
               "| findings | regression inputs | open |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    total_open = 0
    for name in sorted(set(per) | set(state)):
        h = per.get(name, {"runs": 0, "secs": 0, "execs": 0, "last": None, "found": 0})
        st = state.get(name)
        last = h["last"]
        cov = last["cov"] if last else "-"
        ft = last["ft"] if last else "-"
        corpus = f"{st[3]}, {st[4]}" if st else "-"
        n_open = st[1] if st else 0
        if n_open < 0:
            open_txt = "? (not built)"
        else:
            total_open += n_open
            open_txt = str(n_open) + (f" ({st[2]})" if n_open else "")
        mins = h["secs"] / 60
        mark = "" if mins >= TARGET_MIN else " *"
        kept = st[0] if st else 0
        out.append(f"| {name} | {h['runs']} | {mins:.1f}{mark} | {h['execs']:,} | {cov} | {ft} "
                   f"| {corpus} | {h['found']} | {kept} | {open_txt} |")
    out.append("")
    out.append(f"\\* under the {TARGET_MIN} minutes the campaign must reach. minutes and executions: "
               "the sum over every run in `tests/fuzz/campaign.tsv`; cov and ft: libFuzzer's "
               "last figures of the last run (edges and features); corpus: the committed "
               "directory now; findings: artifacts the campaign kept (the ledger's); regression "
               "inputs: files of the corpus named crash-, leak-, timeout-, oom- or slow-unit-, "
               "whoever found them; open: those that still fail the harness "
               f"(now {total_open} in all).")
    out.append("")
    out.append("| run (UTC) | commit | harnesses | minutes each | executions | findings | status |")
    out.append("|---|---|---:|---:|---:|---:|---|")
    for (date, commit), run in sorted(runs.items()):
        each = run["secs"] / 60 / run["n"]
        out.append(f"| {date} | {commit} | {run['n']} | {each:.1f} | {run['execs']:,} | "
                   f"{run['found']} | {', '.join(sorted(run['status']))} |")
    if not runs:
        out.append("| (no run yet) | | | | | | |")
    out.append("")
    out.append(END)

    with open(doc) as f:
        text = f.read()
    a = text.index(BEGIN)
    b = text.index(END, a) + len(END)
    text = text[:a] + "\n".join(out) + text[b:]
    with open(doc + ".tmp", "w") as f:
        f.write(text)
    os.replace(doc + ".tmp", doc)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
