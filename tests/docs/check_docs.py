#!/usr/bin/env python3
"""The documentation against the code, and the man pages through a lint.

usage: check_docs.py SRC_DIR

- every man page in docs/man lints clean: `mandoc -Tlint -W warning` prints nothing;
- every program ampd installs has its page: ampd(8), ampctl(1), ampprobe(1), ampack(1);
- the configuration keys are the same four times: the key table of src/core/config.c
  (what the daemon accepts), the tables of docs/configuration.md section 4, the .SS
  sections of docs/man/ampd.conf.5, and docs/ampd.conf.example (a key set or shown
  commented out), each under its own [section].

Python standard library only; mandoc is Debian's `mandoc` (scripts/deps.sh).
"""

import os
import re
import subprocess
import sys
import unittest

SRC = None
PROGRAMS = {"ampd": 8, "ampctl": 1, "ampprobe": 1, "ampack": 1}


def read(*parts):
    with open(os.path.join(SRC, *parts), encoding="utf-8") as f:
        return f.read()


def keys_of_source():
    """(section, key) pairs of the key table in src/core/config.c: the STR()/UINT()
    macros and the designated initialisers."""
    text = read("src", "core", "config.c")
    table = text[text.index("static const struct key keys[] = {"):]
    table = table[:table.index("\n};")]
    keys = set(re.findall(r'(?:STR|UINT)\("(\w+)", "(\w+)"', table))
    keys |= set(re.findall(r'\.section = "(\w+)",\s*\.name = "(\w+)"', table))
    return keys


def keys_of_markdown():
    text = read("docs", "configuration.md")
    body = text[text.index("## 4. The keys"):]
    body = body[:body.index("\n## 5.")]
    keys, section, in_keys = set(), None, False
    for line in body.splitlines():
        m = re.match(r"### \[(\w+)\]", line)
        if m:
            section, in_keys = m.group(1), False
            continue
        if line.startswith("| key |"):  # a section's key table (not another table)
            in_keys = True
            continue
        if not line.startswith("|"):
            in_keys = False
            continue
        m = re.match(r"\| `(\w+)` \|", line)
        if m and in_keys:
            keys.add((section, m.group(1)))
    return keys


def keys_of_man():
    text = read("docs", "man", "ampd.conf.5")
    keys, section = set(), None
    for line in text.splitlines():
        m = re.match(r"\.SS \[(\w+)\]", line)
        if m:
            section = m.group(1)
            continue
        if line.startswith(".SH"):
            section = None
        m = re.match(r'\.BR (\w+) "', line)
        if m and section:
            keys.add((section, m.group(1)))
    return keys


def keys_of_example():
    keys, section = set(), None
    for line in read("docs", "ampd.conf.example").splitlines():
        m = re.match(r"\[(\w+)\]", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r";?(\w+) =", line)
        if m and section:
            keys.add((section, m.group(1)))
    return keys


class TestDocs(unittest.TestCase):
    def test_man_pages_lint_clean(self):
        pages = sorted(os.listdir(os.path.join(SRC, "docs", "man")))
        self.assertTrue(pages)
        for page in pages:
            r = subprocess.run(["mandoc", "-Tlint", "-W", "warning",
                                os.path.join(SRC, "docs", "man", page)],
                               capture_output=True, text=True, check=False)
            self.assertEqual(r.stdout + r.stderr, "", page)
            self.assertEqual(r.returncode, 0, page)

    def test_every_program_has_a_page(self):
        for prog, sec in PROGRAMS.items():
            path = os.path.join(SRC, "docs", "man", "%s.%d" % (prog, sec))
            self.assertTrue(os.path.isfile(path), path)
            with open(path, encoding="utf-8") as f:
                self.assertIn(".TH %s %d" % (prog.upper(), sec), f.read())

    def test_config_keys_documented(self):
        src = keys_of_source()
        self.assertGreater(len(src), 20)  # the parse found the table
        for name, got in (("docs/configuration.md", keys_of_markdown()),
                          ("docs/man/ampd.conf.5", keys_of_man()),
                          ("docs/ampd.conf.example", keys_of_example())):
            self.assertEqual(sorted(src - got), [], "keys missing from " + name)
            self.assertEqual(sorted(got - src), [], "keys in %s the daemon does not know" % name)


if __name__ == "__main__":
    SRC = sys.argv.pop(1)
    unittest.main(verbosity=2)
