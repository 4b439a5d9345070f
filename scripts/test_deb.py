#!/usr/bin/env python3
"""The Debian package, end to end on this machine (root; CI: a clean Debian 12):

  cpack -G DEB in BUILD_DIR (the default preset's tree: prefix /usr), then
  dpkg -i    installs; the user and group ampd exist (ampd in audio); the unit is in place,
             enabled (deb-systemd-helper, which needs no running systemd), passes
             `systemd-analyze verify` without a word and scores at most 2.0 in
             `systemd-analyze security --offline=yes`;
  start      as the unit would (systemd need not be PID 1 here, so the test does what
             the unit says: the state and runtime directories, User=, Group=,
             SupplementaryGroups=, ExecStart=, NOTIFY_SOCKET and WATCHDOG_USEC): READY=1,
             `ampctl status` answers over /run/ampd/control (0660, group ampd), a
             WATCHDOG=1 comes, SIGTERM gives STOPPING=1 and exit status 0;
  dpkg -r    removes every file but the conffile /etc/ampd/ampd.conf;
  dpkg -P    leaves nothing: no /etc/ampd, no /var/lib/ampd, no enablement.

The maintainer scripts must succeed although systemctl cannot talk to systemd here.
On any failure the package is purged again. Python standard library only.

usage: test_deb.py BUILD_DIR
"""

import glob
import grp
import os
import pwd
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

GUARD_S = 60
MAX_SCORE = 2.0


def fail(msg):
    raise SystemExit("test_deb: FAIL: " + msg)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    return r.returncode, r.stdout + r.stderr


def must(cmd, **kw):
    rc, out = run(cmd, **kw)
    if rc != 0:
        fail("%s: exit %d\n%s" % (" ".join(cmd), rc, out))
    return out


def pkg_status():
    rc, out = run(["dpkg-query", "-W", "-f=${Status}", "ampd"])
    return out.strip() if rc == 0 else "not-installed"


def unit_values(text):
    vals = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            vals.setdefault(m.group(1), []).append(m.group(2))
    return vals


def check_unit(unit):
    rc, out = run(["systemd-analyze", "verify", unit])
    if rc != 0 or out.strip():
        fail("systemd-analyze verify %s: exit %d\n%s" % (unit, rc, out))
    rc, out = run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit])
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    if not m:
        fail("no exposure score:\n" + out)
    score = float(m.group(1))
    print("installed unit: verify clean, exposure score %.1f (at most %.1f)" % (score, MAX_SCORE))
    if score > MAX_SCORE:
        fail("exposure score %.1f above %.1f" % (score, MAX_SCORE))


def recv_until(sock, want, seen, proc):
    end = time.monotonic() + GUARD_S
    while time.monotonic() < end:
        gone = proc.poll() is not None
        r, _, _ = select.select([sock], [], [], 0 if gone else min(1.0, end - time.monotonic()))
        if not r:
            if gone:
                fail("no %s: ampd exited %d; got %s" % (want, proc.returncode, seen))
            continue
        msg = sock.recv(4096).decode().split("\n")
        seen.extend(msg)
        if want in msg:
            return
    fail("no %s from the daemon; got %s" % (want, seen))


