#!/usr/bin/env python3
"""libampd-client exports exactly the functions include/ampd/client.h declares (with
AMPD_CLIENT_API), each under the version node AMPD_CLIENT_<ABI>, and nothing else (no cJSON
use, no core/clock); its SONAME is libampd-client.so.<AMPD_CLIENT_ABI_VERSION>.

usage: test_client_abi.py HEADER LIBRARY NM READELF
"""
import re
import subprocess
import sys


def main():
    header, lib, nm, readelf = sys.argv[1:5]
    text = open(header, encoding="utf-8").read()
    abi = re.search(r"^#define AMPD_CLIENT_ABI_VERSION (\d+)$", text, re.M)
    assert abi, "no AMPD_CLIENT_ABI_VERSION in the header"
    abi = abi.group(1)
    declared = set(re.findall(r"AMPD_CLIENT_API\s+[^;(]*?\**\b(ampd_\w+)\s*\(", text))
    assert len(declared) >= 20, "the header's API was not found: %s" % sorted(declared)
    out = subprocess.run([nm, "-D", "--defined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    exported, nodes = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        kind, name = parts[1], parts[2]
        sym, _, node = name.partition("@@")
        if kind == "A":  # the version node itself
            nodes.add(sym)
            continue
        exported.add(sym)
        if node != "AMPD_CLIENT_" + abi:
            sys.exit("%s is not under AMPD_CLIENT_%s: %s" % (sym, abi, name))
    if exported != declared:
        sys.exit("exported but not declared: %s; declared but not exported: %s" % (
            sorted(exported - declared), sorted(declared - exported)))
    dyn = subprocess.run([readelf, "-d", lib], capture_output=True, text=True,
                         check=True).stdout
    soname = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", dyn)
    want = "libampd-client.so." + abi
    if not soname or soname.group(1) != want:
        sys.exit("SONAME %s, want %s" % (soname.group(1) if soname else None, want))
    print("%d functions exported under %s, SONAME %s" % (len(exported), sorted(nodes), want))


if __name__ == "__main__":
    main()
