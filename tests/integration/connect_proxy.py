#!/usr/bin/env python3
"""A minimal HTTP CONNECT proxy for the net/http tests: it tunnels bytes and records
each CONNECT target, one line per tunnel, in --log-file. Anything but CONNECT gets 405.

  connect_proxy.py --port-file F --log-file L [--parent-pid PID]

The port goes to F as "PORT\\n" (written to a temp file and renamed, so a reader never
sees half of it). Loopback only. Stops on SIGTERM, or when PARENT_PID is gone.
"""

import argparse
import os
import socket
import threading

HEAD_MAX = 16 * 1024  # bytes of one request head
TUNNELS_MAX = 64      # tunnels open at once


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn, log, lock, slots):
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk or len(head) > HEAD_MAX:
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = parts[1].rpartition(":")
        with lock:
            log.write("CONNECT %s\n" % parts[1])
            log.flush()
        try:
            up = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except (OSError, ValueError):
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        up.settimeout(None)
        conn.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            up.sendall(rest)
        t = threading.Thread(target=pipe, args=(up, conn), daemon=True)
        t.start()
        pipe(conn, up)
        t.join()
        up.close()
    except OSError:
        pass
    finally:
        conn.close()
        slots.release()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log-file", required=True)
    ap.add_argument("--parent-pid", type=int, default=0)
    a = ap.parse_args()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(1.0)
    log = open(a.log_file, "a", encoding="utf-8")
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(TUNNELS_MAX)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(tmp, a.port_file)
    while True:
        if a.parent_pid and not os.path.exists("/proc/%d" % a.parent_pid):
            return
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        if not slots.acquire(timeout=5):
            conn.close()
            continue
        threading.Thread(target=serve, args=(conn, log, lock, slots), daemon=True).start()


if __name__ == "__main__":
    main()