def start_as_the_unit(unit_text, tmp):
    """What systemd does for this unit, without systemd: then READY, status, SIGTERM."""
    u = unit_values(unit_text)
    user, group = u["User"][0], u["Group"][0]
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid
    for key, base in (("StateDirectory", "/var/lib"), ("RuntimeDirectory", "/run")):
        path = os.path.join(base, u[key][0])
        mode = int(u.get(key + "Mode", ["0755"])[0], 8)
        os.makedirs(path, exist_ok=True)
        os.chown(path, pw.pw_uid, gid)
        os.chmod(path, mode)
    os.chmod(tmp, 0o755)
    npath = os.path.join(tmp, "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(npath)
    os.chmod(npath, 0o666)
    argv = u["ExecStart"][0].split()
    groups = ",".join(u.get("SupplementaryGroups", [""])[0].split())
    cmd = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % gid,
           "--groups=%s" % groups if groups else "--clear-groups", "--"] + argv
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFY_SOCKET": npath,
           # A ping every 2 s: the test reads the socket at least that often, so the
           # queue (net.unix.max_dgram_qlen, 10) never fills and blocks the daemon.
           "WATCHDOG_USEC": "4000000", "LANG": "C.UTF-8"}
    log = open(os.path.join(tmp, "ampd.log"), "w+b")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                            cwd="/", umask=int(u.get("UMask", ["0022"])[0], 8))
    seen = []
    try:
        recv_until(ns, "READY=1", seen, proc)
        sock = "/run/%s/control" % u["RuntimeDirectory"][0]
        st = os.stat(sock)
        if not stat.S_ISSOCK(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o660 or st.st_gid != gid:
            fail("the control socket: mode %o gid %d" % (st.st_mode, st.st_gid))
        out = must(["ampctl", "-s", sock, "--json", "status"])
        if '"link":"unlinked"' not in out.replace(" ", ""):
            fail("ampctl status: " + out)
        recv_until(ns, "WATCHDOG=1", seen, proc)
        proc.send_signal(signal.SIGTERM)
        recv_until(ns, "STOPPING=1", seen, proc)
        rc = proc.wait(timeout=GUARD_S)
        if rc != 0:
            fail("ampd exited %d after SIGTERM" % rc)
        if os.path.exists(sock):
            fail("the control socket is still there after the daemon stopped")
        print("started as the unit: READY, status over %s, WATCHDOG, STOPPING, exit 0" % sock)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace"))
        raise
    finally:
        ns.close()
        log.close()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        fail("must run as root (dpkg -i)")
    if pkg_status() != "not-installed":
        fail("ampd is installed on this machine already (%s): dpkg -P ampd first" % pkg_status())
    tmp = tempfile.mkdtemp(prefix="ampd-deb-test-")
    purge = False
    try:
        must(["cpack", "-G", "DEB", "-B", tmp], cwd=build)
        debs = glob.glob(os.path.join(tmp, "ampd_*.deb"))
        if len(debs) != 1:
            fail("cpack made %s" % debs)
        print("built", os.path.basename(debs[0]))

        purge = True
        must(["dpkg", "-i", debs[0]])
        if pkg_status() != "install ok installed":
            fail("after dpkg -i: " + pkg_status())
        files = [f for f in must(["dpkg", "-L", "ampd"]).splitlines()
                 if os.path.isfile(f)]
        units = [f for f in files if f.endswith("/systemd/system/ampd.service")]
        plugins = [f for f in files if f.endswith("/ampd/cdm/clearkey.so")]
        for want in ("/usr/sbin/ampd", "/usr/bin/ampctl", "/etc/ampd/ampd.conf",
                     "/usr/share/man/man8/ampd.8.gz", "/usr/share/man/man5/ampd.conf.5.gz",
                     "/usr/share/man/man1/ampctl.1.gz",
                     "/usr/share/dbus-1/system.d/org.mpris.MediaPlayer2.ampd.conf"):
            if want not in files and want.replace(".gz", "") not in files:
                fail("the package installed no %s: %s" % (want, files))
        if len(units) != 1 or len(plugins) != 1:
            fail("unit %s, plugin %s" % (units, plugins))
        # libampd-client, its header and .pc, ampctl's completion.
        for want in ("/usr/include/ampd/client.h",
                     "/usr/share/bash-completion/completions/ampctl"):
            if want not in files:
                fail("the package installed no %s: %s" % (want, files))
        for suffix in ("/libampd-client.so.1", "/libampd-client.so", "/pkgconfig/ampd-client.pc"):
            if len([f for f in files if f.endswith(suffix)]) != 1:
                fail("the package installed no *%s: %s" % (suffix, files))
        # The installed ampctl finds the installed library: no socket there is exit 3, a
        # missing library would be 127.
        r = subprocess.run(["/usr/bin/ampctl", "-s", "/nonexistent/control", "status"],
                           capture_output=True, timeout=60, check=False)
        if r.returncode != 3:
            fail("the installed ampctl: exit %d: %s" % (r.returncode, r.stderr))
        unit = units[0]
        pw = pwd.getpwnam("ampd")
        if grp.getgrgid(pw.pw_gid).gr_name != "ampd" or "ampd" not in grp.getgrnam("audio").gr_mem:
            fail("the user ampd is not in the groups ampd and audio")
        wants = "/etc/systemd/system/multi-user.target.wants/ampd.service"
        if not os.path.islink(wants):
            fail("the unit is not enabled (%s)" % wants)
        print("installed: %d files, user ampd, %s enabled" % (len(files), unit))
        check_unit(unit)
        with open(unit, encoding="utf-8") as f:
            start_as_the_unit(f.read(), tmp)

        must(["dpkg", "-r", "ampd"])
        if pkg_status() != "deinstall ok config-files":
            fail("after dpkg -r: " + pkg_status())
        left = [f for f in files if os.path.exists(f)]
        if left != ["/etc/ampd/ampd.conf"]:
            fail("after dpkg -r, left: %s" % left)
        print("removed: only the conffile /etc/ampd/ampd.conf is left")

        must(["dpkg", "-P", "ampd"])
        purge = False
        if pkg_status() != "not-installed":
            rc, out = run(["dpkg-query", "-W", "-f=${Status}", "ampd"])
            if "not-installed" not in out and rc == 0:
                fail("after dpkg -P: " + out)
        left = [p for p in files + ["/etc/ampd", "/var/lib/ampd", "/run/ampd", wants,
                                    "/var/lib/systemd/deb-systemd-helper-enabled/ampd.service.dsh-also"]
                if os.path.lexists(p)]
        if left:
            fail("after dpkg -P, left: %s" % left)
        print("purged: nothing of ampd is left")
    finally:
        if purge:
            run(["dpkg", "-P", "ampd"])
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
