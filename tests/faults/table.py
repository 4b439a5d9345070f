#!/usr/bin/env python3
"""The fault matrix's table in docs/reliability.md, between the markers
<!-- faults:begin --> and <!-- faults:end -->.

    table.py check DOC                  every row of tests/faults/test_*.py is in DOC's
                                        table with its fault and expectation, and the
                                        table lists no other row (exit 1 if not)
    table.py write DOC [RESULTS_DIR]    rewrite the table from the rows and, per row,
                                        the last result in RESULTS_DIR/*.jsonl (what
                                        matrix.py records under AMPD_FAULTS_RESULTS);
                                        a row without one is "not run"

A row is a test method decorated with @row("fault", "expect") (matrix.py); the rows are
read from the source (ast), so nothing is imported or run.
"""

import ast
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"
HEAD = ("| # | row | fault | must come of it | last result |\n"
        "|---|---|---|---|---|\n")


def rows():
    """[(module, Class.method, fault, expect)] in file and source order."""
    out = []
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        mod = os.path.splitext(os.path.basename(path))[0]
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for cls in [n for n in tree.body if isinstance(n, ast.ClassDef)]:
            for fn in [n for n in cls.body if isinstance(n, ast.FunctionDef)]:
                for dec in fn.decorator_list:
                    if not isinstance(dec, ast.Call):
                        continue
                    name = dec.func.attr if isinstance(dec.func, ast.Attribute) else \
                        getattr(dec.func, "id", "")
                    if name != "row":
                        continue
                    args = [a.value for a in dec.args if isinstance(a, ast.Constant)]
                    if len(args) != 2 or not all(isinstance(a, str) for a in args):
                        sys.exit("%s: %s.%s: @row takes two strings" % (path, cls.name, fn.name))
                    out.append((mod, "%s.%s" % (cls.name, fn.name), args[0], args[1]))
    return out


def cell(s):
    return s.replace("|", "\\|").replace("\n", " ")


def table(results):
    lines = [HEAD]
    for i, (mod, test, fault, expect) in enumerate(rows(), 1):
        res = results.get((mod, test))
        shown = "not run" if res is None else "%s (%.0f s)" % (res["result"], res["seconds"])
        lines.append("| %d | `%s` `%s` | %s | %s | %s |\n" % (
            i, mod, test, cell(fault), cell(expect), shown))
    return "".join(lines)


def split(doc):
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    b, e = text.find(BEGIN), text.find(END)
    if b < 0 or e < b:
        sys.exit("%s: no %s ... %s section" % (doc, BEGIN, END))
    return text[:b + len(BEGIN)], text[b + len(BEGIN):e], text[e:]


def read_results(d):
    res = {}
    for path in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                res[(r["module"], r["test"])] = r
    return res


def strip_results(body):
    """The table without its result column (what `check` compares)."""
    return [line.rsplit("|", 2)[0] for line in body.strip().splitlines()]


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("check", "write"):
        sys.exit(__doc__)
    doc = sys.argv[2]
    head, body, tail = split(doc)
    if sys.argv[1] == "check":
        n = len(rows())
        if n < 30:
            sys.exit("the matrix has %d rows; it must have at least 30" % n)
        want, got = strip_results(table({})), strip_results(body)
        if want != got:
            missing = [r for r in want if r not in got]
            extra = [r for r in got if r not in want]
            sys.exit("%s: the fault matrix table is not the rows' (run tests/faults/table.py "
                     "write):\n  missing: %s\n  not a row: %s" % (doc, missing, extra))
        print("ok: %d rows, as in %s" % (n, doc))
        return
    results = read_results(sys.argv[3]) if len(sys.argv) > 3 else {}
    with open(doc, "w", encoding="utf-8") as f:
        f.write(head + "\n" + table(results) + tail)


if __name__ == "__main__":
    main()
