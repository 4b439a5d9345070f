"""pytest plugin for scripts/speke-suite.sh: lets the SPEKE v2 verification suite of the
SPEKE reference server run unmodified against the mock on this machine.

Loaded with `-p pin_host` (this directory on PYTHONPATH). It does two things only:

- The suite signs every request for an API Gateway host (it parses the region out of
  `<id>.execute-api.<region>.amazonaws.com`), so the URL must name such a host. The host
  in $SPEKE_SUITE_PIN_HOST is made to resolve to 127.0.0.1 by wrapping
  socket.getaddrinfo for that one name; TLS still checks the certificate for the name
  (the script's throwaway CA issues one, REQUESTS_CA_BUNDLE trusts it). Any other name
  that is not loopback is refused here, so the run never leaves the machine.
- `--known-defect NODEID=REASON` (repeatable) marks that test of the suite as an expected
  failure, strict: it still runs, a pass is reported as a failure (XPASS(strict)), so
  the mark goes when the suite's defect does. docs/speke.md §10 says why each one is.
- The suite's pytest.ini adds `--html=... --self-contained-html` (pytest-html, which
  Debian does not package): without pytest-html these two options are accepted and do
  nothing, so no HTML report is written.
"""

import ipaddress
import os
import socket

_PIN = (os.environ.get("SPEKE_SUITE_PIN_HOST") or "").lower().rstrip(".")
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain")
_real_getaddrinfo = socket.getaddrinfo


def _loopback(host):
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _pinned_getaddrinfo(host, port, *args, **kwargs):
    name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
    name = (name or "").lower().rstrip(".")
    if _PIN and name == _PIN:
        return _real_getaddrinfo("127.0.0.1", port, *args, **kwargs)
    if host is not None and not _loopback(name):
        raise socket.gaierror(socket.EAI_NONAME,
                              "pin_host: %s is neither the pinned host nor loopback" % name)
    return _real_getaddrinfo(host, port, *args, **kwargs)


def pytest_addoption(parser):
    parser.addoption("--known-defect", action="append", default=[], metavar="NODEID=REASON",
                     help="expect this test of the suite to fail (strict), for REASON")
    try:
        import pytest_html  # noqa: F401
    except ImportError:
        group = parser.getgroup("pin_host", "stand-ins for pytest-html's options")
        group.addoption("--html", action="store", default=None, metavar="PATH",
                        help="accepted and ignored (pytest-html is not installed)")
        group.addoption("--self-contained-html", action="store_true", default=False,
                        help="accepted and ignored (pytest-html is not installed)")


def pytest_configure(config):
    if not _PIN:
        raise RuntimeError("pin_host: set SPEKE_SUITE_PIN_HOST to the suite URL's host")
    socket.getaddrinfo = _pinned_getaddrinfo


def pytest_collection_modifyitems(config, items):
    import pytest
    known = {}
    for spec in config.getoption("--known-defect"):
        nodeid, sep, reason = spec.partition("=")
        if not sep or not reason:
            raise pytest.UsageError("--known-defect %s: NODEID=REASON" % spec)
        known[nodeid] = reason
    seen = set()
    for item in items:
        if item.nodeid in known:
            seen.add(item.nodeid)
            item.add_marker(pytest.mark.xfail(reason="suite defect: " + known[item.nodeid],
                                              raises=AssertionError, strict=True))
    missing = sorted(set(known) - seen)
    if missing:
        raise pytest.UsageError("--known-defect: no such test: %s" % ", ".join(missing))


def pytest_unconfigure(config):
    socket.getaddrinfo = _real_getaddrinfo
