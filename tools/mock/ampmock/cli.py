"""Command line: start the mock, say where it listens, stop cleanly on SIGTERM/SIGINT."""

import argparse
import os
import signal
import sys
import threading

from . import control, files, modules, testroutes
from .app import App
from .server import MockServer, tls_context

CERT_NAMES = ("server", "wronghost", "expired", "unknownca-server")


def _parser(add_help):
    p = argparse.ArgumentParser(
        prog="ampmock.py", add_help=add_help,
        description="Mock Amazon Music service over HTTPS on 127.0.0.1 (tests only).")
    p.add_argument("--certs", required=add_help, metavar="DIR",
                   help="directory made by testca.sh")
    p.add_argument("--cert", default="server", choices=CERT_NAMES,
                   help="which certificate/key pair of DIR to serve (default: server)")
    p.add_argument("--root", required=add_help, metavar="CONTENTDIR",
                   help="directory served under /files/")
    p.add_argument("--port", type=int, default=0, help="TCP port, 0 picks a free one")
    p.add_argument("--port-file", metavar="F", help="write the port here once listening")
    p.add_argument("--tls-max", choices=("1.1", "1.2", "1.3"), default="1.3",
                   help="1.1: serve ONLY TLS 1.0/1.1 (a server clients must refuse); "
                        "1.2: TLS 1.2 only; default TLS 1.2 and 1.3")
    p.add_argument("--log-file", metavar="F", help="also append the request log here (JSON lines)")
    p.add_argument("--secrets-ledger", metavar="F",
                   help="append every secret handed out here (default: "
                        "$AMPD_TEST_LEDGER_DIR/ampmock-PID.ledger when that is set)")
    p.add_argument("--modules", default=",".join(modules.DEFAULT),
                   help="comma list of service modules to load (default: %(default)s)")
    p.add_argument("--max-lifetime", type=float, default=900, metavar="S",
                   help="exit after S seconds even if nobody stops us (0: never; default 900)")
    p.add_argument("--parent-pid", type=int, default=0, metavar="PID",
                   help="exit when process PID is gone (a test that crashed cannot stop us)")
    p.add_argument("-v", "--verbose", action="store_true", help="log connections to stderr")
    return p


def _write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    # Two passes: --modules decides which modules may add options of their own.
    first, _ = _parser(False).parse_known_args(argv)
    names = [n for n in first.modules.split(",") if n]
    try:
        mods = modules.load(names)
    except ImportError as e:
        sys.stderr.write("ampmock: module: %s\n" % e)
        return 2
    parser = _parser(True)
    for m in mods:
        if hasattr(m, "add_arguments"):
            m.add_arguments(parser)
    args = parser.parse_args(argv)

    cert = os.path.join(args.certs, args.cert + ".pem")
    key = os.path.join(args.certs, args.cert + ".key")
    if not os.path.isdir(args.root):
        sys.stderr.write("ampmock: --root %s: not a directory\n" % args.root)
        return 2
    try:
        ctx = tls_context(cert, key, args.tls_max)
    except (OSError, ValueError) as e:
        sys.stderr.write("ampmock: cannot load %s / %s: %s\n" % (cert, key, e))
        return 2

    app = App(args)
    control.register(app)
    files.register(app)
    testroutes.register(app)
    for m in mods:
        m.register(app)

    try:
        server = MockServer(args.port, ctx, app, args.verbose)
    except OSError as e:
        sys.stderr.write("ampmock: cannot listen on 127.0.0.1:%d: %s\n" % (args.port, e))
        return 1
    app.server = server
    app.port = server.server_address[1]

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True)
    thread.start()
    if args.port_file:
        _write_port_file(args.port_file, app.port)
    sys.stdout.write("ampmock ready port=%d\n" % app.port)
    sys.stdout.flush()

    # Wake up now and then: signal handlers run in this thread between waits.
    waited = 0.0
    while not stop.wait(0.5):
        waited += 0.5
        if args.max_lifetime and waited >= args.max_lifetime:
            sys.stderr.write("ampmock: --max-lifetime reached, exiting\n")
            break
        if args.parent_pid and not _alive(args.parent_pid):
            sys.stderr.write("ampmock: parent %d is gone, exiting\n" % args.parent_pid)
            break
    server.shutdown()
    server.server_close()
    app.reqlog.close()
    app.ledger.close()
    return 0
